package telegram

import tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"

// Aliases of the library's Bot API types, so that no other package imports the library.
// They cover Bot API 5.5; fields Telegram added later are dropped when decoding, which is
// why newer request fields are sent as plain parameters through Call.
type (
	Update               = tgbotapi.Update
	Message              = tgbotapi.Message
	MessageID            = tgbotapi.MessageID
	MessageEntity        = tgbotapi.MessageEntity
	CallbackQuery        = tgbotapi.CallbackQuery
	User                 = tgbotapi.User
	Chat                 = tgbotapi.Chat
	ChatMember           = tgbotapi.ChatMember
	ChatMemberUpdated    = tgbotapi.ChatMemberUpdated
	ChatJoinRequest      = tgbotapi.ChatJoinRequest
	BotCommand           = tgbotapi.BotCommand
	InlineKeyboardMarkup = tgbotapi.InlineKeyboardMarkup
	InlineKeyboardButton = tgbotapi.InlineKeyboardButton
	PhotoSize            = tgbotapi.PhotoSize
)

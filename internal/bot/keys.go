package bot

import "strconv"

// Redis keys of the bot, all under the configured prefix and "bot:".
//
// Update intake (intake.go, webhook.go):
//   - bot:{poll}:offset — the next getUpdates offset (last handled update_id + 1).
//   - bot:{poll}:done — SET of the update ids of the current batch already handled; cleared
//     in the same MULTI that moves the offset past the batch, so it never holds more than
//     one batch (hence the shared hash tag).
//   - bot:{poll}:lock — which running copy long-polls; the others wait (Telegram answers 409
//     to a second concurrent getUpdates).
//   - bot:upd:<update_id> — a webhook update already taken in, so Telegram's redelivery is
//     skipped; expires after Telegram's own 24-hour retention.

func keyPollOffset(prefix string) string { return prefix + "bot:{poll}:offset" }

func keyPollDone(prefix string) string { return prefix + "bot:{poll}:done" }

func keyPollLock(prefix string) string { return prefix + "bot:{poll}:lock" }

func keyUpdateSeen(prefix string, updateID int) string {
	return prefix + "bot:upd:" + strconv.Itoa(updateID)
}

// Readers' commands and buttons (limit.go, groups.go):
//   - bot:flood:{<chat>} — updates a chat sent in the current flood window (expires with it).
//   - bot:flood:{<chat>}:note — set while a chat is being slowed, so "please wait" is sent
//     once per burst, not once per message. Same hash tag as the counter: one Lua script.
//   - bot:gadmin:<chat>:<user> — "1"/"0": whether a user administers a group, cached briefly.

func keyFlood(prefix string, chatID int64) string {
	return prefix + "bot:flood:{" + strconv.FormatInt(chatID, 10) + "}"
}

func keyFloodNote(prefix string, chatID int64) string { return keyFlood(prefix, chatID) + ":note" }

func keyGroupAdmin(prefix string, chatID, userID int64) string {
	return prefix + "bot:gadmin:" + strconv.FormatInt(chatID, 10) + ":" + strconv.FormatInt(userID, 10)
}

// Editors' desk (admin.go); the audit trail itself is package audit's (audit:...):
//   - bot:pub:<token> — a pending /publish: story, asking admin, chat, control message,
//     breaking flag and state (open, pushing, published, cancelled); expires after an hour.

func keyPublishRequest(prefix, token string) string { return prefix + "bot:pub:" + token }

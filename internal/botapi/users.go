package botapi

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The other side of the chats: Telegram users who write to the bot, press its buttons and
// block it. Each action becomes the update Telegram would send, queued for getUpdates, and
// what the user typed stays in the chat beside the bot's messages.

// ErrClosed is returned once the server is closed.
var ErrClosed = errors.New("botapi: server closed")

// ErrBlocked is returned for an action in a chat whose user blocked the bot: Telegram's apps
// offer only "Restart" (Unblock) there.
var ErrBlocked = errors.New("botapi: the user blocked the bot")

// User is a Telegram user on the other side of a private chat (whose id is the user's).
type User struct {
	ID           int64
	FirstName    string
	LastName     string
	Username     string
	LanguageCode string // as the user's Telegram app reports it: "kk", "ru", "en-US"...
}

func (u User) json() userJSON {
	return userJSON{ID: u.ID, FirstName: u.FirstName, LastName: u.LastName, Username: u.Username, LanguageCode: u.LanguageCode}
}

// AddUser makes a user known: getChat and getChatMember answer with their name. Say, Press
// and Block add the user themselves.
func (s *Server) AddUser(u User) {
	s.usersMu.Lock()
	s.users[u.ID] = u
	s.usersMu.Unlock()
}

func (s *Server) user(id int64) (User, bool) {
	s.usersMu.Lock()
	defer s.usersMu.Unlock()
	u, ok := s.users[id]
	return u, ok
}

// Say delivers text typed by user in their private chat with the bot: the message is kept in
// the chat and queued as a message update (with a bot_command entity for a leading command,
// as Telegram marks it). It returns the message id.
func (s *Server) Say(u User, text string) (int, error) {
	if u.ID <= 0 {
		return 0, fmt.Errorf("say: user id %d is not a private chat", u.ID)
	}
	if strings.TrimSpace(text) == "" {
		return 0, errors.New("say: empty message")
	}
	if n := utf16Len(text); n > 4096 {
		return 0, fmt.Errorf("say: %d characters, Telegram takes at most 4096 in one message", n)
	}
	s.AddUser(u)
	now := time.Now()
	sh := s.shardOf(u.ID)
	sh.mu.Lock()
	c := sh.chat(u.ID)
	if c.blocked {
		sh.mu.Unlock()
		return 0, ErrBlocked
	}
	c.lastID++
	id := c.lastID
	from := u
	c.msgs[id] = &entry{req: Request{Method: "message", Params: map[string]any{"text": text}, Time: now, Status: 200, MessageID: id}, from: &from}
	c.ver = s.watch.bump()
	sh.mu.Unlock()

	msg := map[string]any{
		"message_id": id, "from": u.json(), "chat": s.chatJSON(u.ID), "date": now.Unix(), "text": text,
	}
	if strings.HasPrefix(text, "/") {
		cmd, _, _ := strings.Cut(text, " ")
		cmd, _, _ = strings.Cut(cmd, "\n")
		msg["entities"] = []Entity{{Type: "bot_command", Offset: 0, Length: utf16Len(cmd)}}
	}
	s.PushUpdate(map[string]any{"message": msg})
	return id, nil
}

// Press presses the inline button with callbackData on the bot's message messageID in the
// user's chat, as the Telegram app does: only a button the message shows can be pressed. The
// callback_query update carries the message as it is now.
func (s *Server) Press(u User, messageID int, callbackData string) error {
	sh := s.shardOf(u.ID)
	sh.mu.Lock()
	c := sh.chats[u.ID]
	var m *entry
	if c != nil {
		m = c.msgs[messageID]
	}
	switch {
	case c != nil && c.blocked:
		sh.mu.Unlock()
		return ErrBlocked
	case m == nil || m.deleted || m.from != nil:
		sh.mu.Unlock()
		return fmt.Errorf("press: no message %d of the bot in chat %d", messageID, u.ID)
	}
	found := false
	for _, row := range buttons(m.req.Params) {
		for _, b := range row {
			found = found || (b.CallbackData != "" && b.CallbackData == callbackData)
		}
	}
	if !found {
		sh.mu.Unlock()
		return fmt.Errorf("press: message %d has no button %q", messageID, callbackData)
	}
	req := m.req
	edited := m.edits > 0
	sh.mu.Unlock()

	s.AddUser(u)
	s.usersMu.Lock()
	s.nextQID++
	qid := strconv.FormatInt(u.ID, 10) + "-" + strconv.FormatInt(s.nextQID, 10)
	s.queries[qid] = u.ID
	s.usersMu.Unlock()
	s.PushUpdate(map[string]any{"callback_query": map[string]any{
		"id": qid, "from": u.json(), "message": s.messageJSON(u.ID, &req, edited),
		"chat_instance": strconv.FormatInt(u.ID, 10), "data": callbackData,
	}})
	return nil
}

// Toast is the answer to a button press the Telegram app shows on top of the chat.
type Toast struct {
	Text  string
	Alert bool // show_alert: a dialog to dismiss rather than a passing notice
	Time  time.Time
}

// answerQuery keeps the text of an answerCallbackQuery as the chat's toast.
func (s *Server) answerQuery(req *Request) {
	qid, _ := req.Params["callback_query_id"].(string)
	s.usersMu.Lock()
	chat, ok := s.queries[qid]
	delete(s.queries, qid)
	s.usersMu.Unlock()
	text, _ := req.Params["text"].(string)
	if !ok || text == "" {
		return
	}
	alert, _ := req.Params["show_alert"].(bool)
	sh := s.shardOf(chat)
	sh.mu.Lock()
	c := sh.chat(chat)
	c.toast = &Toast{Text: text, Alert: alert, Time: req.Time}
	c.ver = s.watch.bump()
	sh.mu.Unlock()
}

// Block blocks the bot in the user's private chat: every request to the chat is answered
// 403 "bot was blocked by the user" from now on, and the bot gets the my_chat_member update
// Telegram sends (member → kicked).
func (s *Server) Block(u User) {
	if s.setBlocked(u.ID, true) {
		s.AddUser(u)
		s.pushMember(u, "member", "kicked")
	}
}

// Unblock is the app's "Restart" button: the chat is open again (my_chat_member kicked →
// member) and the app sends /start, as Telegram's does.
func (s *Server) Unblock(u User) error {
	if s.setBlocked(u.ID, false) {
		s.pushMember(u, "kicked", "member")
	}
	_, err := s.Say(u, "/start")
	return err
}

// Blocked reports whether the user blocked the bot.
func (s *Server) Blocked(userID int64) bool { return s.isBlocked(userID) }

func (s *Server) setBlocked(chat int64, blocked bool) (changed bool) {
	sh := s.shardOf(chat)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	c := sh.chat(chat)
	if c.blocked == blocked {
		return false
	}
	c.blocked = blocked
	c.ver = s.watch.bump()
	if blocked {
		s.nBlocked.Add(1)
	} else {
		s.nBlocked.Add(-1)
	}
	return true
}

func (s *Server) isBlocked(chat int64) bool {
	sh := s.shardOf(chat)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	c := sh.chats[chat]
	return c != nil && c.blocked
}

// blockedMethod reports whether Telegram refuses method in a chat that blocked the bot: all
// but looking the chat up.
func blockedMethod(method string) bool {
	switch method {
	case "getChat", "getChatMember", "getUpdates", "getMe", "answerCallbackQuery":
		return false
	}
	return true
}

func (s *Server) pushMember(u User, from, to string) {
	s.PushUpdate(map[string]any{"my_chat_member": map[string]any{
		"chat": s.chatJSON(u.ID), "from": u.json(), "date": time.Now().Unix(),
		"old_chat_member": map[string]any{"user": s.bot, "status": from},
		"new_chat_member": map[string]any{"user": s.bot, "status": to, "until_date": 0},
	}})
}

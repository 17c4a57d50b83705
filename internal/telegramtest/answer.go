package telegramtest

import (
	"html"
	"maps"
	"strconv"
	"strings"
	"unicode/utf16"
)

// sendMethods answer a new Message in the chat.
var sendMethods = map[string]bool{
	"sendMessage": true, "sendPhoto": true, "sendVideo": true, "sendDocument": true,
	"sendAnimation": true, "sendAudio": true, "sendVoice": true, "sendSticker": true,
	"forwardMessage": true, "copyMessage": true,
}

type userJSON struct {
	ID        int64  `json:"id"`
	IsBot     bool   `json:"is_bot"`
	FirstName string `json:"first_name"`
	Username  string `json:"username,omitempty"`
}

type chatJSON struct {
	ID       int64  `json:"id"`
	Type     string `json:"type"`
	Username string `json:"username,omitempty"`
	Title    string `json:"title,omitempty"`
}

type photoJSON struct {
	FileID       string `json:"file_id"`
	FileUniqueID string `json:"file_unique_id"`
	Width        int    `json:"width"`
	Height       int    `json:"height"`
}

type messageJSON struct {
	MessageID   int         `json:"message_id"`
	From        *userJSON   `json:"from,omitempty"`
	Date        int64       `json:"date"`
	EditDate    int64       `json:"edit_date,omitempty"`
	Chat        chatJSON    `json:"chat"`
	Text        string      `json:"text,omitempty"`
	Caption     string      `json:"caption,omitempty"`
	Photo       []photoJSON `json:"photo,omitempty"`
	ReplyMarkup any         `json:"reply_markup,omitempty"`
}

var botUser = userJSON{ID: BotID, IsBot: true, FirstName: "Newsbot", Username: BotUsername}

func (s *Server) chatJSON(id int64) chatJSON {
	c := chatJSON{ID: id}
	switch {
	case id > 0:
		c.Type = "private"
	case id <= -1000000000000:
		c.Type = "supergroup"
		if u := s.usernameOf(id); u != "" {
			c.Type, c.Username = "channel", u
		}
	default:
		c.Type = "group"
	}
	return c
}

func (s *Server) messageJSON(chat int64, r *Request, edited bool) messageJSON {
	m := messageJSON{MessageID: r.MessageID, From: &botUser, Date: r.Time.Unix(), Chat: s.chatJSON(chat)}
	if edited {
		m.EditDate = r.Time.Unix()
	}
	text, _ := r.Params["text"].(string)
	caption, _ := r.Params["caption"].(string)
	if r.Params["parse_mode"] == "HTML" {
		text, caption = plainText(text), plainText(caption)
	}
	m.Text, m.Caption = text, caption
	if _, ok := r.Params["photo"]; ok {
		id := "photo-" + strconv.Itoa(r.MessageID)
		m.Photo = []photoJSON{{FileID: id, FileUniqueID: id, Width: 1280, Height: 720}}
	}
	if rm, ok := r.Params["reply_markup"].(map[string]any); ok {
		if _, inline := rm["inline_keyboard"]; inline {
			m.ReplyMarkup = rm
		}
	}
	return m
}

// answer is the default behaviour of each method.
func (s *Server) answer(req *Request, chat int64, hasChat bool) (any, *Failure) {
	p := req.Params
	switch {
	case sendMethods[req.Method]:
		if !hasChat {
			return nil, &Failure{Code: 400, Description: "Bad Request: chat_id is empty"}
		}
		if f := checkLimits(req.Method, p); f != nil {
			return nil, f
		}
		sh := s.shardOf(chat)
		sh.mu.Lock()
		c := sh.chats[chat]
		if c == nil {
			c = &chatState{msgs: map[int]*Request{}}
			sh.chats[chat] = c
		}
		c.lastID++
		req.MessageID = c.lastID
		if s.record.Load() {
			stored := *req
			c.msgs[req.MessageID] = &stored
		}
		sh.mu.Unlock()
		if req.Method == "copyMessage" {
			return map[string]int{"message_id": req.MessageID}, nil // a MessageId, as Telegram answers
		}
		return s.messageJSON(chat, req, false), nil

	case req.Method == "editMessageText" || req.Method == "editMessageCaption" || req.Method == "editMessageReplyMarkup":
		if _, inline := p["inline_message_id"]; inline {
			return true, nil
		}
		if !hasChat {
			return nil, &Failure{Code: 400, Description: "Bad Request: chat_id is empty"}
		}
		if f := checkLimits(req.Method, p); f != nil {
			return nil, f
		}
		id, _ := p["message_id"].(int64)
		req.MessageID = int(id)
		return s.edit(req, chat)

	case req.Method == "deleteMessage":
		id, _ := p["message_id"].(int64)
		req.MessageID = int(id)
		sh := s.shardOf(chat)
		sh.mu.Lock()
		defer sh.mu.Unlock()
		c := sh.chats[chat]
		if c != nil && c.msgs[int(id)] != nil {
			delete(c.msgs, int(id))
			return true, nil
		}
		// Ids the fake never issued in this chat are a test's own invention: accept them.
		// An id it issued and no longer holds was deleted already: answer as Telegram does.
		if c != nil && int(id) <= c.lastID && s.record.Load() {
			return nil, &Failure{Code: 400, Description: "Bad Request: message to delete not found"}
		}
		return true, nil

	case req.Method == "getMe":
		return botUser, nil

	case req.Method == "getChatMember":
		uid, _ := p["user_id"].(int64)
		s.membersMu.Lock()
		st, ok := s.members[[2]int64{chat, uid}]
		s.membersMu.Unlock()
		if !ok {
			st = "member"
		}
		return map[string]any{"user": userJSON{ID: uid, FirstName: "User " + strconv.FormatInt(uid, 10)}, "status": st}, nil

	case req.Method == "getChat":
		return s.chatJSON(chat), nil

	case req.Method == "setWebhook":
		url, _ := p["url"].(string)
		secret, _ := p["secret_token"].(string)
		s.upMu.Lock()
		s.webhook, s.secret = url, secret
		s.upMu.Unlock()
		return true, nil

	case req.Method == "deleteWebhook":
		s.upMu.Lock()
		s.webhook, s.secret = "", ""
		if p["drop_pending_updates"] == true {
			s.updates = nil
		}
		s.upMu.Unlock()
		return true, nil

	case req.Method == "getWebhookInfo":
		s.upMu.Lock()
		defer s.upMu.Unlock()
		return map[string]any{"url": s.webhook, "has_custom_certificate": false, "pending_update_count": len(s.updates)}, nil
	}
	// answerCallbackQuery, setMyCommands, sendChatAction, pinChatMessage...: true.
	return true, nil
}

func (s *Server) edit(req *Request, chat int64) (any, *Failure) {
	sh := s.shardOf(chat)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	c := sh.chats[chat]
	var old *Request
	if c != nil {
		old = c.msgs[req.MessageID]
	}
	if old == nil {
		if c != nil && req.MessageID <= c.lastID && req.MessageID > 0 && s.record.Load() {
			return nil, &Failure{Code: 400, Description: "Bad Request: message to edit not found"}
		}
		// A message the fake never sent (a test's invented callback message): accept.
		return s.messageJSON(chat, req, true), nil
	}
	next := *old
	next.Params = maps.Clone(old.Params)
	next.Time = req.Time
	switch req.Method {
	case "editMessageText":
		next.Params["text"] = req.Params["text"]
		setOrDelete(next.Params, req.Params, "parse_mode")
		setOrDelete(next.Params, req.Params, "link_preview_options")
		setOrDelete(next.Params, req.Params, "reply_markup") // no markup removes the keyboard
	case "editMessageCaption":
		next.Params["caption"] = req.Params["caption"]
		setOrDelete(next.Params, req.Params, "parse_mode")
		setOrDelete(next.Params, req.Params, "reply_markup")
	case "editMessageReplyMarkup":
		setOrDelete(next.Params, req.Params, "reply_markup")
	}
	if equalJSON(next.Params, old.Params) {
		return nil, &Failure{Code: 400, Description: "Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message"}
	}
	c.msgs[req.MessageID] = &next
	return s.messageJSON(chat, &next, true), nil
}

func setOrDelete(dst, src map[string]any, k string) {
	if v, ok := src[k]; ok {
		dst[k] = v
	} else {
		delete(dst, k)
	}
}

// checkLimits enforces Telegram's lengths, counted after HTML parsing in UTF-16 units, its
// HTML parse mode and the size of callback_data.
func checkLimits(method string, p map[string]any) *Failure {
	isHTML := p["parse_mode"] == "HTML"
	if d := checkKeyboard(p); d != "" {
		return &Failure{Code: 400, Description: d}
	}
	if isHTML {
		for _, k := range []string{"text", "caption"} {
			if s, ok := p[k].(string); ok {
				if d := checkHTML(s); d != "" {
					return &Failure{Code: 400, Description: d}
				}
			}
		}
	}
	length := func(k string) (int, bool) {
		s, ok := p[k].(string)
		if !ok {
			return 0, false
		}
		if isHTML {
			s = plainText(s)
		}
		return len(utf16.Encode([]rune(s))), true
	}
	switch method {
	case "sendMessage", "editMessageText":
		n, ok := length("text")
		if !ok || strings.TrimSpace(p["text"].(string)) == "" {
			return &Failure{Code: 400, Description: "Bad Request: message text is empty"}
		}
		if n > 4096 {
			return &Failure{Code: 400, Description: "Bad Request: message is too long"}
		}
	default:
		if n, _ := length("caption"); n > 1024 {
			return &Failure{Code: 400, Description: "Bad Request: message caption is too long"}
		}
	}
	return nil
}

// plainText is what Telegram shows of an HTML-formatted text: tags removed, entities
// decoded. It does not validate the markup.
func plainText(s string) string {
	if !strings.ContainsAny(s, "<&") {
		return s
	}
	var b strings.Builder
	in := false
	for _, r := range s {
		switch {
		case r == '<':
			in = true
		case r == '>' && in:
			in = false
		case !in:
			b.WriteRune(r)
		}
	}
	return html.UnescapeString(b.String())
}

package botapi

import (
	"maps"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// sendMethods answer a new Message in the chat.
var sendMethods = map[string]bool{
	"sendMessage": true, "sendPhoto": true, "sendVideo": true, "sendDocument": true,
	"sendAnimation": true, "sendAudio": true, "sendVoice": true, "sendSticker": true,
	"forwardMessage": true, "copyMessage": true,
}

type userJSON struct {
	ID           int64  `json:"id"`
	IsBot        bool   `json:"is_bot"`
	FirstName    string `json:"first_name"`
	LastName     string `json:"last_name,omitempty"`
	Username     string `json:"username,omitempty"`
	LanguageCode string `json:"language_code,omitempty"`
}

type chatJSON struct {
	ID        int64  `json:"id"`
	Type      string `json:"type"`
	Username  string `json:"username,omitempty"`
	Title     string `json:"title,omitempty"`
	FirstName string `json:"first_name,omitempty"`
	LastName  string `json:"last_name,omitempty"`
}

type photoJSON struct {
	FileID       string `json:"file_id"`
	FileUniqueID string `json:"file_unique_id"`
	Width        int    `json:"width"`
	Height       int    `json:"height"`
}

type messageJSON struct {
	MessageID       int         `json:"message_id"`
	From            *userJSON   `json:"from,omitempty"`
	SenderChat      *chatJSON   `json:"sender_chat,omitempty"`
	Date            int64       `json:"date"`
	EditDate        int64       `json:"edit_date,omitempty"`
	Chat            chatJSON    `json:"chat"`
	Text            string      `json:"text,omitempty"`
	Entities        []Entity    `json:"entities,omitempty"`
	Caption         string      `json:"caption,omitempty"`
	CaptionEntities []Entity    `json:"caption_entities,omitempty"`
	Photo           []photoJSON `json:"photo,omitempty"`
	ReplyMarkup     any         `json:"reply_markup,omitempty"`
}

func (s *Server) chatJSON(id int64) chatJSON {
	c := chatJSON{ID: id}
	switch {
	case id > 0:
		c.Type = "private"
		if u, ok := s.user(id); ok {
			c.FirstName, c.LastName, c.Username = u.FirstName, u.LastName, u.Username
		}
	case id <= -1000000000000:
		c.Type = "supergroup"
		if u := s.usernameOf(id); u != "" {
			c.Type, c.Username, c.Title = "channel", u, u
		}
	default:
		c.Type = "group"
	}
	return c
}

// messageJSON is the Message Telegram answers for what the bot sent (or holds after an edit).
func (s *Server) messageJSON(chat int64, r *Request, edited bool) messageJSON {
	m := messageJSON{MessageID: r.MessageID, From: &s.bot, Date: r.Time.Unix(), Chat: s.chatJSON(chat)}
	if m.Chat.Type == "channel" {
		// A channel post has no sender, only the channel.
		m.From, m.SenderChat = nil, &m.Chat
	}
	if edited {
		m.EditDate = r.Time.Unix()
	}
	text, _ := r.Params["text"].(string)
	caption, _ := r.Params["caption"].(string)
	if r.Params["parse_mode"] == "HTML" {
		// Stored messages passed the parser when they were sent.
		text, m.Entities, _ = ParseHTML(text)
		caption, m.CaptionEntities, _ = ParseHTML(caption)
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
		if f := checkPhoto(p); f != nil {
			return nil, f
		}
		sh := s.shardOf(chat)
		sh.mu.Lock()
		c := sh.chat(chat)
		c.lastID++
		req.MessageID = c.lastID
		if s.record.Load() {
			c.msgs[req.MessageID] = &entry{req: *req}
		}
		c.ver = s.watch.bump()
		sh.mu.Unlock()
		s.stats.sent.Add(1)
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
		if c != nil && c.msgs[int(id)] != nil && !c.msgs[int(id)].deleted {
			m := c.msgs[int(id)]
			m.deleted, m.deleteAt = true, req.Time
			c.ver = s.watch.bump()
			s.stats.deleted.Add(1)
			return true, nil
		}
		// Ids the server never issued in this chat are a test's own invention: accept them.
		// An id it issued and no longer holds was deleted already: answer as Telegram does.
		if c != nil && int(id) <= c.lastID && s.record.Load() {
			return nil, &Failure{Code: 400, Description: "Bad Request: message to delete not found"}
		}
		return true, nil

	case req.Method == "getMe":
		return s.bot, nil

	case req.Method == "getChatMember":
		uid, _ := p["user_id"].(int64)
		s.membersMu.Lock()
		st, ok := s.members[[2]int64{chat, uid}]
		s.membersMu.Unlock()
		if !ok {
			st = "member"
		}
		u := userJSON{ID: uid, FirstName: "User " + strconv.FormatInt(uid, 10)}
		if known, ok := s.user(uid); ok {
			u = known.json()
		}
		return map[string]any{"user": u, "status": st}, nil

	case req.Method == "getChat":
		return s.chatJSON(chat), nil

	case req.Method == "answerCallbackQuery":
		s.answerQuery(req)
		return true, nil

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
	// setMyCommands, sendChatAction, pinChatMessage...: true.
	return true, nil
}

func (s *Server) edit(req *Request, chat int64) (any, *Failure) {
	sh := s.shardOf(chat)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	c := sh.chats[chat]
	var old *entry
	if c != nil {
		old = c.msgs[req.MessageID]
	}
	if old == nil || old.deleted {
		if c != nil && req.MessageID <= c.lastID && req.MessageID > 0 && s.record.Load() {
			return nil, &Failure{Code: 400, Description: "Bad Request: message to edit not found"}
		}
		// A message the server never sent (a test's invented callback message): accept.
		return s.messageJSON(chat, req, true), nil
	}
	if old.from != nil {
		return nil, &Failure{Code: 400, Description: "Bad Request: message can't be edited"}
	}
	next := old.req
	next.Params = maps.Clone(old.req.Params)
	next.Time = req.Time
	switch req.Method {
	case "editMessageText":
		if _, photo := next.Params["photo"]; photo {
			return nil, &Failure{Code: 400, Description: "Bad Request: there is no text in the message to edit"}
		}
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
	if equalJSON(next.Params, old.req.Params) {
		return nil, &Failure{Code: 400, Description: "Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message"}
	}
	c.msgs[req.MessageID] = &entry{req: next, edits: old.edits + 1}
	c.ver = s.watch.bump()
	s.stats.edited.Add(1)
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
	// plain is what Telegram shows of a parameter: HTML parsed when parse_mode says so.
	plain := func(k string) (string, bool, *Failure) {
		s, ok := p[k].(string)
		if !ok || !isHTML {
			return s, ok, nil
		}
		text, _, err := ParseHTML(s)
		if err != nil {
			return "", true, &Failure{Code: 400, Description: err.Error()}
		}
		return text, true, nil
	}
	switch method {
	case "sendMessage", "editMessageText":
		text, ok, f := plain("text")
		if f != nil {
			return f
		}
		if !ok || strings.TrimSpace(text) == "" {
			return &Failure{Code: 400, Description: "Bad Request: message text is empty"}
		}
		if utf16Len(text) > 4096 {
			return &Failure{Code: 400, Description: "Bad Request: message is too long"}
		}
	default:
		caption, _, f := plain("caption")
		if f != nil {
			return f
		}
		if utf16Len(caption) > 1024 {
			return &Failure{Code: 400, Description: "Bad Request: message caption is too long"}
		}
	}
	return nil
}

// checkPhoto refuses a photo URL Telegram could not download: one it cannot parse, and one on
// a host it cannot reach (reserved names, loopback and private addresses). File ids and
// uploads pass.
func checkPhoto(p map[string]any) *Failure {
	photo, _ := p["photo"].(string)
	if !strings.Contains(photo, "://") {
		return nil
	}
	u, err := url.Parse(photo)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return &Failure{Code: 400, Description: "Bad Request: wrong file identifier/HTTP URL specified"}
	}
	host := strings.ToLower(u.Hostname())
	unreachable := host == "localhost" || strings.HasSuffix(host, ".invalid") || strings.HasSuffix(host, ".localhost") || strings.HasSuffix(host, ".local")
	if ip := net.ParseIP(host); ip != nil && (ip.IsLoopback() || ip.IsPrivate() || ip.IsUnspecified() || ip.IsLinkLocalUnicast()) {
		unreachable = true
	}
	if unreachable {
		return &Failure{Code: 400, Description: "Bad Request: failed to get HTTP URL content"}
	}
	return nil
}

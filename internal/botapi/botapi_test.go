package botapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"newsbot/internal/botapi"
)

type answer struct {
	OK          bool            `json:"ok"`
	Result      json.RawMessage `json:"result"`
	ErrorCode   int             `json:"error_code"`
	Description string          `json:"description"`
	Parameters  struct {
		RetryAfter int `json:"retry_after"`
	} `json:"parameters"`
}

func start(t *testing.T) (*botapi.Server, func(method string, form url.Values) answer) {
	t.Helper()
	s := botapi.New(botapi.Options{Username: "playground_bot"})
	ts := httptest.NewServer(s)
	t.Cleanup(func() { s.Close(); ts.Close() })
	call := func(method string, form url.Values) answer {
		t.Helper()
		resp, err := http.PostForm(ts.URL+"/bot"+s.Token()+"/"+method, form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var a answer
		if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
			t.Fatal(err)
		}
		return a
	}
	return s, call
}

func TestParseHTMLEntities(t *testing.T) {
	plain, ents, err := botapi.ParseHTML(`<b>Тоқаев</b> &amp; <i>Си</i> 🇰🇿 <a href="https://x.kz/?a=1&amp;b=2">оқу</a><pre><code class="language-go">x</code></pre>`)
	if err != nil {
		t.Fatal(err)
	}
	if plain != "Тоқаев & Си 🇰🇿 оқуx" {
		t.Errorf("plain %q", plain)
	}
	want := []botapi.Entity{
		{Type: "bold", Offset: 0, Length: 6},
		{Type: "italic", Offset: 9, Length: 2},
		{Type: "text_link", Offset: 17, Length: 3, URL: "https://x.kz/?a=1&b=2"}, // the flag is 4 UTF-16 units
		{Type: "pre", Offset: 20, Length: 1, Language: "go"},
	}
	if !slices.Equal(ents, want) {
		t.Errorf("entities\n got %+v\nwant %+v", ents, want)
	}
	for _, bad := range []string{"a <script>", "<b>x</i>", "&nbsp;", "<b>open"} {
		if _, _, err := botapi.ParseHTML(bad); err == nil || !strings.Contains(err.Error(), "can't parse entities") {
			t.Errorf("%q: %v, want refused", bad, err)
		}
	}
}

func TestReaderSaysPressesAndBlocks(t *testing.T) {
	s, call := start(t)
	aigerim := botapi.User{ID: 501, FirstName: "Айгерім", LanguageCode: "kk"}
	if _, err := s.Say(aigerim, "/start kk_politics"); err != nil {
		t.Fatal(err)
	}
	var ups []struct {
		Message struct {
			MessageID int `json:"message_id"`
			From      struct {
				LanguageCode string `json:"language_code"`
			} `json:"from"`
			Chat struct {
				Type      string `json:"type"`
				FirstName string `json:"first_name"`
			} `json:"chat"`
			Text     string          `json:"text"`
			Entities []botapi.Entity `json:"entities"`
		} `json:"message"`
		CallbackQuery struct {
			ID      string `json:"id"`
			Data    string `json:"data"`
			Message struct {
				MessageID int    `json:"message_id"`
				Text      string `json:"text"`
			} `json:"message"`
		} `json:"callback_query"`
		MyChatMember struct {
			NewChatMember struct {
				Status string `json:"status"`
			} `json:"new_chat_member"`
		} `json:"my_chat_member"`
	}
	a := call("getUpdates", nil)
	_ = json.Unmarshal(a.Result, &ups)
	if len(ups) != 1 || ups[0].Message.Text != "/start kk_politics" || ups[0].Message.From.LanguageCode != "kk" ||
		ups[0].Message.Chat.Type != "private" || ups[0].Message.Chat.FirstName != "Айгерім" ||
		len(ups[0].Message.Entities) != 1 || ups[0].Message.Entities[0].Type != "bot_command" || ups[0].Message.Entities[0].Length != 6 {
		t.Fatalf("update %+v", ups)
	}

	// The bot answers in the same chat: message ids continue after the reader's.
	kb := `{"inline_keyboard":[[{"text":"Саясат","callback_data":"t:politics"}],[{"text":"Бөлісу","url":"https://t.me/share/url?url=x"}]]}`
	a = call("sendMessage", url.Values{"chat_id": {"501"}, "text": {"<b>Қош келдіңіз!</b>"}, "parse_mode": {"HTML"}, "reply_markup": {kb}})
	var sent struct {
		MessageID int             `json:"message_id"`
		Text      string          `json:"text"`
		Entities  []botapi.Entity `json:"entities"`
	}
	_ = json.Unmarshal(a.Result, &sent)
	if !a.OK || sent.MessageID != 2 || sent.Text != "Қош келдіңіз!" || len(sent.Entities) != 1 {
		t.Fatalf("send: %+v %+v", a, sent)
	}

	if err := s.Press(aigerim, 2, "t:nothing"); err == nil {
		t.Error("pressed a button the message does not have")
	}
	if err := s.Press(aigerim, 2, "t:politics"); err != nil {
		t.Fatal(err)
	}
	ups = nil
	_ = json.Unmarshal(call("getUpdates", url.Values{"offset": {"2"}}).Result, &ups)
	if len(ups) != 1 || ups[0].CallbackQuery.Data != "t:politics" || ups[0].CallbackQuery.Message.MessageID != 2 || ups[0].CallbackQuery.Message.Text != "Қош келдіңіз!" {
		t.Fatalf("callback update %+v", ups)
	}
	call("answerCallbackQuery", url.Values{"callback_query_id": {ups[0].CallbackQuery.ID}, "text": {"Сақталды"}})
	if toast, ok := s.Toast(501); !ok || toast.Text != "Сақталды" {
		t.Errorf("toast %+v %v", toast, ok)
	}

	call("editMessageText", url.Values{"chat_id": {"501"}, "message_id": {"2"}, "text": {"✓ Саясат"}})
	hist := s.History(int64(501))
	if len(hist) != 2 || hist[0].From == nil || hist[0].From.FirstName != "Айгерім" || hist[1].From != nil ||
		hist[1].Text != "✓ Саясат" || hist[1].Edits != 1 || hist[1].Buttons != nil {
		t.Fatalf("history %+v", hist)
	}
	if a := call("editMessageText", url.Values{"chat_id": {"501"}, "message_id": {"1"}, "text": {"x"}}); a.OK {
		t.Error("the bot edited the reader's message")
	}

	s.Block(aigerim)
	if a := call("sendMessage", url.Values{"chat_id": {"501"}, "text": {"x"}}); a.ErrorCode != 403 || a.Description != "Forbidden: bot was blocked by the user" {
		t.Errorf("send to a blocked chat: %+v", a)
	}
	if _, err := s.Say(aigerim, "hi"); err == nil {
		t.Error("a reader who blocked the bot typed in its chat")
	}
	ups = nil
	_ = json.Unmarshal(call("getUpdates", url.Values{"offset": {"3"}}).Result, &ups)
	if len(ups) != 1 || ups[0].MyChatMember.NewChatMember.Status != "kicked" {
		t.Fatalf("block update %+v", ups)
	}
	if err := s.Unblock(aigerim); err != nil {
		t.Fatal(err)
	}
	ups = nil
	_ = json.Unmarshal(call("getUpdates", url.Values{"offset": {"4"}}).Result, &ups)
	if len(ups) != 2 || ups[0].MyChatMember.NewChatMember.Status != "member" || ups[1].Message.Text != "/start" {
		t.Fatalf("restart updates %+v", ups)
	}
	if a := call("sendMessage", url.Values{"chat_id": {"501"}, "text": {"x"}}); !a.OK {
		t.Errorf("send after restart: %+v", a)
	}
	if st := s.Stats(); st.Sent != 2 || st.Edited != 1 || st.Forbidden != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestChatLimits(t *testing.T) {
	s, call := start(t)
	s.SetChatLimits(botapi.ChatLimits{PrivatePerSecond: 1, PrivateBurst: 2, GroupPerMinute: 20, GroupBurst: 3})
	var got []int
	for range 3 {
		got = append(got, call("sendMessage", url.Values{"chat_id": {"7"}, "text": {"x"}}).ErrorCode)
	}
	// Another chat has its own allowance; edits are not limited.
	got = append(got, call("sendMessage", url.Values{"chat_id": {"8"}, "text": {"x"}}).ErrorCode)
	got = append(got, call("editMessageText", url.Values{"chat_id": {"7"}, "message_id": {"1"}, "text": {"y"}}).ErrorCode)
	for range 4 {
		got = append(got, call("sendMessage", url.Values{"chat_id": {"@news_kk"}, "text": {"x"}}).ErrorCode)
	}
	if want := []int{0, 0, 429, 0, 0, 0, 0, 0, 429}; !slices.Equal(got, want) {
		t.Errorf("error codes %v, want %v", got, want)
	}
	a := call("sendMessage", url.Values{"chat_id": {"@news_kk"}, "text": {"x"}})
	if a.Parameters.RetryAfter < 2 || a.Parameters.RetryAfter > 3 {
		t.Errorf("channel retry_after %d, want 3 s (20 a minute)", a.Parameters.RetryAfter)
	}
	if s.Stats().RateLimited != 3 {
		t.Errorf("rate limited %d", s.Stats().RateLimited)
	}
}

func TestDeletionsStayInHistory(t *testing.T) {
	s, call := start(t)
	call("sendPhoto", url.Values{"chat_id": {"@news_en"}, "photo": {"https://news.example.kz/p.jpg"}, "caption": {"<b>One</b>"}, "parse_mode": {"HTML"}})
	call("sendMessage", url.Values{"chat_id": {"@news_en"}, "text": {"Two"}})
	call("deleteMessage", url.Values{"chat_id": {"@news_en"}, "message_id": {"2"}})
	if a := call("editMessageText", url.Values{"chat_id": {"@news_en"}, "message_id": {"1"}, "text": {"x"}}); a.OK {
		t.Error("editMessageText of a photo answered ok")
	}
	h := s.History("@news_en")
	if len(h) != 2 || h[0].Photo != "https://news.example.kz/p.jpg" || h[0].Text != "One" || len(h[0].Entities) != 1 || !h[1].Deleted || h[1].DeletedAt.IsZero() {
		t.Fatalf("history %+v", h)
	}
	if n := len(s.Messages("@news_en")); n != 1 {
		t.Errorf("Messages holds %d, want the one not deleted", n)
	}
}

func TestPhotoURLsTelegramCannotFetch(t *testing.T) {
	_, call := start(t)
	for photo, want := range map[string]string{
		"ht!tp://x":                     "Bad Request: wrong file identifier/HTTP URL specified",
		"ftp://news.example.kz/p.jpg":   "Bad Request: wrong file identifier/HTTP URL specified",
		"https://photos.invalid/x.jpg":  "Bad Request: failed to get HTTP URL content",
		"http://127.0.0.1/x.jpg":        "Bad Request: failed to get HTTP URL content",
		"https://news.example.kz/x.jpg": "",
		"AgACAgIAAxkBAAIB":              "", // a file id
	} {
		a := call("sendPhoto", url.Values{"chat_id": {"1"}, "photo": {photo}})
		if a.Description != want {
			t.Errorf("%q answered %q, want %q", photo, a.Description, want)
		}
	}
}

func TestWaitAndChanged(t *testing.T) {
	s, call := start(t)
	v0 := s.Version()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got := make(chan uint64)
	go func() {
		v, _ := s.Wait(ctx, v0)
		got <- v
	}()
	time.Sleep(20 * time.Millisecond)
	call("sendMessage", url.Values{"chat_id": {"42"}, "text": {"x"}})
	select {
	case v := <-got:
		if v <= v0 {
			t.Errorf("woke at version %d, not after %d", v, v0)
		}
	case <-ctx.Done():
		t.Fatal("Wait did not wake on a send")
	}
	call("sendMessage", url.Values{"chat_id": {"43"}, "text": {"x"}})
	if ch := s.Changed(v0); len(ch) != 2 {
		t.Errorf("changed since %d: %v, want chats 42 and 43", v0, ch)
	}
	v1 := s.Version()
	call("sendMessage", url.Values{"chat_id": {"43"}, "text": {"y"}})
	if ch := s.Changed(v1); !slices.Equal(ch, []int64{43}) {
		t.Errorf("changed since %d: %v, want [43]", v1, ch)
	}
	// Close wakes the waiting.
	go func() { time.Sleep(20 * time.Millisecond); s.Close() }()
	if _, err := s.Wait(ctx, s.Version()); err == nil {
		t.Error("Wait returned no error at Close")
	}
}

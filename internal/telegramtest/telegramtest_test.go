package telegramtest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"newsbot/internal/telegramtest"
)

type answer struct {
	OK          bool            `json:"ok"`
	Result      json.RawMessage `json:"result"`
	ErrorCode   int             `json:"error_code"`
	Description string          `json:"description"`
	Parameters  struct {
		RetryAfter      int   `json:"retry_after"`
		MigrateToChatID int64 `json:"migrate_to_chat_id"`
	} `json:"parameters"`
	status int
}

func post(t *testing.T, srv *telegramtest.Server, method string, form url.Values) answer {
	t.Helper()
	return postTo(t, srv.URL()+"/bot"+srv.Token()+"/"+method, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
}

func postTo(t *testing.T, u, ct string, body io.Reader) answer {
	t.Helper()
	resp, err := http.Post(u, ct, body)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a answer
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		t.Fatalf("answer is not JSON: %v", err)
	}
	a.status = resp.StatusCode
	return a
}

type msg struct {
	MessageID int `json:"message_id"`
	Chat      struct {
		ID   int64  `json:"id"`
		Type string `json:"type"`
	} `json:"chat"`
	Text    string `json:"text"`
	Caption string `json:"caption"`
}

func result[T any](t *testing.T, a answer) T {
	t.Helper()
	if !a.OK {
		t.Fatalf("answer %d %s, want ok", a.ErrorCode, a.Description)
	}
	var v T
	if err := json.Unmarshal(a.Result, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestWrongTokenIsUnauthorized(t *testing.T) {
	srv := telegramtest.New(t)
	a := postTo(t, srv.URL()+"/bot123:wrong/getMe", "application/x-www-form-urlencoded", nil)
	if a.status != 401 || a.OK || a.ErrorCode != 401 || a.Description != "Unauthorized" {
		t.Errorf("wrong token answered %+v", a)
	}
	if srv.Count("getMe") != 0 {
		t.Error("a request with a wrong token was counted")
	}
}

func TestBodyEncodings(t *testing.T) {
	srv := telegramtest.New(t)
	base := srv.URL() + "/bot" + srv.Token() + "/sendMessage"

	form := url.Values{"chat_id": {"10"}, "text": {"form"}, "reply_markup": {`{"inline_keyboard":[[{"text":"A","callback_data":"a"}]]}`}}
	postTo(t, base, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))

	postTo(t, base, "application/json", strings.NewReader(`{"chat_id":"@news_kk","text":"json","disable_notification":true,"reply_markup":{"inline_keyboard":[[{"text":"B","callback_data":"b"}]]}}`))

	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	_ = mw.WriteField("chat_id", "-100200")
	_ = mw.WriteField("caption", "multipart")
	fw, _ := mw.CreateFormFile("photo", "visit.jpg")
	_, _ = fw.Write([]byte("jpeg"))
	_ = mw.Close()
	postTo(t, srv.URL()+"/bot"+srv.Token()+"/sendPhoto", mw.FormDataContentType(), &buf)

	reqs := srv.Requests("")
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(reqs))
	}
	if p := reqs[0].Params; p["chat_id"] != int64(10) || p["text"] != "form" {
		t.Errorf("form params %#v", p)
	}
	if kb, ok := reqs[0].Params["reply_markup"].(map[string]any); !ok || kb["inline_keyboard"] == nil {
		t.Errorf("form reply_markup %#v, want an object", reqs[0].Params["reply_markup"])
	}
	if p := reqs[1].Params; p["chat_id"] != "@news_kk" || p["disable_notification"] != true {
		t.Errorf("json params %#v", p)
	}
	if kb, ok := reqs[1].Params["reply_markup"].(map[string]any); !ok || kb["inline_keyboard"] == nil {
		t.Errorf("json reply_markup %#v", reqs[1].Params["reply_markup"])
	}
	if p := reqs[2].Params; p["chat_id"] != int64(-100200) || p["caption"] != "multipart" || p["photo"] != "attach:visit.jpg" {
		t.Errorf("multipart params %#v", p)
	}
	if reqs[2].Text() != "multipart" || reqs[0].ChatID() != int64(10) {
		t.Error("Request helpers")
	}
}

func TestMessageIDsPerChat(t *testing.T) {
	srv := telegramtest.New(t)
	for i, chat := range []string{"1", "2", "1", "1", "2"} {
		m := result[msg](t, post(t, srv, "sendMessage", url.Values{"chat_id": {chat}, "text": {fmt.Sprint(i)}}))
		want := map[int]int{0: 1, 1: 1, 2: 2, 3: 3, 4: 2}[i]
		if m.MessageID != want || fmt.Sprint(m.Chat.ID) != chat || m.Chat.Type != "private" || m.Text != fmt.Sprint(i) {
			t.Errorf("send %d = %+v, want message %d in chat %s", i, m, want, chat)
		}
	}
	if got := result[msg](t, post(t, srv, "copyMessage", url.Values{"chat_id": {"2"}, "from_chat_id": {"1"}, "message_id": {"1"}})); got.MessageID != 3 {
		t.Errorf("copyMessage id %d, want 3", got.MessageID)
	}
}

func TestMessagesAppliesEditsAndDeletes(t *testing.T) {
	srv := telegramtest.New(t)
	kb := `{"inline_keyboard":[[{"text":"✓ politics","callback_data":"t:politics"}]]}`
	post(t, srv, "sendMessage", url.Values{"chat_id": {"7"}, "text": {"one"}, "reply_markup": {kb}})
	post(t, srv, "sendPhoto", url.Values{"chat_id": {"7"}, "photo": {"https://x/p.jpg"}, "caption": {"two"}})
	post(t, srv, "sendMessage", url.Values{"chat_id": {"7"}, "text": {"three"}})

	if a := post(t, srv, "editMessageText", url.Values{"chat_id": {"7"}, "message_id": {"1"}, "text": {"one, edited"}, "reply_markup": {kb}}); !a.OK {
		t.Fatalf("edit: %+v", a)
	}
	post(t, srv, "editMessageCaption", url.Values{"chat_id": {"7"}, "message_id": {"2"}, "caption": {"two, edited"}})
	post(t, srv, "deleteMessage", url.Values{"chat_id": {"7"}, "message_id": {"3"}})

	held := srv.Messages(int64(7))
	if len(held) != 2 || held[0].Text() != "one, edited" || held[1].Text() != "two, edited" || held[0].MessageID != 1 {
		t.Fatalf("chat holds %+v", held)
	}
	if held[0].Params["reply_markup"] == nil {
		t.Error("edit with markup lost the keyboard")
	}

	// Same content again: Telegram refuses.
	if a := post(t, srv, "editMessageText", url.Values{"chat_id": {"7"}, "message_id": {"1"}, "text": {"one, edited"}, "reply_markup": {kb}}); a.OK || !strings.Contains(a.Description, "message is not modified") {
		t.Errorf("same edit answered %+v", a)
	}
	// A keyboard-only edit.
	post(t, srv, "editMessageReplyMarkup", url.Values{"chat_id": {"7"}, "message_id": {"1"}})
	if srv.Messages(7)[0].Params["reply_markup"] != nil {
		t.Error("editMessageReplyMarkup without markup kept the keyboard")
	}
	// Deleting twice: the second is refused like Telegram does.
	if a := post(t, srv, "deleteMessage", url.Values{"chat_id": {"7"}, "message_id": {"3"}}); a.OK || a.ErrorCode != 400 {
		t.Errorf("second delete answered %+v", a)
	}
	// Editing a message the fake never sent (a test's invented callback message) works.
	if a := post(t, srv, "editMessageText", url.Values{"chat_id": {"8"}, "message_id": {"50"}, "text": {"x"}}); !a.OK {
		t.Errorf("edit of unknown message: %+v", a)
	}
	// Changing the returned slice does not change the server's copy.
	h := srv.Messages(7)
	h[0].Params["text"] = "tampered"
	if srv.Messages(7)[0].Text() == "tampered" {
		t.Error("Messages shares its maps")
	}
	if srv.Messages(99) != nil {
		t.Error("an unknown chat holds messages")
	}
}

func TestLimits(t *testing.T) {
	srv := telegramtest.New(t)
	long := strings.Repeat("я", 4097)
	if a := post(t, srv, "sendMessage", url.Values{"chat_id": {"1"}, "text": {long}}); a.OK || a.Description != "Bad Request: message is too long" {
		t.Errorf("4097 characters: %+v", a)
	}
	// Tags do not count; entities count as one character.
	ok := "<b>" + strings.Repeat("&amp;", 4096) + "</b>"
	if a := post(t, srv, "sendMessage", url.Values{"chat_id": {"1"}, "text": {ok}, "parse_mode": {"HTML"}}); !a.OK {
		t.Errorf("4096 characters after parsing: %+v", a)
	}
	if a := post(t, srv, "sendPhoto", url.Values{"chat_id": {"1"}, "photo": {"p"}, "caption": {strings.Repeat("a", 1025)}}); a.OK {
		t.Error("1025-character caption accepted")
	}
	if a := post(t, srv, "sendMessage", url.Values{"chat_id": {"1"}, "text": {" "}}); a.OK {
		t.Error("empty text accepted")
	}
	if len(srv.Messages(1)) != 1 {
		t.Errorf("chat holds %d messages, want only the valid one", len(srv.Messages(1)))
	}
}

func TestFailNext(t *testing.T) {
	srv := telegramtest.New(t)
	srv.FailNext("sendMessage", int64(5), telegramtest.RetryAfter(3))
	srv.FailNext("sendMessage", int64(5), telegramtest.Migrated(-1009))
	srv.FailNext("sendPhoto", nil, telegramtest.Blocked())

	// Another chat is unaffected.
	if a := post(t, srv, "sendMessage", url.Values{"chat_id": {"6"}, "text": {"x"}}); !a.OK {
		t.Errorf("other chat failed: %+v", a)
	}
	a := post(t, srv, "sendMessage", url.Values{"chat_id": {"5"}, "text": {"x"}})
	if a.status != 429 || a.ErrorCode != 429 || a.Parameters.RetryAfter != 3 {
		t.Errorf("first: %+v", a)
	}
	a = post(t, srv, "sendMessage", url.Values{"chat_id": {"5"}, "text": {"x"}})
	if a.status != 400 || a.Parameters.MigrateToChatID != -1009 {
		t.Errorf("second: %+v", a)
	}
	if a := post(t, srv, "sendMessage", url.Values{"chat_id": {"5"}, "text": {"x"}}); !a.OK {
		t.Errorf("third: %+v", a)
	}
	a = post(t, srv, "sendPhoto", url.Values{"chat_id": {"77"}, "photo": {"p"}})
	if a.status != 403 || a.Description != "Forbidden: bot was blocked by the user" {
		t.Errorf("photo: %+v", a)
	}
	if len(srv.Messages(5)) != 1 {
		t.Errorf("failed sends stored: %d", len(srv.Messages(5)))
	}
	statuses := []int{}
	for _, r := range srv.Requests("sendMessage") {
		statuses = append(statuses, r.Status)
	}
	if fmt.Sprint(statuses) != "[200 429 400 200]" {
		t.Errorf("recorded statuses %v", statuses)
	}
}

func TestRateLimit(t *testing.T) {
	srv := telegramtest.New(t)
	srv.SetRateLimit(5)
	ok, limited := 0, 0
	for range 20 {
		a := post(t, srv, "sendMessage", url.Values{"chat_id": {"1"}, "text": {"x"}})
		if a.OK {
			ok++
		} else if a.ErrorCode == 429 && a.Parameters.RetryAfter >= 1 {
			limited++
		}
	}
	if ok < 5 || ok > 7 || ok+limited != 20 || srv.RateLimited() != limited {
		t.Errorf("ok %d, limited %d (counted %d)", ok, limited, srv.RateLimited())
	}
	srv.SetRateLimit(0)
	if a := post(t, srv, "sendMessage", url.Values{"chat_id": {"1"}, "text": {"x"}}); !a.OK {
		t.Error("rate limit not turned off")
	}
}

func TestSetHandler(t *testing.T) {
	srv := telegramtest.New(t)
	srv.SetHandler(func(r telegramtest.Request) *telegramtest.Response {
		switch r.Method {
		case "getChat":
			return &telegramtest.Response{Result: map[string]any{"id": 1, "type": "private", "first_name": "X"}}
		case "sendMessage":
			f := telegramtest.Deactivated()
			return &telegramtest.Response{Failure: &f}
		case "getMe":
			return &telegramtest.Response{Raw: []byte("{}"), Status: 200}
		}
		return nil
	})
	if a := post(t, srv, "getChat", url.Values{"chat_id": {"1"}}); !a.OK || !strings.Contains(string(a.Result), "first_name") {
		t.Errorf("getChat %+v", a)
	}
	if a := post(t, srv, "sendMessage", url.Values{"chat_id": {"1"}, "text": {"x"}}); a.ErrorCode != 403 {
		t.Errorf("sendMessage %+v", a)
	}
	if a := post(t, srv, "getMe", nil); a.OK || a.status != 200 {
		t.Errorf("getMe %+v", a)
	}
	if a := post(t, srv, "answerCallbackQuery", url.Values{"callback_query_id": {"1"}}); !a.OK {
		t.Errorf("fall-through %+v", a)
	}
}

func TestGetUpdates(t *testing.T) {
	srv := telegramtest.New(t)
	type upd struct {
		UpdateID int `json:"update_id"`
	}
	for range 3 {
		srv.PushUpdate(map[string]any{"message": map[string]any{"text": "hi"}})
	}
	if id := srv.PushUpdate(`{"update_id": 100, "message": {"text": "explicit"}}`); id != 100 {
		t.Errorf("explicit id = %d", id)
	}
	if id := srv.PushUpdate(map[string]any{}); id != 101 {
		t.Errorf("next id = %d", id)
	}
	got := result[[]upd](t, post(t, srv, "getUpdates", url.Values{"limit": {"2"}}))
	if len(got) != 2 || got[0].UpdateID != 1 {
		t.Errorf("first batch %+v", got)
	}
	// Without an offset nothing is confirmed: the same updates come again.
	got = result[[]upd](t, post(t, srv, "getUpdates", nil))
	if len(got) != 5 {
		t.Errorf("unconfirmed: %d", len(got))
	}
	got = result[[]upd](t, post(t, srv, "getUpdates", url.Values{"offset": {"100"}}))
	if len(got) != 2 || got[0].UpdateID != 100 || srv.Pending() != 2 {
		t.Errorf("from 100: %+v, pending %d", got, srv.Pending())
	}
	got = result[[]upd](t, post(t, srv, "getUpdates", url.Values{"offset": {"102"}}))
	if len(got) != 0 || srv.Pending() != 0 {
		t.Errorf("after all: %+v", got)
	}

	// Long polling waits for a push.
	done := make(chan []upd)
	go func() {
		a := postTo(t, srv.URL()+"/bot"+srv.Token()+"/getUpdates", "application/json", strings.NewReader(`{"offset":102,"timeout":20}`))
		var v []upd
		_ = json.Unmarshal(a.Result, &v)
		done <- v
	}()
	srv.WaitFor(t, "getUpdates", 5, 5*time.Second)
	srv.PushUpdate(map[string]any{"message": map[string]any{"text": "late"}})
	if v := <-done; len(v) != 1 || v[0].UpdateID != 102 {
		t.Errorf("long poll got %+v", v)
	}

	// A webhook makes getUpdates conflict.
	post(t, srv, "setWebhook", url.Values{"url": {"https://x/hook"}, "secret_token": {"s"}})
	if a := post(t, srv, "getUpdates", nil); a.status != 409 || a.ErrorCode != 409 {
		t.Errorf("with webhook: %+v", a)
	}
	post(t, srv, "deleteWebhook", url.Values{"drop_pending_updates": {"true"}})
	if a := post(t, srv, "getUpdates", nil); !a.OK {
		t.Errorf("after deleteWebhook: %+v", a)
	}
}

func TestLongPollEndsWithClient(t *testing.T) {
	srv := telegramtest.New(t)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL()+"/bot"+srv.Token()+"/getUpdates?timeout=30", nil)
	errc := make(chan error)
	go func() {
		_, err := http.DefaultClient.Do(req)
		errc <- err
	}()
	srv.WaitFor(t, "getUpdates", 1, 5*time.Second)
	cancel()
	if err := <-errc; err == nil {
		t.Error("cancelled long poll returned no error")
	}
	// And Close does not wait for pending long polls.
	go func() { _, _ = http.Post(srv.URL()+"/bot"+srv.Token()+"/getUpdates?timeout=30", "", nil) }()
	srv.WaitFor(t, "getUpdates", 2, 5*time.Second)
	closed := make(chan struct{})
	go func() { srv.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close waits for a long poll")
	}
}

func TestChatMemberAndMe(t *testing.T) {
	srv := telegramtest.New(t)
	srv.SetChatMember(-100, 5, "creator")
	type member struct {
		Status string `json:"status"`
		User   struct {
			ID int64 `json:"id"`
		} `json:"user"`
	}
	if m := result[member](t, post(t, srv, "getChatMember", url.Values{"chat_id": {"-100"}, "user_id": {"5"}})); m.Status != "creator" || m.User.ID != 5 {
		t.Errorf("member %+v", m)
	}
	if m := result[member](t, post(t, srv, "getChatMember", url.Values{"chat_id": {"-100"}, "user_id": {"6"}})); m.Status != "member" {
		t.Errorf("default member %+v", m)
	}
	type me struct {
		ID       int64  `json:"id"`
		Username string `json:"username"`
		IsBot    bool   `json:"is_bot"`
	}
	if u := result[me](t, post(t, srv, "getMe", nil)); u.ID != telegramtest.BotID || !u.IsBot {
		t.Errorf("me %+v", u)
	}
}

func TestConcurrentSendsAndCountOnly(t *testing.T) {
	srv := telegramtest.New(t)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				post(t, srv, "sendMessage", url.Values{"chat_id": {fmt.Sprint(g % 4)}, "text": {fmt.Sprint(i)}})
			}
		})
	}
	wg.Wait()
	if srv.Count("sendMessage") != 400 || len(srv.Requests("sendMessage")) != 400 {
		t.Fatalf("count %d", srv.Count("sendMessage"))
	}
	for chat := range 4 {
		held := srv.Messages(chat)
		if len(held) != 100 {
			t.Errorf("chat %d holds %d", chat, len(held))
		}
		for i, m := range held {
			if m.MessageID != i+1 {
				t.Fatalf("chat %d message ids not 1..100: %d at %d", chat, m.MessageID, i)
			}
		}
	}
	srv.SetRecord(false)
	m := result[msg](t, post(t, srv, "sendMessage", url.Values{"chat_id": {"0"}, "text": {"x"}}))
	if m.MessageID != 101 || srv.Count("sendMessage") != 401 || len(srv.Requests("sendMessage")) != 400 {
		t.Errorf("count-only: id %d, count %d, recorded %d", m.MessageID, srv.Count("sendMessage"), len(srv.Requests("sendMessage")))
	}
}

// TestMarkupIsCheckedLikeTelegram: text Telegram's HTML parser refuses, and buttons with
// callback_data outside 1–64 bytes, are refused by the fake too, so that an escaping bug in
// any package fails its tests.
func TestMarkupIsCheckedLikeTelegram(t *testing.T) {
	srv := telegramtest.New(t)
	send := func(text string) answer {
		return post(t, srv, "sendMessage", url.Values{"chat_id": {"1"}, "text": {text}, "parse_mode": {"HTML"}})
	}
	for _, bad := range []string{
		"Tom <b>& Jerry", "a <script>x</script>", "<b>bold</i>", "1 < 2", "&nbsp;", "<b>open",
	} {
		if a := send(bad); a.OK || !strings.Contains(a.Description, "can't parse entities") {
			t.Errorf("%q: %+v, want refused", bad, a)
		}
	}
	for _, good := range []string{
		"Tom &amp; Jerry &lt;3 &#39;x&#x27; &quot;", `<a href="https://x/?a=1&amp;b=2">x</a>`,
		"<b>b <i>i</i></b> <code>c</code> <tg-spoiler>s</tg-spoiler> <blockquote>q</blockquote>",
		"AT&T 5 > 3",
	} {
		if a := send(good); !a.OK {
			t.Errorf("%q refused: %+v", good, a)
		}
	}
	// Plain text (no parse_mode) is never parsed.
	if a := post(t, srv, "sendMessage", url.Values{"chat_id": {"1"}, "text": {"1 < 2 <b>"}}); !a.OK {
		t.Errorf("plain text refused: %+v", a)
	}

	kb := func(data string) string {
		return `{"inline_keyboard":[[{"text":"x","callback_data":"` + data + `"}]]}`
	}
	if a := post(t, srv, "sendMessage", url.Values{"chat_id": {"1"}, "text": {"x"}, "reply_markup": {kb(strings.Repeat("d", 65))}}); a.OK || a.Description != "Bad Request: BUTTON_DATA_INVALID" {
		t.Errorf("65-byte callback_data: %+v", a)
	}
	if a := post(t, srv, "sendMessage", url.Values{"chat_id": {"1"}, "text": {"x"}, "reply_markup": {kb(strings.Repeat("d", 64))}}); !a.OK {
		t.Errorf("64-byte callback_data refused: %+v", a)
	}
}

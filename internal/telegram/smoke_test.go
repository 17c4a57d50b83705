package telegram_test

import (
	"context"
	"testing"

	"newsbot/internal/telegram"
	"newsbot/internal/telegramtest"
)

func TestSmoke(t *testing.T) {
	srv := telegramtest.New(t)
	c := telegram.New(srv.Token(), srv.URL(), nil, nil)
	m, err := c.Send(context.Background(), "sendMessage", map[string]any{"chat_id": int64(42), "text": "hi", "reply_markup": map[string]any{"inline_keyboard": [][]map[string]any{{{"text": "a", "callback_data": "b"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v %+v", m, m.Chat)
	t.Logf("%+v", srv.Messages(42))
}

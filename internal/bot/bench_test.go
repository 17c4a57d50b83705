package bot

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"newsbot/internal/telegram"
)

// BenchmarkTopicPress measures one /topics button press end to end: flood check, reader
// load, atomic toggle in Redis, answerCallbackQuery and editMessageReplyMarkup over HTTP to
// the fake Bot API.
func BenchmarkTopicPress(b *testing.B) {
	h := newHarness(b, func(o *Options) {
		o.Log = slog.New(slog.DiscardHandler)
		o.Flood = FloodLimit{Events: 1 << 30, Window: time.Hour}
	})
	h.tg.SetRecord(false)
	reader := who{id: 4242, lang: "ru"}
	h.say(reader, "/start")
	raw, _ := json.Marshal(map[string]any{"update_id": 1, "callback_query": map[string]any{
		"id": "bench", "from": userObj(reader), "chat_instance": "c", "data": "t1:t:sport",
		"message": map[string]any{"message_id": 1, "date": 1, "chat": chatObj(reader.id)},
	}})
	var u telegram.Update
	if err := json.Unmarshal(raw, &u); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		h.bot.HandleUpdate(ctx, u)
	}
}

// BenchmarkStart measures /start of a new reader: flood check, reader load and save, and
// the welcome with its keyboard.
func BenchmarkStart(b *testing.B) {
	h := newHarness(b, func(o *Options) {
		o.Log = slog.New(slog.DiscardHandler)
		o.Flood = FloodLimit{Events: 1 << 30, Window: time.Hour}
	})
	h.tg.SetRecord(false)
	ctx := context.Background()
	id := int64(1)
	b.ReportAllocs()
	for b.Loop() {
		id++
		raw, _ := json.Marshal(message(id, who{id: id, lang: "kk"}, "/start"))
		var u telegram.Update
		_ = json.Unmarshal(raw, &u)
		h.bot.HandleUpdate(ctx, u)
	}
}

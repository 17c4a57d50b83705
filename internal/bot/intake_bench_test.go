package bot

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync/atomic"
	"testing"

	"newsbot/internal/redistest"
	"newsbot/internal/telegram"
)

type nopHandler struct{ n atomic.Int64 }

func (h *nopHandler) HandleUpdate(context.Context, telegram.Update) { h.n.Add(1) }

// BenchmarkDispatch is the Dispatcher's own cost per update (no Redis, no network).
func BenchmarkDispatch(b *testing.B) {
	h := &nopHandler{}
	d := NewDispatcher(h, 32, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- d.Run(ctx) }()
	u := testUpdate(1, 1, "/start")
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		u.Message.Chat.ID = int64(i % 1000)
		if err := d.Dispatch(ctx, u); err != nil {
			b.Fatal(err)
		}
	}
	for h.n.Load() < int64(b.N) {
		runtime.Gosched()
	}
	b.StopTimer()
	cancel()
	<-done
}

// BenchmarkWebhook is one webhook delivery end to end: HTTP, secret check, JSON, the
// Redis claim and the hand-over to the Dispatcher.
func BenchmarkWebhook(b *testing.B) {
	rdb, prefix := redistest.New(b)
	h := &nopHandler{}
	d := NewDispatcher(h, 32, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- d.Run(ctx) }()
	ts := httptest.NewServer(NewWebhookHandler(testSecret, d, NewSeen(rdb, prefix), nil))
	defer ts.Close()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	var next atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := int(next.Add(1))
			req, _ := http.NewRequest("POST", ts.URL, bytes.NewReader(updateJSON(id, int64(id%500), "/start")))
			req.Header.Set("X-Telegram-Bot-Api-Secret-Token", testSecret)
			resp, err := hc.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
	b.StopTimer()
	cancel()
	<-done
}

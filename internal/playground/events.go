package playground

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// coalesce is how long the event stream gathers changes before telling the page: a fan-out
// changes many chats within milliseconds, and the page fetches each once.
const coalesce = 50 * time.Millisecond

// changedEvent tells the page what to fetch again: chats by id, and parts of its own.
type changedEvent struct {
	Chats []int64  `json:"chats"`
	Parts []string `json:"parts"`
}

// events streams server-sent events: "changed" when chats, readers or stories changed
// (the page fetches just those again), "strip" once a second. The stand-in's version
// counter says what changed; nothing is polled.
func (p *page) events(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	ctx := r.Context()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	since := p.api.Version()

	// One goroutine waits on the stand-in; the loop below gathers its wake-ups.
	wake := make(chan struct{}, 1)
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		v := since
		for {
			nv, err := p.api.Wait(wctx, v)
			if err != nil {
				return
			}
			v = nv
			select {
			case wake <- struct{}{}:
			default:
			}
		}
	}()

	send := func(event string, data any) bool {
		b, err := json.Marshal(data)
		if err != nil {
			return false
		}
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b); err != nil {
			return false
		}
		flusher.Flush()
		return true
	}
	// retry: how soon the browser reconnects after the playground restarts.
	if _, err := fmt.Fprint(w, "retry: 1000\n\n"); err != nil {
		return
	}
	if !send("strip", p.strip.get()) {
		return
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		own := p.changed.wait()
		select {
		case <-ctx.Done():
			return
		case <-wake:
			select {
			case <-time.After(coalesce):
			case <-ctx.Done():
				return
			}
			v := p.api.Version()
			chats := p.api.Changed(since)
			since = v
			if len(chats) > 0 && !send("changed", changedEvent{Chats: chats, Parts: []string{"readers"}}) {
				return
			}
		case <-own:
			if !send("changed", changedEvent{Chats: []int64{}, Parts: []string{"readers", "stories"}}) {
				return
			}
		case <-tick.C:
			if !send("strip", p.strip.get()) {
				return
			}
		}
	}
}

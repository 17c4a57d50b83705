package main

import (
	"net/http"
	"sync/atomic"
)

// lateHandler serves the webhook path from the moment the HTTP server starts, but the bot
// behind it exists only once Redis and Telegram answered. Until then it answers 503, which
// Telegram retries, so no update is lost while the service comes up.
type lateHandler struct {
	h atomic.Pointer[http.Handler]
}

func (l *lateHandler) set(h http.Handler) { l.h.Store(&h) }

// handler is nil when there is no webhook (long polling).
func (l *lateHandler) handler() http.Handler {
	if l == nil {
		return nil
	}
	return l
}

func (l *lateHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h := l.h.Load(); h != nil {
		(*h).ServeHTTP(w, r)
		return
	}
	http.Error(w, "starting up", http.StatusServiceUnavailable)
}

package botapi

import (
	"context"
	"sync"
	"sync/atomic"
)

// watcher is the server's change counter: every change to a chat (a message sent, edited,
// deleted, typed by a user, a chat blocked) takes the next version, so that a page can ask
// what changed since the version it showed instead of reading every chat again. Waiting
// costs the senders nothing while nobody waits.
type watcher struct {
	version atomic.Uint64
	waiting atomic.Int32
	mu      sync.Mutex
	ch      chan struct{} // closed at the next change; nil while nobody waits
}

// bump takes the next version and wakes those waiting for it.
func (w *watcher) bump() uint64 {
	v := w.version.Add(1)
	if w.waiting.Load() > 0 {
		w.wake()
	}
	return v
}

func (w *watcher) wake() {
	w.mu.Lock()
	if w.ch != nil {
		close(w.ch)
		w.ch = nil
	}
	w.mu.Unlock()
}

// Version is the version of the last change.
func (s *Server) Version() uint64 { return s.watch.version.Load() }

// Wait blocks until the version is past since (or the server closes, or ctx ends) and
// returns the version then.
func (s *Server) Wait(ctx context.Context, since uint64) (uint64, error) {
	w := &s.watch
	w.waiting.Add(1)
	defer w.waiting.Add(-1)
	for {
		w.mu.Lock()
		if w.ch == nil {
			w.ch = make(chan struct{})
		}
		ch := w.ch
		w.mu.Unlock()
		// Read after taking the channel: a change between the two closes it.
		if v := w.version.Load(); v > since {
			return v, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return w.version.Load(), ctx.Err()
		case <-s.done:
			return w.version.Load(), ErrClosed
		}
	}
}

// Changed returns the chats that changed after version since, in no particular order.
func (s *Server) Changed(since uint64) []int64 {
	var out []int64
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for id, c := range sh.chats {
			if c.ver > since {
				out = append(out, id)
			}
		}
		sh.mu.Unlock()
	}
	return out
}

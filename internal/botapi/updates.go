package botapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"
)

type queuedUpdate struct {
	id  int
	raw json.RawMessage
}

// PushUpdate queues an update for getUpdates and returns its update_id. u is anything
// that encodes to an update object (telegram.Update, a map, raw JSON bytes); a missing or
// zero update_id gets the next one.
func (s *Server) PushUpdate(u any) int {
	var raw []byte
	switch v := u.(type) {
	case []byte:
		raw = v
	case json.RawMessage:
		raw = v
	case string:
		raw = []byte(v)
	default:
		b, err := json.Marshal(u)
		if err != nil {
			panic(fmt.Sprintf("botapi: PushUpdate: %v", err))
		}
		raw = b
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		panic(fmt.Sprintf("botapi: PushUpdate: not an object: %v", err))
	}
	s.upMu.Lock()
	defer s.upMu.Unlock()
	id := 0
	if f, ok := m["update_id"].(float64); ok {
		id = int(f)
	}
	if id == 0 {
		id = s.nextUpdID + 1
		m["update_id"] = id
		raw, _ = json.Marshal(m)
	}
	if id > s.nextUpdID {
		s.nextUpdID = id
	}
	// Keep the queue in update_id order, as Telegram does, even if a test pushes ids out
	// of order.
	i := len(s.updates)
	for i > 0 && s.updates[i-1].id > id {
		i--
	}
	s.updates = slices.Insert(s.updates, i, queuedUpdate{id: id, raw: raw})
	close(s.upNotify)
	s.upNotify = make(chan struct{})
	return id
}

// Pending returns how many queued updates getUpdates has not yet had confirmed.
func (s *Server) Pending() int {
	s.upMu.Lock()
	defer s.upMu.Unlock()
	return len(s.updates)
}

func (s *Server) getUpdates(w http.ResponseWriter, r *http.Request, p map[string]any) {
	offset, _ := p["offset"].(int64)
	limit, _ := p["limit"].(int64)
	if limit <= 0 || limit > 100 {
		limit = 100
	}
	timeout, _ := p["timeout"].(int64)
	deadline := time.Now().Add(time.Duration(timeout) * time.Second)
	for {
		s.upMu.Lock()
		if s.webhook != "" {
			s.upMu.Unlock()
			writeFailure(w, Failure{Code: 409, Description: "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first"})
			return
		}
		// Asking from offset confirms every earlier update: Telegram forgets them.
		if offset != 0 {
			i := 0
			for i < len(s.updates) && int64(s.updates[i].id) < offset {
				i++
			}
			s.updates = s.updates[i:]
		}
		n := min(int(limit), len(s.updates))
		batch := make([]json.RawMessage, n)
		for i := range n {
			batch[i] = s.updates[i].raw
		}
		notify := s.upNotify
		s.upMu.Unlock()
		if n > 0 || !time.Now().Before(deadline) {
			writeResult(w, batch)
			return
		}
		t := time.NewTimer(time.Until(deadline))
		select {
		case <-notify:
			t.Stop()
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		case <-s.done:
			t.Stop()
			writeResult(w, []json.RawMessage{})
			return
		}
	}
}

package playground

import (
	"context"
	"strconv"
	"sync"
	"time"
)

// strip is the line of what happened: the stand-in's counters, delivery's queue and the
// delivery rate over the last few seconds.
type strip struct {
	Sent    int64  `json:"sent"`
	Limited int64  `json:"limited"`
	Blocked int64  `json:"blocked"`
	Queue   string `json:"queue"` // "—" when no Queue is wired
	Rate    string `json:"rate"`  // messages a second, one decimal
	Updates int    `json:"updates"`
}

// rateWindow is how far back the delivery rate looks.
const rateWindow = 5 * time.Second

// sampler keeps the latest strip, taken once a second.
type sampler struct {
	mu      sync.Mutex
	current strip
	history []sentAt
}

type sentAt struct {
	at   time.Time
	sent int64
}

func (s *sampler) get() strip {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.current
}

// sample takes the strip once a second until ctx ends.
func (p *page) sample(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		p.takeSample(ctx, time.Now())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (p *page) takeSample(ctx context.Context, now time.Time) {
	st := p.api.Stats()
	queue := "—"
	if p.queue != nil {
		qctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		n, err := p.queue.Waiting(qctx)
		cancel()
		if err == nil {
			queue = strconv.FormatInt(n, 10)
		}
	}
	s := &p.strip
	s.mu.Lock()
	defer s.mu.Unlock()
	s.history = append(s.history, sentAt{now, st.Sent})
	for len(s.history) > 1 && now.Sub(s.history[0].at) > rateWindow {
		s.history = s.history[1:]
	}
	rate := 0.0
	if first := s.history[0]; now.Sub(first.at) > 0 {
		rate = float64(st.Sent-first.sent) / now.Sub(first.at).Seconds()
	}
	s.current = strip{
		Sent: st.Sent, Limited: st.RateLimited, Blocked: st.Forbidden, Queue: queue,
		Rate: strconv.FormatFloat(rate, 'f', 1, 64), Updates: st.Pending,
	}
}

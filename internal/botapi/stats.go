package botapi

import "sync/atomic"

// counters are what the server answered, for the playground's strip.
type counters struct {
	sent, edited, deleted, blocked, failed atomic.Int64
}

func (c *counters) refused(code int) {
	switch code {
	case 429:
	case 403:
		c.blocked.Add(1)
	default:
		c.failed.Add(1)
	}
}

// Stats are counts of the server's answers since it started.
type Stats struct {
	Sent        int64 // messages sent (sendMessage, sendPhoto, copyMessage... answered ok)
	Edited      int64 // edits answered ok
	Deleted     int64 // deletions answered ok
	RateLimited int64 // 429 answers of the global and per-chat limits
	Forbidden   int64 // 403 answers (blocked, deactivated, kicked)
	Failed      int64 // other error answers (400, 500...)
	Pending     int   // updates queued for getUpdates, not yet confirmed
}

// Stats returns the counts so far.
func (s *Server) Stats() Stats {
	return Stats{
		Sent:        s.stats.sent.Load(),
		Edited:      s.stats.edited.Load(),
		Deleted:     s.stats.deleted.Load(),
		RateLimited: s.limited.Load(),
		Forbidden:   s.stats.blocked.Load(),
		Failed:      s.stats.failed.Load(),
		Pending:     s.Pending(),
	}
}

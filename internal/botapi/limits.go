package botapi

import (
	"math"
	"time"
)

// ChatLimits are Telegram's per-chat limits on new messages: about one a second in a private
// chat (short bursts pass), twenty a minute in a group or channel. A send beyond them is
// answered 429 with retry_after, as Telegram does.
type ChatLimits struct {
	PrivatePerSecond float64 // 0: no limit for private chats
	PrivateBurst     int     // sends a private chat takes at once (at least 1)
	GroupPerMinute   float64 // groups, supergroups and channels; 0: no limit
	GroupBurst       int     // at least 1
}

// TelegramChatLimits are the limits Telegram documents: 1 a second per private chat with
// a burst of 3, 20 a minute per group or channel.
func TelegramChatLimits() ChatLimits {
	return ChatLimits{PrivatePerSecond: 1, PrivateBurst: 3, GroupPerMinute: 20, GroupBurst: 20}
}

// SetChatLimits turns the per-chat limits on (the zero ChatLimits turns them off, the
// default).
func (s *Server) SetChatLimits(l ChatLimits) {
	if l == (ChatLimits{}) {
		s.chatLimits.Store(nil)
		return
	}
	s.chatLimits.Store(&l)
}

// bucket is a token bucket; the zero value is full at first use.
type bucket struct {
	tokens float64
	at     time.Time
}

// take takes a token from a bucket of burst refilled at rate per second; when empty it
// returns the whole seconds until one is there.
func (b *bucket) take(now time.Time, rate float64, burst int) (retryAfter int, ok bool) {
	capacity := float64(max(burst, 1))
	if b.at.IsZero() {
		b.tokens = capacity
	} else {
		b.tokens = math.Min(capacity, b.tokens+now.Sub(b.at).Seconds()*rate)
	}
	b.at = now
	if b.tokens >= 1 {
		b.tokens--
		return 0, true
	}
	return max(1, int(math.Ceil((1-b.tokens)/rate))), false
}

// allowChat applies the per-chat limit to a new message in chat.
func (s *Server) allowChat(chat int64, now time.Time) (retryAfter int, ok bool) {
	l := s.chatLimits.Load()
	if l == nil {
		return 0, true
	}
	rate, burst := l.PrivatePerSecond, l.PrivateBurst
	if chat < 0 {
		rate, burst = l.GroupPerMinute/60, l.GroupBurst
	}
	if rate <= 0 {
		return 0, true
	}
	sh := s.shardOf(chat)
	sh.mu.Lock()
	ra, ok := sh.chat(chat).bucket.take(now, rate, burst)
	sh.mu.Unlock()
	if !ok {
		s.limited.Add(1)
	}
	return ra, ok
}

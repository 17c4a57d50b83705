package intake

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"newsbot/internal/telegram"
)

// maxWebhookBody bounds one update; real ones are a few KiB.
const maxWebhookBody = 1 << 20

// WebhookAPI is the part of the Telegram client SetupWebhook uses.
type WebhookAPI interface {
	SetWebhook(ctx context.Context, url, secret string, allowedUpdates []string) error
}

// SetupWebhook tells Telegram to deliver updates to url, signed with secret.
func SetupWebhook(ctx context.Context, api WebhookAPI, url, secret string) error {
	if secret == "" {
		return errors.New("set webhook: a secret is required")
	}
	if err := api.SetWebhook(ctx, url, secret, DefaultAllowedUpdates()); err != nil {
		return fmt.Errorf("set webhook: %w", err)
	}
	return nil
}

// WebhookOptions are a Webhook's dependencies and settings. Dispatcher and Redis are
// required.
type WebhookOptions struct {
	// Secret is WEBHOOK_SECRET, expected in X-Telegram-Bot-Api-Secret-Token. Empty refuses
	// every request: an unsigned webhook would let anyone act as any reader.
	Secret     string
	Dispatcher *Dispatcher
	// Redis and Prefix hold the update ids taken in, so that a delivery Telegram repeats is
	// skipped, whichever running copy gets it.
	Redis  redis.UniversalClient
	Prefix string
	// Log takes the webhook's lines; nil: discarded.
	Log *slog.Logger
}

// Webhook serves Telegram's webhook deliveries: it refuses a request without the right
// X-Telegram-Bot-Api-Secret-Token (401), anything but POST (405), bodies over 1 MiB (413)
// and bodies that are not an update (400); it answers 200 as soon as the update is queued,
// and skips updates Telegram delivers twice.
type Webhook struct {
	secret []byte
	d      *Dispatcher
	seen   seen
	log    *slog.Logger

	// Refused requests are counted and logged at most once per refusedLogEvery: anyone can
	// reach the public URL, and a line per request would let them bury the log.
	refused    atomic.Int64
	refusedLog atomic.Int64 // unix nanoseconds of the last line
}

// NewWebhook returns the webhook handler; it does no I/O.
func NewWebhook(o WebhookOptions) (*Webhook, error) {
	var missing []string
	if o.Dispatcher == nil {
		missing = append(missing, "Dispatcher")
	}
	if o.Redis == nil {
		missing = append(missing, "Redis")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("new webhook: missing %s", strings.Join(missing, ", "))
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Webhook{secret: []byte(o.Secret), d: o.Dispatcher, seen: seen{rdb: o.Redis, prefix: o.Prefix}, log: log}, nil
}

// refusedLogEvery is how often refused (unsigned) webhook requests are logged.
const refusedLogEvery = time.Minute

func (h *Webhook) logRefused(r *http.Request) {
	n := h.refused.Add(1)
	now := time.Now().UnixNano()
	last := h.refusedLog.Load()
	if last != 0 && now-last < int64(refusedLogEvery) || !h.refusedLog.CompareAndSwap(last, now) {
		return
	}
	h.refused.Add(-n)
	h.log.Warn("webhook request with a wrong secret", "remote_addr", r.RemoteAddr, "refused_since_last_line", n)
}

func (h *Webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	got := []byte(r.Header.Get("X-Telegram-Bot-Api-Secret-Token"))
	if len(h.secret) == 0 || subtle.ConstantTimeCompare(got, h.secret) != 1 {
		h.logRefused(r)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxWebhookBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			h.log.Warn("webhook body too large", "limit", maxWebhookBody)
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "cannot read body", http.StatusBadRequest)
		return
	}
	var u telegram.Update
	if err := json.Unmarshal(body, &u); err != nil || u.UpdateID <= 0 {
		h.log.Warn("webhook body is not an update", "err", err, "bytes", len(body))
		http.Error(w, "not a Telegram update", http.StatusBadRequest)
		return
	}
	fresh, err := h.seen.claim(r.Context(), u.UpdateID)
	if err != nil {
		// Telegram retries non-2xx answers: better late than lost.
		h.log.Error("webhook update not taken in", "update_id", u.UpdateID, "err", err)
		http.Error(w, "try again", http.StatusServiceUnavailable)
		return
	}
	if !fresh {
		h.log.Debug("skipping webhook update delivered twice", "update_id", u.UpdateID)
		w.WriteHeader(http.StatusOK)
		return
	}
	if err := h.d.Dispatch(r.Context(), u); err != nil {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 2*time.Second)
		if rerr := h.seen.release(ctx, u.UpdateID); rerr != nil {
			h.log.Warn("release webhook update", "update_id", u.UpdateID, "err", rerr)
		}
		cancel()
		h.log.Warn("webhook update not queued", "update_id", u.UpdateID, "err", err)
		http.Error(w, "try again", http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// seenTTL outlives Telegram's own 24-hour retention of undelivered updates.
const seenTTL = 25 * time.Hour

// seen remembers, in Redis, which webhook update ids were taken in.
type seen struct {
	rdb    redis.UniversalClient
	prefix string
}

// claim marks id as taken in and reports whether it was new.
func (s seen) claim(ctx context.Context, id int) (bool, error) {
	ok, err := s.rdb.SetNX(ctx, keyUpdateSeen(s.prefix, id), 1, seenTTL).Result()
	if err != nil {
		return false, fmt.Errorf("claim update %d: %w", id, err)
	}
	return ok, nil
}

// release forgets a claim whose update could not be queued, so a retry is taken in.
func (s seen) release(ctx context.Context, id int) error {
	if err := s.rdb.Del(ctx, keyUpdateSeen(s.prefix, id)).Err(); err != nil {
		return fmt.Errorf("release update %d: %w", id, err)
	}
	return nil
}

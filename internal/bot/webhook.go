package bot

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

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

type webhook struct {
	secret []byte
	d      *Dispatcher
	seen   *Seen
	log    *slog.Logger

	// Refused requests are counted and logged at most once per refusedLogEvery: anyone can
	// reach the public URL, and a line per request would let them bury the log.
	refused    atomic.Int64
	refusedLog atomic.Int64 // unix nanoseconds of the last line
}

// refusedLogEvery is how often refused (unsigned) webhook requests are logged.
const refusedLogEvery = time.Minute

func (h *webhook) logRefused(r *http.Request) {
	n := h.refused.Add(1)
	now := time.Now().UnixNano()
	last := h.refusedLog.Load()
	if last != 0 && now-last < int64(refusedLogEvery) || !h.refusedLog.CompareAndSwap(last, now) {
		return
	}
	h.refused.Add(-n)
	h.log.Warn("webhook request with a wrong secret", "remote_addr", r.RemoteAddr, "refused_since_last_line", n)
}

// NewWebhookHandler serves Telegram's webhook deliveries: it refuses a request without the
// right X-Telegram-Bot-Api-Secret-Token (401), anything but POST (405), bodies over 1 MiB
// (413) and bodies that are not an update (400); it answers 200 as soon as the update is
// queued. seen (may be nil) skips updates Telegram delivers twice. An empty secret refuses
// everything: an unsigned webhook would let anyone act as any reader.
func NewWebhookHandler(secret string, d *Dispatcher, seen *Seen, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &webhook{secret: []byte(secret), d: d, seen: seen, log: log}
}

func (h *webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			h.log.Error("webhook handler panicked", "panic", fmt.Sprint(v))
			http.Error(w, "internal error", http.StatusInternalServerError)
		}
	}()
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
	if h.seen != nil {
		fresh, err := h.seen.Claim(r.Context(), u.UpdateID)
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
	}
	if err := h.d.Dispatch(r.Context(), u); err != nil {
		if h.seen != nil {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 2*time.Second)
			if rerr := h.seen.Release(ctx, u.UpdateID); rerr != nil {
				h.log.Warn("release webhook update", "update_id", u.UpdateID, "err", rerr)
			}
			cancel()
		}
		h.log.Warn("webhook update not queued", "update_id", u.UpdateID, "err", err)
		http.Error(w, "try again", http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusOK)
}

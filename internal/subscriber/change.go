package subscriber

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// SetStatus moves a reader to st: blocked and stopped readers leave the audience indexes,
// active ones come back with their languages and topics. ErrNotFound when there is no reader.
func (s *Store) SetStatus(ctx context.Context, chatID int64, st Status) error {
	if !st.valid() {
		return fmt.Errorf("set status of reader %d: %w: unknown status %q", chatID, ErrInvalid, st)
	}
	if _, err := s.patch(ctx, chatID, "status", string(st)); err != nil {
		return fmt.Errorf("set status of reader %d: %w", chatID, err)
	}
	return nil
}

// ToggleTopic follows topic if the reader does not, else unfollows it, atomically: two quick
// presses never lose one another. Pressing a topic while following all topics leaves all the
// other topics followed. Returns the reader as it now is.
func (s *Store) ToggleTopic(ctx context.Context, chatID int64, topic string) (Reader, error) {
	if !slices.Contains(s.topics, topic) {
		return Reader{}, fmt.Errorf("toggle topic of reader %d: %w: unknown topic %q", chatID, ErrInvalid, topic)
	}
	r, err := s.patch(ctx, chatID, "toggle", topic)
	if err != nil {
		return Reader{}, fmt.Errorf("toggle topic of reader %d: %w", chatID, err)
	}
	return r, nil
}

// SetAllTopics makes the reader follow all topics, or (false) just their own topics again.
func (s *Store) SetAllTopics(ctx context.Context, chatID int64, all bool) (Reader, error) {
	r, err := s.patch(ctx, chatID, "all", flag(all))
	if err != nil {
		return Reader{}, fmt.Errorf("set all topics of reader %d: %w", chatID, err)
	}
	return r, nil
}

// SetLanguages sets the reader's story languages.
func (s *Store) SetLanguages(ctx context.Context, chatID int64, langs []string) (Reader, error) {
	ls, err := ordered(langs, s.langs, "language")
	if err != nil {
		return Reader{}, fmt.Errorf("set languages of reader %d: %w", chatID, err)
	}
	r, err := s.patch(ctx, chatID, "langs", strings.Join(ls, ","))
	if err != nil {
		return Reader{}, fmt.Errorf("set languages of reader %d: %w", chatID, err)
	}
	return r, nil
}

// SetClock makes the store take "now" from now (simulations and tests; the default is
// time.Now).
func (s *Store) SetClock(now func() time.Time) { s.now = now }

// SetDigestTimes tells the store the configured DIGEST_TIMES, which a reader who keeps all of
// them narrows with ToggleDigestTime. Call it before use; it does no I/O.
func (s *Store) SetDigestTimes(times []string) { s.digestTimes = slices.Clone(times) }

// SetMode sets the reader's reading mode (and ModeSince, when it changes).
func (s *Store) SetMode(ctx context.Context, chatID int64, m Mode) (Reader, error) {
	if !m.Valid() {
		return Reader{}, fmt.Errorf("set mode of reader %d: %w: unknown reading mode %q", chatID, ErrInvalid, m)
	}
	r, err := s.patch(ctx, chatID, "mode", string(m))
	if err != nil {
		return Reader{}, fmt.Errorf("set mode of reader %d: %w", chatID, err)
	}
	return r, nil
}

// ToggleDigestTime keeps or drops one of DIGEST_TIMES for the reader's digests. The last one
// is kept (ErrLastDigestTime).
func (s *Store) ToggleDigestTime(ctx context.Context, chatID int64, clock string) (Reader, error) {
	if !slices.Contains(s.digestTimes, clock) {
		return Reader{}, fmt.Errorf("toggle digest time of reader %d: %w: %q is not one of DIGEST_TIMES", chatID, ErrInvalid, clock)
	}
	r, err := s.patch(ctx, chatID, "dtime", clock)
	if err != nil {
		return Reader{}, fmt.Errorf("toggle digest time of reader %d: %w", chatID, err)
	}
	return r, nil
}

// SetQuiet turns the reader's quiet hours on or off.
func (s *Store) SetQuiet(ctx context.Context, chatID int64, on bool) (Reader, error) {
	r, err := s.patch(ctx, chatID, "quiet", map[bool]string{true: "1", false: "0"}[on])
	if err != nil {
		return Reader{}, fmt.Errorf("set quiet hours of reader %d: %w", chatID, err)
	}
	return r, nil
}

// SetInterfaceLanguage sets the language the bot talks to the reader in.
func (s *Store) SetInterfaceLanguage(ctx context.Context, chatID int64, lang string) (Reader, error) {
	if !slices.Contains(s.langs, lang) {
		return Reader{}, fmt.Errorf("set interface language of reader %d: %w: unknown language %q", chatID, ErrInvalid, lang)
	}
	r, err := s.patch(ctx, chatID, "lang", lang)
	if err != nil {
		return Reader{}, fmt.Errorf("set interface language of reader %d: %w", chatID, err)
	}
	return r, nil
}

func (s *Store) patch(ctx context.Context, chatID int64, op, val string) (Reader, error) {
	if err := checkID(chatID); err != nil {
		return Reader{}, err
	}
	v, err := patchScript.Run(ctx, s.rdb, []string{s.keys.record(chatID)},
		s.keys.base, chatID, s.now().Unix(), op, val, strings.Join(s.topics, ","), strings.Join(s.digestTimes, ",")).Slice()
	if err != nil && strings.HasPrefix(err.Error(), "LAST") {
		return Reader{}, ErrLastDigestTime
	}
	if errors.Is(err, redis.Nil) {
		return Reader{}, ErrNotFound
	}
	if err != nil {
		return Reader{}, err
	}
	r, err := decodeFlat(chatID, v)
	return s.current(r), err
}

// Update changes a reader with fn atomically: fn gets the stored reader (exists false and a
// Reader with just ChatID when there is none) and edits it; the result is validated and saved
// like Save, unless fn returns an error, which Update returns with nothing written. A concurrent
// change of the same reader makes Update read again and call fn again, so fn must have no other
// effects. A stored record that cannot be read (ErrCorrupt) is given to fn as none (exists
// false), so that writing a new one repairs it. For changes no single method covers, e.g. /start of a returning reader (active
// again, plus a deep-link topic and language). Returns the reader as saved.
func (s *Store) Update(ctx context.Context, chatID int64, fn func(r *Reader, exists bool) error) (Reader, error) {
	if err := checkID(chatID); err != nil {
		return Reader{}, fmt.Errorf("update reader %d: %w", chatID, err)
	}
	key := s.keys.record(chatID)
	var saved Reader
	txf := func(tx *redis.Tx) error {
		m, err := tx.HGetAll(ctx, key).Result()
		if err != nil {
			return err
		}
		r, exists := Reader{ChatID: chatID}, len(m) > 0
		if exists {
			d, err := decode(chatID, m)
			d = s.current(d)
			switch {
			case errors.Is(err, ErrCorrupt):
				// Unreadable (damaged, or written by another release): fn starts afresh, so
				// that the reader is not locked out; the save takes the old record out of
				// whatever indexes it was in.
				exists = false
			case err != nil:
				return err
			default:
				r = d
			}
		}
		if err := fn(&r, exists); err != nil {
			return err
		}
		r.ChatID = chatID
		args, err := s.saveArgs(r)
		if err != nil {
			return err
		}
		var cmd *redis.Cmd
		if _, err := tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			// EVAL, not EVALSHA: a missing script cannot be retried inside MULTI.
			cmd = saveScript.Eval(ctx, p, []string{key}, args...)
			return nil
		}); err != nil {
			return err
		}
		v, err := cmd.Slice()
		if err != nil {
			return err
		}
		saved, err = decodeFlat(chatID, v)
		saved = s.current(saved)
		return err
	}
	for attempt := 0; ; attempt++ {
		err := s.rdb.Watch(ctx, txf, key)
		if err == nil {
			return saved, nil
		}
		if !errors.Is(err, redis.TxFailedErr) || attempt >= 100 {
			return Reader{}, fmt.Errorf("update reader %d: %w", chatID, err)
		}
	}
}

// Delete forgets a reader (Telegram says the chat does not exist). Deleting a reader that is
// not there is not an error.
func (s *Store) Delete(ctx context.Context, chatID int64) error {
	if err := deleteScript.Run(ctx, s.rdb, []string{s.keys.record(chatID)}, s.keys.base, chatID).Err(); err != nil {
		return fmt.Errorf("delete reader %d: %w", chatID, err)
	}
	return nil
}

// Migrate moves a group's subscription to its new chat id (the group became a supergroup), with
// its place in every index, atomically. When the new id already has a record it is kept (it
// holds the newer choices) and the old one is dropped; when the move already happened it is not
// an error. ErrNotFound when neither id is known.
func (s *Store) Migrate(ctx context.Context, from, to int64) error {
	if err := checkID(from); err != nil {
		return fmt.Errorf("migrate reader %d to %d: %w", from, to, err)
	}
	if err := checkID(to); err != nil {
		return fmt.Errorf("migrate reader %d to %d: %w", from, to, err)
	}
	if from == to {
		return nil
	}
	n, err := migrateScript.Run(ctx, s.rdb, []string{s.keys.record(from), s.keys.record(to)},
		s.keys.base, from, to, s.now().Unix()).Int()
	if err != nil {
		return fmt.Errorf("migrate reader %d to %d: %w", from, to, err)
	}
	if n == 0 {
		return fmt.Errorf("migrate reader %d to %d: %w", from, to, ErrNotFound)
	}
	return nil
}

package subscriber_test

import (
	"context"
	"os"
	"testing"
	"time"

	"newsbot/internal/redistest"
	"newsbot/internal/subscriber"
)

func TestMain(m *testing.M) { os.Exit(redistest.Main(m)) }

var (
	langs  = []string{"kk", "ru", "en"}
	topics = []string{"politics", "economy", "society", "world", "sport", "culture", "tech"}
)

func newStore(t *testing.T) *subscriber.Store {
	t.Helper()
	rdb, prefix := redistest.New(t)
	return subscriber.NewStore(rdb, prefix, langs, topics)
}

func TestSaveAndGet(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	in := subscriber.Reader{ChatID: 42, Lang: "kk", Langs: []string{"en", "kk"}, Topics: []string{"tech", "politics"},
		Status: subscriber.Active, LangCode: "kk-KZ"}
	if err := s.Save(ctx, in); err != nil {
		t.Fatal(err)
	}
	got, ok, err := s.Get(ctx, 42)
	if err != nil || !ok {
		t.Fatalf("Get: %v %v", ok, err)
	}
	t.Logf("%+v", got)
	if time.Since(got.JoinedAt) > time.Minute {
		t.Errorf("joined %v", got.JoinedAt)
	}
}

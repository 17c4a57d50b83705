package redistest_test

import (
	"context"
	"os"
	"testing"

	"newsbot/internal/redistest"
)

func TestMain(m *testing.M) { os.Exit(redistest.Main(m)) }

func TestPrefixesAreSeparate(t *testing.T) {
	ctx := context.Background()
	a, pa := redistest.New(t)
	b, pb := redistest.New(t)
	if pa == pb {
		t.Fatalf("two tests got the same prefix %q", pa)
	}
	if err := a.Set(ctx, pa+"k", "a", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if n, _ := b.Exists(ctx, pb+"k").Result(); n != 0 {
		t.Fatalf("key of one prefix seen under another")
	}
}

func TestStopAndRestartKeepsData(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	if err := rdb.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	if err := rdb.Ping(ctx).Err(); err == nil {
		t.Fatal("ping succeeded while the server was stopped")
	}
	srv.Restart(t)
	got, err := rdb.Get(ctx, "k").Result()
	if err != nil || got != "v" {
		t.Fatalf("after restart got %q, %v; want v", got, err)
	}
}

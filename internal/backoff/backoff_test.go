package backoff

import (
	"context"
	"testing"
	"time"
)

func TestBackoffGrowsToMaxAndResets(t *testing.T) {
	b := Backoff{Min: 100 * time.Millisecond, Max: time.Second}
	want := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for i, w := range want {
		w *= time.Millisecond
		d := b.Next()
		if d < w || d > w+w/5 {
			t.Errorf("wait %d = %v, want %v plus at most a fifth", i+1, d, w)
		}
	}
	if b.Failures() != len(want) {
		t.Errorf("Failures = %d, want %d", b.Failures(), len(want))
	}
	b.Reset()
	if d := b.Next(); d > 120*time.Millisecond || b.Failures() != 1 {
		t.Errorf("after Reset: wait %v, failures %d", d, b.Failures())
	}
}

func TestWaitEndsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	b := Backoff{Min: time.Hour, Max: time.Hour}
	if err := b.Wait(ctx); err == nil {
		t.Fatal("Wait on a cancelled ctx returned nil")
	}
}

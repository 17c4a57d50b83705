package testkit

import (
	"sync"
	"testing"
	"time"
)

func TestLogFromManyGoroutines(t *testing.T) {
	var l Log
	log := l.Logger()
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			log.Info("story handed on", "n", i)
		}()
	}
	wg.Wait()
	if n := l.Count("story handed on"); n != 20 {
		t.Errorf("Count = %d, want 20", n)
	}
	recs := l.Records("handed on")
	if len(recs) != 20 || recs[0]["level"] != "INFO" {
		t.Errorf("Records = %v", recs)
	}
}

func TestWaitFor(t *testing.T) {
	start := time.Now()
	WaitFor(t, "a moment", time.Second, func() bool { return time.Since(start) > 30*time.Millisecond })
}

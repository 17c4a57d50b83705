package subscriber_test

import (
	"context"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"newsbot/internal/redistest"
	"newsbot/internal/subscriber"
)

// benchReaders is a realistic mix: half Kazakh, a third Russian, the rest English readers, one in
// five reading two languages, 40% following all topics and the others 1–3 topics (politics and
// economy the most popular), 4% groups, 10% stopped or blocked. Chat ids are distinct.
func benchReaders(n int) []subscriber.Reader {
	rng := rand.New(rand.NewPCG(3, 4))
	seen := make(map[int64]bool, n)
	out := make([]subscriber.Reader, 0, n)
	for i := 0; len(out) < n; i++ {
		r := randomReader(rng, i)
		if seen[r.ChatID] {
			continue
		}
		seen[r.ChatID] = true
		r.LangCode = r.Lang
		out = append(out, r)
	}
	return out
}

const benchReadersN = 100_000

func usedMemory(b *testing.B, rdb *redis.Client) int64 {
	b.Helper()
	info, err := rdb.Info(context.Background(), "memory").Result()
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return n
		}
	}
	b.Fatal("no used_memory in INFO memory")
	return 0
}

// BenchmarkSubscribe saves 100,000 readers into an empty private Redis per iteration, the way
// the bot would (one Save per reader, from one goroutine or from many), and in batches
// (SaveMany). It reports ns per reader and Redis memory per reader.
func BenchmarkSubscribe(b *testing.B) {
	ctx := context.Background()
	srv := redistest.Start(b)
	rdb := srv.Client(b)
	readers := benchReaders(benchReadersN)
	s := subscriber.NewStore(rdb, "newsbot:", langs, topics)

	concurrent := func(workers int) func() error {
		return func() error {
			var wg sync.WaitGroup
			errs := make(chan error, workers)
			for w := 0; w < workers; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := w; i < len(readers); i += workers {
						if err := s.Save(ctx, readers[i]); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			return <-errs
		}
	}
	for _, mode := range []struct {
		name string
		run  func() error
	}{
		{"sequential", func() error {
			for _, r := range readers {
				if err := s.Save(ctx, r); err != nil {
					return err
				}
			}
			return nil
		}},
		{"concurrent16", concurrent(16)},
		{"batched1000", func() error {
			for i := 0; i < len(readers); i += 1000 {
				if err := s.SaveMany(ctx, readers[i:min(i+1000, len(readers))]); err != nil {
					return err
				}
			}
			return nil
		}},
	} {
		b.Run(mode.name, func(b *testing.B) {
			var mem int64
			var elapsed time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				if err := rdb.FlushAll(ctx).Err(); err != nil {
					b.Fatal(err)
				}
				before := usedMemory(b, rdb)
				start := time.Now()
				b.StartTimer()
				if err := mode.run(); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				elapsed += time.Since(start)
				mem = usedMemory(b, rdb) - before
			}
			b.ReportMetric(float64(elapsed.Nanoseconds())/float64(b.N)/benchReadersN, "ns/reader")
			b.ReportMetric(float64(mem)/benchReadersN, "redis-bytes/reader")
			b.ReportMetric(elapsed.Seconds()/float64(b.N), "s/100k-readers")
		})
	}
}

// BenchmarkAudience pages through audiences of 100,000 stored readers, 1000 ids a page, as the
// fan-out does.
func BenchmarkAudience(b *testing.B) {
	ctx := context.Background()
	srv := redistest.Start(b)
	rdb := srv.Client(b)
	s := subscriber.NewStore(rdb, "newsbot:", langs, topics)
	readers := benchReaders(benchReadersN)
	for i := 0; i < len(readers); i += 1000 {
		if err := s.SaveMany(ctx, readers[i:min(i+1000, len(readers))]); err != nil {
			b.Fatal(err)
		}
	}
	for _, c := range []struct {
		name     string
		lang     string
		topics   []string
		breaking bool
	}{
		{"kk-politics", "kk", []string{"politics"}, false},
		{"kk-politics+economy+world", "kk", []string{"politics", "economy", "world"}, false},
		{"en-tech", "en", []string{"tech"}, false},
		{"kk-breaking", "kk", nil, true},
	} {
		b.Run(c.name, func(b *testing.B) {
			var total int
			for b.Loop() {
				total = 0
				after := subscriber.Start
				for {
					page, err := s.AudiencePage(ctx, c.lang, c.topics, c.breaking, after, 1000)
					if err != nil {
						b.Fatal(err)
					}
					total += len(page)
					if len(page) < 1000 {
						break
					}
					after = page[len(page)-1]
				}
			}
			b.ReportMetric(float64(total), "readers")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(total), "ns/reader")
		})
	}
}

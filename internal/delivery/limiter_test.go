package delivery

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"newsbot/internal/telegramtest"
	"newsbot/internal/testkit"
)

// Two stories fanned out at once never reach one chat within its gap: 1 s for a private
// chat, 3 s (20/min) for a group.
func TestPerChatPacing(t *testing.T) {
	e := newEnv(t)
	private := e.readers(100, 5, "en")
	groups := e.readers(-110, 5, "en")
	eng, _ := e.engine(Options{Workers: 4})
	run(t, eng)
	ctx := context.Background()
	for _, id := range []string{"x1", "x2", "x3"} {
		if err := eng.Publish(ctx, story(id, "en")); err != nil {
			t.Fatal(err)
		}
	}
	waitIdle(t, eng, 30*time.Second)
	check := func(chats []int64, gap time.Duration) {
		for _, c := range chats {
			var times []time.Time
			for _, r := range e.tg.Requests("sendMessage") {
				if r.ChatID() == c {
					times = append(times, r.Time)
				}
			}
			if len(times) != 3 {
				t.Errorf("chat %d got %d stories, want 3", c, len(times))
				continue
			}
			for i := 1; i < len(times); i++ {
				// The schedule keeps slots gap apart on Redis's clock; allow for the
				// request's own jitter on its way to the fake.
				if d := times[i].Sub(times[i-1]); d < gap-200*time.Millisecond {
					t.Errorf("chat %d got two messages %v apart, want at least %v", c, d, gap)
				}
			}
		}
	}
	check(private, time.Second)
	check(groups, 3*time.Second)
}

func TestMetricsAndFinishLine(t *testing.T) {
	e := newEnv(t)
	e.readers(100, 30, "en")
	e.tg.FailNext("sendMessage", int64(105), telegramtest.Blocked())
	reg := prometheus.NewRegistry()
	var logs testkit.Log
	eng, _ := e.engine(Options{Log: logs.TextLogger()})
	if err := reg.Register(eng); err != nil {
		t.Fatal(err)
	}
	run(t, eng)
	if err := eng.Publish(context.Background(), story("m1", "en")); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, eng, 10*time.Second)
	if got := testutil.ToFloat64(eng.met.sent); got != 29 {
		t.Errorf("sent counter = %v, want 29", got)
	}
	if got := testutil.ToFloat64(eng.met.failed.WithLabelValues("blocked")); got != 1 {
		t.Errorf("failed{blocked} = %v, want 1", got)
	}
	n, err := testutil.GatherAndCount(reg, "newsbot_delivery_fanout_duration_seconds")
	if err != nil || n != 1 {
		t.Errorf("fan-out duration histogram: %d series, err %v", n, err)
	}
	var finish []string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, `msg="fan-out finished"`) {
			finish = append(finish, l)
		}
	}
	if len(finish) != 1 {
		t.Fatalf("%d fan-out finished lines, want 1:\n%s", len(finish), logs.String())
	}
	for _, want := range []string{"story_id=m1", "job_id=m1#0", "lang=en", "sent=29", "failed=1", "duration="} {
		if !strings.Contains(finish[0], want) {
			t.Errorf("finish line %q lacks %s", finish[0], want)
		}
	}
	// A second engine registering on the same registry is refused, not a panic.
	if err := reg.Register(New(e.rdb, nil, e.store, e.render, Options{})); err == nil {
		t.Error("registering metrics twice did not fail")
	}
}

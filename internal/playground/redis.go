package playground

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"newsbot/internal/secret"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisChoice is the Redis the playground's service uses: REDIS_URL when something answers
// there, under a prefix of this run's own (removed at exit, so a live bot's data in the same
// Redis is never touched and runs never see each other's), or a redis-server of its own.
type redisChoice struct {
	url    string
	prefix string
	shared bool
	log    *slog.Logger

	// own server
	cmd  *exec.Cmd
	dir  string
	done chan struct{}
	once sync.Once
}

// chooseRedis pings REDIS_URL (one server: redis://, rediss://, unix://) and starts a
// redis-server from PATH when nothing answers there.
func chooseRedis(ctx context.Context, redisURL string, log *slog.Logger) (*redisChoice, error) {
	run := randomHex(4)
	if redisURL == "" {
		redisURL = "redis://localhost:6379/0"
	}
	if opt, err := redis.ParseURL(redisURL); err == nil {
		err := ping(ctx, opt, time.Second)
		if err == nil {
			return &redisChoice{url: redisURL, prefix: Prefix + run + ":", shared: true, log: log}, nil
		}
		log.Info("playground: nothing answers at REDIS_URL; starting a redis-server of its own", "err", err)
	} else {
		log.Info("playground: REDIS_URL is not a single server the playground can check; starting a redis-server of its own", "err", err)
	}
	return startRedis(ctx, log, run)
}

func startRedis(ctx context.Context, log *slog.Logger, run string) (*redisChoice, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, errors.New("playground: nothing answers at REDIS_URL and redis-server is not on PATH: install it (apt-get install redis-server, brew install redis; `make run` does it on Debian) or point REDIS_URL at a Redis")
	}
	dir, err := os.MkdirTemp("", "newsbot-playground-redis-")
	if err != nil {
		return nil, fmt.Errorf("playground: redis data dir: %w", err)
	}
	var lastErr error
	for range 3 {
		port, err := freePort()
		if err != nil {
			_ = os.RemoveAll(dir)
			return nil, err
		}
		r := &redisChoice{
			url: "redis://127.0.0.1:" + strconv.Itoa(port) + "/0", prefix: Prefix + run + ":",
			dir: dir, done: make(chan struct{}), log: log,
		}
		var out bytes.Buffer
		r.cmd = exec.Command(bin,
			"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
			"--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "yes",
			"--logfile", filepath.Join(dir, "redis.log"),
		)
		r.cmd.Stdout, r.cmd.Stderr = &out, &out
		r.cmd.SysProcAttr = childAttr()
		if err := startChild(r.cmd, r.done); err != nil {
			_ = os.RemoveAll(dir)
			return nil, fmt.Errorf("playground: start %s: %w", bin, err)
		}
		if err := waitRedis(ctx, r.url, r.done); err != nil {
			r.stop()
			logTail, _ := os.ReadFile(filepath.Join(dir, "redis.log"))
			lastErr = fmt.Errorf("playground: redis-server on port %d: %w: %s%s", port, err, out.String(), tail(logTail))
			if ctx.Err() != nil {
				break
			}
			continue
		}
		return r, nil
	}
	_ = os.RemoveAll(dir)
	return nil, lastErr
}

// describe is the banner's words for this Redis.
func (r *redisChoice) describe() string {
	if r.shared {
		return "Redis: REDIS_URL (" + secret.Password(r.url) + "), keys under " + r.prefix + " removed at exit"
	}
	return "Redis: its own redis-server at " + strings.TrimPrefix(strings.TrimSuffix(r.url, "/0"), "redis://") + ", stopped at exit"
}

// close removes this run's keys from a shared Redis, or stops the own server and removes
// its data.
func (r *redisChoice) close(ctx context.Context) error {
	if r.shared {
		return r.removeKeys(ctx)
	}
	r.stop()
	return os.RemoveAll(r.dir)
}

func (r *redisChoice) removeKeys(ctx context.Context) error {
	opt, err := redis.ParseURL(r.url)
	if err != nil {
		return err
	}
	c := redis.NewClient(opt)
	defer c.Close()
	var cursor uint64
	removed := 0
	for {
		keys, next, err := c.Scan(ctx, cursor, r.prefix+"*", 500).Result()
		if err != nil {
			return fmt.Errorf("scan %s*: %w", r.prefix, err)
		}
		if len(keys) > 0 {
			if err := c.Unlink(ctx, keys...).Err(); err != nil {
				return fmt.Errorf("remove %s*: %w", r.prefix, err)
			}
			removed += len(keys)
		}
		if cursor = next; cursor == 0 {
			break
		}
	}
	r.log.Info("playground: removed its keys from REDIS_URL", "prefix", r.prefix, "keys", removed)
	return nil
}

// stop ends the own redis-server: SIGTERM, then SIGKILL after 5 s.
func (r *redisChoice) stop() {
	r.once.Do(func() {
		if r.cmd == nil || r.cmd.Process == nil {
			return
		}
		_ = r.cmd.Process.Signal(terminate)
		select {
		case <-r.done:
		case <-time.After(5 * time.Second):
			_ = r.cmd.Process.Kill()
			<-r.done
		}
	})
}

// Pid is the own redis-server's process id (0 for a shared Redis): tests check it is gone.
func (r *redisChoice) pid() int {
	if r.cmd == nil || r.cmd.Process == nil {
		return 0
	}
	return r.cmd.Process.Pid
}

func waitRedis(ctx context.Context, redisURL string, exited <-chan struct{}) error {
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := ping(ctx, opt, 200*time.Millisecond)
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return errors.New("exited")
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not answering after 10s: %w", err)
		}
	}
}

// ping asks Redis for PONG. Whether anything listens is tried first with a plain dial, so
// that "nothing there" costs no retries and no lines from the Redis library's own logger.
func ping(ctx context.Context, opt *redis.Options, timeout time.Duration) error {
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, opt.Network, opt.Addr)
	if err != nil {
		return err
	}
	_ = conn.Close()
	opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout = timeout, timeout, timeout
	opt.MaxRetries, opt.DialerRetries = -1, 1
	c := redis.NewClient(opt)
	defer c.Close()
	return c.Ping(ctx).Err()
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func tail(b []byte) string {
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

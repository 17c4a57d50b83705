// Package redistest gives tests a real Redis: a redis-server started on a free port (or the
// server named by REDIS_TEST_URL), and a key prefix of their own so tests never see each
// other's keys. Tests that need an outage start a private server they can stop and restart.
package redistest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Server is a redis-server process owned by a test.
type Server struct {
	mu   sync.Mutex
	dir  string
	port int
	cmd  *exec.Cmd
	url  string // set when the server is external (REDIS_TEST_URL)
}

// shared is the one server of a test binary; started on first use, stopped when the
// process exits (Pdeathsig) or by Main.
var (
	sharedOnce sync.Once
	shared     *Server
	sharedErr  error
)

// Main runs the tests of a package and stops the shared server afterwards. Use it from
// TestMain: os.Exit(redistest.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	if shared != nil {
		shared.Stop()
		_ = os.RemoveAll(shared.dir)
	}
	return code
}

// New returns a client of the package's shared Redis and a key prefix unique to this test.
// Keys under the prefix are deleted when the test ends.
func New(t testing.TB) (*redis.Client, string) {
	t.Helper()
	sharedOnce.Do(func() {
		if u := os.Getenv("REDIS_TEST_URL"); u != "" {
			shared = &Server{url: u}
			return
		}
		dir, err := os.MkdirTemp("", "redistest-")
		if err != nil {
			sharedErr = err
			return
		}
		shared = &Server{dir: dir}
		sharedErr = shared.start()
	})
	if sharedErr != nil {
		t.Fatalf("redistest: start redis-server: %v", sharedErr)
	}
	rdb := shared.client(t)
	prefix := "test:" + randomHex() + ":"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if len(keys) > 0 {
			rdb.Unlink(ctx, keys...)
		}
		_ = rdb.Close()
	})
	return rdb, prefix
}

// Start starts a private redis-server for one test, so that the test may stop and restart
// it. It is stopped when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{dir: t.TempDir()}
	if err := s.start(); err != nil {
		t.Fatalf("redistest: start redis-server: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

// Client returns a new client of the server, closed when the test ends.
func (s *Server) Client(t testing.TB) *redis.Client {
	t.Helper()
	rdb := s.client(t)
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

func (s *Server) client(t testing.TB) *redis.Client {
	opt, err := redis.ParseURL(s.URL())
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	return redis.NewClient(opt)
}

// Addr is host:port of the server.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
}

// URL is the redis:// URL of the server, for code that takes REDIS_URL.
func (s *Server) URL() string {
	if s.url != "" {
		return s.url
	}
	return "redis://" + s.Addr() + "/0"
}

// Stop kills the server, as an outage would. Data is kept in its AOF, so Restart brings it
// back with what it held.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
	s.cmd = nil
}

// Restart starts the server again on the same port after Stop.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	if err := s.start(); err != nil {
		t.Fatalf("redistest: restart redis-server: %v", err)
	}
}

func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.url != "" {
		return fmt.Errorf("cannot start the external server %s", s.url)
	}
	if s.cmd != nil {
		return nil
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return fmt.Errorf("redis-server is not on PATH (install it, or set REDIS_TEST_URL): %w", err)
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port := s.port
		if port == 0 {
			if port, err = freePort(); err != nil {
				return err
			}
		}
		var out bytes.Buffer
		cmd := exec.Command(bin,
			"--port", strconv.Itoa(port),
			"--bind", "127.0.0.1",
			"--dir", s.dir,
			"--save", "",
			"--appendonly", "yes",
			"--appendfsync", "no",
			"--logfile", filepath.Join(s.dir, "redis.log"),
			"--daemonize", "no",
			"--protected-mode", "no",
		)
		cmd.Stdout, cmd.Stderr = &out, &out
		// The server dies with the test binary even when a test is killed mid-way.
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("start %s: %w", bin, err)
		}
		if err := waitReady(port, 5*time.Second); err != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			log, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
			lastErr = fmt.Errorf("redis-server on port %d: %w: %s%s", port, err, out.String(), tail(log))
			if s.port != 0 {
				time.Sleep(200 * time.Millisecond)
				continue
			}
			continue
		}
		s.port = port
		s.cmd = cmd
		return nil
	}
	return lastErr
}

func waitReady(port int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for {
		conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			_ = conn.SetDeadline(time.Now().Add(time.Second))
			_, _ = conn.Write([]byte("PING\r\n"))
			buf := make([]byte, 64)
			n, _ := conn.Read(buf)
			_ = conn.Close()
			if bytes.HasPrefix(buf[:n], []byte("+PONG")) {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %s", timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
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

func randomHex() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

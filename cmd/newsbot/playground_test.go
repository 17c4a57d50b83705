package main

import (
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestPlaygroundCtrlC runs the built binary as `make run` does on a fresh machine (no token,
// nothing at REDIS_URL) and presses Ctrl-C as a terminal does, to the whole process group:
// the page answered, and afterwards no redis-server is left.
func TestPlaygroundCtrlC(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server is not on PATH (scripts/ensure-redis installs it)")
	}
	bin := buildBinary(t)
	cmd := exec.Command(bin, "playground")
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "HTTP_ADDR=127.0.0.1:0", "REDIS_URL=redis://127.0.0.1:1/0",
		"ENV_FILE=" + filepath.Join(t.TempDir(), "none.env"), "ARTICLES_DIR=../../articles", "LOG_LEVEL=warn",
	}
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // a terminal's foreground group
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	})

	banner := regexp.MustCompile(`page at (http://\S+/); Redis: its own redis-server at (127\.0\.0\.1:\d+)`)
	var m []string
	for deadline := time.Now().Add(60 * time.Second); m == nil; time.Sleep(20 * time.Millisecond) {
		m = banner.FindStringSubmatch(out.String())
		if time.Now().After(deadline) {
			t.Fatalf("no banner within 60s:\n%s", out.String())
		}
	}
	if n := strings.Count(out.String(), "newsbot playground:"); n != 1 || !strings.Contains(out.String(), "set TELEGRAM_BOT_TOKEN in .env to go live") {
		t.Errorf("want one banner line saying how to go live:\n%s", out.String())
	}
	resp, err := http.Get(m[1])
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "@newsbot_playground_kk") {
		t.Fatalf("page: %d\n%s", resp.StatusCode, body)
	}

	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("newsbot playground exited with %v after Ctrl-C\n%s", err, out.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("newsbot playground still running 15s after Ctrl-C\n%s", out.String())
	}
	if c, err := net.DialTimeout("tcp", m[2], time.Second); err == nil {
		c.Close()
		t.Errorf("redis-server still answers at %s after Ctrl-C", m[2])
	}
}

// TestRunNeverFallsBackToThePlayground: an operator who forgot the token gets the error,
// not a playground.
func TestRunNeverFallsBackToThePlayground(t *testing.T) {
	var stdout, stderr strings.Builder
	err := run(t.Context(), []string{"run"}, func(k string) (string, bool) {
		v, ok := map[string]string{"ENV_FILE": filepath.Join(t.TempDir(), "none.env"), "HTTP_ADDR": "127.0.0.1:0"}[k]
		return v, ok
	}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "TELEGRAM_BOT_TOKEN") || strings.Contains(stdout.String(), "playground") {
		t.Errorf("newsbot run without a token: err %v, stdout %q", err, stdout.String())
	}
	err = run(t.Context(), []string{"playground", "extra"}, func(string) (string, bool) { return "", false }, &stdout, &stderr)
	var ee *exitError
	if err == nil || !strings.Contains(err.Error(), "playground takes no arguments") || !errors.As(err, &ee) || ee.code != 2 {
		t.Errorf("newsbot playground extra: %v", err)
	}
}

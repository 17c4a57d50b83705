package redisconn

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"newsbot/internal/config"
	"newsbot/internal/redistest"
)

// startRedis runs redis-server with extra arguments (a sentinel, a cluster node) on a free
// port, for topologies internal/redistest does not offer. It is killed when the test ends.
func startRedis(t *testing.T, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server not on PATH")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir := t.TempDir()
	cmd := exec.Command(bin, append(args, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--dir", dir, "--logfile", filepath.Join(dir, "log"), "--save", "", "--protected-mode", "no")...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer rdb.Close()
	deadline := time.Now().Add(10 * time.Second)
	for rdb.Ping(context.Background()).Err() != nil {
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "log"))
			t.Fatalf("redis-server %v did not start: %s", args, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return addr
}

// TestSentinel reaches a master through a real sentinel, from a redis-sentinel:// REDIS_URL.
func TestSentinel(t *testing.T) {
	master := redistest.Start(t)
	host, port, _ := net.SplitHostPort(master.Addr())
	conf := filepath.Join(t.TempDir(), "sentinel.conf")
	body := fmt.Sprintf("sentinel monitor newsbot %s %s 1\nsentinel down-after-milliseconds newsbot 5000\n", host, port)
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	sentinel := startRedis(t, conf, "--sentinel")

	// The REDIS_URL form docs/operations.md gives for Sentinel.
	opt, err := config.Config{RedisURL: "redis-sentinel://" + sentinel + "/0?master=newsbot"}.RedisOptions()
	if err != nil {
		t.Fatal(err)
	}
	rdb, err := New(opt, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := WaitReady(ctx, rdb, slogDiscard()); err != nil {
		t.Fatalf("WaitReady through the sentinel: %v", err)
	}
	if err := rdb.Set(ctx, "k", "via sentinel", 0).Err(); err != nil {
		t.Fatalf("SET through the sentinel: %v", err)
	}
	direct := master.Client(t)
	if got, _ := direct.Get(ctx, "k").Result(); got != "via sentinel" {
		t.Errorf("master holds %q, want the value written through the sentinel", got)
	}
}

// TestCluster runs a one-node Redis Cluster: Ping checks its shard, the error hook counts
// on a cluster client too, and keys sharing a hash tag may be used together in one script
// while keys without one may not.
func TestCluster(t *testing.T) {
	node := startRedis(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--appendonly", "no")
	admin := redis.NewClient(&redis.Options{Addr: node})
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := admin.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", 0, 16383).Err(); err != nil {
		t.Fatalf("assign slots: %v", err)
	}
	for {
		info, err := admin.ClusterInfo(ctx).Result()
		if err == nil && strings.Contains(info, "cluster_state:ok") {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("cluster not ok: %v %s", err, info)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// The REDIS_URL form docs/operations.md gives for a Cluster reached by one endpoint.
	opt, err := config.Config{RedisURL: "redis-cluster://" + node}.RedisOptions()
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	errs := NewErrorCounter()
	reg.MustRegister(errs)
	rdb, err := New(opt, errs)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	if _, ok := rdb.(*redis.ClusterClient); !ok {
		t.Fatalf("redis-cluster:// gave a %T", rdb)
	}
	if err := WaitReady(ctx, rdb, slogDiscard()); err != nil {
		t.Fatalf("WaitReady on the cluster: %v", err)
	}
	if err := Ping(rdb)(ctx); err != nil {
		t.Fatalf("Ping on the cluster: %v", err)
	}

	touch := redis.NewScript(`redis.call("SET", KEYS[1], "1"); redis.call("SET", KEYS[2], "1"); return 1`)
	if err := touch.Run(ctx, rdb, []string{"newsbot:d:{s:42}:ledger", "newsbot:d:{s:42}:jobs"}).Err(); err != nil {
		t.Errorf("script on two keys with one hash tag: %v", err)
	}
	err = touch.Run(ctx, rdb, []string{"newsbot:a", "newsbot:b"}).Err()
	if err == nil {
		t.Fatal("script on two keys without a common hash tag ran on a cluster; the test proves nothing")
	}
	if errorCount(t, reg, "evalsha", kindReply)+errorCount(t, reg, "eval", kindReply) < 1 {
		t.Errorf("cross-slot failure (%v) not counted in newsbot_redis_errors_total", err)
	}
}

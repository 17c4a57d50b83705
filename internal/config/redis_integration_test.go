package config

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"newsbot/internal/redistest"
)

// The three REDIS_URL forms reach real servers: a plain redis-server, a Sentinel watching it,
// and a one-node Redis Cluster. Parsing alone would not show that go-redis picks the right
// client from the options.
func TestRedisURLsConnect(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server not on PATH: Sentinel and Cluster need their own processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	master := redistest.Start(t)
	sentinelPort := startRedis(t, "sentinel", fmt.Sprintf("port %d\nsentinel monitor mymaster 127.0.0.1 %s 1\n", freePort(t), portOf(master.Addr())))
	clusterPort := startRedis(t, "cluster", fmt.Sprintf("port %d\ncluster-enabled yes\ncluster-config-file nodes.conf\nsave \"\"\nappendonly no\n", freePort(t)))
	node := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + clusterPort})
	defer node.Close()
	if err := node.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", "0", "16383").Err(); err != nil {
		t.Fatalf("cluster addslots: %v", err)
	}
	waitFor(t, func() bool {
		info, _ := node.ClusterInfo(ctx).Result()
		return strings.Contains(info, "cluster_state:ok")
	})

	for _, u := range []string{
		master.URL(),
		"redis-sentinel://127.0.0.1:" + sentinelPort + "/0?master=mymaster",
		"redis-cluster://127.0.0.1:" + clusterPort,
	} {
		c, err := load(env(map[string]string{"REDIS_URL": u}))
		if err != nil {
			t.Fatal(err)
		}
		opts, err := c.RedisOptions()
		if err != nil {
			t.Fatal(err)
		}
		rdb := redis.NewUniversalClient(opts)
		key := "config-test:{k}"
		waitFor(t, func() bool { return rdb.Set(ctx, key, u, 0).Err() == nil })
		if got, err := rdb.Get(ctx, key).Result(); err != nil || got != u {
			t.Errorf("%s: get %q, %v", u, got, err)
		}
		if err := rdb.Close(); err != nil {
			t.Error(err)
		}
	}
}

// startRedis runs redis-server (in Sentinel mode for "sentinel") with the config and returns its
// port; the process is killed when the test ends.
func startRedis(t *testing.T, kind, conf string) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, kind+".conf")
	if err := os.WriteFile(path, []byte("dir "+dir+"\n"+conf), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{path}
	if kind == "sentinel" {
		args = append(args, "--sentinel")
	}
	cmd := exec.Command("redis-server", args...)
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", kind, err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	port := strings.Fields(strings.SplitN(conf, "\n", 2)[0])[1]
	waitFor(t, func() bool {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, 100*time.Millisecond)
		if err == nil {
			_ = c.Close()
		}
		return err == nil
	})
	return port
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func portOf(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

package config

import (
	"slices"
	"testing"
	"time"
)

func TestRedisOptions(t *testing.T) {
	tests := []struct {
		url     string
		addrs   []string
		master  string
		cluster bool
		db      int
		user    string
		pass    string
		spass   string
		tls     bool
	}{
		{url: "redis://localhost:6379/0", addrs: []string{"localhost:6379"}},
		{url: "redis://:pw@redis.internal:6380/3", addrs: []string{"redis.internal:6380"}, db: 3, pass: "pw"},
		{url: "rediss://alice:pw@redis.example", addrs: []string{"redis.example:6379"}, user: "alice", pass: "pw", tls: true},
		{url: "redis-sentinel://:pw@s1:26379,s2:26379,s3:26379/1?master=mymaster", addrs: []string{"s1:26379", "s2:26379", "s3:26379"},
			master: "mymaster", db: 1, pass: "pw"},
		{url: "redis-sentinel://s1:26379?master=m&sentinel_password=spw&dial_timeout=2s", addrs: []string{"s1:26379"}, master: "m", spass: "spw"},
		{url: "rediss-sentinel://s1:26379,s2:26379?master=m", addrs: []string{"s1:26379", "s2:26379"}, master: "m", tls: true},
		{url: "redis-cluster://h1:7000,h2:7001,h3:7002", addrs: []string{"h1:7000", "h2:7001", "h3:7002"}, cluster: true},
		{url: "rediss-cluster://:pw@h1:7000?read_only=true", addrs: []string{"h1:7000"}, cluster: true, pass: "pw", tls: true},
	}
	for _, tc := range tests {
		c := Config{RedisURL: tc.url}
		o, err := c.RedisOptions()
		if err != nil {
			t.Errorf("%s: %v", tc.url, err)
			continue
		}
		if !slices.Equal(o.Addrs, tc.addrs) || o.MasterName != tc.master || o.IsClusterMode != tc.cluster || o.DB != tc.db ||
			o.Username != tc.user || o.Password != tc.pass || o.SentinelPassword != tc.spass || (o.TLSConfig != nil) != tc.tls {
			t.Errorf("%s: addrs %v master %q cluster %v db %d user %q pass %q sentinel pass %q tls %v", tc.url, o.Addrs, o.MasterName,
				o.IsClusterMode, o.DB, o.Username, o.Password, o.SentinelPassword, o.TLSConfig != nil)
		}
	}
	o, err := Config{RedisURL: "redis-sentinel://s1:26379?master=m&dial_timeout=2s"}.RedisOptions()
	if err != nil || o.DialTimeout != 2*time.Second {
		t.Errorf("options are passed on: %v %v", o, err)
	}
}

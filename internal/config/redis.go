package config

import (
	"errors"
	"fmt"
	"net/url"
	"newsbot/internal/secret"
	"strings"

	"github.com/redis/go-redis/v9"
)

// RedisOptions turns REDIS_URL into options for redis.NewUniversalClient, which picks a plain,
// Sentinel (failover) or Cluster client from them. Accepted forms:
//
//	redis://[[user]:password@]host:6379[/db][?options]       one server
//	rediss://...                                              one server over TLS
//	unix://[[user]:password@]/path/to/redis.sock[?db=N]      a local socket
//	redis-sentinel://[[user]:password@]host1:26379,host2:26379[/db]?master=mymaster[&options]
//	rediss-sentinel://...                                     Sentinel, TLS to every node
//	redis-cluster://[[user]:password@]host1:7000,host2:7000[?options]
//	rediss-cluster://...                                      Cluster over TLS
//
// In the Sentinel form the user and password authenticate to the Redis master and replicas
// (as in Lettuce and Spring); sentinel_username and sentinel_password are for the sentinels
// themselves when they require it. Options are go-redis's URL options (dial_timeout=3s,
// pool_size=20, read_only=true, ...); an unknown option is an error.
func (c Config) RedisOptions() (*redis.UniversalOptions, error) {
	return redisOptions(c.RedisURL)
}

func redisOptions(raw string) (*redis.UniversalOptions, error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return nil, fmt.Errorf("%q is not a URL like redis://host:6379/0", secret.Password(raw))
	}
	switch scheme {
	case "redis", "rediss", "unix":
		o, err := redis.ParseURL(raw)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", secret.Password(raw), stripURL(err))
		}
		return &redis.UniversalOptions{
			Addrs: []string{o.Addr}, DB: o.DB, Username: o.Username, Password: o.Password,
			Protocol: o.Protocol, ClientName: o.ClientName, TLSConfig: o.TLSConfig,
			MaxRetries: o.MaxRetries, MinRetryBackoff: o.MinRetryBackoff, MaxRetryBackoff: o.MaxRetryBackoff,
			DialTimeout: o.DialTimeout, ReadTimeout: o.ReadTimeout, WriteTimeout: o.WriteTimeout,
			PoolFIFO: o.PoolFIFO, PoolSize: o.PoolSize, PoolTimeout: o.PoolTimeout,
			MinIdleConns: o.MinIdleConns, MaxIdleConns: o.MaxIdleConns, MaxActiveConns: o.MaxActiveConns,
			ConnMaxIdleTime: o.ConnMaxIdleTime, ConnMaxLifetime: o.ConnMaxLifetime,
			// unix:// sockets are single servers; NewUniversalClient needs the network to dial.
			Dialer: o.Dialer,
		}, nil
	case "redis-sentinel", "rediss-sentinel":
		u, err := multiHostURL(scheme, rest)
		if err != nil {
			return nil, err
		}
		q := u.Query()
		master := q.Get("master")
		if master == "" {
			master = q.Get("master_name")
		}
		if master == "" {
			return nil, fmt.Errorf("%s: Sentinel needs ?master=NAME, the name the sentinels monitor", secret.Password(raw))
		}
		q.Del("master")
		q.Set("master_name", master)
		// go-redis reads the userinfo of a failover URL as the sentinels' credentials and
		// username/password options as the master's; swap to the documented meaning.
		if pw, has := u.User.Password(); has {
			q.Set("password", pw)
		}
		if u.User != nil && u.User.Username() != "" {
			q.Set("username", u.User.Username())
		}
		u.User = nil
		if su, sp := q.Get("sentinel_username"), q.Get("sentinel_password"); su != "" || sp != "" {
			u.User = url.UserPassword(su, sp)
		}
		q.Del("sentinel_username")
		q.Del("sentinel_password")
		u.RawQuery = q.Encode()
		o, err := redis.ParseFailoverURL(u.String())
		if err != nil {
			return nil, fmt.Errorf("%s: %w", secret.Password(raw), stripURL(err))
		}
		return &redis.UniversalOptions{
			Addrs: o.SentinelAddrs, MasterName: o.MasterName, DB: o.DB,
			Username: o.Username, Password: o.Password,
			SentinelUsername: o.SentinelUsername, SentinelPassword: o.SentinelPassword,
			Protocol: o.Protocol, ClientName: o.ClientName, TLSConfig: o.TLSConfig,
			RouteByLatency: o.RouteByLatency, RouteRandomly: o.RouteRandomly,
			MaxRetries: o.MaxRetries, MinRetryBackoff: o.MinRetryBackoff, MaxRetryBackoff: o.MaxRetryBackoff,
			DialTimeout: o.DialTimeout, ReadTimeout: o.ReadTimeout, WriteTimeout: o.WriteTimeout,
			PoolFIFO: o.PoolFIFO, PoolSize: o.PoolSize, PoolTimeout: o.PoolTimeout,
			MinIdleConns: o.MinIdleConns, MaxIdleConns: o.MaxIdleConns, MaxActiveConns: o.MaxActiveConns,
			ConnMaxIdleTime: o.ConnMaxIdleTime, ConnMaxLifetime: o.ConnMaxLifetime,
		}, nil
	case "redis-cluster", "rediss-cluster":
		u, err := multiHostURL(scheme, rest)
		if err != nil {
			return nil, err
		}
		if p := strings.Trim(u.Path, "/"); p != "" && p != "0" {
			return nil, fmt.Errorf("%s: Redis Cluster has only database 0", secret.Password(raw))
		}
		u.Path = ""
		o, err := redis.ParseClusterURL(u.String())
		if err != nil {
			return nil, fmt.Errorf("%s: %w", secret.Password(raw), stripURL(err))
		}
		return &redis.UniversalOptions{
			Addrs: o.Addrs, IsClusterMode: true,
			Username: o.Username, Password: o.Password,
			Protocol: o.Protocol, ClientName: o.ClientName, TLSConfig: o.TLSConfig,
			MaxRedirects: o.MaxRedirects, ReadOnly: o.ReadOnly,
			RouteByLatency: o.RouteByLatency, RouteRandomly: o.RouteRandomly,
			MaxRetries: o.MaxRetries, MinRetryBackoff: o.MinRetryBackoff, MaxRetryBackoff: o.MaxRetryBackoff,
			DialTimeout: o.DialTimeout, ReadTimeout: o.ReadTimeout, WriteTimeout: o.WriteTimeout,
			PoolFIFO: o.PoolFIFO, PoolSize: o.PoolSize, PoolTimeout: o.PoolTimeout,
			MinIdleConns: o.MinIdleConns, MaxIdleConns: o.MaxIdleConns, MaxActiveConns: o.MaxActiveConns,
			ConnMaxIdleTime: o.ConnMaxIdleTime, ConnMaxLifetime: o.ConnMaxLifetime,
		}, nil
	default:
		return nil, fmt.Errorf("%q: unknown scheme %q (redis, rediss, unix, redis-sentinel, redis-cluster)", secret.Password(raw), scheme)
	}
}

// multiHostURL rewrites "scheme://[userinfo@]h1:p1,h2:p2[/path][?query]" into the single-host
// form go-redis parses, "redis[s]://[userinfo@]h1:p1[/path]?addr=h2:p2&...": net/url cannot
// parse a comma-separated host list.
func multiHostURL(scheme, rest string) (*url.URL, error) {
	base := "redis"
	if strings.HasPrefix(scheme, "rediss") {
		base = "rediss"
	}
	authority, tail := rest, ""
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		authority, tail = rest[:i], rest[i:]
	}
	userinfo, hostlist := "", authority
	if i := strings.LastIndex(authority, "@"); i >= 0 {
		userinfo, hostlist = authority[:i+1], authority[i+1:]
	}
	hosts := strings.Split(hostlist, ",")
	for _, h := range hosts {
		if strings.TrimSpace(h) == "" {
			return nil, fmt.Errorf("%s: empty host in the host list", secret.Password(scheme+"://"+rest))
		}
	}
	u, err := url.Parse(base + "://" + userinfo + hosts[0] + tail)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", secret.Password(scheme+"://"+rest), stripURL(err))
	}
	q := u.Query()
	for _, h := range hosts[1:] {
		q.Add("addr", h)
	}
	u.RawQuery = q.Encode()
	return u, nil
}

// stripURL drops the URL from a *url.Error: it would print the password.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

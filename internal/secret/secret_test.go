package secret

import (
	"strings"
	"testing"
)

func TestURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://feeduser:FeedPass123@news.example.kz/rss": "https://news.example.kz/rss",
		"https://news.example.kz/rss?a=b@c":                "https://news.example.kz/rss?a=b@c",
		"https://user@host/x":                              "https://host/x",
		"ht tp://u:FeedPass123@host/%zz":                   "ht tp://host/%zz",
		"no url at all":                                    "no url at all",
		"https://u:p%zz@news.example.kz/rss":               "https://news.example.kz/rss",
		"https://u:p%40x@host:8443/a?b=c":                  "https://host:8443/a?b=c",
		"https://u:p@x@host/a":                             "https://host/a",
		"https://host?q=a@b":                               "https://host?q=a@b",
		"https://u:p@ho st/":                               "https://ho st/",
		"kk=https://u:p@host/rss":                          "kk=https://host/rss",
		"":                                                 "",
	} {
		if got := URL(in); got != want {
			t.Errorf("URL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPassword(t *testing.T) {
	for _, in := range []string{
		"redis://default:S3cret@redis:6379/0",
		"redis-sentinel://:S3cret@s1:26379/0?master=m&sentinel_password=S3cret",
	} {
		got := Password(in)
		if strings.Contains(got, "S3cret") || !strings.Contains(got, "xxxxx") {
			t.Errorf("Password(%q) = %q", in, got)
		}
	}
	if got := Password("redis://redis:6379/0?db=1"); got != "redis://redis:6379/0?db=1" {
		t.Errorf("a URL without a password changed: %q", got)
	}
}

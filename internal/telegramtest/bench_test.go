package telegramtest_test

import (
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"newsbot/internal/telegramtest"
)

// BenchmarkServer measures the fake alone (a bare net/http client in front), with
// recording on and in count-only mode, sending to many chats from 32 goroutines.
func BenchmarkServer(b *testing.B) {
	for _, record := range []bool{true, false} {
		b.Run("record="+strconv.FormatBool(record), func(b *testing.B) {
			srv := telegramtest.New(b)
			srv.SetRecord(record)
			u := srv.URL() + "/bot" + srv.Token() + "/sendMessage"
			hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
			var chat atomic.Int64
			b.ReportAllocs()
			b.SetParallelism(16)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					form := url.Values{
						"chat_id": {strconv.FormatInt(chat.Add(1)%10000, 10)}, "text": {"Xi Jinping arrives in Astana"}, "parse_mode": {"HTML"},
						"reply_markup": {`{"inline_keyboard":[[{"text":"Share","url":"https://t.me/share/url?url=x"}]]}`},
					}
					resp, err := hc.Post(u, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			})
		})
	}
}

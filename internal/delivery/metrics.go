package delivery

import "github.com/prometheus/client_golang/prometheus"

// metrics are the engine's Prometheus collectors; each Engine has its own so that tests and
// several engines in one process never collide.
type metrics struct {
	sent     prometheus.Counter
	failed   *prometheus.CounterVec
	limited  prometheus.Counter
	queue    *prometheus.GaugeVec
	duration prometheus.Histogram
	channel  *prometheus.CounterVec
}

func newMetrics() *metrics {
	return &metrics{
		sent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "newsbot_delivery_sent_total",
			Help: "Messages delivered to readers' chats.",
		}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "newsbot_delivery_failed_total",
			Help: "Messages not delivered, by reason (blocked, chat_not_found, bad_request, transient, rate_limited, in_doubt, ...).",
		}, []string{"reason"}),
		limited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "newsbot_delivery_rate_limited_total",
			Help: "429 answers from Telegram (each pauses sending for every copy).",
		}),
		queue: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "newsbot_delivery_queue_depth",
			Help: "Fan-out jobs queued or running, by queue.",
		}, []string{"queue"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "newsbot_delivery_fanout_duration_seconds",
			Help:    "Time from queuing a fan-out job to its end.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 16), // 1 s … 9 h
		}),
		channel: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "newsbot_delivery_channel_posts_total",
			Help: "Channel post actions (post, edit, repost, delete) and their failures.",
		}, []string{"action"}),
	}
}

func (m *metrics) register(r prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.sent, m.failed, m.limited, m.queue, m.duration, m.channel} {
		if err := r.Register(c); err != nil {
			return err
		}
	}
	return nil
}

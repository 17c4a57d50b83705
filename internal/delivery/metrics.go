package delivery

import "github.com/prometheus/client_golang/prometheus"

// metrics are the engine's Prometheus collectors; each Engine has its own so that tests and
// several engines in one process never collide. The Engine is their prometheus.Collector.
type metrics struct {
	sent     prometheus.Counter
	failed   *prometheus.CounterVec
	limited  prometheus.Counter
	queue    *prometheus.GaugeVec
	duration prometheus.Histogram
	channel  *prometheus.CounterVec
	replies  *prometheus.CounterVec
	waiting  prometheus.Gauge
	waitTime prometheus.Gauge
	sentDay  prometheus.Gauge
	capacity prometheus.Gauge
}

func newMetrics() *metrics {
	return &metrics{
		sent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "newsbot_delivery_sent_total",
			Help: "Messages delivered to readers' chats.",
		}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "newsbot_delivery_failed_total",
			Help: "Messages not delivered, by reason (stale, blocked, chat_not_found, bad_request, in_doubt, ...).",
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
			Help: "Channel post actions (post, edit, repost, delete, photo_fallback) and their failures.",
		}, []string{"action"}),
		replies: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "newsbot_bot_replies_total",
			Help: "The bot's calls answering readers, by result (sent, retried, given_up, refused).",
		}, []string{"result"}),
		waiting: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "newsbot_delivery_waiting_messages",
			Help: "Messages still to send in the running fan-outs and digests (an estimate).",
		}),
		waitTime: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "newsbot_delivery_waiting_seconds",
			Help: "How long the waiting messages take at SEND_RATE; above PUSH_MAX_AGE, instant pushes go stale.",
		}),
		sentDay: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "newsbot_delivery_sent_last_24h",
			Help: "Messages delivered to readers in the last 24 hours (all copies).",
		}),
		capacity: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "newsbot_delivery_capacity_per_day",
			Help: "Messages a day at SEND_RATE (SEND_RATE × 86,400).",
		}),
	}
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.sent, m.failed, m.limited, m.queue, m.duration, m.channel, m.replies,
		m.waiting, m.waitTime, m.sentDay, m.capacity}
}

// Describe implements prometheus.Collector.
func (e *Engine) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range e.met.collectors() {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (e *Engine) Collect(ch chan<- prometheus.Metric) {
	for _, c := range e.met.collectors() {
		c.Collect(ch)
	}
}

package source

import "github.com/prometheus/client_golang/prometheus"

// Metrics counts what the watchers see. A nil *Metrics counts nothing, for tests and tools.
type Metrics struct {
	stories    *prometheus.CounterVec
	invalid    *prometheus.CounterVec
	fetches    *prometheus.CounterVec
	sinkErrors *prometheus.CounterVec
}

// NewMetrics creates the counters. *Metrics is a prometheus.Collector: register it.
func NewMetrics() *Metrics {
	m := &Metrics{
		stories: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "newsbot_source_stories_total",
			Help: "Stories handed on or recorded, by source kind (dir, feed, stream) and event (new, correction, retraction, seeded).",
		}, []string{"source", "event"}),
		invalid: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "newsbot_source_invalid_articles_total",
			Help: "Invalid articles skipped (each distinct content once), by source kind.",
		}, []string{"source"}),
		fetches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "newsbot_source_feed_fetches_total",
			Help: "Feed fetches by result (ok, not_modified, error).",
		}, []string{"result"}),
		sinkErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "newsbot_source_handler_errors_total",
			Help: "Stories the sink (delivery) refused or failed to take (they are retried), by source kind.",
		}, []string{"source"}),
	}
	return m
}

func (m *Metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.stories, m.invalid, m.fetches, m.sinkErrors}
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range m.collectors() {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	for _, c := range m.collectors() {
		c.Collect(ch)
	}
}

func (m *Metrics) story(source, event string) {
	if m != nil {
		m.stories.WithLabelValues(source, event).Inc()
	}
}

func (m *Metrics) invalidArticle(source string) {
	if m != nil {
		m.invalid.WithLabelValues(source).Inc()
	}
}

func (m *Metrics) fetch(result string) {
	if m != nil {
		m.fetches.WithLabelValues(result).Inc()
	}
}

func (m *Metrics) sinkError(source string) {
	if m != nil {
		m.sinkErrors.WithLabelValues(source).Inc()
	}
}

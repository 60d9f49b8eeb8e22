package service

import (
	"github.com/livestore-sync/livestore-sync/service/budget"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Push outcomes, the values of the "outcome" label of the push metrics.
const (
	OutcomeOK          = "ok"           // stored (or an identical retry, acknowledged)
	OutcomeServerAhead = "server_ahead" // the batch does not start at the store's head
	OutcomeMismatch    = "mismatch"     // the request's backend id is not the store's
	OutcomeRejected    = "rejected"     // refused by a hook or authorization
	OutcomeInvalid     = "invalid"      // malformed request or batch, or over a limit
	OutcomeError       = "error"        // storage failure, shutdown, cancelled
)

// Metrics are the service's Prometheus metrics. A nil *Metrics records nothing.
type Metrics struct {
	pushes        *prometheus.CounterVec
	pushedEvents  *prometheus.CounterVec
	pushDuration  prometheus.Histogram
	pullPages     prometheus.Counter
	pullEvents    prometheus.Counter
	pullBytes     prometheus.Counter
	livePulls     prometheus.Gauge
	liveLag       prometheus.Histogram
	slowConsumers prometheus.Counter
	storesOpen    prometheus.Gauge
	connections   *prometheus.GaugeVec
	refused       *prometheus.CounterVec
	remoteEvts    prometheus.Counter
	remoteLag     prometheus.Histogram
}

// NewMetrics creates the service's metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		pushes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "livestore_sync_pushes_total", Help: "Push requests, by outcome.",
		}, []string{"outcome"}),
		pushedEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "livestore_sync_pushed_events_total", Help: "Events in push requests, by outcome of the push.",
		}, []string{"outcome"}),
		pushDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "livestore_sync_push_duration_seconds",
			Help:    "Time to handle a successful push, including waiting for the store and the disk sync.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2.5, 12), // 100µs … ~2.4s
		}),
		pullPages: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "livestore_sync_pull_pages_total", Help: "Pull pages sent, backlog and live.",
		}),
		pullEvents: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "livestore_sync_pull_events_total", Help: "Events sent in pull pages.",
		}),
		pullBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "livestore_sync_pull_bytes_total", Help: "Bytes of events sent in pull pages, in LiveStore's JSON encoding.",
		}),
		livePulls: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "livestore_sync_live_pulls", Help: "Live pulls open.",
		}),
		liveLag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "livestore_sync_live_delivery_lag_seconds",
			Help:    "Time from a push being stored to its page being handed to a live pull's transport.",
			Buckets: prometheus.ExponentialBuckets(0.00005, 3, 12), // 50µs … ~9s
		}),
		slowConsumers: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "livestore_sync_slow_consumers_dropped_total", Help: "Live pulls ended because they fell behind.",
		}),
		storesOpen: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "livestore_sync_stores_open", Help: "Stores held in memory: those in use and up to MaxIdleStores idle ones.",
		}),
		connections: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "livestore_sync_connections",
			Help: "Open connections by transport: WebSockets (ws), HTTP bridge requests (http), " +
				"Connect/gRPC/gRPC-Web calls in progress (connect, grpc, grpcweb).",
		}, []string{"transport"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "livestore_sync_connections_refused_total",
			Help: "Connections refused because their transport was at its limit of open connections, by transport.",
		}, []string{"transport"}),
		remoteEvts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "livestore_sync_remote_events_total",
			Help: "Events written by other nodes of a shared engine and read by this node for its live pulls.",
		}),
		remoteLag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "livestore_sync_cross_node_delivery_lag_seconds",
			Help: "Time from another node storing a push (by its clock, to the millisecond) to this node " +
				"handing it to its live pulls.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14), // 1ms … ~8s
		}),
	}
	reg.MustRegister(m.remoteEvts, m.remoteLag, m.pushes, m.pushedEvents, m.pushDuration, m.pullPages, m.pullEvents, m.pullBytes,
		m.livePulls, m.liveLag, m.slowConsumers, m.storesOpen, m.connections, m.refused)
	return m
}

func (m *Metrics) push(outcome string, events int, d time.Duration) {
	if m == nil {
		return
	}
	m.pushes.WithLabelValues(outcome).Inc()
	m.pushedEvents.WithLabelValues(outcome).Add(float64(events))
	if outcome == OutcomeOK {
		m.pushDuration.Observe(d.Seconds())
	}
}

func (m *Metrics) page(events, bytes int) {
	if m == nil {
		return
	}
	m.pullPages.Inc()
	m.pullEvents.Add(float64(events))
	m.pullBytes.Add(float64(bytes))
}

func (m *Metrics) liveDelivered(committed time.Time) {
	if m != nil {
		m.liveLag.Observe(time.Since(committed).Seconds())
	}
}

func (m *Metrics) remoteEvents(n int, committed time.Time) {
	if m != nil {
		m.remoteEvts.Add(float64(n))
		m.remoteLag.Observe(max(0, time.Since(committed).Seconds()))
	}
}

func (m *Metrics) livePullStarted() {
	if m != nil {
		m.livePulls.Inc()
	}
}

func (m *Metrics) livePullEnded() {
	if m != nil {
		m.livePulls.Dec()
	}
}

func (m *Metrics) slowConsumerDropped() {
	if m != nil {
		m.slowConsumers.Inc()
	}
}

func (m *Metrics) storeOpened() {
	if m != nil {
		m.storesOpen.Inc()
	}
}

func (m *Metrics) storeClosed() {
	if m != nil {
		m.storesOpen.Dec()
	}
}

// ConnectionOpened counts a connection of a transport ("ws", "http", "connect", "grpc",
// "grpcweb") as open. Transports call it; pair it with ConnectionClosed.
func (m *Metrics) ConnectionOpened(transport string) {
	if m != nil {
		m.connections.WithLabelValues(transport).Inc()
	}
}

// ConnectionRefused counts a connection of a transport refused for being over a limit.
func (m *Metrics) ConnectionRefused(transport string) {
	if m != nil {
		m.refused.WithLabelValues(transport).Inc()
	}
}

// ConnectionClosed counts a connection of a transport as closed.
func (m *Metrics) ConnectionClosed(transport string) {
	if m != nil {
		m.connections.WithLabelValues(transport).Dec()
	}
}

// BudgetCollector exports an outgoing budget's state: the bytes held for clients
// (livestore_sync_outgoing_bytes), its bound (livestore_sync_outgoing_bytes_max) and the
// connections and live pulls it ended (livestore_sync_outgoing_budget_evictions_total).
func BudgetCollector(b *budget.Budget) prometheus.Collector {
	return collectors{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "livestore_sync_outgoing_bytes", Help: "Bytes held for clients that have yet to read them (live pull queues, WebSocket queues, HTTP responses).",
		}, func() float64 { return float64(b.Used()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "livestore_sync_outgoing_bytes_max", Help: "The bound on livestore_sync_outgoing_bytes (0: none).",
		}, func() float64 { return float64(b.Max()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "livestore_sync_outgoing_budget_evictions_total", Help: "Sockets and live pulls ended because the outgoing budget was exhausted and they held the most.",
		}, func() float64 { return float64(b.Evictions()) }),
	}
}

// collectors is several collectors as one.
type collectors []prometheus.Collector

func (cs collectors) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range cs {
		c.Describe(ch)
	}
}

func (cs collectors) Collect(ch chan<- prometheus.Metric) {
	for _, c := range cs {
		c.Collect(ch)
	}
}

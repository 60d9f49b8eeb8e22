package pgstore

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Collector returns a Prometheus collector of the engine's connection pool and of Watch's
// reconnections. Register it once.
func (e *Engine) Collector() prometheus.Collector {
	return &collector{e: e}
}

var (
	descConns = prometheus.NewDesc("livestore_sync_postgres_pool_connections",
		"Connections of the PostgreSQL pool, by state (idle, acquired, constructing).", []string{"state"}, nil)
	descMaxConns = prometheus.NewDesc("livestore_sync_postgres_pool_max_connections",
		"The most connections the PostgreSQL pool opens.", nil, nil)
	descAcquires = prometheus.NewDesc("livestore_sync_postgres_pool_acquires_total",
		"Connections taken from the PostgreSQL pool.", nil, nil)
	descEmptyAcquires = prometheus.NewDesc("livestore_sync_postgres_pool_empty_acquires_total",
		"Connections taken from the PostgreSQL pool that had to wait for one (none was idle).", nil, nil)
	descCanceledAcquires = prometheus.NewDesc("livestore_sync_postgres_pool_canceled_acquires_total",
		"Waits for a PostgreSQL pool connection that ended without one (cancelled or out of time).", nil, nil)
	descAcquireSeconds = prometheus.NewDesc("livestore_sync_postgres_pool_acquire_seconds_total",
		"Time spent taking connections from the PostgreSQL pool.", nil, nil)
	descNewConns = prometheus.NewDesc("livestore_sync_postgres_pool_new_connections_total",
		"Connections the PostgreSQL pool opened.", nil, nil)
	descWatchReconnects = prometheus.NewDesc("livestore_sync_postgres_watch_reconnects_total",
		"Times the connection that LISTENs for other nodes' writes was lost and opened again.", nil, nil)
)

type collector struct{ e *Engine }

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descConns, descMaxConns, descAcquires, descEmptyAcquires,
		descCanceledAcquires, descAcquireSeconds, descNewConns, descWatchReconnects} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := c.e.pool.Stat()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	gauge(descConns, float64(s.IdleConns()), "idle")
	gauge(descConns, float64(s.AcquiredConns()), "acquired")
	gauge(descConns, float64(s.ConstructingConns()), "constructing")
	gauge(descMaxConns, float64(s.MaxConns()))
	counter(descAcquires, float64(s.AcquireCount()))
	counter(descEmptyAcquires, float64(s.EmptyAcquireCount()))
	counter(descCanceledAcquires, float64(s.CanceledAcquireCount()))
	counter(descAcquireSeconds, s.AcquireDuration().Seconds())
	counter(descNewConns, float64(s.NewConnsCount()))
	counter(descWatchReconnects, float64(c.e.reconnects.Load()))
}

package pebblestore

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Collector returns a Prometheus collector of the engine's Pebble statistics: disk usage,
// compactions, flushes, write-ahead log, memtables and read amplification. Register it once.
func (e *Engine) Collector() prometheus.Collector {
	return &collector{e: e}
}

var (
	descDiskUsage = prometheus.NewDesc("livestore_sync_pebble_disk_usage_bytes",
		"Bytes on disk used by the Pebble database (tables, WAL, manifests).", nil, nil)
	descCompactions = prometheus.NewDesc("livestore_sync_pebble_compactions_total",
		"Compactions completed since the server started.", nil, nil)
	descCompactionDebt = prometheus.NewDesc("livestore_sync_pebble_compaction_debt_bytes",
		"Estimated bytes left to compact to reach a stable shape.", nil, nil)
	descCompactionsRunning = prometheus.NewDesc("livestore_sync_pebble_compactions_running",
		"Compactions in progress.", nil, nil)
	descFlushes = prometheus.NewDesc("livestore_sync_pebble_flushes_total",
		"Memtable flushes since the server started.", nil, nil)
	descWALBytes = prometheus.NewDesc("livestore_sync_pebble_wal_bytes",
		"Bytes in live write-ahead log files.", nil, nil)
	descMemtableBytes = prometheus.NewDesc("livestore_sync_pebble_memtable_bytes",
		"Bytes allocated to memtables.", nil, nil)
	descReadAmp = prometheus.NewDesc("livestore_sync_pebble_read_amplification",
		"Sublevels a point read may have to look at.", nil, nil)
)

type collector struct{ e *Engine }

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descDiskUsage, descCompactions, descCompactionDebt,
		descCompactionsRunning, descFlushes, descWALBytes, descMemtableBytes, descReadAmp} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	m := c.e.db.Metrics()
	gauge := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	counter := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	gauge(descDiskUsage, float64(m.DiskSpaceUsage()))
	counter(descCompactions, float64(m.Compact.Count))
	gauge(descCompactionDebt, float64(m.Compact.EstimatedDebt))
	gauge(descCompactionsRunning, float64(m.Compact.NumInProgress))
	counter(descFlushes, float64(m.Flush.Count))
	gauge(descWALBytes, float64(m.WAL.Size))
	gauge(descMemtableBytes, float64(m.MemTable.Size))
	gauge(descReadAmp, float64(m.ReadAmp()))
}

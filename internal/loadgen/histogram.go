package loadgen

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// histSubBits is the number of mantissa bits of a histogram bucket: values are kept to within
// 1/2^histSubBits (under 1 %).
const histSubBits = 7

// Histogram counts durations in logarithmic buckets, from any number of goroutines at once,
// in fixed memory. Quantiles are exact to within 1 %; the maximum is exact.
type Histogram struct {
	counts [64 << histSubBits]atomic.Uint64
	n      atomic.Uint64
	max    atomic.Int64
}

// bucket is the index of the bucket of v ≥ 0.
func bucket(v uint64) int {
	if v < 1<<histSubBits {
		return int(v)
	}
	exp := bits.Len64(v) - histSubBits - 1
	return (exp+1)<<histSubBits | int(v>>exp)&(1<<histSubBits-1)
}

// bucketHigh is the largest value of bucket i.
func bucketHigh(i int) uint64 {
	if i < 1<<histSubBits {
		return uint64(i)
	}
	exp := i>>histSubBits - 1
	mant := uint64(i&(1<<histSubBits-1)) | 1<<histSubBits
	return (mant+1)<<exp - 1
}

// Record counts one duration; negative ones count as 0.
func (h *Histogram) Record(d time.Duration) {
	v := max(int64(d), 0)
	h.counts[bucket(uint64(v))].Add(1)
	h.n.Add(1)
	for {
		m := h.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			return
		}
	}
}

// Count is how many durations were recorded.
func (h *Histogram) Count() uint64 { return h.n.Load() }

// Max is the largest duration recorded.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max.Load()) }

// Quantile returns the duration below which the fraction q of the recorded ones lie (to
// within 1 %, and never above Max); 0 when nothing was recorded.
func (h *Histogram) Quantile(q float64) time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(n)))
	rank = min(max(rank, 1), n)
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			return min(time.Duration(bucketHigh(i)), h.Max())
		}
	}
	return h.Max()
}

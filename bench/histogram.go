package main

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// Histogram layout: log-linear buckets, as HdrHistogram lays them out.
// Values below histSubCount nanoseconds get a bucket each. Above that, every
// power of two [2^k, 2^(k+1)) is split into histHalf buckets of equal width,
// so a bucket is never wider than 1/histHalf of the values in it: any
// percentile is reported within 0.4% of the true sample.
const (
	histSubBits  = 9
	histSubCount = 1 << histSubBits // exact below this many ns
	histHalf     = histSubCount / 2 // buckets per power of two above it
	// Values of 2^histMaxBits ns (about 18 minutes) or more are recorded as
	// the largest trackable value; no request lives that long.
	histMaxBits  = 40
	histMaxValue = 1<<histMaxBits - 1
	histBuckets  = histSubCount + (histMaxBits-histSubBits)*histHalf
)

// Histogram counts latencies without keeping samples. Record may be called
// from many goroutines at once; the driver gives each connection its own
// Histogram so that its goroutines share cache lines only with each other,
// and merges them at the end.
type Histogram struct {
	counts [histBuckets]atomic.Uint64
	total  atomic.Uint64
	sum    atomic.Uint64 // ns; overflows only after 584 years of latency
	min    atomic.Uint64 // valid when total > 0
	max    atomic.Uint64
}

// NewHistogram returns an empty histogram.
func NewHistogram() *Histogram {
	h := &Histogram{}
	h.min.Store(math.MaxUint64)
	return h
}

// histIndex is the bucket of v (already clamped to [0, histMaxValue]).
func histIndex(v uint64) int {
	if v < histSubCount {
		return int(v)
	}
	shift := bits.Len64(v) - histSubBits // >= 1
	top := v >> shift                    // in [histHalf, histSubCount)
	return histSubCount + (shift-1)*histHalf + int(top-histHalf)
}

// histBounds returns the smallest and largest value that land in bucket i.
func histBounds(i int) (lo, hi uint64) {
	if i < histSubCount {
		return uint64(i), uint64(i)
	}
	j := i - histSubCount
	shift := j/histHalf + 1
	top := uint64(j%histHalf + histHalf)
	return top << shift, (top+1)<<shift - 1
}

func clampNanos(d time.Duration) uint64 {
	switch {
	case d < 0:
		return 0
	case d > histMaxValue:
		return histMaxValue
	}
	return uint64(d)
}

// Record adds one latency.
func (h *Histogram) Record(d time.Duration) {
	v := clampNanos(d)
	h.counts[histIndex(v)].Add(1)
	h.total.Add(1)
	h.sum.Add(v)
	for {
		m := h.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			break
		}
	}
	for {
		m := h.min.Load()
		if v >= m || h.min.CompareAndSwap(m, v) {
			break
		}
	}
}

// Merge adds o's counts to h. Neither may be recorded into meanwhile.
func (h *Histogram) Merge(o *Histogram) {
	if o.total.Load() == 0 {
		return
	}
	for i := range o.counts {
		if c := o.counts[i].Load(); c != 0 {
			h.counts[i].Add(c)
		}
	}
	h.total.Add(o.total.Load())
	h.sum.Add(o.sum.Load())
	h.max.Store(max(h.max.Load(), o.max.Load()))
	h.min.Store(min(h.min.Load(), o.min.Load()))
}

// Count returns the number of recorded latencies.
func (h *Histogram) Count() uint64 { return h.total.Load() }

// Max returns the largest recorded latency (exact), or 0 when empty.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max.Load()) }

// Mean returns the average latency (exact), or 0 when empty.
func (h *Histogram) Mean() time.Duration {
	n := h.total.Load()
	if n == 0 {
		return 0
	}
	return time.Duration(h.sum.Load() / n)
}

// Quantile returns the q-quantile (q in [0, 1]) by the nearest-rank rule:
// the value of the ceil(q*n)-th smallest sample, reported as the top of its
// bucket (HdrHistogram's "highest equivalent value") but never above the
// exact maximum. Quantile(1) is the maximum.
func (h *Histogram) Quantile(q float64) time.Duration {
	n := h.total.Load()
	if n == 0 {
		return 0
	}
	rank := nearestRank(q, n)
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			_, hi := histBounds(i)
			return time.Duration(min(hi, h.max.Load()))
		}
	}
	return h.Max()
}

// nearestRank is the 1-based rank of the q-quantile among n samples. q*n
// is rounded away from float noise first, so 0.99 of 100 samples is rank
// 99 and not 100.
func nearestRank(q float64, n uint64) uint64 {
	x := q * float64(n)
	if r := math.Round(x); math.Abs(x-r) < 1e-9*max(1, x) {
		x = r
	}
	rank := uint64(math.Ceil(x))
	return min(max(rank, 1), n)
}

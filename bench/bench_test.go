package main

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

// quantilesPPM are the quantiles the tests check, in parts per million so
// that the reference rank is computed with integers, apart from the
// histogram's float arithmetic.
var quantilesPPM = []uint64{0, 1, 1000, 100_000, 250_000, 500_000, 900_000, 990_000, 999_000, 999_900, 1_000_000}

func referenceQuantile(sorted []time.Duration, ppm uint64) time.Duration {
	n := uint64(len(sorted))
	rank := (ppm*n + 999_999) / 1_000_000 // ceil(q*n)
	rank = max(rank, 1)
	return sorted[rank-1]
}

func TestHistogramQuantilesMatchSortedSlice(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	distributions := map[string]func() time.Duration{
		"exact-range": func() time.Duration { return time.Duration(rng.IntN(histSubCount)) },
		"log-uniform": func() time.Duration {
			return time.Duration(math.Exp(rng.Float64() * math.Log(float64(10*time.Second))))
		},
		"latency-like": func() time.Duration { // a body around 50µs and a long tail
			d := 30*time.Microsecond + time.Duration(rng.ExpFloat64()*float64(20*time.Microsecond))
			if rng.IntN(1000) == 0 {
				d += time.Duration(rng.Int64N(int64(200 * time.Millisecond)))
			}
			return d
		},
		"few-values": func() time.Duration {
			return []time.Duration{time.Millisecond, 3 * time.Millisecond, time.Second}[rng.IntN(3)]
		},
	}
	for name, gen := range distributions {
		for _, n := range []int{1, 2, 7, 100, 1000, 54321} {
			h := NewHistogram()
			samples := make([]time.Duration, n)
			var sum time.Duration
			for i := range samples {
				samples[i] = gen()
				sum += samples[i]
				h.Record(samples[i])
			}
			slices.Sort(samples)
			if h.Count() != uint64(n) {
				t.Fatalf("%s n=%d: Count = %d", name, n, h.Count())
			}
			if h.Max() != samples[n-1] {
				t.Errorf("%s n=%d: Max = %v, want %v", name, n, h.Max(), samples[n-1])
			}
			if want := sum / time.Duration(n); h.Mean() != want {
				t.Errorf("%s n=%d: Mean = %v, want %v", name, n, h.Mean(), want)
			}
			for _, ppm := range quantilesPPM {
				want := referenceQuantile(samples, ppm)
				got := h.Quantile(float64(ppm) / 1e6)
				if histIndex(uint64(got)) != histIndex(uint64(want)) || got < want || got-want > want/histHalf {
					t.Errorf("%s n=%d q=%g: got %v, sorted slice says %v", name, n, float64(ppm)/1e6, got, want)
				}
			}
		}
	}
}

func TestHistogramBucketsTileTheRange(t *testing.T) {
	prevHi := int64(-1)
	for i := range histBuckets {
		lo, hi := histBounds(i)
		if int64(lo) != prevHi+1 || hi < lo {
			t.Fatalf("bucket %d is [%d, %d], previous ended at %d", i, lo, hi, prevHi)
		}
		if histIndex(lo) != i || histIndex(hi) != i {
			t.Fatalf("bucket %d [%d, %d]: histIndex gives %d and %d", i, lo, hi, histIndex(lo), histIndex(hi))
		}
		if lo >= histSubCount && (hi-lo+1)*histHalf > lo {
			t.Fatalf("bucket %d [%d, %d] is wider than 1/%d of its values", i, lo, hi, histHalf)
		}
		prevHi = int64(hi)
	}
	if prevHi != histMaxValue {
		t.Fatalf("last bucket ends at %d, want %d", prevHi, histMaxValue)
	}
	h := NewHistogram()
	h.Record(-time.Second)
	h.Record(time.Duration(math.MaxInt64))
	if h.Quantile(0) != 0 || h.Max() != histMaxValue {
		t.Fatalf("clamping: min quantile %v, max %v", h.Quantile(0), h.Max())
	}
}

func TestHistogramMergeAndConcurrentRecord(t *testing.T) {
	whole := NewHistogram()
	parts := []*Histogram{NewHistogram(), NewHistogram(), NewHistogram(), NewHistogram()}
	var wg sync.WaitGroup
	var mu sync.Mutex
	for p, part := range parts {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(p), 3))
			for range 20000 {
				d := time.Duration(rng.Int64N(int64(50 * time.Millisecond)))
				part.Record(d)
				mu.Lock()
				whole.Record(d)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	merged := NewHistogram()
	for _, p := range parts {
		merged.Merge(p)
	}
	merged.Merge(NewHistogram())
	if merged.Count() != whole.Count() || merged.Max() != whole.Max() || merged.Mean() != whole.Mean() {
		t.Fatalf("merged count/max/mean %d/%v/%v, recorded %d/%v/%v",
			merged.Count(), merged.Max(), merged.Mean(), whole.Count(), whole.Max(), whole.Mean())
	}
	for _, ppm := range quantilesPPM {
		q := float64(ppm) / 1e6
		if merged.Quantile(q) != whole.Quantile(q) {
			t.Errorf("q=%g: merged %v, recorded %v", q, merged.Quantile(q), whole.Quantile(q))
		}
	}
	if NewHistogram().Quantile(0.5) != 0 {
		t.Error("an empty histogram has no quantiles")
	}
}

func TestValuesAreJSONLikeTextOfTheRequestedSize(t *testing.T) {
	for _, size := range []int{0, 1, 5, 30, 56, 60, 64, 100, 101, 256, 1000, 4096, 65536} {
		g := newValueGen(1, uint64(size))
		var prev []byte
		for i := range 200 {
			v := g.next(size)
			if len(v) != size {
				t.Fatalf("size %d: got %d bytes: %q", size, len(v), v)
			}
			if size == 0 {
				continue
			}
			if v[0] != '{' {
				t.Fatalf("size %d: %q does not start an object", size, v)
			}
			if size >= 60 {
				var m map[string]any
				if err := json.Unmarshal(v, &m); err != nil {
					t.Fatalf("size %d: not JSON (%v): %q", size, err, v)
				}
				if len(m) < 3 || m["host"] == nil || m["port"] == nil || m["ts"] == nil {
					t.Fatalf("size %d: fields %v", size, m)
				}
			}
			if size >= 100 {
				if d := distinctBytes(v); d < 20 {
					t.Fatalf("size %d: only %d distinct bytes: %q", size, d, v)
				}
				if r := longestRun(v); r > 8 {
					t.Fatalf("size %d: a run of %d equal bytes: %q", size, r, v)
				}
				if i > 0 && bytes.Equal(v, prev) {
					t.Fatalf("size %d: two values in a row are equal: %q", size, v)
				}
			}
			prev = append(prev[:0], v...)
		}
	}
}

func TestValuesAreDeterministicAndCompressLikeText(t *testing.T) {
	a, b, c := newValueGen(42, 1), newValueGen(42, 1), newValueGen(42, 2)
	var stream bytes.Buffer
	for range 1000 {
		va := a.next(100)
		if vb := b.next(100); !bytes.Equal(va, vb) {
			t.Fatalf("same seed and stream, different values: %q and %q", va, vb)
		}
		if vc := c.next(100); bytes.Equal(va, vc) {
			t.Fatalf("different streams gave the same value %q", va)
		}
		stream.Write(va)
	}
	// Zeros or a repeated value would shrink to almost nothing; JSON of
	// varied numbers and words keeps a good part of its size.
	var z bytes.Buffer
	w, _ := flate.NewWriter(&z, flate.BestCompression)
	w.Write(stream.Bytes())
	w.Close()
	ratio := float64(z.Len()) / float64(stream.Len())
	if ratio < 0.2 || ratio > 0.9 {
		t.Fatalf("1000 values of 100 bytes deflate to %.0f%% of their size; want realistic text (20%%..90%%)", 100*ratio)
	}
	t.Logf("deflate ratio of the values: %.2f", ratio)
}

func distinctBytes(b []byte) int {
	var seen [256]bool
	n := 0
	for _, c := range b {
		if !seen[c] {
			seen[c] = true
			n++
		}
	}
	return n
}

func longestRun(b []byte) int {
	best, run := 0, 0
	for i := range b {
		if i > 0 && b[i] == b[i-1] {
			run++
		} else {
			run = 1
		}
		best = max(best, run)
	}
	return best
}

// TestPacedSchedule: a paced run's requests are due at evenly spaced
// times from the run's start, shared by all workers, and due never
// returns before the moment it names.
func TestPacedSchedule(t *testing.T) {
	run := &loadRun{cfg: loadConfig{rate: 2000}, paceStart: time.Now()}
	for i := 0; i < 5; i++ {
		at, ok := run.due(context.Background())
		if !ok {
			t.Fatal("due gave up with a live context")
		}
		if want := run.paceStart.Add(time.Duration(i) * 500 * time.Microsecond); !at.Equal(want) {
			t.Errorf("request %d due at %v, want %v", i, at.Sub(run.paceStart), want.Sub(run.paceStart))
		}
		if time.Now().Before(at) {
			t.Errorf("request %d: due returned before its time", i)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	run = &loadRun{cfg: loadConfig{rate: 1}, paceStart: time.Now()}
	run.due(ctx) // the first is due at once
	if _, ok := run.due(ctx); ok {
		t.Error("due waited out a cancelled context")
	}
}

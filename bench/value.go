package main

import (
	"math/rand/v2"
	"strconv"
)

// valueGen makes znode data that looks like what service registries and
// config stores keep in ZooKeeper: small JSON objects of addresses, ports,
// timestamps, ids and words, each different. Realistic text matters: a run
// of zeros would compress to nothing and flatter any measurement of the
// (zstd-compressed) log on disk.
//
// A valueGen is deterministic for its seed and not safe for concurrent use;
// the driver gives each worker its own.
type valueGen struct {
	rng  *rand.Rand
	buf  []byte
	used [numValueFields]int // how often each field name occurs in the value being built
}

func newValueGen(seed, stream uint64) *valueGen {
	return &valueGen{rng: rand.New(rand.NewPCG(seed, stream))}
}

// next returns a value of exactly size bytes. For sizes of about 60 bytes
// and more it is a valid JSON object; smaller values are the start of one.
// The slice is reused by the following call.
func (g *valueGen) next(size int) []byte {
	if size <= 0 {
		return g.buf[:0]
	}
	g.used = [numValueFields]int{}
	b := append(g.buf[:0], '{')
	// Every value starts with an endpoint, as registry entries do.
	for f := range 3 {
		if f > 0 {
			b = append(b, ',')
		}
		b = g.appendField(b, f)
	}
	lastField := -1 // where the last optional field starts
	for {
		mark := len(b)
		b = append(b, ',')
		b = g.appendField(b, 3+g.rng.IntN(len(valueFields)-3))
		if len(b)+1 > size {
			b = b[:mark]
			break
		}
		lastField = mark
	}
	// The gap is closed with a note of words. If it is too small for one,
	// the last optional field (at least as long as an empty note) makes
	// room; only values too short for any optional field get blanks.
	const noteOverhead = len(`,"note":""`)
	if size-len(b)-1 < noteOverhead && lastField >= 0 {
		b = b[:lastField]
	}
	if rest := size - len(b) - 1; rest >= noteOverhead {
		b = append(b, `,"note":"`...)
		b = g.appendWords(b, rest-noteOverhead)
		b = append(b, '"')
	} else {
		for range max(rest, 0) {
			b = append(b, ' ')
		}
	}
	b = append(b, '}')
	if len(b) > size {
		b = b[:size]
	}
	g.buf = b
	return b
}

// valueFields are the fields a value is made of; the first three open every
// value. A field that occurs twice gets a numbered name ("port2").
var valueFields = [numValueFields]struct {
	name   string
	append func(g *valueGen, b []byte) []byte
}{
	{"host", func(g *valueGen, b []byte) []byte {
		b = append(b, '"')
		b = strconv.AppendInt(b, 10, 10)
		for range 3 {
			b = append(b, '.')
			b = strconv.AppendInt(b, int64(g.rng.IntN(256)), 10)
		}
		return append(b, '"')
	}},
	{"port", func(g *valueGen, b []byte) []byte {
		ports := [...]int64{2181, 9092, 8080, 8443, 443, 5432, 6379, 9200, 50051}
		if g.rng.IntN(4) == 0 {
			return strconv.AppendInt(b, 1024+int64(g.rng.IntN(64511)), 10)
		}
		return strconv.AppendInt(b, ports[g.rng.IntN(len(ports))], 10)
	}},
	{"ts", func(g *valueGen, b []byte) []byte {
		return strconv.AppendInt(b, 1_700_000_000_000+g.rng.Int64N(100_000_000_000), 10)
	}},
	{"id", func(g *valueGen, b []byte) []byte {
		b = append(b, '"')
		b = appendHex(b, g.rng.Uint64(), 16)
		return append(b, '"')
	}},
	{"region", func(g *valueGen, b []byte) []byte {
		regions := [...]string{"eu-west-1", "eu-central-1", "us-east-1", "us-west-2", "ap-south-1", "ap-northeast-1"}
		return appendQuoted(b, regions[g.rng.IntN(len(regions))])
	}},
	{"status", func(g *valueGen, b []byte) []byte {
		states := [...]string{"ACTIVE", "ACTIVE", "ACTIVE", "DRAINING", "STARTING", "STANDBY"}
		return appendQuoted(b, states[g.rng.IntN(len(states))])
	}},
	{"version", func(g *valueGen, b []byte) []byte {
		b = append(b, '"')
		b = strconv.AppendInt(b, int64(g.rng.IntN(5)), 10)
		b = append(b, '.')
		b = strconv.AppendInt(b, int64(g.rng.IntN(30)), 10)
		b = append(b, '.')
		b = strconv.AppendInt(b, int64(g.rng.IntN(100)), 10)
		return append(b, '"')
	}},
	{"weight", func(g *valueGen, b []byte) []byte {
		return strconv.AppendInt(b, int64(g.rng.IntN(1000)), 10)
	}},
	{"epoch", func(g *valueGen, b []byte) []byte {
		return strconv.AppendInt(b, int64(g.rng.IntN(100000)), 10)
	}},
	{"owner", func(g *valueGen, b []byte) []byte {
		b = append(b, `"svc-`...)
		b = append(b, valueWords[g.rng.IntN(len(valueWords))]...)
		b = append(b, '-')
		b = strconv.AppendInt(b, int64(g.rng.IntN(100)), 10)
		return append(b, '"')
	}},
	{"leader", func(g *valueGen, b []byte) []byte {
		return strconv.AppendBool(b, g.rng.IntN(3) == 0)
	}},
	{"shard", func(g *valueGen, b []byte) []byte {
		return strconv.AppendInt(b, int64(g.rng.IntN(4096)), 10)
	}},
	{"checksum", func(g *valueGen, b []byte) []byte {
		b = append(b, '"')
		b = appendHex(b, g.rng.Uint64(), 8)
		return append(b, '"')
	}},
	{"tags", func(g *valueGen, b []byte) []byte {
		b = append(b, '[')
		for i := range 1 + g.rng.IntN(3) {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendQuoted(b, valueWords[g.rng.IntN(len(valueWords))])
		}
		return append(b, ']')
	}},
}

const numValueFields = 14

// valueWords fill names, tags and the free-text note.
var valueWords = [...]string{
	"alpha", "beta", "gamma", "delta", "kafka", "broker", "orders", "billing",
	"search", "index", "cache", "queue", "worker", "api", "gateway", "auth",
	"ledger", "payments", "inventory", "shipping", "metrics", "logs", "edge",
	"primary", "replica", "canary", "blue", "green", "batch", "stream", "etl",
	"frontend", "backend", "session", "profile", "catalog", "pricing", "users",
	"notify", "mailer", "scheduler", "cron", "lock", "leader", "config", "feature",
	"flag", "rollout", "zone", "rack", "node", "pod", "cluster", "tenant",
}

func (g *valueGen) appendField(b []byte, f int) []byte {
	g.used[f]++
	b = append(b, '"')
	b = append(b, valueFields[f].name...)
	if n := g.used[f]; n > 1 {
		b = strconv.AppendInt(b, int64(n), 10)
	}
	b = append(b, '"', ':')
	return valueFields[f].append(g, b)
}

// appendWords appends exactly n bytes of space-separated words.
func (g *valueGen) appendWords(b []byte, n int) []byte {
	end := len(b) + n
	for len(b) < end {
		if len(b) > end-n {
			b = append(b, ' ')
			if len(b) == end {
				break
			}
		}
		w := valueWords[g.rng.IntN(len(valueWords))]
		b = append(b, w[:min(len(w), end-len(b))]...)
	}
	return b
}

func appendQuoted(b []byte, s string) []byte {
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

func appendHex(b []byte, v uint64, digits int) []byte {
	const hex = "0123456789abcdef"
	for i := digits - 1; i >= 0; i-- {
		b = append(b, hex[(v>>(4*uint(i)))&0xf])
	}
	return b
}

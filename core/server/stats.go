package server

import (
	"sort"
	"sync/atomic"
	"time"

	"github.com/zkx-project/zkx/core/watch"
	"github.com/zkx-project/zkx/transport/jute"
)

// Stats are the counters behind srvr, stat, mntr and cons.
type Stats struct {
	packetsReceived atomic.Int64
	packetsSent     atomic.Int64
	outstanding     atomic.Int64
	connections     atomic.Int64
	txns            atomic.Int64

	lat latencies
}

// latencies tracks min/avg/max without a lock: every request updates them.
type latencies struct {
	min atomic.Int64 // -1 until the first sample
	max atomic.Int64
	sum atomic.Int64
	n   atomic.Int64
}

func (l *latencies) record(ms int64) {
	l.sum.Add(ms)
	l.n.Add(1)
	for {
		m := l.min.Load()
		if (m >= 0 && m <= ms) || l.min.CompareAndSwap(m, ms) {
			break
		}
	}
	for {
		m := l.max.Load()
		if m >= ms || l.max.CompareAndSwap(m, ms) {
			break
		}
	}
}

func (l *latencies) reset() {
	l.min.Store(-1)
	l.max.Store(0)
	l.sum.Store(0)
	l.n.Store(0)
}

// get returns min (0 before any sample), average and max.
func (l *latencies) get() (min int64, avg float64, max int64) {
	min, max = l.min.Load(), l.max.Load()
	if min < 0 {
		min = 0
	}
	if n := l.n.Load(); n > 0 {
		avg = float64(l.sum.Load()) / float64(n)
	}
	return min, avg, max
}

// Snapshot is a point-in-time view of the server for the four-letter words
// and the admin endpoints.
type Snapshot struct {
	Mode      string
	Zxid      int64
	NodeCount int
	Watches   int // data and child watches (mntr's zk_watch_count)
	// For wchs: data-side watches only, as ZooKeeper reports them.
	DataWatches         int
	WatchedPaths        int
	WatchingConnections int
	EphemeralCount      int
	ApproxDataSize      int64
	Sessions            int
	Connections         int64
	Outstanding         int64
	PacketsReceived     int64
	PacketsSent         int64
	LatencyMin          int64
	LatencyAvg          float64
	LatencyMax          int64
	Txns                int64
	Uptime              time.Duration
	TickTime            time.Duration
	MinSessionTimeout   time.Duration
	MaxSessionTimeout   time.Duration
	ServerID            int64
}

// Snapshot returns the server's current figures.
func (s *Server) Snapshot() Snapshot {
	snap := Snapshot{
		Mode:              s.currentRole().role.String(),
		Sessions:          s.sessions.Len(),
		Connections:       s.stats.connections.Load(),
		Outstanding:       s.stats.outstanding.Load(),
		PacketsReceived:   s.stats.packetsReceived.Load(),
		PacketsSent:       s.stats.packetsSent.Load(),
		Txns:              s.stats.txns.Load(),
		Uptime:            s.cfg.Now().Sub(s.started),
		TickTime:          s.cfg.TickTime,
		MinSessionTimeout: s.cfg.MinSessionTimeout,
		MaxSessionTimeout: s.cfg.MaxSessionTimeout,
		ServerID:          s.cfg.ServerID,
	}
	s.mu.RLock()
	snap.Zxid = s.tree.LastZxid()
	// ZooKeeper's node count includes the root twice (it is in its node
	// map as "" and "/"); monitoring built on ZooKeeper expects that count.
	snap.NodeCount = s.tree.NodeCount() + 1
	snap.EphemeralCount = s.tree.EphemeralCount()
	snap.ApproxDataSize = s.tree.ApproximateDataSize()
	s.mu.RUnlock()
	s.watchMu.Lock()
	snap.WatchingConnections, snap.WatchedPaths, snap.DataWatches = s.watches.Summary()
	snap.Watches = s.watches.Count()
	s.watchMu.Unlock()
	snap.LatencyMin, snap.LatencyAvg, snap.LatencyMax = s.stats.lat.get()
	return snap
}

// ResetStats zeroes the latency and packet counters (srst).
func (s *Server) ResetStats() {
	s.stats.packetsReceived.Store(0)
	s.stats.packetsSent.Store(0)
	s.stats.lat.reset()
}

// ConnInfo describes one connection for cons.
type ConnInfo struct {
	Remote      string
	Session     int64
	Timeout     int32
	Opened      time.Time
	Queued      int
	Received    int64
	Sent        int64
	LastZxid    int64
	LastCxid    int64 // -1 before the first reply
	LastResp    int64 // ms since the epoch
	LastOp      string
	LastLatency int64
	MinLatency  int64
	AvgLatency  int64
	MaxLatency  int64
}

// Connections describes the open client connections.
func (s *Server) Connections() []ConnInfo {
	s.connMu.Lock()
	conns := make([]*Conn, 0, len(s.conns))
	for _, c := range s.conns {
		conns = append(conns, c)
	}
	s.connMu.Unlock()
	out := make([]ConnInfo, 0, len(conns))
	for _, c := range conns {
		c.mu.Lock()
		ci := ConnInfo{Remote: c.remote, Session: c.session.Load(), Timeout: c.timeout, Opened: c.opened, Queued: len(c.queue)}
		c.mu.Unlock()
		ci.Received, ci.Sent, ci.LastZxid = c.received.Load(), c.sent.Load(), c.lastZxid.Load()
		ci.LastCxid, ci.LastResp = c.lastCxid.Load(), c.lastResp.Load()
		ci.LastOp = lastOpName(jute.OpCode(c.lastOp.Load()))
		ci.LastLatency = c.lastLatency.Load()
		var avg float64
		ci.MinLatency, avg, ci.MaxLatency = c.lat.get()
		ci.AvgLatency = int64(avg)
		out = append(out, ci)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Session < out[j].Session })
	return out
}

// WatchesBySession returns each session's watched paths (wchc).
func (s *Server) WatchesBySession() map[int64][]string {
	s.watchMu.Lock()
	byWatcher := s.watches.ByWatcher()
	s.watchMu.Unlock()
	return s.mapWatchers(byWatcher)
}

// WatchesByPath returns each watched path's sessions (wchp).
func (s *Server) WatchesByPath() map[string][]int64 {
	s.watchMu.Lock()
	byPath := s.watches.ByPath()
	s.watchMu.Unlock()
	s.connMu.Lock()
	defer s.connMu.Unlock()
	out := make(map[string][]int64, len(byPath))
	for p, ws := range byPath {
		for _, w := range ws {
			if c := s.conns[w]; c != nil {
				out[p] = append(out[p], c.SessionID())
			}
		}
		sort.Slice(out[p], func(i, j int) bool { return out[p][i] < out[p][j] })
	}
	return out
}

func (s *Server) mapWatchers(in map[watch.WatcherID][]string) map[int64][]string {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	out := make(map[int64][]string, len(in))
	for w, ps := range in {
		if c := s.conns[w]; c != nil {
			out[c.SessionID()] = ps
		}
	}
	return out
}

// EphemeralsBySession returns each session's ephemeral paths (dump).
func (s *Server) EphemeralsBySession() map[int64][]string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make(map[int64][]string)
	for sid := range s.tree.EphemeralSessions() {
		out[sid] = s.tree.Ephemerals(sid)
	}
	return out
}

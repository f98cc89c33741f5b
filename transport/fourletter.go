package transport

import (
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"syscall"

	"github.com/zkx-project/zkx/core/server"
	"github.com/zkx-project/zkx/core/zab"
)

// Version is what zkx reports as its ZooKeeper version: the protocol level
// it implements, then its own name, so clients that parse the version see
// 3.8.
const Version = "3.8.0-zkx-0.1.0, built on 2026-11-22 00:00 UTC"

var fourLetterWords = map[string]bool{
	"ruok": true, "srvr": true, "stat": true, "mntr": true, "conf": true, "cons": true,
	"envi": true, "wchs": true, "wchc": true, "wchp": true, "dump": true, "isro": true,
	"srst": true, "crst": true, "dirs": true, "hash": true,
}

func isFourLetterWord(cmd string) bool { return fourLetterWords[cmd] }

// fourLetter answers a four-letter word and ends the connection.
func (cc *clientConn) fourLetter(cmd string) {
	n := cc.node
	var out string
	if !n.whitelist["*"] && !n.whitelist[cmd] {
		out = cmd + " is not executed because it is not in the whitelist.\n"
	} else {
		out = n.FourLetter(cmd)
	}
	e := cc.Begin()
	e.Reset(append(e.Bytes(), out...))
	cc.End()
	cc.Close()
}

// FourLetter returns the answer to a four-letter word (also used by the
// admin HTTP endpoint).
func (n *Node) FourLetter(cmd string) string {
	core := n.core
	var b strings.Builder
	switch cmd {
	case "ruok":
		return "imok"
	case "isro":
		if core.ReadOnly() {
			return "ro"
		}
		return "rw"
	case "srvr", "stat":
		snap := core.Snapshot()
		if snap.Mode == "looking" {
			// ZooKeeper's answer while it has no quorum.
			return "This ZooKeeper instance is not currently serving requests\n"
		}
		fmt.Fprintf(&b, "Zookeeper version: %s\n", Version)
		if cmd == "stat" {
			b.WriteString("Clients:\n")
			for _, c := range core.Connections() {
				fmt.Fprintf(&b, " /%s[1](queued=%d,recved=%d,sent=%d)\n", c.Remote, c.Queued, c.Received, c.Sent)
			}
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "Latency min/avg/max: %d/%.4f/%d\n", snap.LatencyMin, snap.LatencyAvg, snap.LatencyMax)
		fmt.Fprintf(&b, "Received: %d\n", snap.PacketsReceived)
		fmt.Fprintf(&b, "Sent: %d\n", snap.PacketsSent)
		fmt.Fprintf(&b, "Connections: %d\n", snap.Connections)
		fmt.Fprintf(&b, "Outstanding: %d\n", snap.Outstanding)
		fmt.Fprintf(&b, "Zxid: 0x%x\n", snap.Zxid)
		fmt.Fprintf(&b, "Mode: %s\n", snap.Mode)
		fmt.Fprintf(&b, "Node count: %d\n", snap.NodeCount)
	case "mntr":
		for _, kv := range n.Metrics() {
			fmt.Fprintf(&b, "%s\t%v\n", kv.Key, kv.Value)
		}
	case "conf":
		cfg := core.Config()
		fmt.Fprintf(&b, "clientPort=%s\n", portOf(n.Addr()))
		fmt.Fprintf(&b, "secureClientPort=-1\n")
		fmt.Fprintf(&b, "dataDir=%s\n", n.cfg.DataDir)
		fmt.Fprintf(&b, "dataDirSize=%d\n", dirSize(n.cfg.DataDir))
		fmt.Fprintf(&b, "dataLogDir=%s\n", n.cfg.DataLogDir)
		fmt.Fprintf(&b, "dataLogSize=%d\n", dirSize(n.cfg.DataLogDir))
		fmt.Fprintf(&b, "tickTime=%d\n", cfg.TickTime.Milliseconds())
		fmt.Fprintf(&b, "maxClientCnxns=0\n")
		fmt.Fprintf(&b, "minSessionTimeout=%d\n", cfg.MinSessionTimeout.Milliseconds())
		fmt.Fprintf(&b, "maxSessionTimeout=%d\n", cfg.MaxSessionTimeout.Milliseconds())
		fmt.Fprintf(&b, "clientPortListenBacklog=-1\n")
		fmt.Fprintf(&b, "serverId=%d\n", cfg.ServerID)
	case "cons":
		for _, c := range core.Connections() {
			fmt.Fprintf(&b, " /%s[1](queued=%d,recved=%d,sent=%d", c.Remote, c.Queued, c.Received, c.Sent)
			if c.Session != 0 {
				fmt.Fprintf(&b, ",sid=0x%x,lop=%s,est=%d,to=%d", uint64(c.Session), c.LastOp, c.Opened.UnixMilli(), c.Timeout)
				if c.LastCxid >= 0 {
					fmt.Fprintf(&b, ",lcxid=0x%x", c.LastCxid)
				}
				fmt.Fprintf(&b, ",lzxid=0x%x,lresp=%d,llat=%d,minlat=%d,avglat=%d,maxlat=%d",
					uint64(c.LastZxid), c.LastResp, c.LastLatency, c.MinLatency, c.AvgLatency, c.MaxLatency)
			}
			b.WriteString(")\n")
		}
		b.WriteString("\n")
	case "envi":
		host, _ := os.Hostname()
		wd, _ := os.Getwd()
		b.WriteString("Environment:\n")
		fmt.Fprintf(&b, "zookeeper.version=%s\n", Version)
		fmt.Fprintf(&b, "host.name=%s\n", host)
		fmt.Fprintf(&b, "go.version=%s\n", runtime.Version())
		fmt.Fprintf(&b, "os.name=%s\n", runtime.GOOS)
		fmt.Fprintf(&b, "os.arch=%s\n", runtime.GOARCH)
		fmt.Fprintf(&b, "user.dir=%s\n", wd)
		fmt.Fprintf(&b, "os.procs=%d\n", runtime.NumCPU())
	case "wchs":
		snap := core.Snapshot()
		fmt.Fprintf(&b, "%d connections watching %d paths\nTotal watches:%d\n",
			snap.WatchingConnections, snap.WatchedPaths, snap.DataWatches)
	case "wchc":
		bySession := core.WatchesBySession()
		for _, sid := range sortedKeys(bySession) {
			fmt.Fprintf(&b, "0x%x\n", uint64(sid))
			for _, p := range bySession[sid] {
				fmt.Fprintf(&b, "\t%s\n", p)
			}
		}
		b.WriteString("\n")
	case "wchp":
		byPath := core.WatchesByPath()
		paths := make([]string, 0, len(byPath))
		for p := range byPath {
			paths = append(paths, p)
		}
		sort.Strings(paths)
		for _, p := range paths {
			fmt.Fprintf(&b, "%s\n", p)
			for _, sid := range byPath[p] {
				fmt.Fprintf(&b, "\t0x%x\n", uint64(sid))
			}
		}
		b.WriteString("\n")
	case "dump":
		b.WriteString("SessionTracker dump:\n")
		sessions := core.Sessions()
		fmt.Fprintf(&b, "Session Sets (%d)/(%d):\n", len(sessions), len(sessions))
		for _, s := range sessions {
			fmt.Fprintf(&b, "\t0x%x\ttimeout=%d\n", uint64(s.ID), s.Timeout)
		}
		b.WriteString("ephemeral nodes dump:\n")
		eph := core.EphemeralsBySession()
		fmt.Fprintf(&b, "Sessions with Ephemerals (%d):\n", len(eph))
		for _, sid := range sortedKeys(eph) {
			fmt.Fprintf(&b, "0x%x:\n", uint64(sid))
			for _, p := range eph[sid] {
				fmt.Fprintf(&b, "\t%s\n", p)
			}
		}
		b.WriteString("Connections dump:\n")
		for _, c := range core.Connections() {
			fmt.Fprintf(&b, "\t/%s\tsession=0x%x\n", c.Remote, uint64(c.Session))
		}
	case "srst":
		core.ResetStats()
		return "Server stats reset.\n"
	case "crst":
		return "Connection stats reset.\n"
	case "dirs":
		fmt.Fprintf(&b, "datadir_size: %d\nlogdir_size: %d\n", dirSize(n.cfg.DataDir), dirSize(n.cfg.DataLogDir))
	case "hash":
		// ZooKeeper prints its digest history, one "zxid: digest" line
		// each; zkx keeps no history, so this is the current one, the sum
		// a snapshot records (so a replay of the log can be checked
		// against a live tree).
		zxid, digest := core.Digest()
		fmt.Fprintf(&b, "%x: %d\n", uint64(zxid), digest)
	default:
		return "Unknown command: " + cmd + "\n"
	}
	return b.String()
}

// Metric is one mntr line.
type Metric struct {
	Key   string
	Value any
}

// Metrics returns the mntr figures, ZooKeeper's names first.
func (n *Node) Metrics() []Metric {
	snap := n.core.Snapshot()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fds, maxFDs := fileDescriptors()
	ms2 := []Metric{
		{"zk_version", Version},
		{"zk_server_state", snap.Mode},
		{"zk_avg_latency", fmt.Sprintf("%.4f", snap.LatencyAvg)},
		{"zk_max_latency", snap.LatencyMax},
		{"zk_min_latency", snap.LatencyMin},
		{"zk_packets_received", snap.PacketsReceived},
		{"zk_packets_sent", snap.PacketsSent},
		{"zk_num_alive_connections", snap.Connections},
		{"zk_outstanding_requests", snap.Outstanding},
		{"zk_znode_count", snap.NodeCount},
		{"zk_watch_count", snap.Watches},
		{"zk_ephemerals_count", snap.EphemeralCount},
		{"zk_approximate_data_size", snap.ApproxDataSize},
		{"zk_open_file_descriptor_count", fds},
		{"zk_max_file_descriptor_count", maxFDs},
		{"zk_global_sessions", snap.Sessions},
		{"zk_last_zxid", fmt.Sprintf("0x%x", snap.Zxid)},
		{"zk_txn_count", snap.Txns},
		{"zk_uptime", snap.Uptime.Milliseconds()},
		{"zkx_heap_inuse_bytes", ms.HeapInuse},
		{"zkx_goroutines", runtime.NumGoroutine()},
	}
	if n.cfg.WAL != nil {
		st := n.cfg.WAL.Stats()
		ms2 = append(ms2,
			Metric{"zkx_log_appends", st.Appends},
			Metric{"zkx_log_txns", st.Txns},
			Metric{"zkx_log_bytes", st.Bytes},
			Metric{"zkx_log_raw_bytes", st.RawBytes},
			Metric{"zkx_log_fsyncs", st.Syncs},
			Metric{"zkx_log_fsync_avg_us", st.AvgSync.Microseconds()},
			Metric{"zkx_log_fsync_max_us", st.MaxSync.Microseconds()},
		)
	}
	if len(n.core.Config().Runtimes) > 0 {
		ms2 = append(ms2, Metric{"zkx_recipe_parked", n.core.ParkedCalls()})
	}
	if st, ok := n.EnsembleStatus(); ok {
		// ZooKeeper's "following - broadcast" (its ServerState and ZabState).
		state := map[zab.Role]string{zab.Looking: "looking", zab.Following: "following",
			zab.Leading: "leading", zab.Observing: "observing"}[st.Role]
		ms2 = append(ms2, Metric{"zk_peer_state", state + " - " + st.Phase.String()})
		if st.Role == zab.Leading {
			// Only the leader reports these, as in ZooKeeper.
			ms2 = append(ms2,
				Metric{"zk_learners", st.Followers},
				Metric{"zk_followers", st.Followers},
				Metric{"zk_synced_followers", st.SyncedFollowers},
				Metric{"zk_pending_syncs", st.PendingSyncs},
			)
		}
		ms2 = append(ms2, Metric{"zkx_epoch", st.Epoch}, Metric{"zkx_leader", st.Leader},
			Metric{"zkx_committed_zxid", fmt.Sprintf("0x%x", st.Committed)})
	}
	return ms2
}

func portOf(addr string) string {
	if i := strings.LastIndexByte(addr, ':'); i >= 0 {
		return addr[i+1:]
	}
	return addr
}

func dirSize(dir string) int64 {
	if dir == "" {
		return 0
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	var total int64
	for _, e := range entries {
		if info, err := e.Info(); err == nil && !info.IsDir() {
			total += info.Size()
		}
	}
	return total
}

func fileDescriptors() (open, max int) {
	entries, err := os.ReadDir("/proc/self/fd")
	if err == nil {
		open = len(entries)
	}
	return open, maxOpenFiles()
}

func maxOpenFiles() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0
	}
	return int(rl.Cur)
}

var _ server.Sink = (*clientConn)(nil)

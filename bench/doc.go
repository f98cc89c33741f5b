// Command bench measures zkx and Apache ZooKeeper 3.8 side by side: the same
// Go client (transport/client), the same workload driver, the same machine,
// one run. Numbers from full runs go in bench/RESULTS.md; nothing here is
// asserted in tests.
//
//	go run ./bench <subcommand> [flags]     (from the repository root)
//
// # load
//
// load drives one workload against servers that are already running
// (--servers host:port[,...]). It opens --conns connections, one
// client.Client (session) each, and runs --outstanding goroutines per
// connection, each making one synchronous request at a time; the client
// pipelines the requests of its goroutines on the connection, so each
// connection has up to --outstanding requests in flight. --sync-client is
// one connection with one request in flight: single-client latency.
//
// The workload first sets up its nodes, runs for --warmup (not counted; it
// also warms ZooKeeper's JIT), then for --duration. A request counts if it
// starts inside the measured window; ops/s is those requests divided by the
// window. Each successful request's latency (from the call to its return, so
// client time included) goes into a histogram per connection and request
// kind; failed requests are counted as errors, grouped by request and code,
// and not in the latencies. load prints ops/s and mean, p50, p90, p99,
// p99.9 and max latency per request kind.
//
// Workloads (the registry is workloads in workload.go):
//
//   - read: getData of nodes /bench/keys/kNNNNNNN, chosen uniformly among
//     --keys (default 1000), created at setup with --value-size bytes.
//   - write: setData (version -1) of those nodes, a fresh value each time.
//   - create: create+delete pairs. Each goroutine creates a node of its own
//     under /bench/create (persistent, not sequential), then deletes it, and
//     so on. Creates and deletes are both ops and are reported apart. The
//     tree keeps its size, so a long run measures the same server as a
//     short one, which sequential creates would not.
//   - mixed: 90% getData / 10% setData of the --keys nodes.
//
// Values are JSON-like text from a seeded PRNG
// ({"host":"10.3.86.242","port":9092,"ts":1715435090998,...,"note":"..."}),
// exactly --value-size bytes, different for every write: what registries
// and config stores keep, and what the compressed log later has to store.
//
// # compare
//
// compare starts Apache ZooKeeper and then zkx, each fresh on a free
// loopback port with its own temporary run directory, runs the same
// workloads (--workloads read,mixed,...; the load flags apply), in the
// order given, against one instance of the one and then of the other with
// the same driver, stops each (SIGTERM), and prints
// a markdown table: workload, server, ops/s, p50, p99, p99.9, errors, and on
// the zkx row the ratios zkx/ZooKeeper of ops/s and of p99. Per-run details
// go to stderr. --zk-only and --zkx-only run one side.
//
// ZooKeeper runs as zkServer.sh start-foreground would run it from
// Debian's package (QuorumPeerMain, the zookeeper.jar classpath, local JMX,
// the OutOfMemoryError flags) with upstream zkEnv.sh's heap, -Xmx1000m
// (--zk-heap; Debian's zkEnv.sh sets no heap at all). Its zoo.cfg keeps
// ZooKeeper's defaults (tickTime=2000, forceSync=yes, snapCount=100000,
// the NIO server) except admin.enableServer=false, clientPortAddress=127.0.0.1,
// maxClientCnxns=0 (the default of 60 per address would refuse more
// than 60 connections from the driver) and 4lw.commands.whitelist=*
// (mntr, for instance). slf4j-simple is put on the
// classpath so that ZooKeeper logs at INFO to the run directory; with
// Debian's classpath alone it logs nothing.
//
// zkx is built from this checkout with go build ./cmd/zkx (or --zkx-bin)
// and runs as zkx server --listen 127.0.0.1:PORT --data-dir DIR --admin off.
// --zkx-arg passes more arguments (--zkx-arg=--cpuprofile=FILE) and
// --zk-jvm-flag more JVM flags. --server-cpus pins the servers with taskset.
// --no-fsync puts forceSync=no in every server's zoo.cfg (zkx then also
// gets --config zoo.cfg): nothing is fsynced, which measures what the
// machine allows without the disk's flush, a ceiling for the durable
// figures rather than a comparison.
//
// Each server is ready when "srvr" answers with a "Mode:" line. Servers run
// in their own process group, so a ^C reaches only the harness, which then
// stops them and removes their run directories (--keep-data keeps them); if
// the harness is killed, the kernel kills them (PR_SET_PDEATHSIG).
//
// # memory
//
// memory starts each server fresh, reads its memory, and creates --nodes
// znodes (default 1,000,000) of --value-size bytes (default 100) in a tree
// /bench/pNNN/nNNNNNN with --fanout (1000) children per parent, using
// --conns connections with --outstanding creates in flight on each. The
// load time runs from the first create to the last reply. It then closes
// the connections and samples /proc/<pid>/status every second until VmRSS
// has made no new low for --settle (5s) (garbage collectors give memory
// back gradually), and prints VmRSS idle, right after the load and settled,
// VmHWM (peak), load time and creates/s, with a zkx/ZooKeeper ratio row.
// Nothing forces a collection; --jcmd-gc additionally runs jcmd <pid>
// GC.run on ZooKeeper and reports RSS after it in an extra column.
//
// # disk
//
// disk starts each server fresh, sets up the write workload (--keys nodes
// of --value-size bytes), reads the server's txn log, makes exactly --txns
// setData requests (a counted run of the load driver: --conns connections
// with --outstanding requests in flight, no warmup), and reads the log
// again while the sessions are still open, so that only those txns fall in
// between. It prints, per server, the txns acknowledged, how far srvr's
// Zxid advanced and how many txns the log gained (all three must agree;
// the run fails if a request failed or the zxid advanced less), the bytes
// the log's records grew by and that divided by the txns, the log files'
// total size and the disk blocks allocated to them, and the snapshots; a
// zkx/ZK row has the ratios.
//
// Both servers preallocate their logs, so file sizes mean little; what
// counts is the bytes up to the end of the data. ZooKeeper's log files
// (dataDir/version-2/log.<zxid>) are read by scanZKLog (logfiles.go), which
// walks FileTxnLog's format (a 16-byte header, then checksum, length, txn
// and 0x42 per record) to the first record of length 0 and checks every
// record's Adler-32; zkx's segments by wal.InspectDir, which verifies
// them as recovery does. zkx writes one record per batch of txns it
// commits together, so its bytes per txn depend on the concurrency;
// --conns 1 --outstanding 1 is its worst case.
//
// # restart
//
// restart populates each server as memory does (--nodes znodes of
// --value-size bytes under /bench/pNNN/nNNNNNN), stops it with SIGTERM and
// starts it again on the same data directory, on a new free port; it then
// measures, from the moment the process was started, when srvr first
// answers (ZooKeeper answers "not currently serving" while it loads), when
// srvr answers with a Mode line, and when a new session first reads the
// last leaf with getData. Probes start every --probe-interval, each limited
// to --probe-timeout, without waiting for the ones before (a connection
// accepted mid-load may hang rather than fail); the node count after the
// restart must equal the one before. It also prints what each server
// logged about loading its data (ZooKeeper: the snapshot read, txns
// replayed, load time and the snapshot it takes before serving; zkx: the
// "recovered" line) and, after populating, the size of each server's log
// and snapshots.
//
// The two phases come apart: --populate-only populates, stops, keeps the
// run directories and prints them; --zk-dir and --zkx-dir restart such a
// directory (--restarts times) instead of populating one. The populate
// phase leaves bench-tree.json in the run directory to say what it holds.
// Repeated restarts do not see the same files: ZooKeeper writes a full
// snapshot at every start before it serves, so from the second restart on
// it loads that and replays almost nothing, and zkx starts a new log
// segment after every recovery.
//
// # ensemble
//
// ensemble starts a fresh --nodes member ensemble (3) of ZooKeeper and then
// of zkx on loopback, each member its own process with its own run
// directory (server.N/zoo.cfg, server.N/data/myid, server.N/server.log):
// zoo.cfg as compare's plus 4lw.commands.whitelist=* and the server.N=
// 127.0.0.1:QUORUM:ELECTION lines, fsync on; ZooKeeper runs as
// QuorumPeerMain zoo.cfg, zkx as zkx server --config zoo.cfg. It is ready
// when exactly one member answers srvr with Mode: leader and every other
// with Mode: follower (a member without a quorum answers "This ZooKeeper
// instance is not currently serving requests"); a member that exits first
// makes it try new ports, up to three times, and one that does not come
// up within --start-timeout ends that server's measurements with every
// member's log tail. On it, in this order:
//
//   - throughput and latency: the load driver with the workloads of
//     --workloads (write,read) and --outstanding 4, connection i on member
//     i mod N alone (loadConfig.spread), compare's table;
//   - lock handoffs: recipes' measurement (runLockContention) with
//     --contenders sessions, session i on member i mod N;
//   - failover, --kills times: a writer with a session on the non-leader
//     members makes one setData after another; after 20 acknowledged
//     writes the leader gets SIGKILL, and the time runs to the
//     acknowledgment of the first write sent after the kill (one sent
//     before may have been committed by the old leader). A write that
//     fails ends the session and the writer opens a new one at once,
//     every 5ms, so the client's reconnection backoff (up to a second)
//     does not blur the time. The killed member is then restarted on its
//     data and the next kill waits until every member serves again. It
//     runs last because a restarted ZooKeeper member has a cold JIT.
//
// If one server's ensemble fails, the report still has what the other
// measured, names the failure, and the command exits with status 1.
//
// # Extending
//
// The pieces are small so that later measurements reuse them: a workload is
// a setup and a step (workload.go), run for a time or, with loadConfig.ops,
// a count; a subcommand is an entry in subcommands (main.go); a server kind
// knows how to check and run one server or one ensemble member (zooCfg
// writes both configurations), measure its log and snapshots on disk and
// read its startup log (servers.go, logfiles.go); launchServer,
// server.start, server.stopProcess, launchEnsemble, ensemble.waitServing,
// process.stop, process.kill, freeLoopbackAddr, freeLoopbackPorts,
// waitServing, fourLetter, readProcStatus and waitRSSSettled (servers.go,
// ensemble.go, proc.go) start, wait for, stop and measure servers;
// Histogram (histogram.go) records latencies.
package main

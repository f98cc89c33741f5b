// Package clustertest runs ensembles of real server processes, Apache
// ZooKeeper 3.8 or zkx, on loopback for tests, breaks them (kill -9,
// partitions), and checks a workload's history for linearizability with
// porcupine.
//
// # What a test does
//
//  1. New(t, Options{Kind, Servers, Observers}) picks free ports, writes each
//     node's zoo.cfg and myid under t.TempDir(), and starts a TCP proxy for
//     every ordered pair of nodes and each of the two peer ports.
//  2. StartAll, then WaitHealthy(deadline). A server that runs
//     standalone despite its server.N lines fails it with
//     ErrEnsembleUnsupported, a clear message rather than a timeout.
//  3. Break and mend the cluster from any goroutine: KillNine, Start,
//     Restart, Partition, Isolate, Heal; ask it with Leader, Status,
//     WaitHealthy, WaitConverged. Or call RunRegister, which runs a register
//     workload under a seeded random nemesis and checks the history.
//  4. Nothing to clean up: when the test ends every process is killed (and
//     the kernel kills them if the test binary dies first). If the test
//     failed, the tail of each server's log is printed and the logs are
//     kept in KeepDir.
//
// A test binary that uses Kind Zkx builds cmd/zkx once (ZkxBinary; $ZKX_BIN
// names a binary to use instead) and should call RemoveZkxBinary from
// TestMain.
//
// # Peer links
//
// Node i's zoo.cfg lists itself at its real quorum and election addresses
// and every other node j at the addresses of the proxies i->j, so every
// connection i opens to a peer crosses a proxy of its own. Partition blocks
// the proxies between groups both ways: their open connections are closed
// and new ones accepted and closed at once, so the servers see connections
// fail fast rather than hang. The address lists differ between nodes;
// servers identify each other by server id, as ZooKeeper does.
//
// # What the harness expects of the zkx binary
//
// The same as of ZooKeeper: started as "zkx server --config zoo.cfg" with
// tickTime, initLimit, syncLimit, dataDir, clientPort, clientPortAddress,
// maxSessionTimeout, 4lw.commands.whitelist=*, admin.enableServer=false,
// autopurge.purgeInterval=0, one server.N=127.0.0.1:quorumPort:electionPort
// line per node (":observer" appended for observers, and peerType=observer
// in an observer's own file), and the node's id in dataDir/myid, it binds
// its own quorum and election ports, talks to its peers only at the
// addresses its own file gives, and answers the srvr four-letter word on
// the client port with "Zxid: 0x..." and "Mode: leader", "follower" or
// "observer" once it serves in the ensemble (and never "Mode: standalone",
// which the harness takes to mean ensembles are not supported). A node
// that is not part of a working quorum must not report leader or follower.
// A binary that cannot run an ensemble may instead exit with a message
// matching "ensemble|quorum|replication ... not (yet) supported /
// unsupported / not (yet) implemented". Standalone, the harness runs "zkx
// server --listen 127.0.0.1:PORT --data-dir DIR --admin off --tick-time
// 200ms" and expects "Mode: standalone".
package clustertest

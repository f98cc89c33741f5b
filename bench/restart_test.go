package main

import (
	"context"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/zkx-project/zkx/transport/zkxtest"
)

// Lines as ZooKeeper 3.8.0 (Debian, slf4j-simple) and cmd/zkx log them.
const (
	zookeeperStartupLog = `=== bench: ZooKeeper at 2026-11-22T03:22:48.557026217Z: /usr/bin/java ...
74 [main] INFO org.apache.zookeeper.server.NIOServerCnxnFactory - binding to port /127.0.0.1:33679
106 [main] INFO org.apache.zookeeper.server.persistence.FileSnap - Reading snapshot /tmp/zkx-bench-zookeeper-1/data/version-2/snapshot.0
1130 [main] INFO org.apache.zookeeper.server.persistence.FileTxnSnapLog - 50059 txns loaded in 1015 ms
1130 [main] INFO org.apache.zookeeper.server.ZKDatabase - Snapshot loaded in 1029 ms, highest zxid is 0xc38b, digest is 107310010879509
1134 [main] INFO org.apache.zookeeper.server.persistence.FileTxnSnapLog - Snapshotting: 0xc38b to /tmp/zkx-bench-zookeeper-1/data/version-2/snapshot.c38b
1290 [main] INFO org.apache.zookeeper.server.ZooKeeperServer - Snapshot taken in 157 ms
`
	zkxStartupLog = `=== bench: zkx at 2026-11-22T03:22:53.3Z: /tmp/zkx-bench-bin-1/zkx server ...
time=2026-11-22T03:22:53.584Z level=INFO msg=recovered snapshot=/tmp/zkx-bench-zkx-1/data/snap-000000000000c38b.snap txns-replayed=59 last-zxid=0xc3c6 nodes=50055 sessions=0 took=274ms
`
)

func TestRecoveryNotes(t *testing.T) {
	got := zookeeperRecoveryNotes(zookeeperStartupLog)
	want := []string{"snapshot snapshot.0", "50059 txns replayed in 1015 ms",
		"database loaded in 1029 ms (zxid 0xc38b)", "snapshot taken before serving in 157 ms"}
	if !slices.Equal(got, want) {
		t.Errorf("ZooKeeper notes:\n got %q\nwant %q", got, want)
	}
	got = zkxRecoveryNotes(zkxStartupLog)
	want = []string{"snapshot snap-000000000000c38b.snap", "59 txns replayed", "recovered in 274ms"}
	if !slices.Equal(got, want) {
		t.Errorf("zkx notes:\n got %q\nwant %q", got, want)
	}
	// No snapshot yet: slog writes an empty value as "".
	got = zkxRecoveryNotes(`time=x level=INFO msg=recovered snapshot="" txns-replayed=0 last-zxid=0x0 nodes=4 sessions=0 took=0s` + "\n")
	if want := []string{"0 txns replayed", "recovered in 0s"}; !slices.Equal(got, want) {
		t.Errorf("zkx notes without a snapshot: got %q, want %q", got, want)
	}
	if n := zookeeperRecoveryNotes("nothing here"); n != nil {
		t.Errorf("notes from an unrelated log: %q", n)
	}
}

// A counted run makes exactly the requests asked for, and zkx's log holds
// exactly those txns: what disk relies on.
func TestCountedWriteRunLogsEveryTxn(t *testing.T) {
	dataDir := t.TempDir()
	node := zkxtest.Start(t, zkxtest.Options{DataDir: dataDir})
	wl, err := lookupWorkload("write")
	if err != nil {
		t.Fatal(err)
	}
	lf := loadFlags{conns: 2, outstanding: 4, valueSize: 100, keys: 50, seed: 1, drain: 10 * time.Second, ops: 777}
	cfg, err := lf.config([]string{node.Addr()}, wl)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	run, err := startLoad(ctx, cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer run.close()
	before, err := zkxLogUsage(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	res, err := run.drive(ctx, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if res.all.Count() != 777 || res.errors != 0 || res.overran() {
		t.Fatalf("counted run: %d requests, %d errors, overran %v; want 777, 0, false", res.all.Count(), res.errors, res.overran())
	}
	after, err := zkxLogUsage(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	if d := after.sub(before); d.txns != 777 || d.used < 777*10 {
		t.Fatalf("the log grew by %d txns and %d bytes for 777 setData requests", d.txns, d.used)
	}
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zkx-project/zkx/core/tree"
	"github.com/zkx-project/zkx/transport"
	"github.com/zkx-project/zkx/transport/client"
	"github.com/zkx-project/zkx/transport/zkxtest"
	"github.com/zkx-project/zkx/wal"
)

// dataNode is a node on a data directory of the test's, with a client.
type dataNode struct {
	t    *testing.T
	dir  string
	node *transport.Node
	zk   *client.Client
}

// startDataNode starts a node on dir (a new directory if "") with a
// client connected to it.
func startDataNode(t *testing.T, dir string) *dataNode {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	node := zkxtest.Start(t, zkxtest.Options{DataDir: dir, Sync: true})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	zk, err := client.Connect(ctx, []string{node.Addr()})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	return &dataNode{t: t, dir: dir, node: node, zk: zk}
}

func (d *dataNode) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	d.t.Cleanup(cancel)
	return ctx
}

func (d *dataNode) create(path, data string, mode client.CreateMode) string {
	d.t.Helper()
	p, err := d.zk.Create(d.ctx(), path, []byte(data), mode, client.WorldACL(client.PermAll))
	if err != nil {
		d.t.Fatalf("create %s: %v", path, err)
	}
	return p
}

// stop closes the client (ending its session) and stops the node.
func (d *dataNode) stop() {
	d.zk.Close()
	d.node.Stop()
}

// zkxData runs a data directory command, which needs no server.
func zkxData(args ...string) result { return zkxRun(args...) }

// segments returns the log segments in dir, oldest first.
func segments(t *testing.T, dir string) []string {
	t.Helper()
	segs, err := filepath.Glob(filepath.Join(dir, "log-*.wal"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(segs)
	return segs
}

var (
	txnLine     = regexp.MustCompile(`^zxid=0x([0-9a-f]+) session=0x[0-9a-f]+ cxid=-?\d+ time=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (\w+)( .*)?$`)
	segmentLine = regexp.MustCompile(`^(log-[0-9a-f]{16}\.wal) +0x([0-9a-f]+) +(\d+) +(\d+) +(\d+) +(\d+) +(ok|DAMAGED at offset \d+)$`)
)

func TestWALDump(t *testing.T) {
	d := startDataNode(t, "")
	d.create("/app", "hello", client.Persistent)
	d.create("/app/q-", "", client.PersistentSequential)
	if _, err := d.zk.Set(d.ctx(), "/app", []byte("hello again"), -1); err != nil {
		t.Fatal(err)
	}
	if _, err := d.zk.Multi(d.ctx(),
		client.CreateOp("/app/pair-a", []byte("a"), client.Persistent, client.WorldACL(client.PermAll)),
		client.CreateOp("/app/pair-b", nil, client.Persistent, client.WorldACL(client.PermAll))); err != nil {
		t.Fatal(err)
	}
	// A session that ends with an ephemeral: its closeSession deletes it.
	other, err := client.Connect(d.ctx(), []string{d.node.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Create(d.ctx(), "/app/eph", nil, client.Ephemeral, client.WorldACL(client.PermAll)); err != nil {
		t.Fatal(err)
	}
	other.Close()
	if _, err := d.zk.Create(d.ctx(), "/app", nil, client.Persistent, client.WorldACL(client.PermAll)); err == nil {
		t.Fatal("a second create of /app succeeded")
	}
	d.zk.Close()
	lastZxid := d.node.Core().LastZxid()
	d.node.Stop()

	r := zkxData("wal", "dump", d.dir)
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("wal dump: exit %d, stderr %q", r.code, r.stderr)
	}
	txns, table, ok := strings.Cut(r.stdout, "\n\n")
	if !ok {
		t.Fatalf("wal dump: no blank line between the txns and the table:\n%s", r.stdout)
	}
	lines := strings.Split(txns, "\n")
	var zxids []int64
	for _, l := range lines {
		if strings.HasPrefix(l, "    ") {
			continue
		}
		m := txnLine.FindStringSubmatch(l)
		if m == nil {
			t.Errorf("wal dump: txn line %q is not zxid, session, cxid, time, type", l)
			continue
		}
		z, _ := strconv.ParseInt(m[1], 16, 64)
		zxids = append(zxids, z)
	}
	for i, z := range zxids {
		if z != int64(i+1) {
			t.Fatalf("wal dump: txn %d has zxid %#x; want every zxid from 0x1 in order: %v", i, z, zxids)
		}
	}
	if int64(len(zxids)) != lastZxid {
		t.Errorf("wal dump printed %d txns, the node's last zxid was %#x", len(zxids), lastZxid)
	}
	// What each kind of txn shows, and what follows a multi and a
	// closeSession on indented lines.
	want := []string{
		`create /app data=5B acl=1 parentCversion=\d+`,
		`create /app/q-0000000000 data=0B acl=1 parentCversion=\d+`,
		`setData /app data=11B version=1`,
		`multi ops=2`,
		`create /app/eph data=null acl=1 ephemeral=0x[0-9a-f]+ parentCversion=\d+`,
		`closeSession ephemerals=1`,
		`error NodeExists \(-110\)`,
		`createSession timeout=\d+ms owner=\d+`,
	}
	for _, w := range want {
		re := regexp.MustCompile(` ` + w + `$`)
		i := slices.IndexFunc(lines, re.MatchString)
		if i < 0 {
			t.Errorf("wal dump: no txn line ends in %q:\n%s", w, txns)
			continue
		}
		switch {
		case strings.HasPrefix(w, "multi"):
			if got := strings.Join(lines[i+1:min(i+3, len(lines))], "\n"); !regexp.MustCompile(
				`^    create /app/pair-a data=1B acl=1 parentCversion=\d+\n    create /app/pair-b data=null acl=1 parentCversion=\d+$`).MatchString(got) {
				t.Errorf("wal dump: the multi's ops are shown as %q", got)
			}
		case strings.HasPrefix(w, "closeSession"):
			if i+1 >= len(lines) || lines[i+1] != "    delete /app/eph" {
				t.Errorf("wal dump: the closeSession is followed by %q, want its delete", lines[i+1:])
			}
		}
	}

	// The table: one line per segment, adding up to the txns printed.
	tableLines := strings.Split(strings.TrimSuffix(table, "\n"), "\n")
	if !regexp.MustCompile(`^segment +first-zxid +records +txns +used-bytes +file-bytes +status$`).MatchString(tableLines[0]) {
		t.Errorf("wal dump: table header %q", tableLines[0])
	}
	segs := segments(t, d.dir)
	if len(tableLines)-1 != len(segs) {
		t.Fatalf("wal dump: %d table lines for %d segments:\n%s", len(tableLines)-1, len(segs), table)
	}
	total := 0
	for i, l := range tableLines[1:] {
		m := segmentLine.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("wal dump: table line %q", l)
		}
		st, err := os.Stat(segs[i])
		if err != nil {
			t.Fatal(err)
		}
		txns, _ := strconv.Atoi(m[4])
		used, _ := strconv.ParseInt(m[5], 10, 64)
		size, _ := strconv.ParseInt(m[6], 10, 64)
		total += txns
		if m[1] != filepath.Base(segs[i]) || m[7] != "ok" || size != st.Size() || used > size || used <= 28 {
			t.Errorf("wal dump: table line %q for %s of %d bytes", l, segs[i], st.Size())
		}
	}
	if total != len(zxids) {
		t.Errorf("wal dump: the table counts %d txns, %d were printed", total, len(zxids))
	}

	r = zkxData("wal", "dump", "--summary", d.dir)
	if r.code != 0 || r.stdout != table {
		t.Errorf("wal dump --summary: exit %d, stdout %q, want only the table %q", r.code, r.stdout, table)
	}
	if r := zkxData("wal", "dump", d.dir, "--summary"); r.code != 0 || r.stdout != table {
		t.Errorf("wal dump DIR --summary: exit %d, stdout %q", r.code, r.stdout)
	}

	checkFails(t, zkxData("wal", "dump", filepath.Join(d.dir, "nope")), 1, "zkx wal dump: open ...", nil)
	checkFails(t, zkxData("wal", "dump", t.TempDir()), 1, "zkx wal dump: no log segments (log-*.wal) in ...", nil)
	checkFails(t, zkxData("wal", "dump"), 2, "zkx wal dump: missing arguments\nUsage: zkx wal dump [--summary] DIR\nRun 'zkx wal dump --help' for details.\n", nil)
	checkFails(t, zkxData("wal", "list", d.dir), 2, "zkx wal: unknown command \"list\"\nUsage: zkx wal dump [--summary] DIR\nRun 'zkx wal --help' for details.\n", nil)
}

// TestWALDumpDamage flips a byte in the middle of a segment: wal dump
// names the file and the offset of the damaged record, as the server's
// recovery does, and fails.
func TestWALDumpDamage(t *testing.T) {
	d := startDataNode(t, "")
	for i := 0; i < 50; i++ {
		d.create("/n"+strconv.Itoa(i), strings.Repeat("x", i), client.Persistent)
	}
	d.stop()
	segs := segments(t, d.dir)
	seg := segs[len(segs)-1]
	b, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	mid := len(b) / 2
	b[mid] ^= 0x40
	if err := os.WriteFile(seg, b, 0o644); err != nil {
		t.Fatal(err)
	}

	r := zkxData("wal", "dump", d.dir)
	m := regexp.MustCompile(`^wal: corruption in (.+) at offset (\d+): .+\n$`).FindStringSubmatch(r.stderr)
	if r.code != 1 || m == nil {
		t.Fatalf("wal dump of a damaged segment: exit %d, stderr %q", r.code, r.stderr)
	}
	off, _ := strconv.Atoi(m[2])
	if m[1] != seg || off <= 28 || off > mid {
		t.Errorf("wal dump: damage reported in %s at offset %d; the byte flipped is in %s at %d", m[1], off, seg, mid)
	}
	if !strings.Contains(r.stdout, " DAMAGED at offset "+m[2]+"\n") {
		t.Errorf("wal dump: the table does not show the damage:\n%s", r.stdout)
	}
	// The txns before the damage were printed; the ones after it were not.
	if !strings.Contains(r.stdout, " create /n0 ") || strings.Contains(r.stdout, " create /n49 ") {
		t.Errorf("wal dump of a damaged segment printed:\n%s", r.stdout)
	}

	// The server refuses the directory at the same place.
	_, err = transport.Recover(d.dir, wal.Options{NoSync: true})
	var ce *wal.CorruptionError
	if !errors.As(err, &ce) || ce.File != seg || ce.Offset != int64(off) {
		t.Errorf("recovery: %v; wal dump said %s at %d", err, seg, off)
	}
	if r := zkxData("wal", "dump", "--summary", d.dir); r.code != 1 || r.stderr != m[0] {
		t.Errorf("wal dump --summary of a damaged segment: exit %d, stderr %q", r.code, r.stderr)
	}
}

// snapshotFields parses snapshot dump's "name: value" lines.
func snapshotFields(t *testing.T, out string) map[string]string {
	t.Helper()
	head, _, _ := strings.Cut(out, "\n\n")
	f := map[string]string{}
	for _, l := range strings.Split(strings.TrimSuffix(head, "\n"), "\n") {
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			t.Fatalf("snapshot dump: line %q is not name: value", l)
		}
		f[k] = strings.TrimSpace(v)
	}
	return f
}

func TestSnapshotDump(t *testing.T) {
	d := startDataNode(t, "")
	d.create("/app", "hello", client.Persistent)
	d.create("/app/a", "", client.Persistent)
	if _, err := d.zk.Create(d.ctx(), "/private", []byte("secret"), client.Persistent, client.DigestACL(client.PermAll, "bob", "pw")); err != nil {
		t.Fatal(err)
	}
	info, err := d.node.TakeSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	zxid, digest := d.node.Core().Digest()
	d.stop()
	if info.Zxid != zxid {
		t.Fatalf("the snapshot starts at %#x, the node was at %#x", info.Zxid, zxid)
	}
	file := filepath.Join(d.dir, info.File)
	st, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}

	r := zkxData("snapshot", "dump", file)
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("snapshot dump: exit %d, stderr %q, stdout %q", r.code, r.stderr, r.stdout)
	}
	f := snapshotFields(t, r.stdout)
	// 4 system nodes, /app, /app/a, /private; the test's session; the
	// system ACLs (open, read-only) and bob's.
	want := map[string]string{
		"file":      file,
		"size":      strconv.FormatInt(st.Size(), 10) + " bytes",
		"zxid":      "0x" + strconv.FormatInt(zxid, 16),
		"nodes":     "7 recorded, 7 decoded",
		"digest":    hex16(digest) + " recorded, " + hex16(digest) + " recomputed",
		"sessions":  "1",
		"acl lists": "3",
	}
	for k, v := range want {
		if f[k] != v {
			t.Errorf("snapshot dump: %s: %q, want %q", k, f[k], v)
		}
	}
	if len(f) != len(want) {
		t.Errorf("snapshot dump printed %v", f)
	}

	r = zkxData("snapshot", "dump", "--nodes", file)
	_, nodes, _ := strings.Cut(r.stdout, "\n\n")
	wantNodes := "/ 0\n/app 5\n/app/a 0\n/private 6\n/zookeeper 0\n/zookeeper/config 0\n/zookeeper/quota 0\n"
	if r.code != 0 || nodes != wantNodes {
		t.Errorf("snapshot dump --nodes: exit %d, nodes %q, want %q", r.code, nodes, wantNodes)
	}

	checkFails(t, zkxData("snapshot", "dump", filepath.Join(d.dir, "snap-nope.snap")), 1, "zkx snapshot dump: wal: open ...", nil)
	checkFails(t, zkxData("snapshot", "dump"), 2, "zkx snapshot dump: missing arguments...", nil)
}

func hex16(v uint64) string { return fmt.Sprintf("0x%016x", v) }

func TestSnapshotDumpDamage(t *testing.T) {
	d := startDataNode(t, "")
	for i := 0; i < 20; i++ {
		d.create("/n"+strconv.Itoa(i), "data", client.Persistent)
	}
	info, err := d.node.TakeSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	d.stop()
	file := filepath.Join(d.dir, info.File)
	good, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	damaged := filepath.Join(t.TempDir(), info.File)

	flipped := slices.Clone(good)
	flipped[len(good)/2] ^= 1
	os.WriteFile(damaged, flipped, 0o644)
	checkFails(t, zkxData("snapshot", "dump", damaged), 1,
		"zkx snapshot dump: wal: corruption in "+damaged+" at offset 28: wal: checksum mismatch: snapshot body\n", nil)

	os.WriteFile(damaged, good[:len(good)-10], 0o644)
	checkFails(t, zkxData("snapshot", "dump", damaged), 1,
		"zkx snapshot dump: wal: corruption in "+damaged+" at offset ...", nil)

	// A snapshot whose checksums hold but whose trailer records another
	// digest and count than its nodes have: written by a broken writer.
	logDir := t.TempDir()
	l, _, err := wal.Open(logDir, wal.Options{NoSync: true}, wal.Loader{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	bad, err := l.WriteSnapshot(5, func(w io.Writer) (int64, uint64, error) {
		sw, err := tree.NewSnapshotWriter(w, nil)
		if err != nil {
			return 0, 0, err
		}
		if _, err := sw.Next(tree.New(), 100); err != nil {
			return 0, 0, err
		}
		return sw.Nodes() + 1, sw.Digest() ^ 1, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	r := zkxData("snapshot", "dump", filepath.Join(logDir, bad.File))
	if r.code != 1 || !strings.Contains(r.stderr, "does not hold what its writer wrote: the writer recorded 5 nodes, the body holds 4; the writer recorded digest ") {
		t.Errorf("snapshot dump of a snapshot whose trailer disagrees with its body: exit %d, stderr %q", r.code, r.stderr)
	}
	if f := snapshotFields(t, r.stdout); f["nodes"] != "5 recorded, 4 decoded" {
		t.Errorf("snapshot dump: nodes: %q", f["nodes"])
	}
}

func TestPurge(t *testing.T) {
	// Five runs of a node, each on a segment of its own, each ending with
	// a snapshot of everything so far.
	dir := t.TempDir()
	var snaps []string
	var digest uint64
	for run := 0; run < 5; run++ {
		d := startDataNode(t, dir)
		for i := 0; i < 10; i++ {
			d.create(fmt.Sprintf("/r%d-%d", run, i), "x", client.Persistent)
		}
		d.zk.Close()
		info, err := d.node.TakeSnapshot()
		if err != nil {
			t.Fatal(err)
		}
		snaps = append(snaps, filepath.Join(dir, info.File))
		_, digest = d.node.Core().Digest()
		d.node.Stop()
	}
	segs := segments(t, dir)
	if len(segs) != 5 {
		t.Fatalf("5 runs left %d segments: %v", len(segs), segs)
	}

	// The newest 3 snapshots stay, and the segments from the oldest of
	// them on: the first three segments hold only txns up to it.
	r := zkxData("purge", dir)
	want := "removed " + snaps[0] + "\nremoved " + snaps[1] + "\nremoved " + segs[0] + "\nremoved " + segs[1] +
		"\nremoved " + segs[2] + "\nremoved 2 snapshots and 3 log segments; kept 3 snapshots\n"
	if r.code != 0 || r.stderr != "" || r.stdout != want {
		t.Fatalf("purge: exit %d, stderr %q, stdout %q, want %q", r.code, r.stderr, r.stdout, want)
	}
	left, _ := filepath.Glob(filepath.Join(dir, "*"))
	if wantLeft := []string{segs[3], segs[4], snaps[2], snaps[3], snaps[4]}; !slices.Equal(left, wantLeft) {
		t.Errorf("after purge the directory holds %v, want %v", left, wantLeft)
	}
	r = zkxData("purge", "-n", "3", dir)
	if r.code != 0 || r.stdout != "removed 0 snapshots and 0 log segments; kept 3 snapshots\n" {
		t.Errorf("a second purge: exit %d, stdout %q", r.code, r.stdout)
	}

	// What is left recovers the same tree.
	d := startDataNode(t, dir)
	if _, got := d.node.Core().Digest(); got != digest {
		t.Errorf("after purge the node recovered digest %#x, before it had %#x", got, digest)
	}
	for run := 0; run < 5; run++ {
		if _, ok, err := d.zk.Exists(d.ctx(), fmt.Sprintf("/r%d-9", run)); err != nil || !ok {
			t.Errorf("after purge /r%d-9 is missing (%v)", run, err)
		}
	}
	d.stop()

	checkFails(t, zkxData("purge", "-n", "0", dir), 2, "zkx purge: -n 0: keep at least 1 snapshot\nUsage: zkx purge [-n COUNT] [--snap-dir DIR] DIR\n...", nil)
	checkFails(t, zkxData("purge", filepath.Join(dir, "nope")), 1, "zkx purge: "+filepath.Join(dir, "nope")+" is not a directory\n", nil)

	// A damaged snapshot among those to keep stops it: purging would trust it.
	b, _ := os.ReadFile(snaps[4])
	b[len(b)/2] ^= 1
	os.WriteFile(snaps[4], b, 0o644)
	before, _ := filepath.Glob(filepath.Join(dir, "*"))
	checkFails(t, zkxData("purge", "-n", "1", dir), 1,
		"zkx purge: refusing to purge, a snapshot to keep is damaged: wal: corruption in "+snaps[4]+" at offset 28: ...", nil)
	if after, _ := filepath.Glob(filepath.Join(dir, "*")); !slices.Equal(after, before) {
		t.Errorf("a refused purge changed the directory from %v to %v", before, after)
	}
	b[len(b)/2] ^= 1
	os.WriteFile(snaps[4], b, 0o644)

	// Snapshots in a directory of their own (dataDir apart from dataLogDir).
	snapDir := t.TempDir()
	for _, s := range snaps[2:] {
		if err := os.Rename(s, filepath.Join(snapDir, filepath.Base(s))); err != nil {
			t.Fatal(err)
		}
	}
	segs = segments(t, dir) // segs[3], segs[4] and the last run's
	r = zkxData("purge", "--snap-dir", snapDir, "-n", "1", dir)
	want = "removed " + filepath.Join(snapDir, filepath.Base(snaps[2])) + "\nremoved " + filepath.Join(snapDir, filepath.Base(snaps[3])) +
		"\nremoved " + segs[0] + "\nremoved " + segs[1] + "\nremoved 2 snapshots and 2 log segments; kept 1 snapshots\n"
	if r.code != 0 || r.stdout != want {
		t.Errorf("purge --snap-dir: exit %d, stderr %q, stdout %q, want %q", r.code, r.stderr, r.stdout, want)
	}
}

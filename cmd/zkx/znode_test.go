package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zkx-project/zkx/transport/client"
	"github.com/zkx-project/zkx/transport/zkxtest"
)

// wantStat is the Stat as zkCli prints it, spelled out independently of
// printStat. Times are in the local zone, as Java's Date.toString shows them.
func wantStat(st client.Stat) string {
	date := func(ms int64) string { return time.UnixMilli(ms).Local().Format("Mon Jan 02 15:04:05 MST 2006") }
	return fmt.Sprintf("cZxid = 0x%x\nctime = %s\nmZxid = 0x%x\nmtime = %s\npZxid = 0x%x\n"+
		"cversion = %d\ndataVersion = %d\naclVersion = %d\nephemeralOwner = 0x%x\ndataLength = %d\nnumChildren = %d\n",
		st.Czxid, date(st.Ctime), st.Mzxid, date(st.Mtime), st.Pzxid,
		st.Cversion, st.Version, st.Aversion, uint64(st.EphemeralOwner), st.DataLength, st.NumChildren)
}

func TestLs(t *testing.T) {
	c := startCluster(t, zkxtest.Options{})
	c.create("/app", "")
	for _, name := range []string{"charlie", "alpha", "bravo"} {
		c.create("/app/"+name, "")
	}
	c.create("/empty", "")

	if got := c.ok("ls", "/app"); got != "[alpha, bravo, charlie]\n" {
		t.Errorf("ls /app = %q", got)
	}
	if got := c.ok("ls", "/empty"); got != "[]\n" {
		t.Errorf("ls /empty = %q", got)
	}
	if got := c.ok("ls", "/"); got != "[app, empty, zookeeper]\n" {
		t.Errorf("ls / = %q", got)
	}
	if got, want := c.ok("ls", "-s", "/app"), "[alpha, bravo, charlie]\n"+wantStat(c.stat("/app")); got != want {
		t.Errorf("ls -s /app = %q, want %q", got, want)
	}
	c.fails(1, "Node does not exist: /nope\n", "ls", "/nope")
	c.fails(1, "Node does not exist: /nope\n", "ls", "-s", "/nope")
}

func TestLsRecursive(t *testing.T) {
	c := startCluster(t, zkxtest.Options{})
	for _, p := range []string{"/r", "/r/b", "/r/a", "/r/a/y", "/r/a/x", "/r/a/x/deep", "/r/b/z"} {
		c.create(p, "")
	}
	// zkCli's order: a node's children, then each child's subtree.
	want := "/r\n/r/a\n/r/b\n/r/a/x\n/r/a/y\n/r/a/x/deep\n/r/b/z\n"
	if got := c.ok("ls", "-R", "/r"); got != want {
		t.Errorf("ls -R /r = %q, want %q", got, want)
	}
	if got := c.ok("ls", "-R", "/r/a/x/deep"); got != "/r/a/x/deep\n" {
		t.Errorf("ls -R of a leaf = %q", got)
	}
	want = "/\n/r\n/zookeeper\n/r/a\n/r/b\n/r/a/x\n/r/a/y\n/r/a/x/deep\n/r/b/z\n/zookeeper/config\n/zookeeper/quota\n"
	if got := c.ok("ls", "-R", "/"); got != want {
		t.Errorf("ls -R / = %q, want %q", got, want)
	}
	c.fails(1, "Node does not exist: /nope\n", "ls", "-R", "/nope")

	// A subtree it may not read stops the listing with zkCli's message,
	// after what it could list.
	c.create("/r/b/z/secret", "")
	c.create("/r/b/z/secret/below", "")
	c.setACL("/r/b/z/secret", client.DigestACL(client.PermAll, "bob", "pw"))
	r := c.zkx("ls", "-R", "/r/b")
	if r.code != 1 || r.stderr != "Insufficient permission : /r/b/z/secret\n" || r.stdout != "/r/b\n/r/b/z\n/r/b/z/secret\n" {
		t.Errorf("ls -R over an unreadable node = %+v", r)
	}
	if got := c.ok("--auth", "digest:bob:pw", "ls", "-R", "/r/b"); got != "/r/b\n/r/b/z\n/r/b/z/secret\n/r/b/z/secret/below\n" {
		t.Errorf("ls -R with --auth = %q", got)
	}
}

func TestCreate(t *testing.T) {
	c := startCluster(t, zkxtest.Options{})

	if got := c.ok("create", "/plain", "hello world"); got != "Created /plain\n" {
		t.Errorf("create = %q", got)
	}
	if got := c.data("/plain"); string(got) != "hello world" {
		t.Errorf("data = %q", got)
	}
	if st := c.stat("/plain"); st.EphemeralOwner != 0 {
		t.Errorf("persistent node has owner %#x", st.EphemeralOwner)
	}
	c.ok("create", "/nodata")
	if got := c.data("/nodata"); got != nil {
		t.Errorf("create without DATA stored %q, want null", got)
	}

	c.ok("create", "/q")
	if got := c.ok("create", "-s", "/q/item-", "a"); got != "Created /q/item-0000000000\n" {
		t.Errorf("create -s = %q", got)
	}
	if got := c.ok("create", "/q/item-", "b", "-s"); got != "Created /q/item-0000000001\n" {
		t.Errorf("create with -s after the arguments = %q", got)
	}
	// A sequential prefix may end in "/", as in zkCli.
	if got := c.ok("create", "-s", "/q/"); got != "Created /q/0000000002\n" {
		t.Errorf("create -s /q/ = %q", got)
	}

	c.fails(1, "Node already exists: /plain\n", "create", "/plain")
	c.fails(1, "Node does not exist: /missing/child\n", "create", "/missing/child")

	t.Run("ACL", func(t *testing.T) {
		c.ok("create", "/private", "secret", "digest:bob:"+digestHash("bob", "pw")+":cdrwa,world:anyone:c")
		c.fails(1, "Insufficient permission : /private\n", "get", "/private")
		if got := c.ok("--auth", "digest:bob:pw", "get", "/private"); got != "secret\n" {
			t.Errorf("get with --auth = %q", got)
		}
		c.fails(2, "Unknown perm type: q\nUsage: zkx create...", "create", "/x", "d", "world:anyone:q")
		// An ACL the server refuses: zkCli prints the exception, then its message.
		c.fails(1, "KeeperErrorCode = InvalidACL for /bad\nAcl is not valid : /bad\n", "create", "/bad", "d", "nosuch:id:cdrwa")
	})

	t.Run("ephemeral", func(t *testing.T) {
		r := c.zkx("create", "-e", "/eph", "x")
		if r.code != 0 || r.stdout != "Created /eph\n" {
			t.Fatalf("create -e = %+v", r)
		}
		if !strings.Contains(r.stderr, "warning: /eph is ephemeral") {
			t.Errorf("create -e warned %q", r.stderr)
		}
		c.waitDeleted("/eph") // with the command's session
		r = c.zkx("create", "-es", "/q/eph-")
		if r.code != 0 || r.stdout != "Created /q/eph-0000000003\n" || !strings.Contains(r.stderr, "ephemeral") {
			t.Errorf("create -es = %+v", r)
		}
		c.waitDeleted("/q/eph-0000000003")

		// The test's own session keeps this one.
		if _, err := c.zk.Create(c.ctx(), "/held", nil, client.Ephemeral, client.WorldACL(client.PermAll)); err != nil {
			t.Fatal(err)
		}
		c.fails(1, "Ephemerals cannot have children: /held/child\n", "create", "/held/child")
	})

	t.Run("container", func(t *testing.T) {
		if got := c.ok("create", "-c", "/box"); got != "Created /box\n" {
			t.Fatalf("create -c = %q", got)
		}
		c.create("/box/item", "")
		if err := c.zk.Delete(c.ctx(), "/box/item", -1); err != nil {
			t.Fatal(err)
		}
		c.waitDeleted("/box") // a container goes with its last child
	})

	t.Run("TTL", func(t *testing.T) {
		if got := c.ok("create", "-t", "100", "/ttl", "x"); got != "Created /ttl\n" {
			t.Fatalf("create -t = %q", got)
		}
		c.waitDeleted("/ttl") // after 100ms without change or child
		if got := c.ok("create", "-t", "1h", "/ttl-long"); got != "Created /ttl-long\n" {
			t.Errorf("create -t 1h = %q", got)
		}
		if got := c.ok("create", "-s", "-t", "3600000", "/q/ttl-"); got != "Created /q/ttl-0000000004\n" {
			t.Errorf("create -s -t = %q", got)
		}
		if !c.exists("/ttl-long") || !c.exists("/q/ttl-0000000004") {
			t.Error("a TTL node of an hour is gone")
		}
	})

	t.Run("flag errors", func(t *testing.T) {
		const usage = "\nUsage: zkx create [-e] [-s] [-c] [-t TTL] PATH [DATA [ACL]]\nRun 'zkx create --help' for details.\n"
		cases := [][]string{
			{"-c cannot be combined with -s or -e. Containers cannot be ephemeral or sequential.", "-c", "-e", "/x"},
			{"-c cannot be combined with -s or -e. Containers cannot be ephemeral or sequential.", "-cs", "/x"},
			{"TTLs cannot be used with Ephemeral znodes", "-e", "-t", "1000", "/x"},
			{"TTLs cannot be used with Container znodes", "-c", "-t", "1000", "/x"},
			{"ttl must be positive and cannot be larger than: 1099511627775", "-t", "0", "/x"},
			{"ttl must be positive and cannot be larger than: 1099511627775", "-t", "1099511627776", "/x"},
			{`-t argument must be a number of milliseconds or a duration such as 30s, not "soon"`, "-t", "soon", "/x"},
			{"zkx create: flag needs an argument: -t", "/x", "-t"},
			{"zkx create: missing arguments", "-e"},
			{"zkx create: too many arguments", "/x", "data", "world:anyone:r", "more"},
			{"Path must start with / character", "x"},
		}
		for _, tc := range cases {
			c.fails(2, tc[0]+usage, append([]string{"create"}, tc[1:]...)...)
		}
		if c.exists("/x") {
			t.Error("a refused create created /x")
		}
	})
}

func TestCreateTTLDisabled(t *testing.T) {
	c := startCluster(t, zkxtest.Options{DisableExtendedTypes: true})
	c.fails(1, "KeeperErrorCode = Unimplemented for /ttl\nzkx: the server has TTL nodes disabled...", "create", "-t", "1000", "/ttl")
}

func TestGet(t *testing.T) {
	c := startCluster(t, zkxtest.Options{})
	c.create("/g", "some data")
	binary := []byte{0, 1, 0xfe, 0xff, '\n'}
	if _, err := c.zk.Create(c.ctx(), "/bin", binary, client.Persistent, client.WorldACL(client.PermAll)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.zk.Create(c.ctx(), "/null", nil, client.Persistent, client.WorldACL(client.PermAll)); err != nil {
		t.Fatal(err)
	}

	if got := c.ok("get", "/g"); got != "some data\n" {
		t.Errorf("get = %q", got)
	}
	if got, want := c.ok("get", "-s", "/g"), "some data\n"+wantStat(c.stat("/g")); got != want {
		t.Errorf("get -s = %q, want %q", got, want)
	}
	if got := c.ok("get", "/bin"); got != string(binary)+"\n" {
		t.Errorf("get of binary data = %q: want the bytes as stored", got)
	}
	if got := c.ok("get", "-b", "/bin"); got != base64.StdEncoding.EncodeToString(binary)+"\n" {
		t.Errorf("get -b = %q", got)
	}
	if got := c.ok("get", "/null"); got != "null\n" {
		t.Errorf("get of null data = %q", got)
	}
	if got, want := c.ok("get", "-bs", "/g"), base64.StdEncoding.EncodeToString([]byte("some data"))+"\n"+wantStat(c.stat("/g")); got != want {
		t.Errorf("get -bs = %q, want %q", got, want)
	}
	c.fails(1, "Node does not exist: /nope\n", "get", "/nope")
	c.fails(2, "Invalid path string \"/a//b\" caused by empty node name specified @3\nUsage: zkx get...", "get", "/a//b")
}

func TestSet(t *testing.T) {
	c := startCluster(t, zkxtest.Options{})
	c.create("/s", "v0")

	if got := c.ok("set", "/s", "v1"); got != "" {
		t.Errorf("set printed %q", got)
	}
	if got := c.data("/s"); string(got) != "v1" {
		t.Errorf("data = %q", got)
	}
	// zkCli's own usage puts the options last: "set path data [-s] [-v version]".
	c.fails(1, "version No is not valid : /s\n", "set", "/s", "v2", "-v", "0")
	if got := c.data("/s"); string(got) != "v1" {
		t.Errorf("a set with a stale version changed the data to %q", got)
	}
	got := c.ok("set", "/s", "v2", "-v", "1", "-s")
	if want := wantStat(c.stat("/s")); got != want || !strings.Contains(got, "dataVersion = 2\n") {
		t.Errorf("set -v 1 -s printed %q, want %q", got, want)
	}
	c.ok("set", "-v", "2", "/s", "v3")
	if got := c.data("/s"); string(got) != "v3" {
		t.Errorf("data = %q", got)
	}

	binary := []byte{0xff, 0, 'x'}
	c.ok("set", "-b", "/s", base64.StdEncoding.EncodeToString(binary))
	if got := c.data("/s"); !bytes.Equal(got, binary) {
		t.Errorf("set -b stored %q", got)
	}
	c.ok("set", "/s", "--", "-1")
	if got := c.data("/s"); string(got) != "-1" {
		t.Errorf(`set /s -- -1 stored %q`, got)
	}
	c.ok("set", "/s", "-42") // not an option of set, so data
	if got := c.data("/s"); string(got) != "-42" {
		t.Errorf("set /s -42 stored %q", got)
	}

	c.fails(1, "Node does not exist: /nope\n", "set", "/nope", "x")
	c.fails(2, "zkx set: DATA is not base64...", "set", "-b", "/s", "!!!")
	c.fails(2, "zkx set: invalid value \"one\" for flag -v...", "set", "/s", "x", "-v", "one")
	c.fails(2, "zkx set: invalid value \"one\" for flag -v...", "set", "-v", "one", "/s", "x")
	c.fails(2, "zkx set: -v 4294967296 is out of range...", "set", "-v", "4294967296", "/s", "x")
	c.fails(2, "zkx set: missing arguments...", "set", "/s")
}

func TestStat(t *testing.T) {
	c := startCluster(t, zkxtest.Options{})
	c.create("/st", "12345")
	c.create("/st/child", "")
	if _, err := c.zk.Set(c.ctx(), "/st", []byte("123"), -1); err != nil {
		t.Fatal(err)
	}
	st := c.stat("/st")
	got := c.ok("stat", "/st")
	if got != wantStat(st) {
		t.Errorf("stat = %q, want %q", got, wantStat(st))
	}
	for _, line := range []string{"dataVersion = 1\n", "dataLength = 3\n", "numChildren = 1\n", "cversion = 1\n", "ephemeralOwner = 0x0\n"} {
		if !strings.Contains(got, line) {
			t.Errorf("stat lacks %q:\n%s", line, got)
		}
	}
	// Java's Date.toString: "Thu Jan 01 00:00:00 UTC 1970", in the local zone.
	ctime, _ := strings.CutPrefix(strings.Split(got, "\n")[1], "ctime = ")
	parsed, err := time.ParseInLocation("Mon Jan 02 15:04:05 MST 2006", ctime, time.Local)
	if err != nil || parsed.Unix() != st.Ctime/1000 {
		t.Errorf("ctime %q parses as %v, %v; want %v", ctime, parsed, err, time.UnixMilli(st.Ctime))
	}

	// An ephemeral owner prints as the session id in hex.
	if _, err := c.zk.Create(c.ctx(), "/st/eph", nil, client.Ephemeral, client.WorldACL(client.PermAll)); err != nil {
		t.Fatal(err)
	}
	if got := c.ok("stat", "/st/eph"); !strings.Contains(got, fmt.Sprintf("ephemeralOwner = 0x%x\n", c.zk.SessionID())) {
		t.Errorf("stat of an ephemeral = %q, want owner %#x", got, c.zk.SessionID())
	}
	c.fails(1, "Node does not exist: /nope\n", "stat", "/nope")
}

func TestDelete(t *testing.T) {
	c := startCluster(t, zkxtest.Options{})
	c.create("/d", "")
	c.create("/parent", "")
	c.create("/parent/child", "")
	if _, err := c.zk.Set(c.ctx(), "/d", []byte("x"), -1); err != nil {
		t.Fatal(err)
	}

	c.fails(1, "version No is not valid : /d\n", "delete", "-v", "0", "/d")
	c.ok("delete", "-v", "1", "/d")
	if c.exists("/d") {
		t.Error("/d survived delete")
	}
	c.fails(1, "Node does not exist: /d\n", "delete", "/d")
	c.fails(1, "Node not empty: /parent\n", "delete", "/parent")
	c.ok("delete", "/parent/child")
	c.ok("delete", "/parent", "-v", "0")
	if c.exists("/parent") {
		t.Error("/parent survived delete")
	}
	c.create("/guarded", "")
	c.create("/guarded/x", "")
	c.setACL("/guarded", client.WorldACL(client.PermRead))
	c.fails(1, "Insufficient permission : /guarded/x\n", "delete", "/guarded/x")
	c.fails(1, "Arguments are not valid : /zookeeper\n", "delete", "/zookeeper")
}

// makeTree creates root and fanout + fanout^2 + ... + fanout^depth nodes
// below it, a level at a time with the creates of a level pipelined, and
// returns how many nodes it created.
func (c *cluster) makeTree(root string, fanout, depth int) int {
	c.t.Helper()
	ctx := c.ctx()
	c.create(root, "")
	n := 1
	level := []string{root}
	for range depth {
		var next []string
		for _, p := range level {
			for i := range fanout {
				next = append(next, fmt.Sprintf("%s/n%d", p, i))
			}
		}
		errs := make(chan error, len(next))
		for _, p := range next {
			go func() {
				_, err := c.zk.Create(ctx, p, []byte("data"), client.Persistent, client.WorldACL(client.PermAll))
				errs <- err
			}()
		}
		for range next {
			if err := <-errs; err != nil {
				c.t.Fatalf("create: %v", err)
			}
		}
		n += len(next)
		level = next
	}
	return n
}

func TestDeleteAll(t *testing.T) {
	c := startCluster(t, zkxtest.Options{})
	if n := c.makeTree("/big", 8, 3); n != 1+8+64+512 {
		t.Fatalf("tree of %d nodes", n)
	}
	c.create("/keep", "")
	if got := c.ok("deleteall", "/big"); got != "" {
		t.Errorf("deleteall printed %q", got)
	}
	if c.exists("/big") || !c.exists("/keep") {
		t.Errorf("after deleteall /big: /big exists %v, /keep exists %v", c.exists("/big"), c.exists("/keep"))
	}

	// Small batches, the rmr alias and the option after the path (zkCli's
	// usage: "deleteall path [-b batch size]").
	c.makeTree("/b7", 5, 3)
	c.ok("rmr", "/b7", "-b", "7")
	if c.exists("/b7") {
		t.Error("/b7 survived rmr -b 7")
	}
	// One plain delete per node.
	c.makeTree("/b0", 3, 2)
	c.ok("deleteall", "-b", "0", "/b0")
	if c.exists("/b0") {
		t.Error("/b0 survived deleteall -b 0")
	}
	// 1000 deletes of long paths make a request larger than the server's
	// jute.maxbuffer (1 MiB), while the list of the names stays within it:
	// the batch must split by size too.
	long := "/long/" + strings.Repeat("p", 600)
	c.create("/long", "")
	c.create(long, "")
	ctx := c.ctx()
	errs := make(chan error, 1000)
	for i := range 1000 {
		go func() {
			_, err := c.zk.Create(ctx, fmt.Sprintf("%s/%04d%s", long, i, strings.Repeat("x", 500)), nil, client.Persistent, client.WorldACL(client.PermAll))
			errs <- err
		}()
	}
	for range 1000 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	c.ok("deleteall", "-b", "1000", "/long")
	if c.exists("/long") {
		t.Error("/long survived deleteall")
	}
	c.create("/leaf", "")
	c.ok("deleteall", "/leaf")
	if c.exists("/leaf") {
		t.Error("/leaf survived deleteall")
	}

	c.fails(1, "Node does not exist: /nope\n", "deleteall", "/nope")
	c.fails(2, "Path must not end with / character...", "deleteall", "/big/")
}

func TestDeleteAllRoot(t *testing.T) {
	c := startCluster(t, zkxtest.Options{})
	c.makeTree("/a", 3, 2)
	c.create("/b", "")
	c.ok("deleteall", "/")
	if got := c.ok("ls", "-R", "/"); got != "/\n/zookeeper\n/zookeeper/config\n/zookeeper/quota\n" {
		t.Errorf("after deleteall /, ls -R / = %q", got)
	}
	c.fails(1, "Arguments are not valid : /zookeeper\nFailed to delete some node(s) in the subtree!\n", "deleteall", "/zookeeper")
}

func TestDeleteAllRefused(t *testing.T) {
	c := startCluster(t, zkxtest.Options{})
	c.create("/t", "")
	c.create("/t/open", "")
	c.create("/t/locked", "", client.WorldACL(client.PermAll&^client.PermDelete)...)
	c.create("/t/locked/child", "")
	c.fails(1, "Insufficient permission : /t/locked/child\nFailed to delete some node(s) in the subtree!\n", "deleteall", "/t")
	if !c.exists("/t/locked/child") || !c.exists("/t") {
		t.Error("deleteall deleted what it may not, or the ancestors of it")
	}
}

// TestDeleteAllVanished deletes from a listing that is out of date, as when
// someone else deletes nodes between deleteall's listing and its deletes.
func TestDeleteAllVanished(t *testing.T) {
	c := startCluster(t, zkxtest.Options{})
	s := &session{zk: c.zk, base: c.ctx(), timeout: 10 * time.Second}
	for _, batch := range []int{1000, 3, 1} {
		c.makeTree("/w", 4, 2)
		paths, err := s.listBFS("/w")
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{"/w/n0/n0", "/w/n3/n3", "/w/n2/n0", "/w/n2/n1", "/w/n2/n2", "/w/n2/n3", "/w/n2"} {
			if err := c.zk.Delete(c.ctx(), p, -1); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.deleteBottomUp(paths, batch); err != nil {
			t.Errorf("batch %d: deleting a listing with vanished nodes: %v", batch, err)
		}
		if c.exists("/w") {
			t.Fatalf("batch %d: /w survived", batch)
		}
	}
}

// TestDeleteAllConcurrentDeleter runs deleteall while another client
// deletes leaves of the same tree: however they interleave, deleteall must
// succeed and leave nothing.
func TestDeleteAllConcurrentDeleter(t *testing.T) {
	c := startCluster(t, zkxtest.Options{})
	c.makeTree("/race", 6, 3)
	paths, err := (&session{zk: c.zk, base: c.ctx(), timeout: 10 * time.Second}).listBFS("/race")
	if err != nil {
		t.Fatal(err)
	}
	leaves := paths[1+6+36:]
	slices.Reverse(leaves) // the deleter starts where deleteall starts
	ctx := c.ctx()
	deleterDone := make(chan error, 1)
	go func() {
		for _, p := range leaves {
			if err := c.zk.Delete(ctx, p, -1); err != nil && !isNoNode(err) {
				deleterDone <- fmt.Errorf("concurrent delete %s: %w", p, err)
				return
			}
		}
		deleterDone <- nil
	}()
	r := c.zkx("deleteall", "-b", "10", "/race")
	if err := <-deleterDone; err != nil {
		t.Error(err)
	}
	if r.code != 0 || r.stderr != "" || r.stdout != "" {
		t.Errorf("deleteall racing a deleter: %+v", r)
	}
	if c.exists("/race") {
		t.Error("/race survived")
	}
}

func TestACL(t *testing.T) {
	c := startCluster(t, zkxtest.Options{})
	c.create("/acl", "")
	bobHash := digestHash("bob", "pw")

	cases := []struct{ set, get string }{
		{"world:anyone:cdrwa", "'world,'anyone\n: cdrwa\n"},
		{"world:anyone:rwacd", "'world,'anyone\n: cdrwa\n"}, // printed in zkCli's order
		{"world:anyone:r,ip:10.0.0.0/8:rw,ip:127.0.0.1:cdrwa", "'world,'anyone\n: r\n'ip,'10.0.0.0/8\n: rw\n'ip,'127.0.0.1\n: cdrwa\n"},
		{"digest:bob:" + bobHash + ":cdrwa,world:anyone:a", "'digest,'bob:" + bobHash + "\n: cdrwa\n'world,'anyone\n: a\n"},
	}
	for _, tc := range cases {
		c.ok("setAcl", "/acl", tc.set)
		if got := c.ok("getAcl", "/acl"); got != tc.get {
			t.Errorf("setAcl %s, then getAcl = %q, want %q", tc.set, got, tc.get)
		}
	}
	// auth:: stands for the identities the session has: here --auth's.
	c.ok("--auth", "digest:bob:pw", "setAcl", "/acl", "auth::cdrwa")
	if got, want := c.ok("--auth", "digest:bob:pw", "getacl", "/acl"), "'digest,'bob:"+bobHash+"\n: cdrwa\n"; got != want {
		t.Errorf("after setAcl auth::cdrwa, getAcl = %q, want %q", got, want)
	}
	c.fails(1, "Insufficient permission : /acl\n", "getAcl", "/acl")
	c.fails(1, "Insufficient permission : /acl\n", "--auth", "digest:bob:wrong", "setAcl", "/acl", "world:anyone:cdrwa")
	// Several --auth flags: the session has both identities.
	c.ok("--auth", "digest:eve:x", "--auth", "digest:bob:pw", "setacl", "/acl", "world:anyone:cdrwa")

	st := c.stat("/acl")
	if got, want := c.ok("getAcl", "-s", "/acl"), "'world,'anyone\n: cdrwa\n"+wantStat(st); got != want {
		t.Errorf("getAcl -s = %q, want %q", got, want)
	}
	c.fails(1, "version No is not valid : /acl\n", "setAcl", "-v", "0", "/acl", "world:anyone:r")
	got := c.ok("setAcl", "-s", "-v", fmt.Sprint(st.Aversion), "/acl", "world:anyone:r")
	if want := wantStat(c.stat("/acl")); got != want || !strings.Contains(got, fmt.Sprintf("aclVersion = %d\n", st.Aversion+1)) {
		t.Errorf("setAcl -s -v = %q, want %q", got, want)
	}

	const usage = "\nUsage: zkx setAcl [-s] [-v VERSION] [-R] PATH ACL\nRun 'zkx setAcl --help' for details.\n"
	c.fails(2, "world:anyone does not have the form scheme:id:perm"+usage, "setAcl", "/acl", "world:anyone")
	c.fails(2, "Unknown perm type: x"+usage, "setAcl", "/acl", "world:anyone:rx")
	c.fails(1, "Acl is not valid : /acl\n", "setAcl", "/acl", "digest:nohash:cdrwa")
	c.fails(1, "Node does not exist: /nope\n", "setAcl", "/nope", "world:anyone:r")
	c.fails(1, "Node does not exist: /nope\n", "getAcl", "/nope")
}

func TestSetACLRecursive(t *testing.T) {
	c := startCluster(t, zkxtest.Options{})
	c.makeTree("/sub", 3, 2)
	// Without read permission on the nodes it changes: it must list first.
	c.ok("setAcl", "-R", "/sub", "world:anyone:cdwa")
	paths := []string{"/sub"}
	for i := range 3 {
		paths = append(paths, fmt.Sprintf("/sub/n%d", i))
		for j := range 3 {
			paths = append(paths, fmt.Sprintf("/sub/n%d/n%d", i, j))
		}
	}
	for _, p := range paths {
		acl, _, err := c.zk.GetACL(c.ctx(), p)
		if err != nil || len(acl) != 1 || acl[0] != (client.ACL{Perms: client.PermAll &^ client.PermRead, Scheme: "world", ID: "anyone"}) {
			t.Errorf("ACL of %s = %v, %v", p, acl, err)
		}
	}
	c.fails(1, "Node does not exist: /nope\n", "setAcl", "-R", "/nope", "world:anyone:r")

	// A node it may not change is reported; the others are changed.
	c.create("/sub2", "")
	c.create("/sub2/mine", "", append(client.WorldACL(client.PermRead), client.DigestACL(client.PermAll, "bob", "pw")...)...)
	c.create("/sub2/open", "")
	r := c.zkx("setAcl", "-R", "/sub2", "world:anyone:r")
	if r.code != 1 || r.stderr != "Insufficient permission : /sub2/mine\nzkx setAcl: the ACL of 1 of 3 nodes was not set\n" {
		t.Errorf("setAcl -R over a node it may not change = %+v", r)
	}
	acl, _, err := c.zk.GetACL(c.ctx(), "/sub2/open")
	if err != nil || len(acl) != 1 || acl[0].Perms != client.PermRead {
		t.Errorf("ACL of /sub2/open = %v, %v", acl, err)
	}
}

func TestUsage(t *testing.T) {
	c := startCluster(t, zkxtest.Options{})
	c.create("/u", "")
	cases := []struct {
		args []string
		err  string
	}{
		{[]string{"ls"}, "zkx ls: missing arguments\nUsage: zkx ls [-R] [-s] PATH\nRun 'zkx ls --help' for details.\n"},
		{[]string{"ls", "/u", "/v"}, "zkx ls: too many arguments\nUsage: zkx ls [-R] [-s] PATH\nRun 'zkx ls --help' for details.\n"},
		{[]string{"ls", "-w", "/u"}, "zkx ls: flag provided but not defined: -w\nUsage: zkx ls [-R] [-s] PATH\nRun 'zkx ls --help' for details.\n"},
		{[]string{"ls", "u"}, "Path must start with / character\nUsage: zkx ls [-R] [-s] PATH\nRun 'zkx ls --help' for details.\n"},
		{[]string{"stat", "/u/./x"}, "Invalid path string \"/u/./x\" caused by relative paths not allowed @3\nUsage: zkx stat PATH\nRun 'zkx stat --help' for details.\n"},
		{[]string{"getAcl"}, "zkx getAcl: missing arguments..."},
		{[]string{"setAcl", "/u"}, "zkx setAcl: missing arguments..."},
		{[]string{"delete", "-v"}, "zkx delete: flag needs an argument: -v..."},
		{[]string{"deleteall", "/u", "-b", "many"}, "zkx deleteall: invalid value \"many\" for flag -b..."},
		{[]string{"lss", "/"}, "zkx: unknown command \"lss\"\nRun 'zkx --help' for usage.\n"},
		{[]string{"--timeout", "soon", "ls", "/"}, "zkx: invalid value \"soon\" for flag -timeout..."},
		{[]string{"--timeout", "0s", "ls", "/"}, "zkx: --timeout must be positive, not 0s\nRun 'zkx --help' for usage.\n"},
		{[]string{"--auth", "nocolon", "ls", "/"}, "zkx: --auth \"nocolon\": want SCHEME:AUTH, such as digest:user:password\nRun 'zkx --help' for usage.\n"},
	}
	for _, tc := range cases {
		c.fails(2, tc.err, tc.args...)
	}
	checkFails(t, zkxRun("--server", "host:port:extra", "ls", "/"), 2, "zkx: --server \"host:port:extra\"...", nil)
	if !c.exists("/u") {
		t.Error("/u is gone")
	}
}

func TestHelp(t *testing.T) {
	r := zkxRun("--help")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("--help: %+v", r)
	}
	for _, cmd := range []string{"server", "ls", "create", "get", "set", "stat", "delete", "deleteall, rmr", "getAcl, getacl", "setAcl, setacl", "wal", "snapshot", "purge", "--server", "--auth", "--timeout", "ZKX_SERVER", "Examples:"} {
		if !strings.Contains(r.stdout, cmd) {
			t.Errorf("zkx --help does not mention %q", cmd)
		}
	}
	for _, cmd := range []string{"ls", "create", "get", "set", "stat", "delete", "deleteall", "rmr", "getAcl", "getacl", "setAcl", "setacl"} {
		r := zkxRun(cmd, "--help")
		if r.code != 0 || r.stderr != "" || !strings.Contains(r.stdout, "Example:\n") || !strings.Contains(r.stdout, "USAGE:\n   zkx ") {
			t.Errorf("zkx %s --help: %+v", cmd, r)
		}
	}
	for _, cmd := range [][]string{{"wal"}, {"wal", "dump"}, {"snapshot"}, {"snapshot", "dump"}, {"purge"}} {
		r := zkxRun(append(cmd, "--help")...)
		if r.code != 0 || r.stderr != "" || !strings.Contains(r.stdout, "Example:\n") || !strings.Contains(r.stdout, "USAGE:\n   zkx "+cmd[0]) {
			t.Errorf("zkx %s --help: %+v", strings.Join(cmd, " "), r)
		}
	}
	// zkCli users put options last; so may --help go.
	r = zkxRun("set", "/x", "data", "--help")
	if r.code != 0 || !strings.Contains(r.stdout, "zkx set [-s] [-v VERSION] [-b] PATH DATA") {
		t.Errorf("zkx set /x data --help: %+v", r)
	}
	if r := zkxRun(); r.code != 0 || !strings.Contains(r.stdout, "COMMANDS:") {
		t.Errorf("bare zkx: %+v", r)
	}
}

func TestServerSelection(t *testing.T) {
	c := startCluster(t, zkxtest.Options{})
	c.create("/here", "")
	dead := deadAddr(t)

	// ZKX_SERVER stands in for --server; --server wins over it.
	t.Setenv("ZKX_SERVER", c.addr)
	if r := zkxRun("ls", "/here"); r.code != 0 || r.stdout != "[]\n" {
		t.Errorf("ls with ZKX_SERVER: %+v", r)
	}
	checkFails(t, zkxRun("--server", dead, "ls", "/here"), 1, "zkx: cannot connect to "+dead+"...", nil)
	t.Setenv("ZKX_SERVER", "")

	// An ensemble list: any server that answers will do.
	if r := zkxRun("--server", dead+","+c.addr, "ls", "/here"); r.code != 0 || r.stdout != "[]\n" {
		t.Errorf("ls with a list holding one live server: %+v", r)
	}
	dead2 := deadAddr(t)
	r := zkxRun("--server", dead+","+dead2, "ls", "/")
	if r.code != 1 || !strings.HasPrefix(r.stderr, "zkx: cannot connect to "+dead+","+dead2+"\n") ||
		!strings.Contains(r.stderr, "  "+dead+": ") || !strings.Contains(r.stderr, "  "+dead2+": ") || r.stdout != "" {
		t.Errorf("no live server: %+v", r)
	}
}

// deadAddr is a loopback address where nothing listens.
func deadAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// TestTimeout talks to a server that accepts connections and never
// answers: --timeout must end the command.
func TestTimeout(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	start := time.Now()
	r := zkxRun("--server", l.Addr().String(), "--timeout", "300ms", "ls", "/")
	if r.code != 1 || r.stderr != "zkx: cannot connect to "+l.Addr().String()+": no session within 300ms (--timeout)\n" {
		t.Errorf("silent server: %+v", r)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("--timeout 300ms took %v", d)
	}
}

func TestAuthRefused(t *testing.T) {
	c := startCluster(t, zkxtest.Options{})
	c.fails(1, "zkx: --auth nosuch: ...", "--auth", "nosuch:x", "ls", "/")
}

// digestHash is the hash ZooKeeper's digest scheme keeps for user:password.
func digestHash(user, password string) string {
	_, hash, _ := strings.Cut(client.DigestID(user, password), ":")
	return hash
}

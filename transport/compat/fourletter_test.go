package compat

import (
	"fmt"
	"io"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/zkx-project/zkx/transport/zkxtest"
)

// fourLetter sends a four-letter word on a new connection and returns
// everything the server writes before it closes the connection.
func fourLetter(t *testing.T, addr, cmd string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("%s: dial: %v", cmd, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, cmd); err != nil {
		t.Fatalf("%s: write: %v", cmd, err)
	}
	out, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("%s: the server did not answer and close the connection: %v (read %q)", cmd, err, out)
	}
	return string(out)
}

// mntr parses mntr's "key<TAB>value" lines.
func mntr(t *testing.T, addr string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, l := range lines(fourLetter(t, addr, "mntr")) {
		k, v, ok := strings.Cut(l, "\t")
		if !ok {
			t.Errorf("mntr line without a tab: %q", l)
			continue
		}
		m[k] = v
	}
	return m
}

func mntrInt(t *testing.T, m map[string]string, key string) int64 {
	t.Helper()
	v, ok := m[key]
	if !ok {
		t.Fatalf("mntr has no %s", key)
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		t.Fatalf("mntr %s=%q is not an integer", key, v)
	}
	return n
}

// requireLines checks that each pattern (a regexp matched against whole
// lines) matches some line of out.
func requireLines(t *testing.T, what, out string, patterns ...string) {
	t.Helper()
	ls := lines(out)
	for _, p := range patterns {
		re := regexp.MustCompile("^" + p + "$")
		if !slices.ContainsFunc(ls, re.MatchString) {
			t.Errorf("%s: no line matches %q; output:\n%s", what, p, out)
		}
	}
}

// requireFollowedBy checks that a line equal to head is followed, within
// its indented block, by a line equal to item.
func requireFollowedBy(t *testing.T, what, out, head, item string) {
	t.Helper()
	ls := lines(out)
	for i, l := range ls {
		if l != head {
			continue
		}
		for _, m := range ls[i+1:] {
			if m == item {
				return
			}
			if !strings.HasPrefix(m, "\t") {
				break
			}
		}
	}
	t.Errorf("%s: no %q line under %q; output:\n%s", what, item, head, out)
}

// recordingDialer remembers the local address of each connection it makes.
type recordingDialer struct {
	mu    sync.Mutex
	local []string
}

func (d *recordingDialer) dial(network, addr string, timeout time.Duration) (net.Conn, error) {
	c, err := net.DialTimeout(network, addr, timeout)
	if err == nil {
		d.mu.Lock()
		d.local = append(d.local, c.LocalAddr().String())
		d.mu.Unlock()
	}
	return c, err
}

func (d *recordingDialer) last() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.local[len(d.local)-1]
}

// TestFourLetterWords checks the lines of each four-letter word that
// ZooKeeper 3.8 prints and tools read, with a go-zookeeper session holding
// an ephemeral node and watches.
func TestFourLetterWords(t *testing.T) {
	addr := startServer(t, zkxtest.Options{})
	dialer := &recordingDialer{}
	c := connectWithDialer(t, addr, sessionTimeout, dialer.dial)
	local := dialer.last()
	sid := fmt.Sprintf("0x%x", uint64(c.SessionID()))
	_, port, _ := net.SplitHostPort(addr)

	before := mntr(t, addr)
	root := testRoot(t, c)
	eph := mustCreate(t, c, root+"/eph", []byte("e"), zk.FlagEphemeral)
	if _, _, _, err := c.GetW(eph); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := c.ChildrenW(root); err != nil {
		t.Fatal(err)
	}

	if got := fourLetter(t, addr, "ruok"); got != "imok" {
		t.Errorf("ruok: %q, want \"imok\"", got)
	}
	if got := fourLetter(t, addr, "isro"); got != "rw" {
		t.Errorf("isro: %q, want \"rw\"", got)
	}

	srvr := fourLetter(t, addr, "srvr")
	common := []string{
		`Zookeeper version: 3\.8\.\d+.*, built on .*`,
		`Latency min/avg/max: \d+/[0-9.]+/\d+`,
		`Received: \d+`, `Sent: \d+`, `Connections: \d+`, `Outstanding: \d+`,
		`Zxid: 0x[0-9a-f]+`, `Mode: standalone`, `Node count: \d+`,
	}
	requireLines(t, "srvr", srvr, common...)

	stat := fourLetter(t, addr, "stat")
	requireLines(t, "stat", stat, append(common, `Clients:`,
		// Each client is listed by its address and port.
		` /`+regexp.QuoteMeta(local)+`\[1\]\(queued=\d+,recved=\d+,sent=\d+\)`)...)

	cons := fourLetter(t, addr, "cons")
	requireLines(t, "cons", cons, ` /`+regexp.QuoteMeta(local)+`\[1\]\(queued=\d+,recved=\d+,sent=\d+,sid=`+sid+
		`,lop=\w+,est=\d+,to=\d+,lcxid=0x[0-9a-f]+,lzxid=0x[0-9a-f]+,lresp=\d+,llat=\d+,minlat=\d+,avglat=\d+,maxlat=\d+\)`)
	// go-zookeeper's own cons parser finds this session.
	parsed, _ := zk.FLWCons([]string{addr}, 5*time.Second)
	found := false
	if len(parsed) == 1 {
		for _, cl := range parsed[0].Clients {
			if cl.SessionID == c.SessionID() && cl.Addr == local {
				found = true
			}
		}
	}
	if !found {
		t.Errorf("go-zookeeper's FLWCons did not find session %s at %s in cons output:\n%s", sid, local, cons)
	}
	if ok := zk.FLWRuok([]string{addr}, 5*time.Second); !slices.Equal(ok, []bool{true}) {
		t.Errorf("go-zookeeper's FLWRuok: %v", ok)
	}

	after := mntr(t, addr)
	if after["zk_server_state"] != "standalone" || !strings.HasPrefix(after["zk_version"], "3.8.") {
		t.Errorf("mntr zk_server_state=%q zk_version=%q", after["zk_server_state"], after["zk_version"])
	}
	for _, k := range []string{"zk_avg_latency", "zk_max_latency", "zk_min_latency", "zk_packets_received",
		"zk_packets_sent", "zk_num_alive_connections", "zk_outstanding_requests", "zk_approximate_data_size",
		"zk_open_file_descriptor_count", "zk_max_file_descriptor_count", "zk_global_sessions", "zk_uptime"} {
		if _, ok := after[k]; !ok {
			t.Errorf("mntr has no %s", k)
		}
	}
	if d := mntrInt(t, after, "zk_znode_count") - mntrInt(t, before, "zk_znode_count"); d != 2 {
		t.Errorf("zk_znode_count grew by %d after creating 2 nodes", d)
	}
	if d := mntrInt(t, after, "zk_ephemerals_count") - mntrInt(t, before, "zk_ephemerals_count"); d != 1 {
		t.Errorf("zk_ephemerals_count grew by %d after creating 1 ephemeral", d)
	}
	if d := mntrInt(t, after, "zk_watch_count") - mntrInt(t, before, "zk_watch_count"); d != 2 {
		t.Errorf("zk_watch_count grew by %d after setting a data and a child watch", d)
	}

	requireLines(t, "conf", fourLetter(t, addr, "conf"), `clientPort=`+port, `tickTime=\d+`,
		`minSessionTimeout=\d+`, `maxSessionTimeout=\d+`, `dataDir=.*`, `serverId=\d+`)
	envi := fourLetter(t, addr, "envi")
	if !strings.HasPrefix(envi, "Environment:\n") {
		t.Errorf("envi does not start with \"Environment:\": %q", envi)
	}
	requireLines(t, "envi", envi, `zookeeper\.version=3\.8\.\d+.*`, `host\.name=.*`, `os\.name=.*`)

	// ZooKeeper's wchs, wchc and wchp list data watches (wchs counts them).
	requireLines(t, "wchs", fourLetter(t, addr, "wchs"), `\d+ connections watching \d+ paths`, `Total watches:\d+`)
	requireFollowedBy(t, "wchc", fourLetter(t, addr, "wchc"), sid, "\t"+eph)
	requireFollowedBy(t, "wchp", fourLetter(t, addr, "wchp"), eph, "\t"+sid)

	dump := fourLetter(t, addr, "dump")
	requireLines(t, "dump", dump, `SessionTracker dump:`, `ephemeral nodes dump:`, `Sessions with Ephemerals \(\d+\):`)
	requireFollowedBy(t, "dump", dump, sid+":", "\t"+eph)
}

// TestFourLetterWhitelist: a word left out of 4lw.commands.whitelist is
// refused with ZooKeeper's text; whitelisted words still answer.
func TestFourLetterWhitelist(t *testing.T) {
	n := zkxtest.Start(t, zkxtest.Options{FourLetterWhitelist: []string{"ruok", "srvr"}, MaxSessionTimeout: 30 * time.Second})
	if got := fourLetter(t, n.Addr(), "ruok"); got != "imok" {
		t.Errorf("whitelisted ruok: %q", got)
	}
	requireLines(t, "whitelisted srvr", fourLetter(t, n.Addr(), "srvr"), `Mode: standalone`)
	for _, cmd := range []string{"stat", "mntr", "conf", "cons", "envi", "wchs", "wchc", "wchp", "dump", "isro", "hash"} {
		want := cmd + " is not executed because it is not in the whitelist.\n"
		if got := fourLetter(t, n.Addr(), cmd); got != want {
			t.Errorf("%s outside the whitelist: %q, want %q", cmd, got, want)
		}
	}
	// The node still serves clients.
	c := connect(t, n.Addr(), sessionTimeout)
	mustCreate(t, c, "/after-4lw", nil, 0)
}

// TestHashWord: hash prints the live tree's digest as ZooKeeper lays out
// its digest lines, "<zxid in hex>: <digest>", and follows writes.
func TestHashWord(t *testing.T) {
	n := zkxtest.Start(t, zkxtest.Options{MaxSessionTimeout: 30 * time.Second})
	c := connect(t, n.Addr(), sessionTimeout)
	before := fourLetter(t, n.Addr(), "hash")
	mustCreate(t, c, "/hashed", []byte("x"), 0)
	got := fourLetter(t, n.Addr(), "hash")
	zxid, digest := n.Core().Digest()
	if want := fmt.Sprintf("%x: %d\n", uint64(zxid), digest); got != want {
		t.Errorf("hash = %q, want %q", got, want)
	}
	if got == before {
		t.Errorf("hash did not change with a create: %q", got)
	}
}

package compat

import (
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zkx-project/zkx/transport/zkxtest"
)

// zkCliCommand is a command and the lines zkCli prints for it, in order
// (regexps where they look like one); nil means it prints nothing.
type zkCliCommand struct {
	cmd  string
	want []string
}

// zkCliScript is piped to zkCli.sh's stdin (it reads commands line by line
// when stdin is not a terminal). A watch event is printed by zkCli's event
// thread at some point after the command that caused it, so events are
// checked separately (zkCliEvents).
var zkCliScript = []zkCliCommand{
	{"create /zkcli hello", []string{"Created /zkcli"}},
	{"create /zkcli/child1 c1", []string{"Created /zkcli/child1"}},
	{"create /zkcli/child2", []string{"Created /zkcli/child2"}},
	{"create -e /zkcli/eph e", []string{"Created /zkcli/eph"}},
	{"create -s /zkcli/seq- s", []string{"Created /zkcli/seq-0000000003"}},
	{"create -c /zkcont", []string{"Created /zkcont"}},
	{"create -t 60000 /zkttl t", []string{"Created /zkttl"}},
	{"ls /zkcli", []string{"[child1, child2, eph, seq-0000000003]"}},
	{"ls /", []string{"[zkcli, zkcont, zkttl, zookeeper]"}},
	{"ls /zookeeper", []string{"[config, quota]"}},
	{"get /zkcli", []string{"hello"}},
	{"set /zkcli world", nil},
	{"get -s /zkcli", []string{"world", `cZxid = 0x[0-9a-f]+`, `ctime = .*`, `mZxid = 0x[0-9a-f]+`,
		`mtime = .*`, `pZxid = 0x[0-9a-f]+`, "cversion = 4", "dataVersion = 1", "aclVersion = 0",
		"ephemeralOwner = 0x0", "dataLength = 5", "numChildren = 4"}},
	{"stat /zkcli/eph", []string{`cZxid = 0x[0-9a-f]+`, `ephemeralOwner = 0x[0-9a-f]*[1-9a-f][0-9a-f]*`, "dataLength = 1"}},
	{"stat /zkcont", []string{"ephemeralOwner = 0x0"}},
	{"stat /zkttl", []string{"ephemeralOwner = 0x0"}},
	{"set -v 99 /zkcli x", []string{"version No is not valid : /zkcli"}},
	{"create /zkcli dup", []string{"Node already exists: /zkcli"}},
	{"delete /zkcli", []string{"Node not empty: /zkcli"}},
	{"get /nope", []string{"Node does not exist: /nope"}},
	{"ls /nope", []string{"Node does not exist: /nope"}},
	{"stat /nope", []string{"Node does not exist: /nope"}},
	{"set /nope x", []string{"Node does not exist: /nope"}},
	{"delete /nope", []string{"Node does not exist: /nope"}},
	{"delete -v 5 /zkcli/child1", []string{"version No is not valid : /zkcli/child1"}},
	{"delete /zkcli/child1", nil},
	{"ls /zkcli", []string{"[child2, eph, seq-0000000003]"}},
	{"stat /zkcli", []string{"cversion = 5", "numChildren = 3"}},
	{"addWatch -m PERSISTENT_RECURSIVE /zkw", nil},
	{"create /zkw", []string{"Created /zkw"}},
	{"create /zkw/a", []string{"Created /zkw/a"}},
	{"set /zkw/a x", nil},
	{"delete /zkw/a", nil},
	{"addWatch -m PERSISTENT /zkcli", nil},
	{"set /zkcli again", nil},
	{"create /zkcli/child3", []string{"Created /zkcli/child3"}},
	{"create /zkcli/child3/deep", []string{"Created /zkcli/child3/deep"}},
	{"get -w /zkcli/child2", []string{"null"}}, // created without data
	{"set /zkcli/child2 changed", nil},
	{"addauth digest alice:secret", nil},
	{"create /zksec s digest:alice:" + digest("alice:secret") + ":cdrwa", []string{"Created /zksec"}},
	{"getAcl /zksec", []string{"'digest,'alice:" + regexp.QuoteMeta(digest("alice:secret")), ": cdrwa"}},
	{"get /zksec", []string{"s"}},
	{"setAcl /zksec world:anyone:r", nil},
	{"getAcl /zksec", []string{"'world,'anyone", ": r"}},
	{"getAllChildrenNumber /zkcli", []string{"5"}},
	{"getEphemerals", []string{`\[/zkcli/eph\]`}},
	{"sync /zkcli", []string{"Sync is OK"}},
	{"deleteall /zkcli", nil},
	{"ls /zkcli", []string{"Node does not exist: /zkcli"}},
	{"ls /", []string{"[zkcont, zksec, zkttl, zkw, zookeeper]"}},
	{"whoami", []string{"Auth scheme: User"}},
	{"quit", nil},
}

// zkCliEvents are the watch events the script must cause, each printed
// as "WatchedEvent state:SyncConnected type:<type> path:<path>".
var zkCliEvents = []string{
	"NodeCreated path:/zkw",           // persistent recursive watch
	"NodeCreated path:/zkw/a",         // ... sees children created
	"NodeDataChanged path:/zkw/a",     // ... their data changes
	"NodeDeleted path:/zkw/a",         // ... and deletes
	"NodeDataChanged path:/zkcli",     // persistent watch: data
	"NodeChildrenChanged path:/zkcli", // ... and children, but not deeper
	"NodeDataChanged path:/zkcli/child2",
}

func digest(idPassword string) string {
	sum := sha1.Sum([]byte(idPassword))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// zkCliOutput keeps what zkCli.sh prints for commands: its log lines (it
// logs to stdout through log4j) and SLF4J's warnings are dropped.
func zkCliOutput(stdout string) []string {
	var out []string
	for _, l := range lines(stdout) {
		if logLine.MatchString(l) || strings.HasPrefix(l, "SLF4J:") {
			continue
		}
		out = append(out, l)
	}
	return out
}

var logLine = regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ \[`)

// TestZkCli runs the script through zkCli.sh in one JVM and checks that
// each command printed what ZooKeeper 3.8's zkCli prints.
func TestZkCli(t *testing.T) {
	zkcli := requireZkCli(t)
	runZkCliScript(t, zkcli, startServer(t, zkxtest.Options{}))
}

// TestZkCliEnsemble runs the same session against a 3-node ensemble, zkCli
// given every server.
func TestZkCliEnsemble(t *testing.T) {
	zkcli := requireZkCli(t)
	e := zkxtest.StartEnsemble(t, 3, 0, zkxtest.Options{MaxSessionTimeout: 30 * time.Second})
	runZkCliScript(t, zkcli, e.Addrs())
}

func runZkCliScript(t *testing.T, zkcli, addr string) {
	// After each command, a get of a missing marker node prints a line
	// that ends the command's output, so each command's lines are checked
	// on their own. The last two (whoami, quit) need none; and zkCli
	// exits with the status of the last command before quit, which must
	// not be a failing get.
	var script strings.Builder
	markers := len(zkCliScript) - 2
	for i, s := range zkCliScript {
		script.WriteString(s.cmd + "\n")
		if i < markers {
			fmt.Fprintf(&script, "get %s\n", zkCliMarker(i))
		}
	}
	// zkCli prints results on stdout and some (Created, errors) on stderr.
	stdout, err := runToolCombined(t, 2*time.Minute, script.String(), zkcli, "-server", addr)
	if err != nil {
		t.Fatalf("zkCli.sh: %v\noutput:\n%s", err, stdout)
	}
	out := zkCliOutput(stdout)
	// Split the output by marker, setting the watch events aside: zkCli's
	// event thread prints them whenever they arrive.
	var events []string
	segments := make([][]string, len(zkCliScript))
	i := 0
	for _, l := range out {
		switch {
		case l == "WATCHER::" || l == "":
		case strings.HasPrefix(l, "WatchedEvent state:"):
			events = append(events, l)
		case i < markers && l == "Node does not exist: "+zkCliMarker(i):
			i++
		case i < len(segments):
			segments[i] = append(segments[i], l)
		}
	}
	if i < markers {
		t.Fatalf("zkCli stopped after %d of %d commands; it printed:\n%s", i, len(zkCliScript), strings.Join(out, "\n"))
	}
	if !slices.Contains(events, "WatchedEvent state:SyncConnected type:None path:null") {
		t.Errorf("zkCli did not report SyncConnected")
	}
	for i, s := range zkCliScript[:markers] {
		if s.want == nil && len(segments[i]) > 0 {
			// set, delete, addauth and the like print nothing when they
			// succeed.
			t.Errorf("%q printed:\n\t%s\nwant nothing", s.cmd, strings.Join(segments[i], "\n\t"))
		}
		pos := 0
		for _, w := range s.want {
			re := regexp.MustCompile("^" + wantPattern(w) + "$")
			at := slices.IndexFunc(segments[i][pos:], re.MatchString)
			if at < 0 {
				t.Errorf("%q printed no line matching %q after the ones before; it printed:\n\t%s",
					s.cmd, w, strings.Join(segments[i], "\n\t"))
				break
			}
			pos += at + 1
		}
	}
	for _, ev := range zkCliEvents {
		want := "WatchedEvent state:SyncConnected type:" + ev
		if !slices.Contains(events, want) {
			t.Errorf("zkCli did not print the watch event %q; events:\n%s", want, strings.Join(events, "\n"))
		}
	}
	if slices.Contains(events, "WatchedEvent state:SyncConnected type:NodeCreated path:/zkcli/child3/deep") ||
		slices.Contains(events, "WatchedEvent state:SyncConnected type:NodeChildrenChanged path:/zkcli/child3") {
		t.Errorf("a PERSISTENT (not recursive) watch on /zkcli fired for a grandchild:\n%s", strings.Join(events, "\n"))
	}
	whoami := segments[slices.IndexFunc(zkCliScript, func(s zkCliCommand) bool { return s.cmd == "whoami" })]
	if !slices.Contains(whoami, "digest: alice") || !slices.Contains(whoami, "ip: 127.0.0.1") {
		t.Errorf("whoami does not list digest: alice and ip: 127.0.0.1:\n%s", strings.Join(whoami, "\n"))
	}
}

func zkCliMarker(i int) string { return fmt.Sprintf("/zkcli-marker-%d", i) }

// wantPattern turns an expected line into a regexp: lines that look like
// plain text are matched literally.
func wantPattern(w string) string {
	if strings.ContainsAny(w, `\*+?`) || strings.Contains(w, "[0-9a-f]") {
		return w
	}
	return regexp.QuoteMeta(w)
}

// TestZkCliCommandLine runs one command given on zkCli.sh's command line,
// as scripts do.
func TestZkCliCommandLine(t *testing.T) {
	zkcli := requireZkCli(t)
	addr := startServer(t, zkxtest.Options{})
	c := connect(t, addr, sessionTimeout)
	root := testRoot(t, c)
	mustCreate(t, c, root+"/cmdline", []byte("from go-zookeeper"), 0)
	stdout, err := runToolCombined(t, 2*time.Minute, "", zkcli, "-server", addr, "get", root+"/cmdline")
	if err != nil {
		t.Fatalf("zkCli.sh get: %v\n%s", err, stdout)
	}
	if out := zkCliOutput(stdout); !slices.Contains(out, "from go-zookeeper") {
		t.Errorf("zkCli.sh get %s printed:\n%s", root+"/cmdline", strings.Join(out, "\n"))
	}
}

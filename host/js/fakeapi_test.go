package js

import (
	"fmt"
	"sort"
	"strings"

	"github.com/zkx-project/zkx/core/tree"
	"github.com/zkx-project/zkx/host"
)

// fakeAPI is an in-memory host.API: znodes with stats, sequential
// suffixes, ephemerals, versions, ACL denials by path, and an op budget
// that, like the server's, stays exceeded once exceeded.
type fakeAPI struct {
	nodes    map[string]*fakeNode
	zxid     int64
	session  int64
	now      int64
	seed     uint64
	timedOut bool
	denied   map[string]bool // paths that answer NoAuth
	maxOps   int             // 0: no limit
	ops      int
	over     error
	log      []string // the writes, in order
}

type fakeNode struct {
	data []byte
	stat tree.Stat
}

func newFakeAPI() *fakeAPI {
	a := &fakeAPI{
		nodes:   map[string]*fakeNode{"/": {}},
		session: 0x1a2b3c4d5e6f7788,
		now:     1_700_000_000_000,
		seed:    42,
		denied:  map[string]bool{},
		zxid:    0x100000000,
	}
	return a
}

func zkErr(code int32, name string) error { return &host.Error{Code: code, Message: name} }

var (
	errNoNode      = zkErr(-101, "NoNode")
	errNoAuth      = zkErr(-102, "NoAuth")
	errBadVersion  = zkErr(-103, "BadVersion")
	errNoKids      = zkErr(-108, "NoChildrenForEphemerals")
	errNodeExists  = zkErr(-110, "NodeExists")
	errNotEmpty    = zkErr(-111, "Directory not empty")
	errBadArgument = zkErr(-8, "BadArguments")
)

func (a *fakeAPI) spend() error {
	if a.over != nil {
		return a.over
	}
	a.ops++
	if a.maxOps > 0 && a.ops > a.maxOps {
		a.over = fmt.Errorf("%w: more than %d operations", host.ErrBudget, a.maxOps)
	}
	return a.over
}

func parentOf(path string) string {
	k := strings.LastIndexByte(path, '/')
	if k <= 0 {
		return "/"
	}
	return path[:k]
}

func (a *fakeAPI) kids(path string) []string {
	prefix := path + "/"
	if path == "/" {
		prefix = "/"
	}
	var out []string
	for p := range a.nodes {
		if p != "/" && strings.HasPrefix(p, prefix) && !strings.Contains(p[len(prefix):], "/") {
			out = append(out, p[len(prefix):])
		}
	}
	sort.Strings(out)
	return out
}

func (a *fakeAPI) stat(path string) tree.Stat {
	n := a.nodes[path]
	st := n.stat
	st.DataLength = int32(len(n.data))
	st.NumChildren = int32(len(a.kids(path)))
	return st
}

func (a *fakeAPI) Get(path string) ([]byte, tree.Stat, error) {
	if err := a.spend(); err != nil {
		return nil, tree.Stat{}, err
	}
	if a.denied[path] {
		return nil, tree.Stat{}, errNoAuth
	}
	n := a.nodes[path]
	if n == nil {
		return nil, tree.Stat{}, errNoNode
	}
	return n.data, a.stat(path), nil
}

func (a *fakeAPI) Exists(path string) (tree.Stat, bool, error) {
	if err := a.spend(); err != nil {
		return tree.Stat{}, false, err
	}
	if a.denied[path] {
		return tree.Stat{}, false, errNoAuth
	}
	if a.nodes[path] == nil {
		return tree.Stat{}, false, nil
	}
	return a.stat(path), true, nil
}

func (a *fakeAPI) Children(path string) ([]string, error) {
	if err := a.spend(); err != nil {
		return nil, err
	}
	if a.denied[path] {
		return nil, errNoAuth
	}
	if a.nodes[path] == nil {
		return nil, errNoNode
	}
	return a.kids(path), nil
}

func (a *fakeAPI) Create(path string, data []byte, mode int32) (string, error) {
	if err := a.spend(); err != nil {
		return "", err
	}
	if !strings.HasPrefix(path, "/") || path == "/" || strings.HasSuffix(path, "/") && mode&host.ModePersistentSequential == 0 {
		return "", errBadArgument
	}
	parent := a.nodes[parentOf(path)]
	switch {
	case a.denied[parentOf(path)]:
		return "", errNoAuth
	case parent == nil:
		return "", errNoNode
	case parent.stat.EphemeralOwner != 0:
		return "", errNoKids
	}
	if mode&host.ModePersistentSequential != 0 {
		path += fmt.Sprintf("%010d", parent.stat.Cversion)
	}
	if a.nodes[path] != nil {
		return "", errNodeExists
	}
	a.zxid++
	n := &fakeNode{data: append([]byte(nil), data...)}
	n.stat = tree.Stat{Czxid: a.zxid, Mzxid: a.zxid, Pzxid: a.zxid, Ctime: a.now, Mtime: a.now}
	if mode&host.ModeEphemeral != 0 {
		n.stat.EphemeralOwner = a.session
	}
	a.nodes[path] = n
	parent.stat.Cversion++
	parent.stat.Pzxid = a.zxid
	a.log = append(a.log, "create "+path)
	return path, nil
}

func (a *fakeAPI) Set(path string, data []byte, version int32) (tree.Stat, error) {
	if err := a.spend(); err != nil {
		return tree.Stat{}, err
	}
	n := a.nodes[path]
	switch {
	case a.denied[path]:
		return tree.Stat{}, errNoAuth
	case n == nil:
		return tree.Stat{}, errNoNode
	case version != -1 && version != n.stat.Version:
		return tree.Stat{}, errBadVersion
	}
	a.zxid++
	n.data = append([]byte(nil), data...)
	n.stat.Version++
	n.stat.Mzxid = a.zxid
	n.stat.Mtime = a.now
	a.log = append(a.log, "set "+path)
	return a.stat(path), nil
}

func (a *fakeAPI) Delete(path string, version int32) error {
	if err := a.spend(); err != nil {
		return err
	}
	n := a.nodes[path]
	switch {
	case a.denied[path]:
		return errNoAuth
	case n == nil:
		return errNoNode
	case version != -1 && version != n.stat.Version:
		return errBadVersion
	case len(a.kids(path)) > 0:
		return errNotEmpty
	}
	a.zxid++
	delete(a.nodes, path)
	parent := a.nodes[parentOf(path)]
	parent.stat.Cversion++
	parent.stat.Pzxid = a.zxid
	a.log = append(a.log, "delete "+path)
	return nil
}

func (a *fakeAPI) Session() int64 { return a.session }
func (a *fakeAPI) Now() int64     { return a.now }
func (a *fakeAPI) TimedOut() bool { return a.timedOut }

// Random is the server's splitmix64.
func (a *fakeAPI) Random() uint64 {
	a.seed += 0x9e3779b97f4a7c15
	z := a.seed
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// mustCreate makes a node for a test's setup, outside any budget.
func (a *fakeAPI) mustCreate(path, data string) {
	over, maxOps := a.over, a.maxOps
	a.maxOps = 0
	if _, err := a.Create(path, []byte(data), host.ModePersistent); err != nil {
		panic(fmt.Sprintf("fake: creating %s: %v", path, err))
	}
	a.over, a.maxOps = over, maxOps
	a.log = a.log[:len(a.log)-1]
}

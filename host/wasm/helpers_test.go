package wasm

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/zkx-project/zkx/core/tree"
	"github.com/zkx-project/zkx/host"
)

// Go modules are built once per test binary run, into buildDir.
var (
	buildDir string
	buildMu  sync.Mutex
	built    = map[string][]byte{}
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "zkx-wasm-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	buildDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// goModule builds the Go recipe in pkg (a directory relative to this
// package) with GOOS=wasip1 GOARCH=wasm -buildmode=c-shared.
func goModule(t testing.TB, pkg string) []byte {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if b, ok := built[pkg]; ok {
		return b
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build wasm modules with")
	}
	out := filepath.Join(buildDir, strings.NewReplacer("/", "_", ".", "_").Replace(pkg)+".wasm")
	cmd := exec.Command(gobin, "build", "-buildmode=c-shared", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", pkg, err, msg)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	built[pkg] = b
	return b
}

// fakeAPI is an in-memory tree with ZooKeeper's rules, as a recipe sees it.
type fakeAPI struct {
	nodes    map[string]*fakeNode
	zxid     int64
	session  int64
	now      int64
	seed     uint64
	timedOut bool
	maxOps   int // 0: no limit
	ops      int
}

type fakeNode struct {
	data []byte
	stat tree.Stat
}

func newFakeAPI() *fakeAPI {
	return &fakeAPI{
		nodes:   map[string]*fakeNode{"/": {}},
		session: 0x1234_5678_9abc, now: 1_700_000_000_123, seed: 42,
	}
}

func zkErr(code int32, name string) error { return &host.Error{Code: code, Message: name} }

var (
	errNoNode       = zkErr(-101, "NoNode")
	errNoAuth       = zkErr(-102, "NoAuth")
	errBadVersion   = zkErr(-103, "BadVersion")
	errNoEphKids    = zkErr(-108, "NoChildrenForEphemerals")
	errNodeExists   = zkErr(-110, "NodeExists")
	errNotEmpty     = zkErr(-111, "NotEmpty")
	errBadArguments = zkErr(-8, "BadArguments")
)

func (f *fakeAPI) spend() error {
	f.ops++
	if f.maxOps > 0 && f.ops > f.maxOps {
		return fmt.Errorf("%w: more than %d operations", host.ErrBudget, f.maxOps)
	}
	return nil
}

func parent(path string) string {
	i := strings.LastIndexByte(path, '/')
	if i <= 0 {
		return "/"
	}
	return path[:i]
}

// lookup finds a node the caller may read: /secret is out of bounds.
func (f *fakeAPI) lookup(path string) (*fakeNode, error) {
	if strings.HasPrefix(path, "/secret") {
		return nil, errNoAuth
	}
	n := f.nodes[path]
	if n == nil {
		return nil, errNoNode
	}
	return n, nil
}

func (f *fakeAPI) Get(path string) ([]byte, tree.Stat, error) {
	if err := f.spend(); err != nil {
		return nil, tree.Stat{}, err
	}
	n, err := f.lookup(path)
	if err != nil {
		return nil, tree.Stat{}, err
	}
	return n.data, n.stat, nil
}

func (f *fakeAPI) Exists(path string) (tree.Stat, bool, error) {
	if err := f.spend(); err != nil {
		return tree.Stat{}, false, err
	}
	n, err := f.lookup(path)
	if err == errNoNode {
		return tree.Stat{}, false, nil
	}
	if err != nil {
		return tree.Stat{}, false, err
	}
	return n.stat, true, nil
}

func (f *fakeAPI) Children(path string) ([]string, error) {
	if err := f.spend(); err != nil {
		return nil, err
	}
	if _, err := f.lookup(path); err != nil {
		return nil, err
	}
	var kids []string
	for p := range f.nodes {
		if p != "/" && parent(p) == path {
			kids = append(kids, p[strings.LastIndexByte(p, '/')+1:])
		}
	}
	sort.Strings(kids)
	return kids, nil
}

func (f *fakeAPI) Create(path string, data []byte, mode int32) (string, error) {
	if err := f.spend(); err != nil {
		return "", err
	}
	if mode < host.ModePersistent || mode > host.ModeEphemeralSequential {
		return "", errBadArguments
	}
	p, err := f.lookup(parent(path))
	if err != nil {
		return "", err
	}
	if p.stat.EphemeralOwner != 0 {
		return "", errNoEphKids
	}
	if mode&host.ModePersistentSequential != 0 {
		path += fmt.Sprintf("%010d", p.stat.Cversion)
	}
	if f.nodes[path] != nil {
		return "", errNodeExists
	}
	f.zxid++
	n := &fakeNode{data: data, stat: tree.Stat{Czxid: f.zxid, Mzxid: f.zxid, Pzxid: f.zxid,
		Ctime: f.now, Mtime: f.now, DataLength: int32(len(data))}}
	if mode&host.ModeEphemeral != 0 {
		n.stat.EphemeralOwner = f.session
	}
	f.nodes[path] = n
	p.stat.Cversion++
	p.stat.NumChildren++
	p.stat.Pzxid = f.zxid
	return path, nil
}

func (f *fakeAPI) Set(path string, data []byte, version int32) (tree.Stat, error) {
	if err := f.spend(); err != nil {
		return tree.Stat{}, err
	}
	n, err := f.lookup(path)
	if err != nil {
		return tree.Stat{}, err
	}
	if version != -1 && version != n.stat.Version {
		return tree.Stat{}, errBadVersion
	}
	f.zxid++
	n.data = data
	n.stat.Version++
	n.stat.Mzxid, n.stat.Mtime, n.stat.DataLength = f.zxid, f.now, int32(len(data))
	return n.stat, nil
}

func (f *fakeAPI) Delete(path string, version int32) error {
	if err := f.spend(); err != nil {
		return err
	}
	n, err := f.lookup(path)
	if err != nil {
		return err
	}
	if version != -1 && version != n.stat.Version {
		return errBadVersion
	}
	if n.stat.NumChildren > 0 {
		return errNotEmpty
	}
	f.zxid++
	delete(f.nodes, path)
	p := f.nodes[parent(path)]
	p.stat.Cversion++
	p.stat.NumChildren--
	return nil
}

func (f *fakeAPI) Session() int64 { return f.session }
func (f *fakeAPI) Now() int64     { return f.now }
func (f *fakeAPI) TimedOut() bool { return f.timedOut }

func (f *fakeAPI) Random() uint64 { return splitmix(&f.seed) }

func splitmix(seed *uint64) uint64 {
	*seed += 0x9e3779b97f4a7c15
	z := *seed
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// wasmBuilder assembles small modules by hand, for the ABI's edge cases.
// Imports must be added before functions.
type wasmBuilder struct {
	types, imports, funcs, exports, codes, data [][]byte
	nfuncs                                      uint32
	memory                                      bool
}

func uleb(v uint64) []byte {
	var b []byte
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			c |= 0x80
		}
		b = append(b, c)
		if v == 0 {
			return b
		}
	}
}

func sleb(v int64) []byte {
	var b []byte
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

func vec(items [][]byte) []byte {
	b := uleb(uint64(len(items)))
	for _, it := range items {
		b = append(b, it...)
	}
	return b
}

func wname(s string) []byte { return append(uleb(uint64(len(s))), s...) }

const (
	wI32 = 0x7f
	wI64 = 0x7e
)

func (w *wasmBuilder) typ(params, results []byte) uint32 {
	t := append([]byte{0x60}, append(uleb(uint64(len(params))), params...)...)
	t = append(t, append(uleb(uint64(len(results))), results...)...)
	w.types = append(w.types, t)
	return uint32(len(w.types) - 1)
}

func (w *wasmBuilder) importFunc(mod, name string, params, results []byte) uint32 {
	t := w.typ(params, results)
	w.imports = append(w.imports, append(append(append(wname(mod), wname(name)...), 0x00), uleb(uint64(t))...))
	w.nfuncs++
	return w.nfuncs - 1
}

// fn adds a function with no locals; body excludes the final end.
func (w *wasmBuilder) fn(export string, params, results []byte, body ...byte) uint32 {
	t := w.typ(params, results)
	w.funcs = append(w.funcs, uleb(uint64(t)))
	code := append([]byte{0x00}, body...) // no locals
	code = append(code, 0x0b)
	w.codes = append(w.codes, append(uleb(uint64(len(code))), code...))
	w.nfuncs++
	if export != "" {
		w.exports = append(w.exports, append(append(wname(export), 0x00), uleb(uint64(w.nfuncs-1))...))
	}
	return w.nfuncs - 1
}

func (w *wasmBuilder) exportMemory() {
	w.memory = true
	w.exports = append(w.exports, append(wname("memory"), 0x02, 0x00))
}

func (w *wasmBuilder) segment(offset int32, b []byte) {
	d := append([]byte{0x00, 0x41}, sleb(int64(offset))...)
	d = append(d, 0x0b)
	w.data = append(w.data, append(d, append(uleb(uint64(len(b))), b...)...))
}

func (w *wasmBuilder) bytes() []byte {
	out := []byte("\x00asm\x01\x00\x00\x00")
	section := func(id byte, items [][]byte) {
		if len(items) == 0 {
			return
		}
		p := vec(items)
		out = append(append(append(out, id), uleb(uint64(len(p)))...), p...)
	}
	section(1, w.types)
	section(2, w.imports)
	section(3, w.funcs)
	if w.memory {
		section(5, [][]byte{{0x00, 0x01}}) // one page, no maximum
	}
	section(7, w.exports)
	section(10, w.codes)
	section(11, w.data)
	return out
}

// Instructions.
func i32Const(v int32) []byte { return append([]byte{0x41}, sleb(int64(v))...) }
func i64Const(v int64) []byte { return append([]byte{0x42}, sleb(v)...) }
func call(f uint32) []byte    { return append([]byte{0x10}, uleb(uint64(f))...) }

const drop = 0x1a

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// abiModule is the skeleton of a hand-made recipe: memory and a zkx_alloc
// that always answers 1024.
func abiModule() *wasmBuilder {
	w := &wasmBuilder{}
	w.exportMemory()
	return w
}

func (w *wasmBuilder) withAlloc() *wasmBuilder {
	w.fn(allocExport, []byte{wI32}, []byte{wI32}, i32Const(1024)...)
	return w
}

// recipe adds a recipe function that returns the outcome stored at addr.
func (w *wasmBuilder) recipe(name string, addr int32, outcome []byte) {
	w.segment(addr, outcome)
	w.fn(name, []byte{wI32, wI32}, []byte{wI64}, i64Const(int64(addr)<<32|int64(len(outcome)))...)
}

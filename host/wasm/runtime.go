package wasm

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/zkx-project/zkx/host"
)

// Option configures New.
type Option func(*config)

type config struct {
	poolSize     int
	maxMemoryMiB int
	initTimeout  time.Duration
	cache        wazero.CompilationCache
}

// WithPoolSize sets how many idle instances a module keeps (default 2).
// Starting an instance runs the module's initialization (for Go, its
// runtime and init functions), which costs far more than a call.
func WithPoolSize(n int) Option { return func(c *config) { c.poolSize = max(n, 0) } }

// WithMaxMemoryMiB sets the most memory any instance may have, whatever
// the budget of a call says (default 256 MiB).
func WithMaxMemoryMiB(n int) Option { return func(c *config) { c.maxMemoryMiB = n } }

// WithInitTimeout bounds the start of the instance Compile makes to check
// a module (default 1s). Instances started for a call share its budget.
func WithInitTimeout(d time.Duration) Option { return func(c *config) { c.initTimeout = d } }

// WithCompilationCache shares compiled code with other runtimes (by
// default each runtime has its own in-memory cache). The caller closes it.
func WithCompilationCache(cc wazero.CompilationCache) Option {
	return func(c *config) { c.cache = cc }
}

// keepReleased is how many modules no Module refers to any more stay
// compiled, with one idle instance: the server compiles a module to check
// it when it is stored and again when it is first called.
const keepReleased = 4

// runtime is one wazero runtime with the zkx and WASI host modules.
type runtime struct {
	cfg      config
	w        wazero.Runtime
	ownCache wazero.CompilationCache                      // closed with the runtime
	imports  map[string]map[string]api.FunctionDefinition // what a module may import

	mu       sync.Mutex
	modules  map[[sha256.Size]byte]*compiled // referenced or released
	released []*compiled                     // not referenced, oldest first
	closed   bool
}

// New returns the runtime for WebAssembly modules.
func New(opts ...Option) host.Runtime {
	cfg := config{poolSize: 2, maxMemoryMiB: 256, initTimeout: time.Second}
	for _, o := range opts {
		o(&cfg)
	}
	r := &runtime{cfg: cfg, modules: make(map[[sha256.Size]byte]*compiled)}
	cache := cfg.cache
	if cache == nil {
		cache = wazero.NewCompilationCache()
		r.ownCache = cache
	}
	ctx := context.Background()
	r.w = wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().
		WithCloseOnContextDone(true).
		WithMemoryLimitPages(uint32(max(cfg.maxMemoryMiB, 1))*pagesPerMiB).
		WithCompilationCache(cache))
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, r.w); err != nil {
		panic("wasm: instantiating WASI: " + err.Error())
	}
	hm := r.w.NewHostModuleBuilder(hostModule)
	for _, f := range hostFunctions {
		hm.NewFunctionBuilder().WithGoModuleFunction(f.fn, f.params, f.results).Export(f.name)
	}
	zkx, err := hm.Instantiate(ctx)
	if err != nil {
		panic("wasm: instantiating the zkx host module: " + err.Error())
	}
	r.imports = map[string]map[string]api.FunctionDefinition{
		wasi_snapshot_preview1.ModuleName: r.w.Module(wasi_snapshot_preview1.ModuleName).ExportedFunctionDefinitions(),
		hostModule:                        zkx.ExportedFunctionDefinitions(),
	}
	return r
}

const pagesPerMiB = 16 // 64 KiB pages

func (r *runtime) Kind() host.Kind { return host.KindWASM }

// Compile checks src against the ABI, compiles it and starts an
// instance of it. The error says what is wrong for whoever uploaded it.
func (r *runtime) Compile(name string, src []byte) (host.Module, error) {
	if host.Detect(src) != host.KindWASM {
		return nil, fmt.Errorf("%w: not WebAssembly (no \\0asm header)", host.ErrInvalid)
	}
	key := sha256.Sum256(src)
	m, err := r.acquire(key)
	if m != nil || err != nil {
		return m, err
	}
	ctx := context.Background()
	cm, err := r.w.CompileModule(ctx, src)
	if err != nil {
		return nil, fmt.Errorf("%w: not valid WebAssembly: %v", host.ErrInvalid, err)
	}
	c := &compiled{rt: r, key: key, cm: cm}
	if err := r.checkABI(c); err != nil {
		cm.Close(ctx)
		return nil, fmt.Errorf("%w: %v", host.ErrInvalid, err)
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.initTimeout)
	defer cancel()
	inst, err := c.start(ctx, uint64(r.cfg.maxMemoryMiB)<<20, r.cfg.initTimeout)
	if err != nil {
		cm.Close(context.Background())
		return nil, fmt.Errorf("%w: the module does not start: %w", host.ErrInvalid, err)
	}
	c.idle = append(c.idle, inst)

	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		c.close()
		return nil, ErrClosed
	}
	if other := r.modules[key]; other != nil { // compiled meanwhile by another caller
		c.close()
		c = other
		r.unrelease(c)
	} else {
		r.modules[key] = c
	}
	c.refs++
	return &module{c: c}, nil
}

// acquire returns a new Module for an already compiled module, or nil.
func (r *runtime) acquire(key [sha256.Size]byte) (*module, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, ErrClosed
	}
	c := r.modules[key]
	if c == nil {
		return nil, nil
	}
	r.unrelease(c)
	c.refs++
	return &module{c: c}, nil
}

func (r *runtime) unrelease(c *compiled) {
	for i, rc := range r.released {
		if rc == c {
			r.released = append(r.released[:i], r.released[i+1:]...)
			return
		}
	}
}

// release drops a reference to c; unreferenced modules stay compiled, with
// one idle instance, until keepReleased newer ones push them out.
func (r *runtime) release(c *compiled) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c.refs--
	if c.refs > 0 || r.closed {
		return
	}
	c.trimIdle(1)
	r.released = append(r.released, c)
	for len(r.released) > keepReleased {
		old := r.released[0]
		r.released = r.released[1:]
		delete(r.modules, old.key)
		old.close()
	}
}

// checkABI refuses a module that does not follow the ABI (see doc.go) and
// finds its recipe functions.
func (r *runtime) checkABI(c *compiled) error {
	i32, i64 := api.ValueTypeI32, api.ValueTypeI64
	for _, f := range c.cm.ImportedFunctions() {
		mod, name, _ := f.Import()
		provided, ok := r.imports[mod]
		if !ok {
			return fmt.Errorf("it imports %s.%s: a recipe may import only from %s and %s", mod, name, hostModule, wasi_snapshot_preview1.ModuleName)
		}
		def, ok := provided[name]
		if !ok {
			return fmt.Errorf("it imports %s.%s, which zkx does not provide", mod, name)
		}
		if !sameTypes(f.ParamTypes(), def.ParamTypes()...) || !sameTypes(f.ResultTypes(), def.ResultTypes()...) {
			return fmt.Errorf("it imports %s.%s as %s; zkx provides %s", mod, name, signature(f), signature(def))
		}
	}
	if ms := c.cm.ImportedMemories(); len(ms) > 0 {
		mod, name, _ := ms[0].Import()
		return fmt.Errorf("it imports its memory (%s.%s); it must define and export it as %q", mod, name, "memory")
	}
	if _, ok := c.cm.ExportedMemories()["memory"]; !ok {
		return fmt.Errorf("it does not export its memory as %q", "memory")
	}
	exports := c.cm.ExportedFunctions()
	if _, ok := exports["_start"]; ok {
		return fmt.Errorf("it is a WASI command (it exports _start); build a reactor, e.g. GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared")
	}
	if f, ok := exports["_initialize"]; ok {
		if len(f.ParamTypes()) != 0 || len(f.ResultTypes()) != 0 {
			return fmt.Errorf("its _initialize takes or returns values; it must be func()")
		}
		c.initialize = true
	}
	f, ok := exports[allocExport]
	if !ok {
		return fmt.Errorf("it does not export %s(size i32) i32: build it with zkx's SDK (scripts/sdk) or see host/wasm's ABI", allocExport)
	}
	if !sameTypes(f.ParamTypes(), i32) || !sameTypes(f.ResultTypes(), i32) {
		return fmt.Errorf("its %s is not func(size i32) i32", allocExport)
	}
	for name, f := range exports {
		if name == "_initialize" || strings.HasPrefix(name, "zkx_") {
			continue
		}
		if sameTypes(f.ParamTypes(), i32, i32) && sameTypes(f.ResultTypes(), i64) {
			c.functions = append(c.functions, name)
		}
	}
	if len(c.functions) == 0 {
		return fmt.Errorf("it exports no recipe function (func(argsPtr, argsLen i32) i64)")
	}
	sort.Strings(c.functions)
	return nil
}

func sameTypes(got []api.ValueType, want ...api.ValueType) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}

// signature writes a function type as Go would: func(i32, i32) i64.
func signature(f api.FunctionDefinition) string {
	names := func(ts []api.ValueType) string {
		var s []string
		for _, t := range ts {
			s = append(s, api.ValueTypeName(t))
		}
		return strings.Join(s, ", ")
	}
	sig := "func(" + names(f.ParamTypes()) + ")"
	switch res := f.ResultTypes(); len(res) {
	case 0:
	case 1:
		sig += " " + names(res)
	default:
		sig += " (" + names(res) + ")"
	}
	return sig
}

// Close closes every module and instance.
func (r *runtime) Close() error {
	r.mu.Lock()
	r.closed = true
	mods := r.modules
	r.modules = nil
	r.released = nil
	r.mu.Unlock()
	for _, c := range mods {
		c.close()
	}
	err := r.w.Close(context.Background())
	if r.ownCache != nil {
		if cerr := r.ownCache.Close(context.Background()); err == nil {
			err = cerr
		}
	}
	return err
}

package server

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/zkx-project/zkx/core/acl"
	"github.com/zkx-project/zkx/core/tree"
	"github.com/zkx-project/zkx/core/txn"
	"github.com/zkx-project/zkx/host"
	"github.com/zkx-project/zkx/transport/jute"
)

// Where recipes live in the tree. /zkx/recipes/<name> holds a recipe's
// manifest (JSON) and its children chunk-NNNNN hold the module, zstd-
// compressed and split into nodes small enough to replicate. Clients may
// read them but not write them: /zkx/recipes allows READ and ADMIN only, so
// recipes change only through the system recipe "zkx" (put, delete), which
// checks and compiles a module before it is stored and requires the caller
// to hold ADMIN on /zkx/recipes. /zkx/uploads is where clients put a
// module's chunks before zkx.put (a request may not exceed 1 MiB).
const (
	ZkxPath      = "/zkx"
	RecipesPath  = "/zkx/recipes"
	UploadsPath  = "/zkx/uploads"
	systemRecipe = "zkx"
	chunkPrefix  = "chunk-"
	chunkSize    = 512 << 10
	// MaxModuleSize is the largest module zkx accepts.
	MaxModuleSize = 16 << 20
)

var recipesACL = []acl.ACL{{Perms: acl.Read | acl.Admin, Scheme: "world", ID: "anyone"}}

// manifest is the data of /zkx/recipes/<name>.
type manifest struct {
	Kind      host.Kind `json:"kind"`
	Size      int       `json:"size"`
	SHA256    string    `json:"sha256"`
	Chunks    int       `json:"chunks"`
	Version   int64     `json:"version"`
	Functions []string  `json:"functions"`
	BudgetMs  int       `json:"budget_ms,omitempty"`
	Builtin   bool      `json:"builtin,omitempty"` // installed by the server, not uploaded
	// Upload is the upload node zkx.put installed this version from. A
	// client re-sends a call that was in flight when its connection
	// dropped; a put whose upload is gone but is named here already ran.
	Upload string `json:"upload,omitempty"`
}

// compiledRecipe is a module compiled from one version of a recipe,
// identified by its manifest's mzxid.
type compiledRecipe struct {
	mzxid  int64
	mod    host.Module
	man    manifest
	budget host.Budget
}

// recipeKey identifies a call: the session and the cxid of its request.
type recipeKey struct {
	session int64
	cxid    int32
}

// parkedCall is a recipe call waiting for a change to one of its paths.
type parkedCall struct {
	req      *Request
	wait     []string
	deadline time.Time // zero: until the session ends
}

// recipeError maps how a run failed to a ZooKeeper-style code and message.
func recipeError(name, fn string, err error) (jute.Err, string) {
	var he *host.Error
	switch {
	case errors.As(err, &he):
		code := jute.Err(he.Code)
		if code == 0 {
			code = jute.ErrRecipeFailed
		}
		return code, fmt.Sprintf("recipe %s.%s failed: %s", name, fn, he.Message)
	case errors.Is(err, host.ErrBudget):
		return jute.ErrRecipeBudget, fmt.Sprintf("recipe %s.%s: %v", name, fn, err)
	case errors.Is(err, host.ErrNoFunction):
		return jute.ErrRecipeNotFound, fmt.Sprintf("recipe %s has no function %q", name, fn)
	}
	return jute.ErrRecipeFailed, fmt.Sprintf("recipe %s.%s failed: %v", name, fn, err)
}

func failed(code jute.Err, msg string) txn.Op {
	return &txn.RecipeResult{Code: int32(code), Message: msg}
}

// prepRecipeCall runs a recipe call in prep. Its writes go to a scratch
// layer; the txn is the writes plus a RecipeResult, or, if the run fails,
// the RecipeResult alone (no effects).
func (s *Server) prepRecipeCall(r *Request, t *txn.Txn) txn.Op {
	req, ok := r.Body.(*jute.RecipeCallRequest)
	if !ok {
		return failed(jute.ErrMarshallingError, "undecodable recipe call")
	}
	if req.Name == systemRecipe {
		return s.prepSystemCall(r, req, t)
	}
	cr, errc, msg := s.loadRecipe(s.view, req.Name)
	if errc != 0 {
		return failed(errc, msg)
	}
	if !hasFunction(cr.mod.Functions(), req.Function) {
		return failed(jute.ErrRecipeNotFound, fmt.Sprintf("recipe %s has no function %q (it has %s)",
			req.Name, req.Function, strings.Join(cr.mod.Functions(), ", ")))
	}
	l := newLayer(s.view)
	api := &recipeAPI{s: s, l: l, r: r, t: t, budget: cr.budget, seed: uint64(t.Zxid)}
	out, err := cr.mod.Call(req.Function, req.Args, api, cr.budget)
	if err == nil && api.over != nil {
		err = api.over // the module swallowed a budget error
	}
	if err != nil {
		code, msg := recipeError(req.Name, req.Function, err)
		return failed(code, msg)
	}
	rr := &txn.RecipeResult{Result: out.Result}
	if len(out.Wait) > 0 {
		rr = &txn.RecipeResult{Parked: true, Wait: out.Wait}
	}
	l.commit()
	if len(api.ops) == 0 {
		return rr
	}
	return &txn.Multi{Ops: append(api.ops, rr)}
}

func hasFunction(fns []string, fn string) bool {
	for _, f := range fns {
		if f == fn {
			return true
		}
	}
	return false
}

// loadRecipe returns the compiled module of the recipe as the view holds
// it. Modules are compiled by content (see modules); the compile gate
// (gate.go) has normally compiled it before the call reached prep, so prep
// does not stall on a compiler.
func (s *Server) loadRecipe(v view, name string) (*compiledRecipe, jute.Err, string) {
	if !validRecipeName(name) {
		return nil, jute.ErrRecipeNotFound, fmt.Sprintf("no recipe named %q", name)
	}
	path := RecipesPath + "/" + name
	rec := v.get(path)
	if rec == nil {
		return nil, jute.ErrRecipeNotFound, fmt.Sprintf("no recipe named %q", name)
	}
	if cr := s.recipes[name]; cr != nil && cr.mzxid == rec.stat.Mzxid {
		return cr, 0, ""
	}
	var man manifest
	if err := json.Unmarshal(rec.data, &man); err != nil {
		return nil, jute.ErrRecipeInvalid, fmt.Sprintf("recipe %s: bad manifest: %v", name, err)
	}
	mod, err := s.modules.get(man.SHA256)
	if err != nil {
		err = fmt.Errorf("recipe %s %v", name, err)
	} else if mod == nil {
		module, errc, msg := readModule(viewData(v), name, man)
		if errc != 0 {
			return nil, errc, msg
		}
		mod, err = s.compile(name, module)
	}
	if err != nil {
		return nil, jute.ErrRecipeInvalid, err.Error()
	}
	budget := s.cfg.RecipeBudget
	if man.BudgetMs > 0 {
		budget = budget.Min(host.Budget{Time: time.Duration(man.BudgetMs) * time.Millisecond})
	}
	cr := &compiledRecipe{mzxid: rec.stat.Mzxid, mod: mod, man: man, budget: budget}
	s.recipes[name] = cr
	s.modules.prune(s.recipes)
	return cr, 0, ""
}

// viewData and treeData read a node's data from prep's view or from the
// committed tree.
func viewData(v view) func(string) ([]byte, bool) {
	return func(path string) ([]byte, bool) {
		if r := v.get(path); r != nil {
			return r.data, true
		}
		return nil, false
	}
}

func treeData(t *tree.Tree) func(string) ([]byte, bool) {
	return func(path string) ([]byte, bool) {
		data, _, _, ok := t.Node(path)
		return data, ok
	}
}

// readModule reads and decompresses a stored recipe's module.
func readModule(get func(string) ([]byte, bool), name string, man manifest) ([]byte, jute.Err, string) {
	var compressed bytes.Buffer
	for i := 0; i < man.Chunks; i++ {
		data, ok := get(fmt.Sprintf("%s/%s/%s%05d", RecipesPath, name, chunkPrefix, i))
		if !ok {
			return nil, jute.ErrRecipeInvalid, fmt.Sprintf("recipe %s: chunk %d missing", name, i)
		}
		compressed.Write(data)
	}
	module, err := DecompressModule(compressed.Bytes())
	if err != nil {
		return nil, jute.ErrRecipeInvalid, fmt.Sprintf("recipe %s: %v", name, err)
	}
	return module, 0, ""
}

// moduleCache holds compiled modules by the SHA-256 of their bytes, and
// the compile errors of modules that did not compile. Compiling can take
// seconds (a Go module compiled to WebAssembly), so it is done before prep
// where possible: by the compile gate, for a zkx.put or a call of a recipe
// not compiled yet (precompile, on a goroutine of the node's), and at
// startup for every stored recipe (WarmRecipes). Prep then finds the
// module here.
type moduleCache struct {
	mu     sync.Mutex
	byHash map[string]*cachedModule
	recent []string // insertion order, newest last
	// compiling has a channel per module being compiled, closed when it
	// is cached: one compile per module, however many calls need it.
	compiling map[string]chan struct{}
}

// claim returns nil if the caller is to compile module sha, else a
// channel closed when whoever compiles it is done.
func (m *moduleCache) claim(sha string) <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	if ch, ok := m.compiling[sha]; ok {
		return ch
	}
	if m.compiling == nil {
		m.compiling = make(map[string]chan struct{})
	}
	m.compiling[sha] = make(chan struct{})
	return nil
}

// release ends the caller's claim on sha.
func (m *moduleCache) release(sha string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	close(m.compiling[sha])
	delete(m.compiling, sha)
}

type cachedModule struct {
	mod host.Module
	err error
}

// keepRecent is how many recently compiled modules stay cached without a
// recipe using them (an upload between its compile and its prep, say).
const keepRecent = 8

func (m *moduleCache) get(sha string) (host.Module, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c := m.byHash[sha]; c != nil {
		return c.mod, c.err
	}
	return nil, nil
}

// put caches a compiled module (or its error) unless one is cached
// already, and returns what is cached.
func (m *moduleCache) put(sha string, mod host.Module, err error) (host.Module, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c := m.byHash[sha]; c != nil {
		if mod != nil {
			mod.Close()
		}
		return c.mod, c.err
	}
	if m.byHash == nil {
		m.byHash = make(map[string]*cachedModule)
	}
	m.byHash[sha] = &cachedModule{mod: mod, err: err}
	m.recent = append(m.recent, sha)
	return mod, err
}

// prune closes the modules no recipe uses, except the most recent. Only
// prep calls modules and prune, so no call is running on what it closes.
func (m *moduleCache) prune(inUse map[string]*compiledRecipe) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.byHash) <= keepRecent {
		return
	}
	used := make(map[string]bool, len(inUse))
	for _, cr := range inUse {
		used[cr.man.SHA256] = true
	}
	var keep []string
	for i, sha := range m.recent {
		c := m.byHash[sha]
		if used[sha] || i >= len(m.recent)-keepRecent {
			keep = append(keep, sha)
			continue
		}
		if c.mod != nil {
			c.mod.Close()
		}
		delete(m.byHash, sha)
	}
	m.recent = keep
}

// precompile compiles, for the compile gate and outside prep, the module a
// recipe call will need: the upload of a zkx.put, or
// the stored module of a recipe that is not compiled yet. It reads the
// committed tree; if prep then sees a different module (a put raced with
// this call), prep compiles that one itself.
func (s *Server) precompile(r *Request) {
	req, ok := r.Body.(*jute.RecipeCallRequest)
	if !ok || len(s.cfg.Runtimes) == 0 {
		return
	}
	if req.Name == systemRecipe {
		var a systemArgs
		if req.Function != "put" || json.Unmarshal(req.Args, &a) != nil || !strings.HasPrefix(a.Upload, UploadsPath+"/") {
			return
		}
		var compressed bytes.Buffer
		s.WithTree(func(t *tree.Tree) {
			kids, _, _ := t.Children(a.Upload)
			for _, k := range kids {
				data, _, _, _ := t.Node(a.Upload + "/" + k)
				compressed.Write(data)
			}
		})
		if module, err := DecompressModule(compressed.Bytes()); err == nil {
			s.compile(a.Name, module)
		}
		return
	}
	s.warm(req.Name)
}

// warm compiles stored recipe name unless its module is compiled.
func (s *Server) warm(name string) {
	if !validRecipeName(name) {
		return
	}
	var man manifest
	var module []byte
	s.WithTree(func(t *tree.Tree) {
		data, ok := treeData(t)(RecipesPath + "/" + name)
		if !ok || json.Unmarshal(data, &man) != nil {
			return
		}
		if mod, err := s.modules.get(man.SHA256); mod != nil || err != nil {
			return
		}
		module, _, _ = readModule(treeData(t), name, man)
	})
	if module != nil {
		s.compile(name, module)
	}
}

// WarmRecipes compiles every stored recipe, so that the first calls after
// a start do not wait for a compiler. Nodes run it in the background.
func (s *Server) WarmRecipes() {
	if len(s.cfg.Runtimes) == 0 {
		return
	}
	var names []string
	s.WithTree(func(t *tree.Tree) {
		kids, _, _ := t.Children(RecipesPath)
		names = append(names, kids...) // the tree's slice is shared
	})
	for _, n := range names {
		s.warm(n)
	}
}

func validRecipeName(name string) bool {
	if name == "" || len(name) > 128 || name == systemRecipe {
		return false
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// compile returns module compiled with the runtime for its kind, from the
// module cache when it was compiled before. The module belongs to the
// cache: callers do not close it.
func (s *Server) compile(name string, module []byte) (host.Module, error) {
	sum := sha256.Sum256(module)
	sha := hex.EncodeToString(sum[:])
	for {
		if mod, err := s.modules.get(sha); err != nil {
			return nil, fmt.Errorf("recipe %s %v", name, err)
		} else if mod != nil {
			return mod, nil
		}
		wait := s.modules.claim(sha)
		if wait == nil {
			break
		}
		<-wait // somebody else compiles it
	}
	defer s.modules.release(sha)
	if mod, err := s.modules.get(sha); mod != nil || err != nil {
		if err != nil {
			return nil, fmt.Errorf("recipe %s %v", name, err)
		}
		return mod, nil // compiled between the look and the claim
	}
	kind := host.Detect(module)
	rt := s.cfg.Runtimes[kind]
	if rt == nil {
		return nil, fmt.Errorf("recipe %s: this server has no %s runtime", name, kind)
	}
	mod, err := rt.Compile(name, module)
	if err != nil {
		mod, err = nil, fmt.Errorf("does not compile: %v", err)
	}
	mod, err = s.modules.put(sha, mod, err)
	if err != nil {
		return nil, fmt.Errorf("recipe %s %v", name, err)
	}
	return mod, nil
}

var zstdEncoder, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1))
var zstdDecoder, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(MaxModuleSize+1))

// CompressModule is how a module is stored and uploaded: zstd.
func CompressModule(module []byte) []byte { return zstdEncoder.EncodeAll(module, nil) }

// DecompressModule undoes CompressModule, refusing modules over
// MaxModuleSize.
func DecompressModule(b []byte) ([]byte, error) {
	out, err := zstdDecoder.DecodeAll(b, nil)
	if errors.Is(err, zstd.ErrDecoderSizeExceeded) || errors.Is(err, zstd.ErrWindowSizeExceeded) {
		return nil, fmt.Errorf("module is larger than %d bytes", MaxModuleSize)
	}
	if err != nil {
		return nil, fmt.Errorf("module is not zstd-compressed or is damaged: %v", err)
	}
	if len(out) > MaxModuleSize {
		return nil, fmt.Errorf("module of %d bytes is larger than %d", len(out), MaxModuleSize)
	}
	return out, nil
}

// systemArgs are the arguments of zkx.put and zkx.delete.
type systemArgs struct {
	Name     string `json:"name"`
	Upload   string `json:"upload"`    // put: the node whose children hold the compressed module
	BudgetMs int    `json:"budget_ms"` // put: lower the recipe's time budget
}

// prepSystemCall runs zkx.put or zkx.delete: recipe management, done by the
// server itself under the recipes' ACL.
func (s *Server) prepSystemCall(r *Request, req *jute.RecipeCallRequest, t *txn.Txn) txn.Op {
	var a systemArgs
	if err := json.Unmarshal(req.Args, &a); err != nil {
		return failed(jute.ErrBadArguments, fmt.Sprintf("zkx.%s: arguments must be JSON: %v", req.Function, err))
	}
	if !validRecipeName(a.Name) {
		return failed(jute.ErrBadArguments, fmt.Sprintf("zkx.%s: %q is not a valid recipe name (letters, digits, _ - . only)", req.Function, a.Name))
	}
	recipes := s.view.get(RecipesPath)
	if recipes == nil {
		return failed(jute.ErrRecipeNotFound, "zkx: the recipe registry does not exist yet")
	}
	if !acl.Check(recipes.acl, acl.Admin, r.Auth) {
		return failed(jute.ErrNoAuth, "zkx."+req.Function+": changing recipes needs ADMIN on "+RecipesPath)
	}
	l := newLayer(s.view)
	sys := &Request{Session: r.Session, Auth: []acl.Id{{Scheme: "super"}}}
	var ops []txn.Op
	switch req.Function {
	case "put":
		kids := l.children(a.Upload)
		if !strings.HasPrefix(a.Upload, UploadsPath+"/") || kids == nil {
			if rec := l.get(RecipesPath + "/" + a.Name); rec != nil && kids == nil {
				var man manifest
				if json.Unmarshal(rec.data, &man) == nil && man.Upload == a.Upload {
					// The same put again (re-sent after a reconnect): done.
					return &txn.Multi{Ops: []txn.Op{&txn.RecipeResult{Result: []byte(`{"ok":true}`)}}}
				}
			}
			return failed(jute.ErrBadArguments, fmt.Sprintf("zkx.put: no upload at %q", a.Upload))
		}
		var compressed bytes.Buffer
		for _, k := range kids {
			compressed.Write(l.get(a.Upload + "/" + k).data)
		}
		module, err := DecompressModule(compressed.Bytes())
		if err != nil {
			return failed(jute.ErrRecipeInvalid, "zkx.put "+a.Name+": "+err.Error())
		}
		var errc jute.Err
		var msg string
		ops, errc, msg = s.installRecipe(l, sys, t, a.Name, module, a.BudgetMs, a.Upload)
		if errc != 0 {
			return failed(errc, msg)
		}
		for _, k := range kids {
			op, errc := s.prepDelete(l, &jute.PathVersionRequest{Path: a.Upload + "/" + k, Version: -1}, sys.Auth, t)
			if errc != 0 {
				return failed(errc, "zkx.put: removing the upload: "+errc.Name())
			}
			ops = append(ops, op)
		}
		if op, errc := s.prepDelete(l, &jute.PathVersionRequest{Path: a.Upload, Version: -1}, sys.Auth, t); errc == 0 {
			ops = append(ops, op)
		}
	case "delete":
		var errc jute.Err
		ops, errc = s.removeRecipe(l, sys, t, a.Name)
		if errc != 0 {
			return failed(errc, fmt.Sprintf("zkx.delete: no recipe named %q", a.Name))
		}
	default:
		return failed(jute.ErrRecipeNotFound, fmt.Sprintf("recipe zkx has no function %q (it has put, delete)", req.Function))
	}
	l.commit()
	return &txn.Multi{Ops: append(ops, &txn.RecipeResult{Result: []byte(`{"ok":true}`)})}
}

// installRecipe checks and compiles module and returns the ops that store
// it as recipe name (replacing an older version).
// upload is the zkx.put's upload node, "" for a builtin.
func (s *Server) installRecipe(l *layer, sys *Request, t *txn.Txn, name string, module []byte, budgetMs int, upload string) ([]txn.Op, jute.Err, string) {
	if len(module) > MaxModuleSize {
		return nil, jute.ErrRecipeInvalid, fmt.Sprintf("recipe %s: module of %d bytes is larger than %d", name, len(module), MaxModuleSize)
	}
	mod, err := s.compile(name, module)
	if err != nil {
		return nil, jute.ErrRecipeInvalid, err.Error()
	}
	fns := mod.Functions()
	kind := mod.Kind()
	sum := sha256.Sum256(module)
	man := manifest{Kind: kind, Size: len(module), SHA256: hex.EncodeToString(sum[:]), Functions: fns, BudgetMs: budgetMs, Version: 1, Builtin: upload == "", Upload: upload}
	var ops []txn.Op
	path := RecipesPath + "/" + name
	if old := l.get(path); old != nil {
		var om manifest
		if json.Unmarshal(old.data, &om) == nil {
			man.Version = om.Version + 1
		}
		rm, _ := s.removeRecipe(l, sys, t, name)
		ops = append(ops, rm...)
	}
	compressed := CompressModule(module)
	for i := 0; i*chunkSize < len(compressed) || i == 0; i++ {
		man.Chunks++
		if (i+1)*chunkSize >= len(compressed) {
			break
		}
	}
	manData, _ := json.Marshal(man)
	op, errc := s.prepCreate(l, jute.OpCreate, &jute.CreateRequest{Path: path, Data: manData, ACL: fromACL(recipesACL), TTL: -1}, sys, t)
	if errc != 0 {
		return nil, errc, fmt.Sprintf("recipe %s: storing the manifest: %s", name, errc.Name())
	}
	ops = append(ops, op)
	for i := 0; i < man.Chunks; i++ {
		end := min((i+1)*chunkSize, len(compressed))
		op, errc := s.prepCreate(l, jute.OpCreate, &jute.CreateRequest{
			Path: fmt.Sprintf("%s/%s%05d", path, chunkPrefix, i), Data: compressed[i*chunkSize : end],
			ACL: fromACL(recipesACL), TTL: -1}, sys, t)
		if errc != 0 {
			return nil, errc, fmt.Sprintf("recipe %s: storing chunk %d: %s", name, i, errc.Name())
		}
		ops = append(ops, op)
	}
	return ops, 0, ""
}

// removeRecipe returns the ops that delete recipe name.
func (s *Server) removeRecipe(l *layer, sys *Request, t *txn.Txn, name string) ([]txn.Op, jute.Err) {
	path := RecipesPath + "/" + name
	kids := l.children(path)
	if kids == nil {
		return nil, jute.ErrNoNode
	}
	var ops []txn.Op
	for _, k := range kids {
		op, errc := s.prepDelete(l, &jute.PathVersionRequest{Path: path + "/" + k, Version: -1}, sys.Auth, t)
		if errc != 0 {
			return nil, errc
		}
		ops = append(ops, op)
	}
	op, errc := s.prepDelete(l, &jute.PathVersionRequest{Path: path, Version: -1}, sys.Auth, t)
	if errc != 0 {
		return nil, errc
	}
	return append(ops, op), 0
}

// Builtin is a recipe that ships with the server.
type Builtin struct {
	Name   string
	Module []byte
}

// prepInstallBuiltins creates the registry nodes if needed and installs the
// builtin recipes: each one the first time, and again when the server ships
// a different version of it. A recipe an operator replaced with their own
// (zkx recipe put) or deleted stays so; /zkx/recipes's data lists the
// builtins ever installed, one name per line, to tell "deleted" from "new".
func (s *Server) prepInstallBuiltins(r *Request, t *txn.Txn) txn.Op {
	l := newLayer(s.view)
	sys := &Request{Session: 0, Auth: []acl.Id{{Scheme: "super"}}}
	var ops []txn.Op
	for _, n := range []struct {
		path string
		acl  []acl.ACL
	}{{ZkxPath, acl.OpenUnsafe}, {RecipesPath, recipesACL}, {UploadsPath, acl.OpenUnsafe}} {
		if l.get(n.path) != nil {
			continue
		}
		op, errc := s.prepCreate(l, jute.OpCreate, &jute.CreateRequest{Path: n.path, ACL: fromACL(n.acl), TTL: -1}, sys, t)
		if errc != 0 {
			s.log.Error("creating the recipe registry", "path", n.path, "err", errc.Name())
			return nil
		}
		ops = append(ops, op)
	}
	installed := map[string]bool{}
	var list []string
	for _, n := range strings.Split(string(l.get(RecipesPath).data), "\n") {
		if n != "" {
			installed[n] = true
			list = append(list, n)
		}
	}
	for _, b := range r.builtins {
		h := sha256.Sum256(b.Module)
		sum := hex.EncodeToString(h[:])
		if rec := l.get(RecipesPath + "/" + b.Name); rec != nil {
			var man manifest
			if json.Unmarshal(rec.data, &man) != nil || !man.Builtin || man.SHA256 == sum {
				continue // the operator's own recipe, or this version already
			}
		} else if installed[b.Name] {
			continue // deleted by an operator
		}
		more, errc, msg := s.installRecipe(l, sys, t, b.Name, b.Module, 0, "")
		if errc != 0 {
			s.log.Error("builtin recipe not installed", "recipe", b.Name, "err", msg)
			continue
		}
		ops = append(ops, more...)
		if !installed[b.Name] {
			installed[b.Name] = true
			list = append(list, b.Name)
		}
	}
	if len(ops) == 0 {
		return nil
	}
	if strings.Join(list, "\n") != string(l.get(RecipesPath).data) {
		op, errc := s.prepSetData(l, &jute.SetDataRequest{Path: RecipesPath, Data: []byte(strings.Join(list, "\n")), Version: -1}, sys.Auth, t)
		if errc != 0 {
			s.log.Error("recording the installed builtin recipes", "err", errc.Name())
			return nil
		}
		ops = append(ops, op)
	}
	l.commit()
	return &txn.Multi{Ops: ops}
}

// InstallBuiltins installs the builtin recipes (once the server runs).
func (s *Server) InstallBuiltins(builtins []Builtin) {
	s.submit(&Request{Op: opInstallBuiltinsInternal, builtins: builtins})
}

// recipeAPI is what a running recipe sees: the prep view through the
// call's scratch layer, with the caller's identity and the txn's time.
type recipeAPI struct {
	s      *Server
	l      *layer
	r      *Request
	t      *txn.Txn
	ops    []txn.Op
	budget host.Budget
	nops   int
	nbytes int
	seed   uint64
	over   error
}

func (a *recipeAPI) spend(bytes int) error {
	if a.over != nil {
		return a.over
	}
	a.nops++
	a.nbytes += bytes
	if a.budget.Ops > 0 && a.nops > a.budget.Ops {
		a.over = fmt.Errorf("%w: more than %d operations", host.ErrBudget, a.budget.Ops)
	} else if a.budget.Bytes > 0 && a.nbytes > a.budget.Bytes {
		a.over = fmt.Errorf("%w: more than %d bytes written", host.ErrBudget, a.budget.Bytes)
	}
	return a.over
}

func apiErr(code jute.Err) error { return &host.Error{Code: int32(code), Message: code.Name()} }

func (a *recipeAPI) Get(path string) ([]byte, tree.Stat, error) {
	if err := a.spend(0); err != nil {
		return nil, tree.Stat{}, err
	}
	rec := a.l.get(path)
	if rec == nil {
		return nil, tree.Stat{}, apiErr(jute.ErrNoNode)
	}
	if !acl.Check(rec.acl, acl.Read, a.r.Auth) {
		return nil, tree.Stat{}, apiErr(jute.ErrNoAuth)
	}
	return rec.data, tree.ClientStat(rec.stat), nil
}

func (a *recipeAPI) Exists(path string) (tree.Stat, bool, error) {
	if err := a.spend(0); err != nil {
		return tree.Stat{}, false, err
	}
	rec := a.l.get(path)
	if rec == nil {
		return tree.Stat{}, false, nil
	}
	if !acl.Check(rec.acl, acl.Read, a.r.Auth) {
		return tree.Stat{}, false, apiErr(jute.ErrNoAuth)
	}
	return tree.ClientStat(rec.stat), true, nil
}

func (a *recipeAPI) Children(path string) ([]string, error) {
	if err := a.spend(0); err != nil {
		return nil, err
	}
	rec := a.l.get(path)
	if rec == nil {
		return nil, apiErr(jute.ErrNoNode)
	}
	if !acl.Check(rec.acl, acl.Read, a.r.Auth) {
		return nil, apiErr(jute.ErrNoAuth)
	}
	return a.l.children(path), nil
}

func (a *recipeAPI) Create(path string, data []byte, mode int32) (string, error) {
	if err := a.spend(len(path) + len(data)); err != nil {
		return "", err
	}
	if mode < host.ModePersistent || mode > host.ModeEphemeralSequential {
		return "", apiErr(jute.ErrBadArguments)
	}
	// A node a recipe makes inherits its parent's ACL.
	acls := acl.OpenUnsafe
	if parentPath, _, ok := parentOf(path); ok {
		if p := a.l.get(parentPath); p != nil && len(p.acl) > 0 {
			acls = p.acl
		}
	}
	if data == nil {
		data = []byte{}
	}
	op, errc := a.s.prepCreate(a.l, jute.OpCreate, &jute.CreateRequest{Path: path, Data: data, ACL: fromACL(acls), Flags: mode, TTL: -1}, a.r, a.t)
	if errc != 0 {
		return "", apiErr(errc)
	}
	a.ops = append(a.ops, op)
	return op.(*txn.Create).Path, nil
}

func (a *recipeAPI) Set(path string, data []byte, version int32) (tree.Stat, error) {
	if err := a.spend(len(data)); err != nil {
		return tree.Stat{}, err
	}
	op, errc := a.s.prepSetData(a.l, &jute.SetDataRequest{Path: path, Data: data, Version: version}, a.r.Auth, a.t)
	if errc != 0 {
		return tree.Stat{}, apiErr(errc)
	}
	a.ops = append(a.ops, op)
	return tree.ClientStat(a.l.get(path).stat), nil
}

func (a *recipeAPI) Delete(path string, version int32) error {
	if err := a.spend(0); err != nil {
		return err
	}
	op, errc := a.s.prepDelete(a.l, &jute.PathVersionRequest{Path: path, Version: version}, a.r.Auth, a.t)
	if errc != 0 {
		return apiErr(errc)
	}
	a.ops = append(a.ops, op)
	return nil
}

func (a *recipeAPI) Session() int64 { return a.r.Session }
func (a *recipeAPI) Now() int64     { return a.t.Time }
func (a *recipeAPI) TimedOut() bool { return a.r.timedOut }

// Random is splitmix64 seeded by the txn's zxid: every replay of the txn
// sees the same numbers (followers never run recipes anyway).
func (a *recipeAPI) Random() uint64 {
	a.seed += 0x9e3779b97f4a7c15
	z := a.seed
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// callTimeout reads a call's deadline from its arguments: a JSON object
// with "timeout_ms" bounds how long it may wait.
func callTimeout(args []byte) time.Duration {
	var a struct {
		TimeoutMs int64 `json:"timeout_ms"`
	}
	if len(args) == 0 || args[0] != '{' || json.Unmarshal(args, &a) != nil || a.TimeoutMs <= 0 {
		return 0
	}
	return time.Duration(a.TimeoutMs) * time.Millisecond
}

// recipeResultOf finds the RecipeResult of a recipe call's txn.
func recipeResultOf(op txn.Op) *txn.RecipeResult {
	switch o := op.(type) {
	case *txn.RecipeResult:
		return o
	case *txn.Multi:
		if n := len(o.Ops); n > 0 {
			rr, _ := o.Ops[n-1].(*txn.RecipeResult)
			return rr
		}
	}
	return nil
}

// answerRecipe sends a recipe call's reply: the result, or the error code
// with the message as the body.
func (c *Conn) answerRecipe(r *Request, t *txn.Txn, rr *txn.RecipeResult) {
	defer c.recordLatency(r)
	if rr == nil {
		c.reply(r.Xid, t.Zxid, jute.ErrSystemError, nil)
		return
	}
	if rr.Code != 0 {
		c.replyWithBody(r.Xid, t.Zxid, jute.Err(rr.Code), &jute.BufferResponse{Data: []byte(rr.Message)})
		return
	}
	c.reply(r.Xid, t.Zxid, 0, &jute.BufferResponse{Data: rr.Result})
}

// ParkedCalls is the number of recipe calls waiting for a change.
func (s *Server) ParkedCalls() int {
	s.parkMu.Lock()
	defer s.parkMu.Unlock()
	return len(s.parked)
}

// notePrepped records, in prep, the txn of a recipe call: a run that
// waits makes the call awaited (its reply comes later, out of order) and
// returns the paths to park it on; every txn of an awaited call is
// counted until apply answers it. The caller holds prepLock.
func (s *Server) notePrepped(r *Request, t *txn.Txn) (wait []string) {
	key := recipeKey{r.Session, r.Xid}
	rr := recipeResultOf(t.Op)
	parks := rr != nil && rr.Parked
	s.parkMu.Lock()
	defer s.parkMu.Unlock()
	if s.awaiting[key] == r {
		r.inflight++
	} else if parks {
		s.awaiting[key] = r
		r.inflight++
	}
	if parks && !r.dropped {
		return rr.Wait
	}
	return nil
}

// park files a call that waits until a change to one of wait, or its
// deadline. The caller holds prepLock.
func (s *Server) park(r *Request, wait []string) {
	s.parkMu.Lock()
	defer s.parkMu.Unlock()
	if r.dropped {
		return
	}
	if r.deadline.IsZero() {
		if d := callTimeout(r.recipeArgs()); d > 0 {
			r.deadline = r.received.Add(d)
		}
	}
	pc := &parkedCall{req: r, wait: wait, deadline: r.deadline}
	s.parked[r] = pc
	for _, p := range wait {
		set := s.parkedByPath[p]
		if set == nil {
			set = make(map[*Request]struct{})
			s.parkedByPath[p] = set
		}
		set[r] = struct{}{}
	}
}

// unpark removes a parked call. The caller holds s.parkMu.
func (s *Server) unpark(r *Request) {
	pc := s.parked[r]
	if pc == nil {
		return
	}
	delete(s.parked, r)
	for _, p := range pc.wait {
		if set := s.parkedByPath[p]; set != nil {
			delete(set, r)
			if len(set) == 0 {
				delete(s.parkedByPath, p)
			}
		}
	}
}

// wakeFor queues for a re-run the calls waiting on a path op changes: a
// node created, deleted or written, and the parent whose children
// changed. The caller holds prepLock.
func (s *Server) wakeFor(op txn.Op) {
	s.parkMu.Lock()
	defer s.parkMu.Unlock()
	if len(s.parkedByPath) == 0 {
		return
	}
	touched(op, func(path string) {
		for r := range s.parkedByPath[path] {
			s.unpark(r)
			s.reruns = append(s.reruns, r)
		}
	})
}

// touched calls fn with every path op changes (parents included when
// their children change). A failed multi changes nothing.
func touched(op txn.Op, fn func(string)) {
	switch o := op.(type) {
	case *txn.Create:
		fn(o.Path)
		fn(parentPath(o.Path))
	case *txn.Delete:
		fn(o.Path)
		fn(parentPath(o.Path))
	case *txn.SetData:
		fn(o.Path)
	case *txn.SetACL:
		fn(o.Path)
	case *txn.CloseSession:
		for _, p := range o.Paths {
			fn(p)
			fn(parentPath(p))
		}
	case *txn.Multi:
		for _, m := range o.Ops {
			if _, failed := m.(*txn.Error); failed {
				return
			}
		}
		for _, m := range o.Ops {
			touched(m, fn)
		}
	}
}

func parentPath(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i <= 0 {
		return "/"
	}
	return p[:i]
}

// maxRerunsPerSubmit bounds the re-runs one request triggers before
// prep serves others; a longer chain goes on at the next request or
// tick. (Recipes that keep waking each other would otherwise hold prep.)
const maxRerunsPerSubmit = 10000

// runReruns preps the calls woken by what was just prepped (and those
// their runs wake in turn). The caller holds prepLock.
func (s *Server) runReruns() {
	for n := 0; n < maxRerunsPerSubmit; n++ {
		s.parkMu.Lock()
		if len(s.reruns) == 0 {
			s.parkMu.Unlock()
			return
		}
		r := s.reruns[0]
		s.reruns[0] = nil
		s.reruns = s.reruns[1:]
		if len(s.reruns) == 0 {
			s.reruns = nil
		}
		s.parkMu.Unlock()
		s.prep(r)
	}
}

// expireParked re-runs, with TimedOut set, the calls whose deadline passed.
func (s *Server) expireParked(now time.Time) {
	s.parkMu.Lock()
	var due []*Request
	for r, pc := range s.parked {
		if !pc.deadline.IsZero() && !now.Before(pc.deadline) {
			due = append(due, r)
		}
	}
	for _, r := range due {
		s.unpark(r)
		r.timedOut = true
	}
	s.parkMu.Unlock()
	sort.Slice(due, func(i, j int) bool { return due[i].Xid < due[j].Xid })
	for _, r := range due {
		s.submit(r)
	}
}

// dropParked forgets the waiting calls of a connection that closed: the
// client re-sends them (built-in recipes are idempotent per session). A
// call with a txn between prep and apply is forgotten when apply is done
// with it.
func (s *Server) dropParked(c *Conn) {
	s.parkMu.Lock()
	defer s.parkMu.Unlock()
	for k, r := range s.awaiting {
		if r.conn != c {
			continue
		}
		r.dropped = true
		s.unpark(r)
		for i, q := range s.reruns {
			if q == r {
				s.reruns = append(s.reruns[:i], s.reruns[i+1:]...)
				break
			}
		}
		if r.inflight == 0 {
			delete(s.awaiting, k)
		}
	}
}

func (r *Request) recipeArgs() []byte {
	if rc, ok := r.Body.(*jute.RecipeCallRequest); ok {
		return rc.Args
	}
	return nil
}

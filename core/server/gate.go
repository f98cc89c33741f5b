package server

import (
	"encoding/json"
	"sync"

	"github.com/zkx-project/zkx/core/tree"
	"github.com/zkx-project/zkx/transport/jute"
)

// The compile gate. Compiling a recipe module takes up to seconds (a Go
// program compiled to WebAssembly: about 0.5 s per MiB here), and prep must
// not wait for it: every session's writes go through prep. So a recipe
// call whose module is not compiled yet (and every zkx.put, whose upload
// is compiled before its prep checks it) is held back while a goroutine of
// the node compiles it; then it goes to prep. Its session's later writes
// and syncs are held behind it, in order; other sessions go on, and so do
// the reader that received it (it keeps answering pings) and, on a leader,
// the learners' requests and session touches.
//
// The gate runs where prep does (standalone, leader). A learner forwards
// recipe calls as they come: its leader compiles.

// heldOp is a request held behind a compile: a write to submit, or (do)
// a learner's sync to answer.
type heldOp struct {
	r  *Request
	do func()
}

// admit submits r, unless it needs a module compiled or its session has
// requests held: then r is held, in order.
func (s *Server) admit(r *Request) {
	needs := s.needsCompile(r)
	s.gateMu.Lock()
	if q, ok := s.held[r.Session]; ok {
		s.held[r.Session] = append(q, heldOp{r: r})
		s.gateMu.Unlock()
		return
	}
	if !needs {
		s.gateMu.Unlock()
		s.submit(r)
		return
	}
	if s.held == nil {
		s.held = make(map[int64][]heldOp)
	}
	s.held[r.Session] = []heldOp{{r: r}}
	s.gateMu.Unlock()
	session := r.Session
	s.background(func() { s.releaseHeld(session) })
}

// afterHeld runs do now, or after the requests session has held.
func (s *Server) afterHeld(session int64, do func()) {
	s.gateMu.Lock()
	if q, ok := s.held[session]; ok {
		s.held[session] = append(q, heldOp{do: do})
		s.gateMu.Unlock()
		return
	}
	s.gateMu.Unlock()
	do()
}

// releaseHeld compiles and submits session's held requests in order, until
// none is left.
func (s *Server) releaseHeld(session int64) {
	for {
		s.gateMu.Lock()
		q := s.held[session]
		if len(q) == 0 {
			// Deleted only now, after the last one went: a request that
			// comes meanwhile queues behind it instead of overtaking it.
			delete(s.held, session)
			s.gateMu.Unlock()
			return
		}
		op := q[0]
		q[0] = heldOp{}
		s.held[session] = q[1:]
		s.gateMu.Unlock()
		if !s.currentRole().role.prepares() {
			// No longer the leader: its clients' connections are closed
			// and so are those of the learners that followed it (their
			// clients see a connection loss). Drop what is held.
			continue
		}
		if op.r == nil {
			op.do()
			continue
		}
		if s.needsCompile(op.r) {
			s.precompile(op.r)
		}
		s.submit(op.r)
	}
}

// heldCount is how many requests wait behind compiles (for tests).
func (s *Server) heldCount() int {
	s.gateMu.Lock()
	defer s.gateMu.Unlock()
	n := 0
	for _, q := range s.held {
		n += len(q)
	}
	return n
}

// background runs f on a goroutine of the node's, or at once without one.
func (s *Server) background(f func()) {
	if s.cfg.Background != nil {
		s.cfg.Background(f)
		return
	}
	f()
}

// needsCompile reports whether r is a recipe call to compile a module
// for before prep: a zkx.put, or a call of a stored recipe whose module is
// not compiled (nor known not to compile).
func (s *Server) needsCompile(r *Request) bool {
	if r.Op != jute.OpRecipeCall || r.err != 0 || len(s.cfg.Runtimes) == 0 {
		return false
	}
	req, ok := r.Body.(*jute.RecipeCallRequest)
	if !ok {
		return false
	}
	if req.Name == systemRecipe {
		return req.Function == "put"
	}
	if !validRecipeName(req.Name) {
		return false
	}
	needs := false
	s.WithTree(func(t *tree.Tree) {
		data, st, _, ok := t.RawNode(RecipesPath + "/" + req.Name)
		sha, valid := s.manifestHashes.lookup(req.Name, ok, st.Mzxid, data)
		if !valid {
			return // no such recipe, or a bad manifest: prep says so
		}
		mod, err := s.modules.get(sha)
		needs = mod == nil && err == nil
	})
	return needs
}

// manifestHashes remembers the module hash of each stored recipe by its
// manifest's mzxid, so that admitting a call decodes a manifest's JSON
// once per version instead of once per call.
type manifestHashes struct {
	mu sync.Mutex
	m  map[string]manifestHash
}

type manifestHash struct {
	mzxid int64
	sha   string
	valid bool // the manifest decoded
}

// lookup returns the module hash of recipe name's manifest (data, last
// changed at mzxid), and false if the recipe is not stored (exists false)
// or its manifest does not decode.
func (h *manifestHashes) lookup(name string, exists bool, mzxid int64, data []byte) (string, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !exists {
		delete(h.m, name)
		return "", false
	}
	if e, ok := h.m[name]; ok && e.mzxid == mzxid {
		return e.sha, e.valid
	}
	e := manifestHash{mzxid: mzxid}
	var man manifest
	if json.Unmarshal(data, &man) == nil {
		e.sha, e.valid = man.SHA256, true
	}
	if h.m == nil {
		h.m = make(map[string]manifestHash)
	}
	h.m[name] = e
	return e.sha, e.valid
}

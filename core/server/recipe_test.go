package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/zkx-project/zkx/host"
	"github.com/zkx-project/zkx/transport/jute"
)

// goRuntime is a test runtime: a module's source "go:<name>" selects a set
// of Go functions; anything else fails to compile.
type goRuntime struct {
	mods map[string]map[string]goFunc
}

type goFunc func(args []byte, api host.API) (host.Outcome, error)

func (g *goRuntime) Kind() host.Kind { return host.KindJS }
func (g *goRuntime) Close() error    { return nil }
func (g *goRuntime) Compile(name string, src []byte) (host.Module, error) {
	fns, ok := g.mods[strings.TrimPrefix(string(src), "go:")]
	if !ok || !strings.HasPrefix(string(src), "go:") {
		return nil, fmt.Errorf("SyntaxError: line 1: unexpected token in %s", name)
	}
	return &goModule{fns: fns}, nil
}

type goModule struct{ fns map[string]goFunc }

func (m *goModule) Kind() host.Kind { return host.KindJS }
func (m *goModule) Close() error    { return nil }
func (m *goModule) Functions() []string {
	var out []string
	for k := range m.fns {
		out = append(out, k)
	}
	return out
}
func (m *goModule) Call(fn string, args []byte, api host.API, b host.Budget) (host.Outcome, error) {
	f := m.fns[fn]
	if f == nil {
		return host.Outcome{}, host.ErrNoFunction
	}
	return f(args, api)
}

var testModules = map[string]map[string]goFunc{
	"kv": {
		"put": func(args []byte, api host.API) (host.Outcome, error) {
			var a struct{ Path, Data string }
			json.Unmarshal(args, &a)
			if _, err := api.Create(a.Path, []byte(a.Data), host.ModePersistent); err != nil {
				return host.Outcome{}, err
			}
			return host.Outcome{Result: []byte(`"created"`)}, nil
		},
		"twoThenFail": func(args []byte, api host.API) (host.Outcome, error) {
			api.Create("/a1", nil, host.ModePersistent)
			api.Create("/a2", nil, host.ModePersistent)
			return host.Outcome{}, &host.Error{Code: -7001, Message: "changed my mind"}
		},
		"spin": func(args []byte, api host.API) (host.Outcome, error) {
			for i := 0; ; i++ {
				if _, err := api.Create(fmt.Sprintf("/spin%d", i), nil, host.ModePersistent); err != nil {
					return host.Outcome{}, err
				}
			}
		},
		"waitfor": func(args []byte, api host.API) (host.Outcome, error) {
			if _, ok, _ := api.Exists("/flag"); ok {
				return host.Outcome{Result: []byte(`"go"`)}, nil
			}
			if api.TimedOut() {
				return host.Outcome{Result: []byte(`"timeout"`)}, nil
			}
			api.Create("/waiting-", nil, host.ModeEphemeralSequential)
			return host.Outcome{Wait: []string{"/flag"}}, nil
		},
		"whoami": func(args []byte, api host.API) (host.Outcome, error) {
			return host.Outcome{Result: []byte(fmt.Sprintf(`{"session":%d,"now":%d}`, api.Session(), api.Now()))}, nil
		},
	},
}

func newRecipeBed(t *testing.T) (*bed, *client) {
	b := newBed(t)
	b.s.cfg.Runtimes = map[host.Kind]host.Runtime{host.KindJS: &goRuntime{mods: testModules}}
	b.s.cfg.RecipeBudget = host.Budget{Time: time.Second, Ops: 50, Bytes: 1 << 20}
	b.s.InstallBuiltins([]Builtin{{Name: "kv", Module: []byte("go:kv")}})
	b.step()
	return b, b.connect(0, nil)
}

func (cl *client) recipe(name, fn string, args string) (jute.Err, string) {
	cl.b.t.Helper()
	xid := cl.send(jute.OpRecipeCall, &jute.RecipeCallRequest{Name: name, Function: fn, Args: []byte(args)})
	cl.b.step()
	for _, r := range cl.replies() {
		if r.hdr.Xid == xid {
			var body jute.BufferResponse
			jute.Decode(r.body, &body)
			return r.hdr.Err, string(body.Data)
		}
	}
	return 1, "" // no reply (yet)
}

func TestRecipeCallWritesAndAnswers(t *testing.T) {
	b, cl := newRecipeBed(t)
	errc, out := cl.recipe("kv", "put", `{"Path":"/x","Data":"hello"}`)
	if errc != 0 || out != `"created"` {
		t.Fatalf("kv.put: %v %q", errc, out)
	}
	var gd jute.GetDataResponse
	if cl.call(jute.OpGetData, &jute.PathWatchRequest{Path: "/x"}, &gd) != 0 || string(gd.Data) != "hello" {
		t.Fatal("the recipe's write is not in the tree")
	}
	// Errors reach the recipe and come back with the recipe's name.
	errc, out = cl.recipe("kv", "put", `{"Path":"/x","Data":"again"}`)
	if errc != jute.ErrNodeExists || !strings.Contains(out, "kv.put") {
		t.Fatalf("second put: %v %q", errc, out)
	}
	_ = b
}

func TestFailedRecipeHasNoEffect(t *testing.T) {
	_, cl := newRecipeBed(t)
	errc, out := cl.recipe("kv", "twoThenFail", ``)
	if errc != -7001 || !strings.Contains(out, "changed my mind") || !strings.Contains(out, "kv.twoThenFail") {
		t.Fatalf("got %v %q", errc, out)
	}
	for _, p := range []string{"/a1", "/a2"} {
		if cl.call(jute.OpExists, &jute.PathWatchRequest{Path: p}, nil) != jute.ErrNoNode {
			t.Fatalf("%s exists after a failed recipe", p)
		}
	}
	errc, out = cl.recipe("kv", "spin", ``)
	if errc != jute.ErrRecipeBudget || !strings.Contains(out, "50 operations") {
		t.Fatalf("budget: %v %q", errc, out)
	}
	if cl.call(jute.OpExists, &jute.PathWatchRequest{Path: "/spin0"}, nil) != jute.ErrNoNode {
		t.Fatal("a recipe over budget left writes behind")
	}
	if errc, out := cl.recipe("nope", "x", ``); errc != jute.ErrRecipeNotFound || !strings.Contains(out, "nope") {
		t.Fatalf("unknown recipe: %v %q", errc, out)
	}
	if errc, out := cl.recipe("kv", "nope", ``); errc != jute.ErrRecipeNotFound || !strings.Contains(out, "put") {
		t.Fatalf("unknown function: %v %q", errc, out)
	}
}

func TestParkedCallWakesOnChangeAndDoesNotBlockTheSession(t *testing.T) {
	b, cl := newRecipeBed(t)
	waitXid := cl.send(jute.OpRecipeCall, &jute.RecipeCallRequest{Name: "kv", Function: "waitfor"})
	b.step()
	if rs := cl.replies(); len(rs) != 0 {
		t.Fatalf("a waiting call was answered: %+v", rs)
	}
	// The session goes on working while its call waits.
	if errc := cl.call(jute.OpExists, &jute.PathWatchRequest{Path: "/"}, nil); errc != 0 {
		t.Fatal(errc)
	}
	var kids jute.ChildrenResponse
	cl.call(jute.OpGetChildren, &jute.PathWatchRequest{Path: "/"}, &kids)
	if !strings.Contains(strings.Join(kids.Children, ","), "waiting-") {
		t.Fatalf("the writes made before wait() were not committed: %v", kids.Children)
	}
	other := b.connect(0, nil)
	other.create("/flag", 0)
	b.step()
	rs := cl.replies()
	if len(rs) != 1 || rs[0].hdr.Xid != waitXid || rs[0].hdr.Err != 0 {
		t.Fatalf("after the change: %+v", rs)
	}
	var body jute.BufferResponse
	jute.Decode(rs[0].body, &body)
	if string(body.Data) != `"go"` {
		t.Fatalf("result %q", body.Data)
	}
	if len(b.s.parked) != 0 || len(b.s.awaiting) != 0 {
		t.Fatal("finished call still filed")
	}
}

func TestParkedCallTimesOut(t *testing.T) {
	b, cl := newRecipeBed(t)
	xid := cl.send(jute.OpRecipeCall, &jute.RecipeCallRequest{Name: "kv", Function: "waitfor", Args: []byte(`{"timeout_ms":500}`)})
	b.step()
	b.now = b.now.Add(400 * time.Millisecond)
	cl.send(jute.OpPing, nil) // keep the session alive
	b.s.Tick()
	b.step()
	for _, r := range cl.replies() {
		if r.hdr.Xid == xid {
			t.Fatal("answered before its deadline")
		}
	}
	b.now = b.now.Add(200 * time.Millisecond)
	b.s.Tick()
	b.step()
	var got string
	for _, r := range cl.replies() {
		if r.hdr.Xid == xid {
			var body jute.BufferResponse
			jute.Decode(r.body, &body)
			got = string(body.Data)
		}
	}
	if got != `"timeout"` {
		t.Fatalf("timed-out call answered %q", got)
	}
}

func TestParkedCallDiesWithItsConnection(t *testing.T) {
	b, cl := newRecipeBed(t)
	cl.send(jute.OpRecipeCall, &jute.RecipeCallRequest{Name: "kv", Function: "waitfor"})
	b.step()
	if len(b.s.parked) != 1 {
		t.Fatal("not parked")
	}
	cl.c.Closed()
	if len(b.s.parked) != 0 || len(b.s.awaiting) != 0 {
		t.Fatal("a closed connection's parked call is still filed")
	}
}

func TestRecipeRegistryIsGuarded(t *testing.T) {
	b, cl := newRecipeBed(t)
	// Clients cannot write the registry directly...
	if errc := cl.call(jute.OpCreate, &jute.CreateRequest{Path: "/zkx/recipes/evil", ACL: openACL, TTL: -1}, nil); errc != jute.ErrNoAuth {
		t.Fatalf("direct create in the registry: %v", errc)
	}
	if errc := cl.call(jute.OpSetData, &jute.SetDataRequest{Path: "/zkx/recipes/kv", Data: []byte("x"), Version: -1}, nil); errc != jute.ErrNoAuth {
		t.Fatalf("direct setData in the registry: %v", errc)
	}
	// ...only through zkx.put, which refuses a module that does not compile.
	upload := func(dir string, module []byte) {
		cl.create(dir, 0)
		cl.call(jute.OpCreate, &jute.CreateRequest{Path: dir + "/0", Data: CompressModule(module), ACL: openACL, TTL: -1}, nil)
	}
	upload("/zkx/uploads/u1", []byte("function ( {"))
	errc, out := cl.recipe("zkx", "put", `{"name":"bad","upload":"/zkx/uploads/u1"}`)
	if errc != jute.ErrRecipeInvalid || !strings.Contains(out, "SyntaxError") {
		t.Fatalf("bad module: %v %q", errc, out)
	}
	if cl.call(jute.OpExists, &jute.PathWatchRequest{Path: "/zkx/recipes/bad"}, nil) != jute.ErrNoNode {
		t.Fatal("a module that does not compile was stored")
	}
	upload("/zkx/uploads/u2", []byte("go:kv"))
	if errc, out := cl.recipe("zkx", "put", `{"name":"kv2","upload":"/zkx/uploads/u2"}`); errc != 0 {
		t.Fatalf("good module: %v %q", errc, out)
	}
	if cl.call(jute.OpExists, &jute.PathWatchRequest{Path: "/zkx/uploads/u2"}, nil) != jute.ErrNoNode {
		t.Fatal("the upload was not cleaned up")
	}
	// A client re-sends a put that was in flight when its connection
	// dropped: the same put again succeeds without a new version; a put of
	// an upload that never existed still fails.
	if errc, out := cl.recipe("zkx", "put", `{"name":"kv2","upload":"/zkx/uploads/u2"}`); errc != 0 {
		t.Fatalf("the same put again: %v %q", errc, out)
	}
	if errc, out := cl.recipe("zkx", "put", `{"name":"kv2","upload":"/zkx/uploads/u9"}`); errc != jute.ErrBadArguments || !strings.Contains(out, "no upload") {
		t.Fatalf("a put of a missing upload: %v %q", errc, out)
	}
	if errc, _ := cl.recipe("kv2", "put", `{"Path":"/y","Data":"1"}`); errc != 0 {
		t.Fatal("the new recipe does not run")
	}
	var gd jute.GetDataResponse
	cl.call(jute.OpGetData, &jute.PathWatchRequest{Path: "/zkx/recipes/kv2"}, &gd)
	var man manifest
	if json.Unmarshal(gd.Data, &man) != nil || man.Version != 1 || man.Kind != host.KindJS || len(man.Functions) != 5 {
		t.Fatalf("manifest %s", gd.Data)
	}
	if errc, _ := cl.recipe("zkx", "delete", `{"name":"kv2"}`); errc != 0 {
		t.Fatal("delete")
	}
	if errc, _ := cl.recipe("kv2", "put", `{}`); errc != jute.ErrRecipeNotFound {
		t.Fatal("a deleted recipe still runs")
	}
	_ = b
	_ = errors.New
}

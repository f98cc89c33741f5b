// Package recipetest tests zkx's server-side recipes end to end: the
// builtin library's semantics with concurrent real client sessions, the
// sandbox (a misbehaving recipe has no effect and the server keeps
// serving), the registry, and recipes across a restart.
package recipetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zkx-project/zkx/transport"
	"github.com/zkx-project/zkx/transport/client"
	"github.com/zkx-project/zkx/transport/jute"
	"github.com/zkx-project/zkx/transport/zkxtest"
)

// waitLimit bounds every wait in these tests; a correct server is far
// quicker, a broken one fails the test instead of hanging it.
const waitLimit = 20 * time.Second

func startNode(t *testing.T) *transport.Node {
	t.Helper()
	return zkxtest.Start(t, zkxtest.Options{Recipes: true})
}

func connect(t *testing.T, addr string, opts ...client.Option) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	opts = append([]client.Option{client.WithSessionTimeout(4 * time.Second)}, opts...)
	c, err := client.Connect(ctx, []string{addr}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	t.Cleanup(cancel)
	return ctx
}

// obj is a recipe's JSON object result.
type obj = map[string]any

func encode(args obj) []byte {
	b, err := json.Marshal(args)
	if err != nil {
		panic(err)
	}
	return b
}

// try calls a recipe and decodes its JSON result (nil for JSON null).
func try(ctx context.Context, c *client.Client, recipe, fn string, args obj) (any, error) {
	out, err := c.Call(ctx, recipe, fn, encode(args))
	if err != nil {
		return nil, err
	}
	var v any
	if err := json.Unmarshal(out, &v); err != nil {
		return nil, fmt.Errorf("%s.%s returned %q, not JSON: %v", recipe, fn, out, err)
	}
	return v, nil
}

// call is try that fails the test on an error and expects an object (or
// null, returned as nil).
func call(t *testing.T, c *client.Client, recipe, fn string, args obj) obj {
	t.Helper()
	v, err := try(ctxFor(t), c, recipe, fn, args)
	if err != nil {
		t.Fatalf("%s.%s(%v): %v", recipe, fn, args, err)
	}
	if v == nil {
		return nil
	}
	o, ok := v.(obj)
	if !ok {
		t.Fatalf("%s.%s(%v) = %v, want an object", recipe, fn, args, v)
	}
	return o
}

// codeOf is the ZooKeeper error code of err (0 if it has none).
func codeOf(err error) jute.Err {
	var ze *client.Error
	if errors.As(err, &ze) {
		return ze.Code
	}
	return 0
}

func wantCode(t *testing.T, what string, err error, code jute.Err) {
	t.Helper()
	if codeOf(err) != code {
		t.Fatalf("%s: got %v, want %s", what, err, code.Name())
	}
}

// sessionOf reads a session id as recipes give it (hex text).
func sessionOf(t *testing.T, v any) int64 {
	t.Helper()
	s, ok := v.(string)
	if !ok {
		t.Fatalf("session %v (%T) is not hex text", v, v)
	}
	id, err := strconv.ParseUint(strings.TrimPrefix(s, "0x"), 16, 64)
	if err != nil {
		t.Fatalf("session %q: %v", s, err)
	}
	return int64(id)
}

func num(t *testing.T, v any) int64 {
	t.Helper()
	f, ok := v.(float64)
	if !ok {
		t.Fatalf("%v (%T) is not a number", v, v)
	}
	return int64(f)
}

// eventually waits for cond, failing the test after waitLimit.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func children(t *testing.T, c *client.Client, path string) []string {
	t.Helper()
	kids, err := c.Children(ctxFor(t), path)
	if err != nil && codeOf(err) != jute.ErrNoNode {
		t.Fatal(err)
	}
	return kids
}

// pending is a recipe call running in the background.
type pending struct {
	done chan struct{}
	v    any
	err  error
}

func start(ctx context.Context, c *client.Client, recipe, fn string, args obj) *pending {
	p := &pending{done: make(chan struct{})}
	go func() {
		defer close(p.done)
		p.v, p.err = try(ctx, c, recipe, fn, args)
	}()
	return p
}

// returned reports whether the call has answered.
func (p *pending) returned() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// result waits for the call's answer.
func (p *pending) result(t *testing.T) obj {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(waitLimit):
		t.Fatal("a recipe call did not answer")
	}
	if p.err != nil {
		t.Fatalf("recipe call: %v", p.err)
	}
	o, _ := p.v.(obj)
	return o
}

// errResult waits for the call to fail.
func (p *pending) errResult(t *testing.T) error {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(waitLimit):
		t.Fatal("a recipe call did not answer")
	}
	if p.err == nil {
		t.Fatalf("recipe call returned %v, want an error", p.v)
	}
	return p.err
}

// kill ends a session the hard way: its client's connections through the
// proxy are cut and refused, so the session expires on the server.
func kill(p interface {
	Refuse(bool)
	Cut()
}) {
	p.Refuse(true)
	p.Cut()
}

// group runs n workers and collects the first error.
type group struct {
	wg   sync.WaitGroup
	mu   sync.Mutex
	errs []error
}

func (g *group) go_(f func() error) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		if err := f(); err != nil {
			g.mu.Lock()
			g.errs = append(g.errs, err)
			g.mu.Unlock()
		}
	}()
}

func (g *group) wait(t *testing.T) {
	t.Helper()
	g.wg.Wait()
	if len(g.errs) > 0 {
		t.Fatalf("%d workers failed; first: %v", len(g.errs), g.errs[0])
	}
}

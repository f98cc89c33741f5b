package client

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zkx-project/zkx/transport/jute"
)

// waitTimeout bounds every wait in these tests: generous, because the
// machine may be busy, but a hang still fails instead of blocking forever.
const waitTimeout = 30 * time.Second

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

// testLogger logs to stderr when ZKX_TEST_LOG is set.
func testLogger() *slog.Logger {
	if os.Getenv("ZKX_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// connect opens a session with addr (a connect string) and closes it when the test ends.
func connect(t testing.TB, addr string, opts ...Option) *Client {
	t.Helper()
	opts = append([]Option{WithLogger(testLogger())}, opts...)
	servers, err := ParseServers(addr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Connect(testCtx(t), servers, opts...)
	if err != nil {
		t.Fatalf("Connect(%s): %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// liveConn returns the client's current connection (nil while
// disconnected), for tests that check it was not replaced.
func (c *Client) liveConn() *conn {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conn
}

// waitFor polls cond until it holds or waitTimeout passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// recv returns the next event from ch, failing if none comes in time or
// the channel is closed.
func recv(t testing.TB, ch <-chan Event) Event {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatalf("watch channel closed, want an event")
		}
		return ev
	case <-time.After(waitTimeout):
		t.Fatalf("timed out waiting for a watch event")
	}
	panic("unreachable")
}

// expectEvent receives one event and checks its type and path.
func expectEvent(t testing.TB, ch <-chan Event, typ int32, path string) Event {
	t.Helper()
	ev := recv(t, ch)
	if ev.Type != typ || ev.Path != path {
		t.Fatalf("event = %v, want type %s path %s", ev, eventNames[typ], path)
	}
	return ev
}

// expectClosed checks that ch is closed with nothing left in it.
func expectClosed(t testing.TB, ch <-chan Event) {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if ok {
			t.Fatalf("unexpected event %v, want the channel closed", ev)
		}
	case <-time.After(waitTimeout):
		t.Fatalf("watch channel not closed")
	}
}

// expectNoEvent checks that nothing is waiting in ch right now. Tests use it
// only after an operation whose own event, delivered in order after any
// earlier one, has already been received.
func expectNoEvent(t testing.TB, ch <-chan Event) {
	t.Helper()
	select {
	case ev, ok := <-ch:
		t.Fatalf("unexpected event %v (open %v)", ev, ok)
	default:
	}
}

func expectCode(t testing.TB, err error, code jute.Err) {
	t.Helper()
	if !errors.Is(err, code) {
		t.Fatalf("err = %v, want %s", err, code.Name())
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func sorted(ss []string) []string {
	out := append([]string(nil), ss...)
	sort.Strings(out)
	return out
}

func equalStrings(a, b []string) bool {
	return strings.Join(sorted(a), "\x00") == strings.Join(sorted(b), "\x00")
}

// eventLog collects session events from WithEventCallback.
type eventLog struct {
	mu     sync.Mutex
	events []Event
}

func (l *eventLog) add(ev Event) {
	l.mu.Lock()
	l.events = append(l.events, ev)
	l.mu.Unlock()
}

func (l *eventLog) states() []int32 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []int32
	for _, ev := range l.events {
		out = append(out, ev.State)
	}
	return out
}

func (l *eventLog) has(state int32) bool {
	for _, s := range l.states() {
		if s == state {
			return true
		}
	}
	return false
}

func (l *eventLog) count(state int32) int {
	n := 0
	for _, s := range l.states() {
		if s == state {
			n++
		}
	}
	return n
}

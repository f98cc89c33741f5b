package js

import (
	"testing"

	"github.com/zkx-project/zkx/host"
)

func benchModule(b *testing.B, src string) host.Module {
	b.Helper()
	m, err := New().Compile("bench", []byte(src))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	return m
}

// BenchmarkTrivialCall is the fixed cost of a call: taking an instance,
// the watchdog, JSON of the arguments and the result.
func BenchmarkTrivialCall(b *testing.B) {
	m := benchModule(b, `exports.ping = () => 1;`)
	api := newFakeAPI()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Call("ping", nil, api, host.DefaultBudget); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTrivialCallWithArgs adds a small argument object.
func BenchmarkTrivialCallWithArgs(b *testing.B) {
	m := benchModule(b, `exports.echo = (a) => a.n;`)
	api := newFakeAPI()
	args := []byte(`{"n":1,"path":"/locks/a"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Call("echo", args, api, host.DefaultBudget); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLockAcquire is a realistic call: read the children, create a
// node, compare.
func BenchmarkLockAcquire(b *testing.B) {
	m := benchModule(b, `
exports.acquire = function (args) {
	const kids = zk.children(args.dir);
	const me = zk.create(args.dir + '/lock-', '', {ephemeral: true, sequential: true});
	const stat = zk.exists(me);
	zk.delete(me);
	return {path: me, token: stat.czxid, first: kids.length === 0};
};`)
	api := newFakeAPI()
	api.mustCreate("/locks", "")
	args := []byte(`{"dir":"/locks"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Call("acquire", args, api, host.DefaultBudget); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNewInstance is what a call pays when the pool is empty (and
// what Compile pays once).
func BenchmarkNewInstance(b *testing.B) {
	m := benchModule(b, `exports.ping = () => 1;`).(*module)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.newInstance(host.DefaultBudget); err != nil {
			b.Fatal(err)
		}
	}
}

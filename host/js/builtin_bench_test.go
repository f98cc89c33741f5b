package js

import (
	"fmt"
	"testing"

	"github.com/zkx-project/zkx/host"
	"github.com/zkx-project/zkx/scripts"
)

func BenchmarkBuiltinLockAcquireWaiting(b *testing.B) {
	var src []byte
	for _, bi := range scripts.Builtins() {
		if bi.Name == "lock" {
			src = bi.Source
		}
	}
	m, err := New().Compile("lock", src)
	if err != nil {
		b.Fatal(err)
	}
	api := newFakeAPI()
	api.mustCreate("/l", "")
	for i := 0; i < 16; i++ {
		api.mustCreate(fmt.Sprintf("/l/lock-0x%x-%010d", 100+i, i), "")
	}
	args := []byte(`{"path":"/l"}`)
	b.ReportAllocs()
	for b.Loop() {
		out, err := m.Call("acquire", args, api, host.DefaultBudget)
		if err != nil || len(out.Wait) == 0 {
			b.Fatal(err, out)
		}
	}
}

package host

import (
	"testing"
	"time"
)

func TestDetect(t *testing.T) {
	for _, c := range []struct {
		module string
		want   Kind
	}{
		{"\x00asm\x01\x00\x00\x00", KindWASM},
		{"\x00asm", KindWASM},
		{"\x00as", KindJS}, // too short to be WebAssembly
		{"", KindJS},
		{"function acquire(args) { return 1 }", KindJS},
		{"\x00ASM\x01\x00\x00\x00", KindJS}, // the magic is case-sensitive
	} {
		if got := Detect([]byte(c.module)); got != c.want {
			t.Errorf("Detect(%q) = %s, want %s", c.module, got, c.want)
		}
	}
}

// TestBudgetMin: a server or a recipe can only lower the budget, field by
// field; zero fields leave it as it is.
func TestBudgetMin(t *testing.T) {
	got := DefaultBudget.Min(Budget{Time: 10 * time.Millisecond, Ops: 1 << 20, MemoryMiB: 16})
	want := Budget{Time: 10 * time.Millisecond, Ops: DefaultBudget.Ops, Bytes: DefaultBudget.Bytes, MemoryMiB: 16, Stack: DefaultBudget.Stack}
	if got != want {
		t.Errorf("Min = %+v, want %+v", got, want)
	}
	if got := DefaultBudget.Min(Budget{}); got != DefaultBudget {
		t.Errorf("Min of a zero budget changed it: %+v", got)
	}
	if got := (Budget{Time: time.Second, Ops: 5, Bytes: 5, MemoryMiB: 5, Stack: 5}).Min(DefaultBudget); got.Time != DefaultBudget.Time || got.Ops != 5 || got.Stack != 5 {
		t.Errorf("Min kept a looser field: %+v", got)
	}
}

func TestErrorText(t *testing.T) {
	if got := (&Error{Code: -101, Message: "no node /x"}).Error(); got != "code -101: no node /x" {
		t.Errorf("Error() = %q", got)
	}
	if got := (&Error{Code: -7001}).Error(); got != "code -7001" {
		t.Errorf("Error() without a message = %q", got)
	}
}

package clustertest

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// The checker must tell the histories a broken cluster produces from
// correct ones; these are small ones of each kind.
func TestRegisterModel(t *testing.T) {
	const inf = math.MaxInt64
	read := func(call, ret int64, value string, version int32) porcupine.Operation {
		return porcupine.Operation{Input: registerInput{op: opRead}, Call: call, Return: ret,
			Output: registerOutput{outcome: outcomeOK, value: value, version: version}}
	}
	write := func(call, ret int64, value string, o outcome, version int32) porcupine.Operation {
		return porcupine.Operation{Input: registerInput{op: opWrite, value: value}, Call: call, Return: ret,
			Output: registerOutput{outcome: o, version: version}}
	}
	cas := func(call, ret int64, expect int32, value string, o outcome, version int32) porcupine.Operation {
		return porcupine.Operation{Input: registerInput{op: opCAS, expect: expect, value: value}, Call: call, Return: ret,
			Output: registerOutput{outcome: o, version: version}}
	}
	for _, tc := range []struct {
		name    string
		history []porcupine.Operation
		final   registerState
		ok      bool
		lost    string // a lostWrites problem that must be reported
	}{
		{"sequential", []porcupine.Operation{
			write(0, 10, "a", outcomeOK, 1), read(20, 30, "a", 1),
			cas(40, 50, 1, "b", outcomeOK, 2), cas(60, 70, 1, "c", outcomeFailed, 0), read(80, 90, "b", 2),
		}, registerState{"b", 2}, true, ""},
		{"concurrent writes in either order", []porcupine.Operation{
			write(0, 50, "a", outcomeOK, 2), write(10, 40, "b", outcomeOK, 1), read(60, 70, "a", 2),
		}, registerState{"a", 2}, true, ""},
		{"stale read after an acknowledged write", []porcupine.Operation{
			write(0, 10, "a", outcomeOK, 1), read(20, 30, initialValue, 0),
		}, registerState{"a", 1}, false, ""},
		{"unknown write applied late", []porcupine.Operation{
			write(0, inf, "a", outcomeUnknown, 0), read(10, 20, initialValue, 0), read(30, 40, "a", 1),
		}, registerState{"a", 1}, true, ""},
		{"unknown write never applied", []porcupine.Operation{
			write(0, inf, "a", outcomeUnknown, 0), read(10, 20, initialValue, 0),
		}, registerState{initialValue, 0}, true, ""},
		{"unknown cas applies only on its version", []porcupine.Operation{
			cas(0, inf, 5, "a", outcomeUnknown, 0), read(10, 20, "a", 1),
		}, registerState{"a", 1}, false, ""},
		{"cas refused although the version matched", []porcupine.Operation{
			cas(0, 10, 0, "a", outcomeFailed, 0), read(20, 30, initialValue, 0),
		}, registerState{initialValue, 0}, false, ""},
		{"acknowledged write lost", []porcupine.Operation{
			write(0, 10, "a", outcomeOK, 1), read(20, 30, initialValue, 0),
		}, registerState{initialValue, 0}, false, `acknowledged write of "a" (version 1, op 0) is lost`},
		{"forked history", []porcupine.Operation{
			write(0, 10, "a", outcomeOK, 1), write(0, 10, "b", outcomeOK, 1), read(20, 30, "b", 1),
		}, registerState{"b", 1}, false, `version 1 has two values: "a" (op 0) and "b" (op 1)`},
	} {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			if got := porcupine.CheckOperationsTimeout(registerModel, tc.history, 10*time.Second); (got == porcupine.Ok) != tc.ok {
				t.Errorf("porcupine: %s, want linearizable %v", got, tc.ok)
			}
			problems := lostWrites(tc.history, tc.final)
			if tc.lost == "" && tc.ok && len(problems) > 0 {
				t.Errorf("lostWrites: %q, want none", problems)
			}
			if tc.lost != "" && !strings.Contains(strings.Join(problems, "\n"), tc.lost) {
				t.Errorf("lostWrites: %q, want %q", problems, tc.lost)
			}
		})
	}
}

func TestResolveUnknown(t *testing.T) {
	const inf = math.MaxInt64
	op := func(in registerInput, call, ret int64, out registerOutput) porcupine.Operation {
		return porcupine.Operation{Input: in, Call: call, Return: ret, Output: out}
	}
	unknownWrite := op(registerInput{op: opWrite, value: "u"}, 0, inf, registerOutput{outcome: outcomeUnknown})
	unknownCAS := op(registerInput{op: opCAS, expect: 3, value: "x"}, 0, inf, registerOutput{outcome: outcomeUnknown})
	ackedA := op(registerInput{op: opWrite, value: "a"}, 10, 20, registerOutput{outcome: outcomeOK, version: 1})
	readU := op(registerInput{op: opRead}, 30, 40, registerOutput{outcome: outcomeOK, value: "u", version: 2})

	// "u" was read at version 2: applied as version 2. "x" appears nowhere
	// and every version up to the final one is known: never applied.
	out, applied, dropped := resolveUnknown([]porcupine.Operation{unknownWrite, unknownCAS, ackedA, readU}, registerState{"u", 2})
	if applied != 1 || dropped != 1 || len(out) != 3 {
		t.Fatalf("applied %d dropped %d, %d left; want 1, 1, 3", applied, dropped, len(out))
	}
	if got := out[0].Output.(registerOutput); got.outcome != outcomeOK || got.version != 2 || out[0].Return != inf {
		t.Errorf("the unknown write became %+v returning at %d", got, out[0].Return)
	}
	if res := porcupine.CheckOperations(registerModel, out); !res {
		t.Error("the resolved history is not linearizable")
	}

	// Version 3 is nobody's known value: "x" may be it, so it stays open.
	_, applied, dropped = resolveUnknown([]porcupine.Operation{unknownCAS, ackedA, readU}, registerState{"z", 4})
	if applied != 0 || dropped != 0 {
		t.Errorf("with a gap in the versions: applied %d dropped %d, want 0 and 0", applied, dropped)
	}

	// An unknown write seen at a version it cannot have produced stays a
	// violation once resolved.
	bad := []porcupine.Operation{ackedA, unknownWrite,
		op(registerInput{op: opRead}, 30, 40, registerOutput{outcome: outcomeOK, value: "u", version: 5})}
	out, _, _ = resolveUnknown(bad, registerState{"u", 5})
	if porcupine.CheckOperations(registerModel, out) {
		t.Error("a write that skipped versions passed")
	}
}

package clustertest

import (
	"fmt"
	"hash/fnv"

	"github.com/anishathalye/porcupine"
)

// The register is one znode. Its state is its data and its data version, so
// that a compare-and-set (setData with an expected version) has exactly
// ZooKeeper's semantics, and every write names the version it produced.
type registerState struct {
	value   string
	version int32
}

type registerOp int

const (
	opRead  registerOp = iota // sync, then getData
	opWrite                   // setData with version -1
	opCAS                     // setData with the expected version
)

func (o registerOp) String() string {
	return [...]string{"read", "write", "cas"}[o]
}

type registerInput struct {
	op     registerOp
	value  string // written (write, cas)
	expect int32  // cas: the version setData names
}

// outcome is what a client knows of an operation it made.
type outcome int

const (
	outcomeOK      outcome = iota
	outcomeFailed          // cas answered BadVersion: certainly not applied
	outcomeUnknown         // no answer (connection loss, timeout): maybe applied, maybe later
)

type registerOutput struct {
	outcome outcome
	// read: the data and version read; write or cas that succeeded: the
	// version the write produced (value is the input's).
	value   string
	version int32
}

// registerModel is the sequential specification. An operation whose outcome
// is unknown is in the history with its return at infinity, so the checker
// may place it anywhere after its call; placed last it has no effect that
// anything observes, which covers "never applied".
var registerModel = porcupine.Model{
	Init: func() any { return registerState{value: initialValue} },
	Step: func(state, input, output any) (bool, any) {
		s, in, out := state.(registerState), input.(registerInput), output.(registerOutput)
		switch in.op {
		case opRead:
			return out.value == s.value && out.version == s.version, s
		case opWrite:
			switch out.outcome {
			case outcomeOK:
				return out.version == s.version+1, registerState{in.value, out.version}
			case outcomeUnknown:
				return true, registerState{in.value, s.version + 1}
			}
		case opCAS:
			switch out.outcome {
			case outcomeOK:
				return s.version == in.expect && out.version == in.expect+1, registerState{in.value, out.version}
			case outcomeFailed:
				return s.version != in.expect, s
			case outcomeUnknown:
				if s.version == in.expect {
					return true, registerState{in.value, s.version + 1}
				}
				return true, s
			}
		}
		return false, s
	},
	Equal: func(a, b any) bool { return a.(registerState) == b.(registerState) },
	Hash: func(state any) uint64 {
		s := state.(registerState)
		h := fnv.New64a()
		h.Write([]byte(s.value))
		return h.Sum64() ^ uint64(s.version)*0x9e3779b97f4a7c15
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(registerInput), output.(registerOutput)
		var res string
		switch out.outcome {
		case outcomeOK:
			if in.op == opRead {
				res = fmt.Sprintf("%q v%d", out.value, out.version)
			} else {
				res = fmt.Sprintf("ok v%d", out.version)
			}
		case outcomeFailed:
			res = "BadVersion"
		case outcomeUnknown:
			res = "unknown"
		}
		switch in.op {
		case opWrite:
			return fmt.Sprintf("write(%q) -> %s", in.value, res)
		case opCAS:
			return fmt.Sprintf("cas(v%d, %q) -> %s", in.expect, in.value, res)
		}
		return "read() -> " + res
	},
	DescribeState: func(state any) string {
		s := state.(registerState)
		return fmt.Sprintf("%q v%d", s.value, s.version)
	},
}

// initialValue is the register's data when the workload starts (version 0).
const initialValue = "init"

// lostWrites checks what porcupine's verdict implies, in terms a reader of
// a failure can follow: versions form one chain (no version ever carried two
// values in what clients saw or were told), and the final version is at
// least every acknowledged write's, so no acknowledged write was lost or
// overwritten by a fork of the history.
func lostWrites(history []porcupine.Operation, final registerState) []string {
	type seen struct {
		value string
		op    int
	}
	byVersion := map[int32]seen{0: {initialValue, -1}}
	var problems []string
	note := func(version int32, value string, op int) {
		prev, ok := byVersion[version]
		if !ok {
			byVersion[version] = seen{value, op}
			return
		}
		if prev.value != value {
			problems = append(problems, fmt.Sprintf("version %d has two values: %q (op %d) and %q (op %d)",
				version, prev.value, prev.op, value, op))
		}
	}
	for i, o := range history {
		in, out := o.Input.(registerInput), o.Output.(registerOutput)
		if out.outcome != outcomeOK {
			continue
		}
		if in.op == opRead {
			note(out.version, out.value, i)
			continue
		}
		note(out.version, in.value, i)
		if out.version > final.version {
			problems = append(problems, fmt.Sprintf("acknowledged %s of %q (version %d, op %d) is lost: the servers end at version %d (%q)",
				in.op, in.value, out.version, i, final.version, final.value))
		}
	}
	return problems
}

// resolveUnknown narrows what the history leaves open, using only the
// history itself: every applied write took the next version, and values are
// unique. An operation with an unknown outcome whose value some read (or the
// final state, or an acknowledgement) shows at version v was applied as
// version v: it becomes an acknowledged one (its return stays at infinity).
// If every version up to the final one has a known value and the
// operation's is none of them, it never took effect: it is dropped. Both
// only take possibilities away from the checker, so they cannot hide a
// violation; they spare it the search over where an unknown
// compare-and-set that failed might have happened, which grows
// exponentially with their number.
func resolveUnknown(history []porcupine.Operation, final registerState) (out []porcupine.Operation, applied, dropped int) {
	versionOf := map[string]int32{initialValue: 0}
	known := map[int32]bool{0: true}
	for _, o := range history {
		in, res := o.Input.(registerInput), o.Output.(registerOutput)
		if res.outcome != outcomeOK {
			continue
		}
		value := in.value
		if in.op == opRead {
			value = res.value
		}
		versionOf[value] = res.version
		known[res.version] = true
	}
	versionOf[final.value] = final.version
	known[final.version] = true
	gapless := true
	for v := int32(1); v <= final.version; v++ {
		if !known[v] {
			gapless = false
			break
		}
	}
	for _, o := range history {
		in, res := o.Input.(registerInput), o.Output.(registerOutput)
		if res.outcome == outcomeUnknown {
			if v, ok := versionOf[in.value]; ok {
				o.Output = registerOutput{outcome: outcomeOK, version: v}
				applied++
			} else if gapless {
				dropped++
				continue
			}
		}
		out = append(out, o)
	}
	return out, applied, dropped
}

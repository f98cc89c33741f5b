package zkx

import "errors"

// Stat is a znode's metadata, as ZooKeeper's Stat.
type Stat struct {
	Czxid          int64
	Mzxid          int64
	Ctime          int64
	Mtime          int64
	Version        int32
	Cversion       int32
	Aversion       int32
	EphemeralOwner int64
	DataLength     int32
	NumChildren    int32
	Pzxid          int64
}

// Mode is how Create makes a node: Persistent, or Ephemeral and/or
// Sequential (Ephemeral|Sequential).
type Mode int32

const (
	Persistent Mode = 0
	Ephemeral  Mode = 1 // deleted when the calling session ends
	Sequential Mode = 2 // the name gets a 10-digit counter suffix
)

// AnyVersion matches every version in Set and Delete.
const AnyVersion int32 = -1

// Request opcodes of zkx.call (part of the ABI; see host/wasm).
const (
	opGet      = 1
	opExists   = 2
	opChildren = 3
	opCreate   = 4
	opSet      = 5
	opDelete   = 6
)

const statSize = 68 // part of the ABI

var req []byte // reused by every request

func begin(op byte, path string) {
	req = append(req[:0], op)
	req = appendString(req, path)
}

// Little-endian fields, without encoding/binary (which brings reflect, and
// a larger module, with it).

func appendU32(b []byte, v uint32) []byte {
	return append(b, byte(v), byte(v>>8), byte(v>>16), byte(v>>24))
}

func u32(b []byte) uint32 {
	_ = b[3]
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

func u64(b []byte) uint64 { return uint64(u32(b)) | uint64(u32(b[4:]))<<32 }

func appendString(b []byte, s string) []byte {
	b = appendU32(b, uint32(len(s)))
	return append(b, s...)
}

// do sends req and returns the reply's payload, or the API error.
func do() ([]byte, error) {
	r := hostCall(req)
	if len(r) < 4 {
		panic("zkx: short reply from the host")
	}
	if code := int32(u32(r)); code != 0 {
		return nil, &Error{Code: code, Message: string(r[4:])}
	}
	return r[4:], nil
}

func decodeStat(b []byte) Stat {
	if len(b) < statSize {
		panic("zkx: short stat from the host")
	}
	return Stat{
		Czxid: int64(u64(b[0:])), Mzxid: int64(u64(b[8:])),
		Ctime: int64(u64(b[16:])), Mtime: int64(u64(b[24:])),
		Version: int32(u32(b[32:])), Cversion: int32(u32(b[36:])), Aversion: int32(u32(b[40:])),
		EphemeralOwner: int64(u64(b[44:])),
		DataLength:     int32(u32(b[52:])), NumChildren: int32(u32(b[56:])),
		Pzxid: int64(u64(b[60:])),
	}
}

// Get returns a node's data and stat, or ErrNoNode.
func Get(path string) ([]byte, Stat, error) {
	begin(opGet, path)
	r, err := do()
	if err != nil {
		return nil, Stat{}, err
	}
	st := decodeStat(r)
	return append([]byte(nil), r[statSize:]...), st, nil
}

// Exists returns a node's stat and whether it exists.
func Exists(path string) (Stat, bool, error) {
	begin(opExists, path)
	r, err := do()
	if err != nil || len(r) == 0 || r[0] == 0 {
		return Stat{}, false, err
	}
	return decodeStat(r[1:]), true, nil
}

// Children returns a node's children's names, sorted, or ErrNoNode.
func Children(path string) ([]string, error) {
	begin(opChildren, path)
	r, err := do()
	if err != nil {
		return nil, err
	}
	n := u32(r)
	names := make([]string, 0, n)
	r = r[4:]
	for range n {
		l := u32(r)
		names = append(names, string(r[4:4+l]))
		r = r[4+l:]
	}
	return names, nil
}

// Create makes a node and returns its path (with the sequential suffix, if
// any). It fails with ErrNodeExists, ErrNoNode (no parent),
// ErrNoChildrenForEphemerals or ErrNoAuth.
func Create(path string, data []byte, mode Mode) (string, error) {
	begin(opCreate, path)
	req = appendU32(req, uint32(len(data)))
	req = append(req, data...)
	req = appendU32(req, uint32(mode))
	r, err := do()
	if err != nil {
		return "", err
	}
	return string(r), nil
}

// Set replaces a node's data if its version is version (or AnyVersion) and
// returns the new stat. It fails with ErrNoNode, ErrBadVersion or ErrNoAuth.
func Set(path string, data []byte, version int32) (Stat, error) {
	begin(opSet, path)
	req = appendU32(req, uint32(len(data)))
	req = append(req, data...)
	req = appendU32(req, uint32(version))
	r, err := do()
	if err != nil {
		return Stat{}, err
	}
	return decodeStat(r), nil
}

// Delete removes a node if its version is version (or AnyVersion). It fails
// with ErrNoNode, ErrBadVersion, ErrNotEmpty or ErrNoAuth.
func Delete(path string, version int32) error {
	begin(opDelete, path)
	req = appendU32(req, uint32(version))
	_, err := do()
	return err
}

// Session returns the calling client's session id.
func Session() int64 { return hostSession() }

// Now returns the txn's time in milliseconds since the epoch: the same for
// the whole run (time.Now reads it too).
func Now() int64 { return hostNow() }

// Random returns the next number of a generator seeded by the txn, so a
// replay sees the same numbers (crypto/rand reads it too).
func Random() uint64 { return uint64(hostRandom()) }

// TimedOut reports whether this run was started because the deadline of
// the call's Wait passed.
func TimedOut() bool { return hostTimedOut() != 0 }

// Outcome kinds (part of the ABI).
const (
	outcomeResult = 0
	outcomeWait   = 1
	outcomeFail   = 2
)

var out []byte // the last outcome; the host reads it after the function returns

// outcome encodes how fn's run ended.
func outcome(result []byte, err error) []byte {
	var w *waitError
	var e *Error
	switch {
	case err == nil:
		out = append(append(out[:0], outcomeResult), result...)
	case errors.As(err, &w) && len(w.paths) > 0:
		out = append(out[:0], outcomeWait)
		out = appendU32(out, uint32(len(w.paths)))
		for _, p := range w.paths {
			out = appendString(out, p)
		}
	case errors.As(err, &w):
		out = failure(CodeBadArguments, "zkx.Wait needs at least one path")
	case errors.As(err, &e):
		out = failure(e.Code, e.Message)
	default:
		out = failure(CodeRecipeFailed, err.Error())
	}
	return out
}

func failure(code int32, message string) []byte {
	out = append(out[:0], outcomeFail)
	out = appendU32(out, uint32(code))
	return append(out, message...)
}

// run calls fn and encodes its outcome; a panic fails the call.
func run(args []byte, fn func(args []byte) ([]byte, error)) (o []byte) {
	defer func() {
		if p := recover(); p != nil {
			o = failure(CodeRecipeFailed, "panic: "+panicText(p))
		}
	}()
	return outcome(fn(args))
}

// panicText describes a panic's value without fmt, which would double the
// size of a small module.
func panicText(p any) string {
	switch v := p.(type) {
	case error:
		return v.Error()
	case string:
		return v
	case interface{ String() string }:
		return v.String()
	}
	return "(a value of another type)"
}

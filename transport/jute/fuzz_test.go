package jute

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// FuzzDecodeRequest decodes a client frame body the way the server does:
// as a ConnectRequest (the first frame of a connection), and as a
// RequestHeader followed by the record NewRequestRecord gives for its op.
// Decoding must not panic, must not build more than a small multiple of
// the input's size (every length and count is checked against the bytes
// that remain), and a record that decodes must encode to bytes that decode
// to the same record.
//
// The seed corpus in testdata/fuzz/FuzzDecodeRequest holds a valid
// encoding of every request and some truncated and forged ones; regenerate
// it with: go test ./transport/jute -run TestFuzzDecodeRequestCorpus -update-corpus
func FuzzDecodeRequest(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		var cr ConnectRequest
		checkDecode(t, "ConnectRequest", body, &cr, func() Record { return &ConnectRequest{} })

		var hdr RequestHeader
		d := NewDecoder(body)
		hdr.Decode(d)
		if d.Err() != nil {
			return
		}
		rec := NewRequestRecord(hdr.Type)
		if rec == nil {
			return
		}
		fresh := func() Record { return NewRequestRecord(hdr.Type) }
		checkDecode(t, hdr.Type.String(), d.Rest(), rec, fresh)
	})
}

// maxBlowup bounds the bytes a decoded record may hold per input byte.
// The worst cases are a multi of minimal ops (a 9-byte header and an
// 8-byte check op become a 24-byte MultiOp, twice over after append's
// growth, and a 24-byte record) and vectors of empty strings (16 bytes
// each for 4 input bytes).
const maxBlowup = 8

func checkDecode(t *testing.T, what string, in []byte, rec Record, fresh func() Record) {
	t.Helper()
	err := Decode(in, rec)
	if held := heapBytes(reflect.ValueOf(rec)); held > maxBlowup*len(in)+1024 {
		t.Fatalf("%s: %d input bytes decoded into %d bytes of records (err %v)", what, len(in), held, err)
	}
	if err != nil {
		return
	}
	e := NewEncoder(nil)
	rec.Encode(e)
	again := fresh()
	if err := Decode(e.Bytes(), again); err != nil {
		t.Fatalf("%s: re-encoded record does not decode: %v\nrecord: %+v\nbytes: %x", what, err, rec, e.Bytes())
	}
	normalize(rec)
	normalize(again)
	if !reflect.DeepEqual(rec, again) {
		t.Fatalf("%s: decode(encode(r)) != r\nfirst:  %#v\nsecond: %#v", what, rec, again)
	}
}

// normalize clears what encoding does not carry: whether a connect
// request had the trailing readOnly byte (it is always written).
func normalize(r Record) {
	if c, ok := r.(*ConnectRequest); ok {
		c.HasReadOnly = false
	}
}

// heapBytes estimates what a decoded value holds beyond its own inline
// size: string bytes, slice backing arrays (by capacity) and pointees.
func heapBytes(v reflect.Value) int {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return 0
		}
		return int(v.Type().Elem().Size()) + heapBytes(v.Elem())
	case reflect.Interface:
		if v.IsNil() {
			return 0
		}
		return heapBytes(v.Elem())
	case reflect.Slice:
		if v.IsNil() {
			return 0
		}
		n := v.Cap() * int(v.Type().Elem().Size())
		for i := 0; i < v.Len(); i++ {
			n += heapBytes(v.Index(i))
		}
		return n
	case reflect.String:
		return v.Len()
	case reflect.Struct:
		n := 0
		for i := 0; i < v.NumField(); i++ {
			n += heapBytes(v.Field(i))
		}
		return n
	}
	return 0
}

var updateCorpus = flag.Bool("update-corpus", false, "rewrite testdata/fuzz/FuzzDecodeRequest from requestSeeds")

const corpusDir = "testdata/fuzz/FuzzDecodeRequest"

// TestFuzzDecodeRequestCorpus checks that the committed seed corpus holds
// every seed requestSeeds builds, so it covers every request record; with
// -update-corpus it writes them.
func TestFuzzDecodeRequestCorpus(t *testing.T) {
	seeds := requestSeeds()
	if *updateCorpus {
		if err := os.MkdirAll(corpusDir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, body := range seeds {
			content := fmt.Sprintf("go test fuzz v1\n[]byte(%s)\n", strconv.Quote(string(body)))
			if err := os.WriteFile(filepath.Join(corpusDir, name), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	names := make([]string, 0, len(seeds))
	for name := range seeds {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		content, err := os.ReadFile(filepath.Join(corpusDir, name))
		if err != nil {
			t.Errorf("seed %s is not in the corpus (run with -update-corpus): %v", name, err)
			continue
		}
		body, err := parseCorpusFile(content)
		if err != nil {
			t.Errorf("seed %s: %v", name, err)
			continue
		}
		if !bytes.Equal(body, seeds[name]) {
			t.Errorf("seed %s in the corpus differs from what requestSeeds builds (run with -update-corpus)", name)
		}
	}
	// Every op with a request record has a valid seed that decodes.
	for op := range opNames {
		if NewRequestRecord(op) == nil {
			continue
		}
		body, ok := seeds["valid-"+op.String()]
		if !ok {
			t.Errorf("no valid seed for %v", op)
			continue
		}
		d := NewDecoder(body)
		var hdr RequestHeader
		hdr.Decode(d)
		if err := Decode(d.Rest(), NewRequestRecord(hdr.Type)); err != nil || hdr.Type != op {
			t.Errorf("valid seed for %v does not decode: %v %v", op, hdr.Type, err)
		}
	}
}

// parseCorpusFile reads a one-value []byte corpus file.
func parseCorpusFile(content []byte) ([]byte, error) {
	ls := strings.Split(strings.TrimSpace(string(content)), "\n")
	if len(ls) != 2 || ls[0] != "go test fuzz v1" || !strings.HasPrefix(ls[1], "[]byte(") || !strings.HasSuffix(ls[1], ")") {
		return nil, fmt.Errorf("not a go test fuzz v1 file holding one []byte")
	}
	s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(ls[1], "[]byte("), ")"))
	return []byte(s), err
}

// requestSeeds builds a valid encoding of every request a client sends,
// named valid-<op>, plus truncated and forged variants.
func requestSeeds() map[string][]byte {
	world := []ACL{{Perms: PermAll, Scheme: "world", ID: "anyone"}}
	digest := []ACL{{Perms: PermRead | PermAdmin, Scheme: "digest", ID: "alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E="}, world[0]}
	req := func(op OpCode, rec Record) []byte {
		e := NewEncoder(nil)
		(&RequestHeader{Xid: 7, Type: op}).Encode(e)
		if rec != nil {
			rec.Encode(e)
		}
		return e.Bytes()
	}
	seeds := map[string][]byte{}
	add := func(op OpCode, rec Record) { seeds["valid-"+op.String()] = req(op, rec) }

	add(OpCreate, &CreateRequest{Path: "/a", Data: []byte("data"), ACL: world, Flags: FlagPersistent})
	add(OpCreate2, &CreateRequest{Path: "/a/seq-", Data: nil, ACL: digest, Flags: FlagEphemeralSequential})
	add(OpCreateContainer, &CreateRequest{Path: "/container", ACL: world, Flags: FlagContainer})
	add(OpCreateTTL, &CreateRequest{Path: "/ttl", Data: []byte{}, ACL: world, Flags: FlagPersistentWithTTL, TTL: 60000, HasTTL: true})
	add(OpDelete, &PathVersionRequest{Path: "/a", Version: -1})
	add(OpCheck, &PathVersionRequest{Path: "/a", Version: 3})
	add(OpExists, &PathWatchRequest{Path: "/a", Watch: true})
	add(OpGetData, &PathWatchRequest{Path: "/a", Watch: false})
	add(OpGetChildren, &PathWatchRequest{Path: "/", Watch: true})
	add(OpGetChildren2, &PathWatchRequest{Path: "/zookeeper", Watch: false})
	add(OpSetData, &SetDataRequest{Path: "/a", Data: []byte("new"), Version: 0})
	add(OpGetACL, &PathRequest{Path: "/a"})
	add(OpSync, &PathRequest{Path: "/"})
	add(OpGetAllChildrenNumber, &PathRequest{Path: "/"})
	add(OpGetEphemerals, &PathRequest{Path: "/app"})
	add(OpSetACL, &SetACLRequest{Path: "/a", ACL: digest, Version: -1})
	multi := &MultiRequest{Ops: []MultiOp{
		{Type: OpCreate, Req: &CreateRequest{Path: "/m", Data: []byte("x"), ACL: world}},
		{Type: OpCreate2, Req: &CreateRequest{Path: "/m/s-", ACL: world, Flags: FlagPersistentSequential}},
		{Type: OpCreateContainer, Req: &CreateRequest{Path: "/mc", ACL: world, Flags: FlagContainer}},
		{Type: OpCreateTTL, Req: &CreateRequest{Path: "/mt", ACL: world, Flags: FlagPersistentWithTTL, TTL: 1000, HasTTL: true}},
		{Type: OpSetData, Req: &SetDataRequest{Path: "/m", Data: []byte("y"), Version: 0}},
		{Type: OpCheck, Req: &PathVersionRequest{Path: "/m", Version: 1}},
		{Type: OpDelete, Req: &PathVersionRequest{Path: "/m/s-0000000000", Version: -1}},
	}}
	add(OpMulti, multi)
	add(OpMultiRead, &MultiRequest{Ops: []MultiOp{
		{Type: OpGetData, Req: &PathWatchRequest{Path: "/m"}},
		{Type: OpGetChildren, Req: &PathWatchRequest{Path: "/"}},
	}})
	add(OpAuth, &AuthPacket{Type: 0, Scheme: "digest", Auth: []byte("alice:secret")})
	add(OpSetWatches, &SetWatchesRequest{RelativeZxid: 0x100000005,
		DataWatches: []string{"/a", "/b"}, ExistWatches: []string{"/c"}, ChildWatches: []string{}})
	add(OpSetWatches2, &SetWatchesRequest{RelativeZxid: 9, DataWatches: []string{"/a"}, ExistWatches: []string{},
		ChildWatches: []string{"/"}, PersistentWatches: []string{"/p"}, PersistentRecursive: []string{"/r"}, V2: true})
	add(OpAddWatch, &PathModeRequest{Path: "/w", Mode: AddWatchPersistentRecursive})
	add(OpCheckWatches, &PathModeRequest{Path: "/w", Mode: WatcherData})
	add(OpRemoveWatches, &PathModeRequest{Path: "/w", Mode: WatcherAny})
	add(OpReconfig, &ReconfigRequest{JoiningServers: "server.4=h:2888:3888", LeavingServers: "3", CurConfigID: -1})
	add(OpSasl, &BufferResponse{Data: []byte{0x60, 0x82, 0x01}})
	add(OpRecipeCall, &RecipeCallRequest{Name: "lock", Function: "acquire", Args: []byte(`{"path":"/locks/a"}`)})
	add(OpPing, nil)
	add(OpCloseSession, nil)
	add(OpWhoAmI, nil)

	connect := func(cr *ConnectRequest, readOnly bool) []byte {
		e := NewEncoder(nil)
		cr.Encode(e)
		b := e.Bytes()
		if !readOnly {
			b = b[:len(b)-1] // a client from before read-only mode
		}
		return b
	}
	seeds["valid-connect"] = connect(&ConnectRequest{TimeOut: 30000, Passwd: make([]byte, 16)}, true)
	seeds["valid-connect-reattach"] = connect(&ConnectRequest{LastZxidSeen: 0x500000002, TimeOut: 4000,
		SessionID: 0x100001402600000, Passwd: bytes.Repeat([]byte{0xab}, 16), ReadOnly: true}, true)
	seeds["valid-connect-no-readonly"] = connect(&ConnectRequest{TimeOut: 10000, Passwd: make([]byte, 16)}, false)

	// Truncations of valid requests.
	for _, name := range []string{"valid-create", "valid-multi", "valid-setWatches2", "valid-setACL", "valid-connect"} {
		b := seeds[name]
		seeds["truncated-half-"+strings.TrimPrefix(name, "valid-")] = b[:len(b)/2]
		seeds["truncated-last-byte-"+strings.TrimPrefix(name, "valid-")] = b[:len(b)-1]
	}
	seeds["truncated-header"] = []byte{0, 0, 0, 7, 0, 0}
	seeds["empty"] = []byte{}

	// Forged lengths and counts.
	forged := func(op OpCode, body func(e *Encoder)) []byte {
		e := NewEncoder(nil)
		(&RequestHeader{Xid: 7, Type: op}).Encode(e)
		body(e)
		return e.Bytes()
	}
	seeds["forged-acl-count"] = forged(OpCreate, func(e *Encoder) { e.String("/a"); e.Buffer(nil); e.Int(0x7fffffff) })
	seeds["forged-watch-count"] = forged(OpSetWatches, func(e *Encoder) { e.Long(0); e.Int(1 << 28) })
	seeds["forged-path-length"] = forged(OpGetData, func(e *Encoder) { e.Int(1 << 30); e.Bool(false) })
	seeds["forged-negative-length"] = forged(OpSetData, func(e *Encoder) { e.String("/a"); e.Int(-7); e.Int(0) })
	seeds["forged-multi-op"] = forged(OpMulti, func(e *Encoder) { (&MultiHeader{Type: 77, Err: -1}).Encode(e); e.String("/a") })
	seeds["forged-multi-endless"] = forged(OpMulti, func(e *Encoder) {
		for i := 0; i < 64; i++ {
			(&MultiHeader{Type: OpCheck, Err: -1}).Encode(e)
			(&PathVersionRequest{}).Encode(e)
		}
	})
	return seeds
}

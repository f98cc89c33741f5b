package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/adler32"
	"os"
	"path/filepath"
	"testing"
)

// zkLogFile builds a ZooKeeper txn log as FileTxnLog writes it: the file
// header, one record per txn (a TxnHeader with the given zxid, then body),
// and pad bytes of zero fill.
func zkLogFile(t *testing.T, zxids []int64, bodies [][]byte, pad int) (file []byte, used int) {
	t.Helper()
	var b bytes.Buffer
	be := func(v any) {
		if err := binary.Write(&b, binary.BigEndian, v); err != nil {
			t.Fatal(err)
		}
	}
	b.WriteString("ZKLG")
	be(int32(2))      // version
	be(int64(0x1234)) // dbid
	for i, zxid := range zxids {
		var txn bytes.Buffer
		binary.Write(&txn, binary.BigEndian, int64(0x100000000abc)) // clientId
		binary.Write(&txn, binary.BigEndian, int32(i+1))            // cxid
		binary.Write(&txn, binary.BigEndian, zxid)                  // zxid
		binary.Write(&txn, binary.BigEndian, int64(1715435090998))  // time
		binary.Write(&txn, binary.BigEndian, int32(5))              // type: setData
		txn.Write(bodies[i])
		be(int64(adler32.Checksum(txn.Bytes())))
		be(int32(txn.Len()))
		b.Write(txn.Bytes())
		b.WriteByte(0x42)
	}
	used = b.Len()
	b.Write(make([]byte, pad))
	return b.Bytes(), used
}

func TestScanZKLogStopsAtZeroFill(t *testing.T) {
	bodies := [][]byte{
		[]byte("\x00\x00\x00\x10/bench/keys/k0001\x00\x00\x00\x05{\"a\":1}\xff\xff\xff\xff"),
		bytes.Repeat([]byte("x"), 130),
	}
	file, used := zkLogFile(t, []int64{0x100000007, 0x100000008}, bodies, 64<<10)
	// header 16, then per record 8 (checksum) + 4 (length) + txn + 1 (EOR);
	// each txn is a 32-byte TxnHeader and its body.
	want := 16 + (13 + 32 + len(bodies[0])) + (13 + 32 + len(bodies[1]))
	if used != want {
		t.Fatalf("test log builder: %d bytes used, want %d", used, want)
	}
	s, err := scanZKLog(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	if s.used != int64(want) || s.txns != 2 || s.firstZxid != 0x100000007 || s.lastZxid != 0x100000008 {
		t.Fatalf("scan = %+v, want %d bytes used, 2 txns, zxids 0x100000007..0x100000008", s, want)
	}

	// Without zero fill (the file ends where the data does), and with a
	// few zero bytes that are not a whole record header.
	for _, pad := range []int{0, 5} {
		s, err := scanZKLog(bytes.NewReader(file[:used+pad]))
		if err != nil || s.used != int64(want) || s.txns != 2 {
			t.Errorf("pad %d: scan = %+v, %v; want %d bytes, 2 txns", pad, s, err, want)
		}
	}
	// Only the header: an empty log.
	if s, err := scanZKLog(bytes.NewReader(file[:16])); err != nil || s.used != 16 || s.txns != 0 {
		t.Errorf("header only: scan = %+v, %v", s, err)
	}
}

func TestScanZKLogRejectsDamage(t *testing.T) {
	file, used := zkLogFile(t, []int64{1, 2}, [][]byte{[]byte("first"), []byte("second")}, 4096)
	second := 16 + 13 + 32 + len("first") // offset of the second record
	damaged := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(file)) }
	cases := map[string]struct {
		file []byte
		want error
	}{
		"bad magic":      {damaged(func(b []byte) []byte { b[0] = 'X'; return b }), errZKLogHeader},
		"bad version":    {damaged(func(b []byte) []byte { b[7] = 3; return b }), errZKLogHeader},
		"short header":   {file[:10], errZKLogHeader},
		"cut in a txn":   {file[:used-4], errZKLogTorn},
		"cut in header":  {file[:second+6], errZKLogTorn},
		"no EOR":         {damaged(func(b []byte) []byte { b[used-1] = 0; return b }), errZKLogTorn},
		"bad checksum":   {damaged(func(b []byte) []byte { b[second+12+20] ^= 1; return b }), errZKLogChecksum},
		"negative size":  {damaged(func(b []byte) []byte { b[second+8] = 0x80; return b }), errZKLogTorn},
		"oversized txns": {damaged(func(b []byte) []byte { b[second+9] = 0x7f; return b }), errZKLogTorn},
	}
	for name, c := range cases {
		if _, err := scanZKLog(bytes.NewReader(c.file)); !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", name, err, c.want)
		}
	}
}

func TestZookeeperLogUsageSumsLogFiles(t *testing.T) {
	dataDir := t.TempDir()
	dir := zookeeperVersionDir(dataDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	a, usedA := zkLogFile(t, []int64{1, 2}, [][]byte{[]byte("a"), []byte("bb")}, 10000)
	b, usedB := zkLogFile(t, []int64{3}, [][]byte{[]byte("ccc")}, 20000)
	for name, data := range map[string][]byte{"log.1": a, "log.3": b, "snapshot.2": []byte("not a log")} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	u, err := zookeeperLogUsage(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	if u.files != 2 || u.used != int64(usedA+usedB) || u.txns != 3 || u.apparent != int64(len(a)+len(b)) {
		t.Fatalf("usage = %+v, want 2 files, %d used, 3 txns, %d apparent", u, usedA+usedB, len(a)+len(b))
	}
	snaps, err := zookeeperSnapshots(dataDir)
	if err != nil || snaps.count != 1 || snaps.newestBytes != int64(len("not a log")) {
		t.Fatalf("snapshots = %+v, %v", snaps, err)
	}
}

package peer

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"io"
	"testing"
)

// The bytes below are the wire format; if this test has to change, so
// does protocolVersion.
func TestWireFormat(t *testing.T) {
	h := hello{version: 1, channel: Quorum, status: statusFingerprint, id: 3, fingerprint: 0x0102030405060708}
	b := h.marshal()
	if got, want := hex.EncodeToString(b[:]), "5a4b5850"+"0001"+"01"+"04"+"0000000000000003"+"0102030405060708"; got != want {
		t.Fatalf("hello\n got %s\nwant %s", got, want)
	}
	if back, err := parseHello(b[:]); err != nil || back != h {
		t.Fatalf("parse: %+v, %v", back, err)
	}

	f := frameBytes([]byte("abc"))
	crc := crc32.Checksum([]byte("\x00\x00\x00\x03abc"), crc32.MakeTable(crc32.Castagnoli))
	want := binary.BigEndian.AppendUint32([]byte{0, 0, 0, 3}, crc)
	want = append(want, "abc"...)
	if !bytes.Equal(f, want) {
		t.Fatalf("frame\n got %x\nwant %x", f, want)
	}

	peers := map[int64]Addr{
		2:  {Quorum: "b:2888", Election: "b:3888"},
		1:  {Quorum: "a:2888", Election: "a:3888"},
		10: {Quorum: "[::1]:2888", Election: "[::1]:3888", Observer: true},
	}
	sum := sha256.Sum256([]byte("server.1=participant\nserver.2=participant\nserver.10=observer\n"))
	if got, want := Fingerprint(peers), binary.BigEndian.Uint64(sum[:]); got != want {
		t.Fatalf("fingerprint %016x, want %016x", got, want)
	}
}

func TestReadFrame(t *testing.T) {
	var stream []byte
	payloads := [][]byte{{}, []byte("x"), bytes.Repeat([]byte("y"), 3<<20+5)}
	for _, p := range payloads {
		stream = append(stream, frameBytes(p)...)
	}
	r := bufio.NewReader(bytes.NewReader(stream))
	for i, want := range payloads {
		got, err := readFrame(r, 4<<20)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("frame %d: %d bytes, %v", i, len(got), err)
		}
	}
	if _, err := readFrame(r, 4<<20); err != io.EOF {
		t.Fatalf("at the end: %v, want io.EOF", err)
	}

	for name, tc := range map[string]struct {
		b    []byte
		want error
	}{
		"too large":   {frameBytes(make([]byte, 11)), ErrFrameTooLarge},
		"bad crc":     {flip(frameBytes([]byte("hello")), 9), ErrChecksum},
		"bad length":  {flip(frameBytes([]byte("hello")), 3), ErrChecksum},
		"torn header": {frameBytes([]byte("hello"))[:5], io.ErrUnexpectedEOF},
		"torn body":   {frameBytes([]byte("hello"))[:10], io.ErrUnexpectedEOF},
		"torn big":    {frameBytes(make([]byte, 3<<20))[:2<<20], io.ErrUnexpectedEOF},
	} {
		maxFrame := 10
		if name == "torn big" || name == "bad length" {
			maxFrame = 4 << 20
		}
		if _, err := readFrame(bufio.NewReader(bytes.NewReader(tc.b)), maxFrame); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
}

func flip(b []byte, i int) []byte {
	b[i] ^= 1
	return b
}

func FuzzReadFrame(f *testing.F) {
	f.Add(frameBytes([]byte("hello")))
	f.Add(append(frameBytes(nil), frameBytes([]byte{1, 2, 3})...))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bufio.NewReader(bytes.NewReader(b))
		var out []byte
		for {
			p, err := readFrame(r, 1<<16)
			if err != nil {
				break
			}
			out = append(out, frameBytes(p)...)
		}
		if !bytes.HasPrefix(b, out) {
			t.Fatalf("frames read do not re-encode to a prefix of the input")
		}
	})
}

func FuzzParseHello(f *testing.F) {
	good := hello{version: 1, channel: Election, id: 7, fingerprint: 42}.marshal()
	f.Add(good[:])
	f.Add([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := parseHello(b)
		if err != nil {
			return
		}
		if m := h.marshal(); !bytes.Equal(m[:], b) {
			t.Fatalf("hello does not round-trip: %x -> %+v -> %x", b, h, m)
		}
	})
}

package zab

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"runtime"
	"testing"
)

func sampleMessages() []Message {
	return []Message{
		{Type: MsgVote, From: 1, To: 2, Vote: Vote{Leader: 3, Zxid: MakeZxid(4, 5), PeerEpoch: 4}, ElectionEpoch: 7, State: Looking},
		{Type: MsgVote, From: 4, To: 1, Vote: noVote, ElectionEpoch: math.MaxUint64, State: Observing},
		{Type: MsgFollowerInfo, From: 2, To: 3, Epoch: 4, Zxid: MakeZxid(4, 9)},
		{Type: MsgFollowerInfo, From: 2, To: 3, Epoch: 4, Zxid: MakeZxid(4, 9), Floor: MakeZxid(4, 7)},
		{Type: MsgObserverInfo, From: 5, To: 3},
		{Type: MsgLeaderInfo, From: 3, To: 2, Epoch: 5, Vote: Vote{Leader: 3, Zxid: 1, PeerEpoch: 4}, ElectionEpoch: 2},
		{Type: MsgAckEpoch, From: 2, To: 3, Epoch: 4, Zxid: MakeZxid(4, 9)},
		{Type: MsgDiff, From: 3, To: 2, Epoch: 5, Zxid: MakeZxid(4, 9), Entries: []Entry{{Zxid: MakeZxid(4, 10), Data: []byte("a")}, {Zxid: MakeZxid(5, 1), Data: []byte("bc")}}},
		{Type: MsgTrunc, From: 3, To: 2, Epoch: 5, Zxid: MakeZxid(4, 8)},
		{Type: MsgSnap, From: 3, To: 2, Epoch: 5, Zxid: MakeZxid(4, 8), Snapshot: []byte("state")},
		{Type: MsgProposal, From: 3, To: 2, Epoch: 5, Zxid: MakeZxid(5, 2), Entries: []Entry{{Zxid: MakeZxid(5, 2), Data: bytes.Repeat([]byte{0xff}, 300)}}},
		{Type: MsgCommit, From: 3, To: 2, Epoch: 5, Zxid: MakeZxid(5, 2)},
		{Type: MsgNewLeader, From: 3, To: 2, Epoch: 5, Zxid: MakeZxid(4, 9)},
		{Type: MsgAck, From: 2, To: 3, Epoch: 5, Zxid: MakeZxid(5, 2)},
		{Type: MsgUpToDate, From: 3, To: 2, Epoch: 5, Zxid: MakeZxid(5, 2)},
		{Type: MsgInform, From: 3, To: 5, Epoch: 5, Zxid: MakeZxid(5, 2), Entries: []Entry{{Zxid: MakeZxid(5, 2)}}},
		{Type: MsgPing, From: 3, To: 2, Epoch: 5},
		{Type: MsgPeerDown, From: 3, To: 2},
	}
}

func TestMessageRoundTrip(t *testing.T) {
	for _, m := range sampleMessages() {
		b := m.Marshal([]byte{0xAA}) // appends
		if b[0] != 0xAA {
			t.Fatalf("%s: Marshal overwrote the prefix", m)
		}
		got, err := UnmarshalMessage(b[1:])
		if err != nil {
			t.Fatalf("%s: %v", m, err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Errorf("round trip:\n got %#v\nwant %#v", got, m)
		}
	}
}

func TestMessageRoundTripRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	anyInt := func() int64 {
		switch rng.IntN(4) {
		case 0:
			return 0
		case 1:
			return rng.Int64N(100)
		case 2:
			return -rng.Int64()
		}
		return rng.Int64()
	}
	for i := 0; i < 2000; i++ {
		m := Message{
			Type:          MsgType(1 + rng.IntN(int(msgTypeEnd)-1)),
			From:          anyInt(),
			To:            anyInt(),
			Epoch:         rng.Uint32(),
			Zxid:          anyInt(),
			Vote:          Vote{Leader: anyInt(), Zxid: anyInt(), PeerEpoch: rng.Uint32()},
			ElectionEpoch: rng.Uint64(),
			State:         Role(rng.IntN(4)),
		}
		for j := rng.IntN(4); j > 0; j-- {
			e := Entry{Zxid: anyInt()}
			if n := rng.IntN(20); n > 0 {
				e.Data = make([]byte, n)
				for k := range e.Data {
					e.Data[k] = byte(rng.Uint32())
				}
			}
			m.Entries = append(m.Entries, e)
		}
		if rng.IntN(3) == 0 {
			m.Snapshot = []byte("snap")
		}
		got, err := UnmarshalMessage(m.Marshal(nil))
		if err != nil {
			t.Fatalf("%#v: %v", m, err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Fatalf("round trip:\n got %#v\nwant %#v", got, m)
		}
	}
}

func TestUnmarshalMessageRejects(t *testing.T) {
	good := (&Message{Type: MsgDiff, From: 1, To: 2, Entries: []Entry{{Zxid: 5, Data: []byte("x")}}}).Marshal(nil)
	cases := map[string][]byte{
		"empty":        nil,
		"one byte":     {1},
		"version 0":    {0, byte(MsgVote), 0},
		"version 2":    {2, byte(MsgVote), 0},
		"type 0":       {1, 0, 0},
		"type too big": {1, byte(msgTypeEnd), 0},
		"unknown bit":  {1, byte(MsgVote), 0x80, 0x10},
		"bad state":    {1, byte(MsgVote), 0x80, 0x02, 9},
		"truncated":    good[:len(good)-1],
		"trailing":     append(append([]byte{}, good...), 0),
		"huge count":   {1, byte(MsgDiff), 0x80, 0x04, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"zero count":   {1, byte(MsgDiff), 0x80, 0x04, 0},
		"long data":    {1, byte(MsgSnap), 0x80, 0x08, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2},
		"empty snap":   {1, byte(MsgSnap), 0x80, 0x08, 0},
		"epoch > u32":  {1, byte(MsgPing), 0x04, 0x80, 0x80, 0x80, 0x80, 0x10},
	}
	for name, b := range cases {
		_, err := UnmarshalMessage(b)
		if err == nil {
			t.Errorf("%s: accepted % x", name, b)
			continue
		}
		if !errors.Is(err, ErrBadMessage) && !errors.Is(err, ErrUnsupportedVersion) {
			t.Errorf("%s: error %v is neither ErrBadMessage nor ErrUnsupportedVersion", name, err)
		}
	}
}

// A message that claims a huge entry count must not make the decoder
// allocate for it.
func TestUnmarshalMessageBoundsAllocations(t *testing.T) {
	for _, b := range [][]byte{
		{1, byte(MsgDiff), 0x80, 0x04, 0xff, 0xff, 0xff, 0xff, 0x0f},
		{1, byte(MsgSnap), 0x80, 0x08, 0xff, 0xff, 0xff, 0xff, 0x0f, 1},
	} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for i := 0; i < 100; i++ {
			_, _ = UnmarshalMessage(b)
		}
		runtime.ReadMemStats(&after)
		if per := (after.TotalAlloc - before.TotalAlloc) / 100; per > 1024 {
			t.Errorf("% x: %d bytes allocated per decode", b, per)
		}
	}
}

// FuzzUnmarshalMessage: decoding never panics, and whatever decodes
// re-encodes to the same message. The seed corpus is in
// testdata/fuzz/FuzzUnmarshalMessage.
func FuzzUnmarshalMessage(f *testing.F) {
	for _, m := range sampleMessages() {
		f.Add(m.Marshal(nil))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := UnmarshalMessage(b)
		if err != nil {
			return
		}
		again, err := UnmarshalMessage(m.Marshal(nil))
		if err != nil {
			t.Fatalf("re-encoding of %#v does not decode: %v", m, err)
		}
		if !reflect.DeepEqual(again, m) {
			t.Fatalf("re-encoding changed the message:\n%#v\n%#v", m, again)
		}
		if len(m.Entries) > len(b)/2 {
			t.Fatalf("%d entries from %d bytes", len(m.Entries), len(b))
		}
	})
}

func TestVoteOrder(t *testing.T) {
	// Each vote is stronger than the ones before it.
	votes := []Vote{
		{Leader: 9, Zxid: MakeZxid(3, 9), PeerEpoch: 2},
		{Leader: 1, Zxid: MakeZxid(2, 1), PeerEpoch: 3}, // a newer epoch beats a longer log
		{Leader: 2, Zxid: MakeZxid(2, 1), PeerEpoch: 3}, // same epoch and zxid: the higher id
		{Leader: 1, Zxid: MakeZxid(3, 1), PeerEpoch: 3}, // same epoch: the higher zxid
		{Leader: 1, Zxid: MakeZxid(3, 2), PeerEpoch: 3}, // counter counts
		{Leader: 3, Zxid: MakeZxid(3, 2), PeerEpoch: 3}, // ids break the tie
		{Leader: 1, Zxid: 0, PeerEpoch: math.MaxUint32}, // the epoch first
	}
	for i := range votes {
		for j := range votes {
			want := cmpInt64(int64(i), int64(j))
			if got := votes[i].Compare(votes[j]); got != want {
				t.Errorf("%+v.Compare(%+v) = %d, want %d", votes[i], votes[j], got, want)
			}
			if got := votes[i].Less(votes[j]); got != (i < j) {
				t.Errorf("%+v.Less(%+v) = %v", votes[i], votes[j], got)
			}
		}
	}
	if !noVote.Less(Vote{}) {
		t.Error("an observer's vote must be weaker than any voter's")
	}
}

func TestBetterNeverPicksANonVoter(t *testing.T) {
	n, err := NewNode(Config{ID: 1, Voters: []int64{1, 2, 3}, Observers: []int64{4}, Storage: &memStore{}})
	if err != nil {
		t.Fatal(err)
	}
	cur := Vote{Leader: 1}
	if n.better(Vote{Leader: 4, Zxid: 100, PeerEpoch: 100}, cur) {
		t.Error("a vote for an observer won")
	}
	if n.better(Vote{Leader: 7, Zxid: 100, PeerEpoch: 100}, cur) {
		t.Error("a vote for an unknown server won")
	}
	if !n.better(Vote{Leader: 2}, cur) {
		t.Error("a vote for a higher id lost")
	}
}

func TestZxid(t *testing.T) {
	z := MakeZxid(7, 42)
	if ZxidEpoch(z) != 7 || ZxidCounter(z) != 42 || z != 7<<32|42 {
		t.Errorf("MakeZxid(7, 42) = %#x", z)
	}
	if FormatZxid(z) != "7.42" {
		t.Errorf("FormatZxid = %q", FormatZxid(z))
	}
}

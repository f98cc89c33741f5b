package zab

import (
	"errors"
	"testing"
)

func TestNewNodeRejectsBadConfig(t *testing.T) {
	st := &memStore{}
	cases := map[string]Config{
		"no storage":         {ID: 1, Voters: []int64{1}},
		"no voters":          {ID: 1, Storage: st},
		"zero id":            {ID: 0, Voters: []int64{0, 1}, Storage: st},
		"not a member":       {ID: 4, Voters: []int64{1, 2, 3}, Storage: st},
		"listed twice":       {ID: 1, Voters: []int64{1, 2}, Observers: []int64{2}, Storage: st},
		"negative ticks":     {ID: 1, Voters: []int64{1}, Storage: st, ElectionTicks: -1},
		"heartbeat too slow": {ID: 1, Voters: []int64{1}, Storage: st, HeartbeatTicks: 10, SyncLimitTicks: 10},
		"current > accepted": {ID: 1, Voters: []int64{1}, Storage: st, HardState: HardState{AcceptedEpoch: 1, CurrentEpoch: 2}},
		"log newer than any accepted epoch": {ID: 1, Voters: []int64{1}, Storage: st,
			HardState: HardState{AcceptedEpoch: 1, CurrentEpoch: 1}, LastZxid: MakeZxid(2, 1)},
	}
	for name, cfg := range cases {
		if _, err := NewNode(cfg); !errors.Is(err, ErrBadConfig) {
			t.Errorf("%s: err = %v, want ErrBadConfig", name, err)
		}
	}
	// A crash in the middle of a sync leaves entries of the accepted epoch
	// before the current epoch was written: the node must start.
	cfg := Config{ID: 1, Voters: []int64{1, 2, 3}, Storage: st, HardState: HardState{AcceptedEpoch: 2, CurrentEpoch: 1}, LastZxid: MakeZxid(2, 3)}
	if _, err := NewNode(cfg); err != nil {
		t.Errorf("mid-sync crash state: %v", err)
	}
}

// drainLocal carries out a lone node's Readys against st.
func drainLocal(t *testing.T, n *Node, st *memStore) {
	t.Helper()
	for n.HasReady() {
		rd := n.Ready()
		if len(rd.Messages)+len(rd.MessagesAfterPersist) > 0 {
			t.Fatalf("a standalone node sent messages: %v %v", rd.Messages, rd.MessagesAfterPersist)
		}
		if err := st.persist(rd); err != nil {
			t.Fatal(err)
		}
		if err := st.apply(rd); err != nil {
			t.Fatal(err)
		}
		n.Advance(rd)
	}
}

// A one-voter ensemble (standalone) leads at once, and commits each
// proposal when its own ack is durable.
func TestStandalone(t *testing.T) {
	st := &memStore{hs: HardState{AcceptedEpoch: 3, CurrentEpoch: 3}, log: []Entry{{Zxid: MakeZxid(3, 1), Data: []byte("x")}}}
	st.restart()
	n, err := NewNode(st.config(1, []int64{1}, nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Propose([]Entry{{Zxid: MakeZxid(4, 1)}}); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("Propose before established: %v", err)
	}
	drainLocal(t, n, st)
	s := n.Status()
	if s.Role != Leading || !s.Established || s.Epoch != 4 || s.Committed != MakeZxid(3, 1) {
		t.Fatalf("status %+v", s)
	}
	if err := n.Propose([]Entry{{Zxid: MakeZxid(3, 2)}}); !errors.Is(err, ErrBadZxid) {
		t.Errorf("old epoch: %v", err)
	}
	if err := n.Propose([]Entry{{Zxid: MakeZxid(4, 2)}, {Zxid: MakeZxid(4, 1)}}); !errors.Is(err, ErrBadZxid) {
		t.Errorf("decreasing: %v", err)
	}
	es := []Entry{{Zxid: MakeZxid(4, 1), Data: []byte("a")}, {Zxid: MakeZxid(4, 2), Data: []byte("b")}}
	if err := n.Propose(es); err != nil {
		t.Fatal(err)
	}
	if s := n.Status(); s.Committed != MakeZxid(3, 1) {
		t.Fatalf("committed %s before its ack was durable", FormatZxid(s.Committed))
	}
	drainLocal(t, n, st)
	if s := n.Status(); s.Committed != MakeZxid(4, 2) || len(st.applied) != 3 {
		t.Fatalf("committed %s, applied %d", FormatZxid(s.Committed), len(st.applied))
	}
	if err := n.Propose([]Entry{{Zxid: MakeZxid(4, 0xffffffff)}}); !errors.Is(err, ErrZxidRollover) {
		t.Errorf("rollover: %v", err)
	}
	// It stepped down, and (alone) leads again in a new epoch.
	drainLocal(t, n, st)
	if s := n.Status(); s.Role != Leading || !s.Established || s.Epoch != 5 {
		t.Errorf("after the rollover: %+v", s)
	}
}

func TestStepRejectsStrangers(t *testing.T) {
	n, err := NewNode(Config{ID: 1, Voters: []int64{1, 2, 3}, Storage: &memStore{}})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []Message{
		{Type: MsgVote, From: 9, To: 1},
		{Type: MsgVote, From: 2, To: 3},
		{Type: MsgVote, From: 1, To: 1},
	} {
		if err := n.Step(m); !errors.Is(err, ErrUnknownPeer) {
			t.Errorf("%s: err = %v, want ErrUnknownPeer", m, err)
		}
	}
	if err := n.Step(Message{Type: 99, From: 2, To: 1}); !errors.Is(err, ErrProtocol) {
		t.Errorf("unknown type: %v", err)
	}
}

func TestRoleStrings(t *testing.T) {
	want := map[Role]string{Looking: "looking", Following: "follower", Leading: "leader", Observing: "observer"}
	for r, s := range want {
		if r.String() != s {
			t.Errorf("%d.String() = %q, want %q", r, r.String(), s)
		}
	}
	for typ := MsgVote; typ < msgTypeEnd; typ++ {
		if typ.String() == "" || typ.String()[0] == 'M' {
			t.Errorf("MsgType %d has no name", typ)
		}
	}
}

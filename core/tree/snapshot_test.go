package tree

import (
	"bytes"
	"fmt"
	"math/rand"
	"reflect"
	"testing"

	"github.com/zkx-project/zkx/core/acl"
	"github.com/zkx-project/zkx/core/txn"
)

// randomTxns builds a random history of creates, sets, ACL changes and
// deletes over a small namespace.
func randomTxns(rng *rand.Rand, tr *Tree, n int, zxid *int64) []*txn.Txn {
	var out []*txn.Txn
	names := []string{"a", "b", "c"}
	digest := []acl.ACL{{Perms: acl.All, Scheme: "digest", ID: "u:x"}}
	for len(out) < n {
		p := ""
		for d := rng.Intn(3) + 1; d > 0; d-- {
			p += "/" + names[rng.Intn(len(names))]
		}
		*zxid++
		var op txn.Op
		switch _, st, _, ok := tr.RawNode(p); {
		case !ok:
			parent, _ := splitPath(p)
			_, pst, _, pok := tr.RawNode(parent)
			if !pok {
				*zxid--
				continue
			}
			owner := []int64{0, 0, 0x55, txn.ContainerOwner, txn.TTLOwner(1000)}[rng.Intn(5)]
			if pst.EphemeralOwner != 0 {
				*zxid--
				continue
			}
			op = &txn.Create{Path: p, Data: []byte(fmt.Sprint(rng.Int())), ACL: acl.OpenUnsafe, Owner: owner, ParentCversion: pst.Cversion + 1}
		case rng.Intn(3) == 0 && st.NumChildren == 0:
			op = &txn.Delete{Path: p}
		case rng.Intn(4) == 0:
			op = &txn.SetACL{Path: p, ACL: digest, Version: st.Aversion + 1}
		default:
			op = &txn.SetData{Path: p, Data: []byte(fmt.Sprint(rng.Int())), Version: st.Version + 1}
		}
		t := &txn.Txn{Zxid: *zxid, Time: 1000 + *zxid, Op: op}
		tr.Apply(t, nil)
		out = append(out, t)
	}
	return out
}

func TestSnapshotRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	tr := New()
	var z int64
	randomTxns(rng, tr, 500, &z)
	var buf bytes.Buffer
	sessions := []SnapshotSession{{ID: 0x55, Timeout: 4000, Password: []byte("pw"), Owner: 1}}
	sw, err := NewSnapshotWriter(&buf, sessions)
	if err != nil {
		t.Fatal(err)
	}
	for done := false; !done; {
		if done, err = sw.Next(tr, 7); err != nil {
			t.Fatal(err)
		}
	}
	got, sum, err := ReadSnapshot(bytes.NewReader(buf.Bytes()), z)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Nodes != int64(tr.NodeCount()) || sw.Nodes() != sum.Nodes {
		t.Fatalf("nodes: tree %d, written %d, read %d", tr.NodeCount(), sw.Nodes(), sum.Nodes)
	}
	if sum.Digest != tr.Digest() || got.Digest() != tr.Digest() || sw.Digest() != tr.Digest() {
		t.Fatal("digests differ after a snapshot round trip")
	}
	if !reflect.DeepEqual(sum.Sessions, sessions) {
		t.Fatalf("sessions %+v", sum.Sessions)
	}
	if !reflect.DeepEqual(got.Containers(), tr.Containers()) || !reflect.DeepEqual(got.TTLs(), tr.TTLs()) ||
		!reflect.DeepEqual(got.Ephemerals(0x55), tr.Ephemerals(0x55)) || got.LastZxid() != z {
		t.Fatal("indexes differ after a snapshot round trip")
	}
}

// TestFuzzySnapshotPlusReplay writes a snapshot in small steps while txns
// keep being applied between the steps, then loads it and replays every txn
// after the snapshot's starting zxid: the result must equal the live tree.
func TestFuzzySnapshotPlusReplay(t *testing.T) {
	for seed := int64(1); seed <= 30; seed++ {
		rng := rand.New(rand.NewSource(seed))
		live := New()
		var z int64
		randomTxns(rng, live, 300, &z)
		start := z
		var buf bytes.Buffer
		sw, _ := NewSnapshotWriter(&buf, nil)
		var after []*txn.Txn
		for done := false; !done; {
			var err error
			if done, err = sw.Next(live, 3); err != nil {
				t.Fatal(err)
			}
			after = append(after, randomTxns(rng, live, rng.Intn(4), &z)...)
		}
		after = append(after, randomTxns(rng, live, 20, &z)...)
		got, _, err := ReadSnapshot(&buf, start)
		if err != nil {
			t.Fatal(err)
		}
		for _, tx := range after {
			got.Apply(tx, nil)
		}
		if got.Digest() != live.Digest() || got.NodeCount() != live.NodeCount() {
			var a, b []string
			live.Walk(func(p string, d []byte, st Stat, _ []acl.ACL) bool {
				a = append(a, fmt.Sprint(p, st, string(d)))
				return true
			})
			got.Walk(func(p string, d []byte, st Stat, _ []acl.ACL) bool {
				b = append(b, fmt.Sprint(p, st, string(d)))
				return true
			})
			for i := range a {
				if i >= len(b) || a[i] != b[i] {
					t.Fatalf("seed %d: first difference at %d:\n live %s\n  got %v", seed, i, a[i], b[i:min(i+1, len(b))])
				}
			}
			t.Fatalf("seed %d: replayed tree differs", seed)
		}
	}
}

func FuzzReadSnapshot(f *testing.F) {
	tr := New()
	var z int64
	randomTxns(rand.New(rand.NewSource(1)), tr, 50, &z)
	var buf bytes.Buffer
	sw, _ := NewSnapshotWriter(&buf, []SnapshotSession{{ID: 1, Timeout: 10, Password: []byte("p")}})
	for done := false; !done; {
		done, _ = sw.Next(tr, 100)
	}
	f.Add(buf.Bytes())
	f.Add(buf.Bytes()[:buf.Len()/2])
	f.Fuzz(func(t *testing.T, b []byte) {
		got, _, err := ReadSnapshot(bytes.NewReader(b), 1)
		if err == nil && got.NodeCount() < 1 {
			t.Fatal("a decoded snapshot without nodes")
		}
	})
}

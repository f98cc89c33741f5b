package watch

import (
	"sort"
	"testing"

	"github.com/zkx-project/zkx/core/tree"
)

func fire(m *Manager, typ int32, path string) map[WatcherID]int32 {
	out := make(map[WatcherID]int32)
	for _, d := range m.Trigger(tree.Event{Type: typ, Path: path}, nil) {
		if _, dup := out[d.Watcher]; dup {
			panic("two deliveries to one watcher for one event")
		}
		out[d.Watcher] = d.Type
	}
	return out
}

func TestOneShotWatchesFireOnce(t *testing.T) {
	m := New()
	m.Add(1, Data, "/a")
	m.Add(2, Child, "/a")
	m.Add(3, Data, "/a/b")
	if got := fire(m, tree.EventNodeDataChanged, "/a"); len(got) != 1 || got[1] != tree.EventNodeDataChanged {
		t.Fatalf("data change: %v", got)
	}
	if got := fire(m, tree.EventNodeDataChanged, "/a"); len(got) != 0 {
		t.Fatalf("a one-shot watch fired twice: %v", got)
	}
	if got := fire(m, tree.EventNodeChildrenChanged, "/a"); len(got) != 1 || got[2] != tree.EventNodeChildrenChanged {
		t.Fatalf("children change: %v", got)
	}
	if m.Count() != 1 {
		t.Fatalf("count %d, want 1", m.Count())
	}
}

func TestDeleteFiresDataAndChildWatchesOnce(t *testing.T) {
	m := New()
	m.Add(1, Data, "/a")
	m.Add(1, Child, "/a")
	m.Add(2, Child, "/a")
	got := fire(m, tree.EventNodeDeleted, "/a")
	if len(got) != 2 || got[1] != tree.EventNodeDeleted || got[2] != tree.EventNodeDeleted {
		t.Fatalf("delete: %v", got)
	}
	if m.Count() != 0 || len(m.byWatcher) != 0 {
		t.Fatal("fired watches not removed")
	}
}

func TestPersistentAndRecursive(t *testing.T) {
	m := New()
	addAll(m, 1, Persistent, "/a")
	addAll(m, 2, Recursive, "/a")
	addAll(m, 3, Recursive, "/")
	for i := 0; i < 2; i++ { // they stay
		got := fire(m, tree.EventNodeDataChanged, "/a")
		if len(got) != 3 {
			t.Fatalf("round %d data change on /a: %v", i, got)
		}
	}
	got := fire(m, tree.EventNodeCreated, "/a/b/c")
	if _, ok := got[1]; ok || len(got) != 2 {
		t.Fatalf("create below: persistent must not fire, recursive must: %v", got)
	}
	got = fire(m, tree.EventNodeChildrenChanged, "/a")
	if len(got) != 1 || got[1] != tree.EventNodeChildrenChanged {
		t.Fatalf("children changed: only the persistent watch hears it: %v", got)
	}
	// One-shot and persistent watches on one path stay separate (ZooKeeper
	// 3.8 would let the one-shot replace the persistent one).
	m.Add(1, Data, "/a")
	fire(m, tree.EventNodeDataChanged, "/a")
	if got := fire(m, tree.EventNodeDataChanged, "/a"); got[1] != tree.EventNodeDataChanged {
		t.Fatal("persistent watch lost after a one-shot watch on the same path fired")
	}
}

func TestRemove(t *testing.T) {
	m := New()
	m.Add(1, Data, "/a")
	m.Add(1, Child, "/b")
	m.Add(2, Data, "/a")
	if !m.Remove(1, Data, "/a") || m.Remove(1, Data, "/a") {
		t.Fatal("Remove reports wrongly")
	}
	if !m.Has(2, Data, "/a") || m.Has(1, Data, "/a") {
		t.Fatal("Remove removed the wrong watch")
	}
	m.RemoveWatcher(1)
	if m.Count() != 1 || m.Has(1, Child, "/b") {
		t.Fatal("RemoveWatcher left watches")
	}
	m.Add(2, Child, "/c")
	// wchs, like ZooKeeper's, counts the data-side watches only.
	watchers, paths, total := m.Summary()
	if watchers != 1 || paths != 1 || total != 1 {
		t.Fatalf("summary %d %d %d", watchers, paths, total)
	}
}

func TestManyWatchersDeduplicated(t *testing.T) {
	m := New()
	var want []int
	for w := WatcherID(1); w <= 100; w++ {
		m.Add(w, Data, "/x")
		addAll(m, w, Recursive, "/")
		addAll(m, w, Persistent, "/x")
		want = append(want, int(w))
	}
	got := fire(m, tree.EventNodeDataChanged, "/x")
	var ids []int
	for w := range got {
		ids = append(ids, int(w))
	}
	sort.Ints(ids)
	if len(ids) != 100 {
		t.Fatalf("%d deliveries, want 100", len(ids))
	}
}

func addAll(m *Manager, w WatcherID, kinds []Kind, path string) {
	for _, k := range kinds {
		m.Add(w, k, path)
	}
}

func TestPersistentHalves(t *testing.T) {
	m := New()
	addAll(m, 1, Persistent, "/a")
	addAll(m, 2, Persistent, "/a")
	// Removing the child half (removeWatches type Children) leaves the data
	// half firing, as in ZooKeeper 3.8.
	m.Remove(1, PersistentChild, "/a")
	if got := fire(m, tree.EventNodeChildrenChanged, "/a"); len(got) != 1 || got[2] == 0 {
		t.Fatalf("children changed after removing watcher 1's child half: %v", got)
	}
	if got := fire(m, tree.EventNodeDataChanged, "/a"); len(got) != 2 {
		t.Fatalf("data changed: both data halves fire: %v", got)
	}
	m.Remove(2, PersistentData, "/a")
	if got := fire(m, tree.EventNodeDeleted, "/a"); len(got) != 2 {
		t.Fatalf("deleted: watcher 1's data half and watcher 2's child half fire: %v", got)
	}
}

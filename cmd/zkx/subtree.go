package main

import (
	"errors"
	"slices"
	"sort"

	"github.com/zkx-project/zkx/core/tree"
	"github.com/zkx-project/zkx/transport/client"
	"github.com/zkx-project/zkx/transport/jute"
)

// A subtree is read node by node, so it is never a snapshot: nodes that
// vanish while it is read are skipped, except the root, whose absence is
// the command's error.

func childPath(parent, name string) string {
	if parent == "/" {
		return "/" + name
	}
	return parent + "/" + name
}

// visitDFS calls visit for root and every node below it in zkCli's `ls -R`
// order (ZKUtil.visitSubTreeDFS): a node's children, sorted, then each
// child's subtree in turn.
func (s *session) visitDFS(root string, visit func(path string)) error {
	kids, err := s.children(root)
	if err != nil {
		return err
	}
	visit(root)
	return s.visitChildren(root, kids, visit)
}

func (s *session) visitChildren(parent string, kids []string, visit func(path string)) error {
	sort.Strings(kids)
	for _, k := range kids {
		visit(childPath(parent, k))
	}
	for _, k := range kids {
		p := childPath(parent, k)
		grandKids, err := s.children(p)
		if errors.Is(err, jute.ErrNoNode) {
			continue
		}
		if err != nil {
			return err
		}
		if err := s.visitChildren(p, grandKids, visit); err != nil {
			return err
		}
	}
	return nil
}

// listBFS returns root and every node below it, parents before children
// (ZKUtil.listSubTreeBFS), so deleting from the end goes leaves first.
func (s *session) listBFS(root string) ([]string, error) {
	paths := []string{root}
	for i := 0; i < len(paths); i++ {
		kids, err := s.children(paths[i])
		if errors.Is(err, jute.ErrNoNode) && i > 0 {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, k := range kids {
			paths = append(paths, childPath(paths[i], k))
		}
	}
	return paths, nil
}

const (
	// maxBatchBytes bounds the encoded deletes of one multi, well inside
	// the server's default jute.maxbuffer (1 MiB) for the request.
	maxBatchBytes = 512 << 10
	// deleteRounds is how often deleteTree lists the subtree again after
	// a node turned out to have gained a child.
	deleteRounds = 5
)

// deleteTree deletes root and everything below it, leaves first, with up
// to batchSize deletes per multi (1 or less: one delete request per node).
// Nodes that vanish meanwhile are fine. A node that gains a child meanwhile
// makes it list the subtree again, a few times at most. The server's own
// nodes (/zookeeper, its quota and config nodes, and "/") are left in
// place, so `deleteall /` deletes everything that can be deleted.
func (s *session) deleteTree(root string, batchSize int) error {
	for round := 1; ; round++ {
		paths, err := s.listBFS(root)
		if round > 1 && errors.Is(err, jute.ErrNoNode) {
			return nil // someone else finished the job
		}
		if err != nil {
			return err
		}
		paths = slices.DeleteFunc(paths, func(p string) bool { return p == "/" || (tree.IsSpecialPath(p) && p != root) })
		err = s.deleteBottomUp(paths, batchSize)
		if err == nil {
			return nil
		}
		if !errors.Is(err, jute.ErrNotEmpty) || round == deleteRounds {
			return &partialDeleteError{err}
		}
	}
}

// deleteBottomUp deletes paths from the last to the first.
func (s *session) deleteBottomUp(paths []string, batchSize int) error {
	for end := len(paths); end > 0; {
		start, size := end, 0
		for start > 0 && end-start < max(batchSize, 1) {
			opSize := 4 + 1 + 4 + 4 + len(paths[start-1]) + 4 // multi header, path, version
			if size+opSize > maxBatchBytes && start < end {
				break
			}
			size += opSize
			start--
		}
		batch := slices.Clone(paths[start:end])
		slices.Reverse(batch)
		if err := s.deleteBatch(batch); err != nil {
			return err
		}
		end = start
	}
	return nil
}

// deleteBatch deletes paths in order in one multi. A node someone else
// deleted fails the whole multi with NoNode, so nothing was applied: drop
// that node and send the rest again.
func (s *session) deleteBatch(paths []string) error {
	for len(paths) > 0 {
		if len(paths) == 1 {
			err := s.delete(paths[0], -1)
			if errors.Is(err, jute.ErrNoNode) {
				return nil
			}
			return err
		}
		ops := make([]client.Op, len(paths))
		for i, p := range paths {
			ops[i] = client.DeleteOp(p, -1)
		}
		results, err := s.multi(ops)
		if !errors.Is(err, jute.ErrNoNode) {
			return err
		}
		i := slices.IndexFunc(results, func(r client.OpResult) bool { return r.Err != jute.ErrOK })
		if i < 0 {
			return err
		}
		paths = slices.Delete(paths, i, i+1)
	}
	return nil
}

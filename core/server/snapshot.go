package server

import (
	"bytes"
	"io"

	"github.com/zkx-project/zkx/core/tree"
)

// snapshotChunk is how many nodes a snapshot writes per hold of the tree's
// read lock: a few milliseconds, so writes never wait longer than that.
const snapshotChunk = 512

// SnapshotBody writes a fuzzy snapshot of the tree and sessions to w (see
// tree.SnapshotWriter): it takes the read lock for one chunk of nodes at a
// time, so the pipeline keeps applying writes while it runs. Call it with
// the zxid of LastZxid taken before: replaying the log from there repairs
// whatever changed during the walk.
func (s *Server) SnapshotBody(w io.Writer) (nodes int64, digest uint64, err error) {
	var sessions []tree.SnapshotSession
	for _, ss := range s.sessions.List() {
		sessions = append(sessions, tree.SnapshotSession{ID: ss.ID, Timeout: ss.Timeout, Password: ss.Password, Owner: ss.Owner})
	}
	// Nodes are encoded into memory under the lock and compressed (w) after
	// it is released, so the lock is held only for the encoding.
	var chunk bytes.Buffer
	sw, err := tree.NewSnapshotWriter(&chunk, sessions)
	if err != nil {
		return 0, 0, err
	}
	for {
		s.mu.RLock()
		done, err := sw.Next(s.tree, snapshotChunk)
		s.mu.RUnlock()
		if err != nil {
			return 0, 0, err
		}
		if _, err := w.Write(chunk.Bytes()); err != nil {
			return 0, 0, err
		}
		chunk.Reset()
		if done {
			return sw.Nodes(), sw.Digest(), nil
		}
	}
}

// Digest returns the last applied zxid and the tree's digest (the same sum
// a snapshot records), computed under the read lock.
func (s *Server) Digest() (zxid int64, digest uint64) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.tree.LastZxid(), s.tree.Digest()
}

// TxnCount returns how many txns this server has applied since it started.
func (s *Server) TxnCount() int64 { return s.stats.txns.Load() }

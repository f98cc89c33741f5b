package transport

import (
	"io"
	"log/slog"
	"math/rand"
	"sync"
	"time"

	"github.com/zkx-project/zkx/core/server"
	"github.com/zkx-project/zkx/core/session"
	"github.com/zkx-project/zkx/core/tree"
	"github.com/zkx-project/zkx/core/txn"
	"github.com/zkx-project/zkx/core/zab"
	"github.com/zkx-project/zkx/wal"
)

// Recovered is a server's state rebuilt from its data directory.
type Recovered struct {
	Tree     *tree.Tree
	Sessions []session.Session
	Log      *wal.Log
	Info     wal.Recovered
	Took     time.Duration
	// Recent holds the last txns replayed (at most maxStoreEntries), as
	// zab entries, and RecentBase the zxid before them: what an ensemble
	// member can send a lagging follower without a snapshot.
	Recent     []zab.Entry
	RecentBase int64
}

// Recover rebuilds the tree and sessions from the newest valid snapshot in
// dir and the log after it, and returns the log ready for appends.
func Recover(dir string, opts wal.Options) (*Recovered, error) {
	return recoverDir(dir, opts, false)
}

// RecoverRecent is Recover that also keeps the last txns replayed
// (Recovered.Recent), which an ensemble member's leader may send a lagging
// follower instead of a snapshot.
func RecoverRecent(dir string, opts wal.Options) (*Recovered, error) {
	return recoverDir(dir, opts, true)
}

func recoverDir(dir string, opts wal.Options, keepRecent bool) (*Recovered, error) {
	start := time.Now()
	r := &Recovered{Tree: tree.New()}
	sessions := map[int64]session.Session{}
	var events []tree.Event
	dropped := false
	ld := wal.Loader{
		Snapshot: func(zxid int64, body io.Reader) error {
			sessions = map[int64]session.Session{}
			r.Recent, dropped = nil, false
			if zxid == 0 {
				r.Tree = tree.New() // the full log follows
				return nil
			}
			t, sum, err := tree.ReadSnapshot(body, zxid)
			if err != nil {
				return err
			}
			for _, s := range sum.Sessions {
				sessions[s.ID] = session.Session{ID: s.ID, Timeout: s.Timeout, Password: s.Password, Owner: s.Owner}
			}
			r.Tree = t
			return nil
		},
		Txn: func(t *txn.Txn) error {
			switch o := t.Op.(type) {
			case *txn.CreateSession:
				sessions[t.Session] = session.Session{ID: t.Session, Timeout: o.Timeout, Password: o.Password, Owner: o.Owner}
			case *txn.CloseSession:
				delete(sessions, t.Session)
			}
			_, events = r.Tree.Apply(t, events[:0])
			if !keepRecent {
				return nil
			}
			if len(r.Recent) >= maxStoreEntries {
				half := len(r.Recent) / 2
				r.RecentBase, dropped = r.Recent[half-1].Zxid, true
				r.Recent = append(r.Recent[:0:0], r.Recent[half:]...)
			}
			r.Recent = append(r.Recent, zab.Entry{Zxid: t.Zxid, Data: txn.Marshal(nil, t)})
			return nil
		},
	}
	log, info, err := wal.Open(dir, opts, ld)
	if err != nil {
		return nil, err
	}
	r.Log, r.Info = log, info
	if !dropped {
		r.RecentBase = info.SnapshotZxid
	}
	for _, s := range sessions {
		r.Sessions = append(r.Sessions, s)
	}
	r.Took = time.Since(start)
	return r, nil
}

// snapshotter takes snapshots in the background every snapCount txns (a
// random point between half and all of it, as ZooKeeper does, so the
// servers of an ensemble do not all snapshot at once) and purges old ones.
type snapshotter struct {
	core       *server.Server
	log        *wal.Log
	logger     *slog.Logger
	snapCount  int64
	retain     int
	purgeEvery time.Duration
	// allowed, if set, says whether the applied state may be snapshotted
	// now. An ensemble member snapshots only while it serves: before its
	// leader has synced it, its state may hold txns it replayed from its
	// own log that the ensemble never committed (ZooKeeper's trap: a
	// snapshot of them could not be truncated later).
	allowed func() bool

	// gate is held while a snapshot is written, and by an ensemble member
	// resetting its log, so that no snapshot of the state being replaced
	// lands after the reset.
	gate sync.Mutex

	mu        sync.Mutex
	running   bool
	lastTxns  int64
	threshold int64
	lastPurge time.Time
	wg        sync.WaitGroup
}

func newSnapshotter(core *server.Server, log *wal.Log, logger *slog.Logger, snapCount, retain int, purgeEvery time.Duration) *snapshotter {
	if snapCount <= 0 {
		snapCount = 100000
	}
	sn := &snapshotter{core: core, log: log, logger: logger, snapCount: int64(snapCount), retain: retain,
		purgeEvery: purgeEvery, lastPurge: time.Now()}
	sn.threshold = sn.nextThreshold()
	return sn
}

func (sn *snapshotter) nextThreshold() int64 {
	half := sn.snapCount / 2
	if half < 1 {
		return 1
	}
	return half + rand.Int63n(half+1)
}

// tick starts a snapshot if enough txns were applied since the last one,
// and purges when the purge interval has passed.
func (sn *snapshotter) tick() {
	sn.mu.Lock()
	defer sn.mu.Unlock()
	if !sn.running && sn.core.TxnCount()-sn.lastTxns >= sn.threshold && (sn.allowed == nil || sn.allowed()) {
		sn.running = true
		sn.lastTxns = sn.core.TxnCount()
		sn.threshold = sn.nextThreshold()
		sn.wg.Add(1)
		go func() {
			defer sn.wg.Done()
			sn.take()
			sn.mu.Lock()
			sn.running = false
			sn.mu.Unlock()
		}()
	}
	// Purging is held back with snapshots: it raises the oldest snapshot,
	// which an ensemble member told its leader it can truncate down to.
	if sn.purgeEvery > 0 && time.Since(sn.lastPurge) >= sn.purgeEvery && !sn.running && (sn.allowed == nil || sn.allowed()) {
		sn.lastPurge = time.Now()
		sn.purge()
	}
}

// take writes one snapshot now.
func (sn *snapshotter) take() (wal.SnapshotInfo, error) {
	sn.gate.Lock()
	defer sn.gate.Unlock()
	start := time.Now()
	zxid := sn.core.LastZxid()
	info, err := sn.log.WriteSnapshot(zxid, sn.core.SnapshotBody)
	if err != nil {
		sn.logger.Error("snapshot failed", "zxid", hexID(zxid), "err", err)
		return info, err
	}
	sn.logger.Info("snapshot written", "file", info.File, "nodes", info.Nodes, "bytes", info.Size,
		"took", time.Since(start).Round(time.Millisecond).String())
	return info, nil
}

func (sn *snapshotter) purge() {
	sn.gate.Lock()
	res, err := sn.log.Purge(sn.retain)
	sn.gate.Unlock()
	if err != nil {
		sn.logger.Error("purge failed", "err", err)
		return
	}
	if len(res.Snapshots)+len(res.Segments) > 0 {
		sn.logger.Info("purged", "snapshots", len(res.Snapshots), "segments", len(res.Segments))
	}
}

func (sn *snapshotter) wait() { sn.wg.Wait() }

// FinishReset completes a log reset that a crash interrupted (see
// wal.Log.BeginReset): the recovered state, which stops at the reset's
// zxid, becomes the log's base.
func FinishReset(r *Recovered) error {
	_, err := r.Log.Reset(r.Info.LastZxid, snapshotOf(r.Tree, r.Sessions))
	return err
}

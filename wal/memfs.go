package wal

import (
	"errors"
	"io"
	"math/rand"
	"os"
	"path"
	"sort"
	"strings"
	"sync"
)

// ErrCrashed is returned by every MemFS call after its crash point.
var ErrCrashed = errors.New("wal: memfs: crashed")

// MemFS is an in-memory FS for tests that models what survives a crash:
// file data is durable only once the file is synced, and creates, renames
// and removes only once the directory is synced. CrashAfter(n) makes the
// n+1-th mutating call fail, as if the process died there; Crash then turns
// the file system into what a restart would find.
type MemFS struct {
	mu       sync.Mutex
	entries  map[string]*memFile // what a running process sees
	durable  map[string]*memFile // the directory entries that survive a crash
	ops      int                 // mutating calls so far
	crashAt  int                 // -1: never
	crashed  bool
	tornSeed int64 // if set, a crash keeps a random prefix of unsynced writes
	tornDone bool  // the write interrupted by the crash was torn
}

type memFile struct {
	data    []byte // what reads return
	durable []byte // what survives a crash
}

// NewMemFS returns an empty MemFS that never crashes.
func NewMemFS() *MemFS {
	return &MemFS{entries: map[string]*memFile{}, durable: map[string]*memFile{}, crashAt: -1}
}

// CrashAfter makes the file system fail every mutating call after the
// first n (write, sync, create, rename, remove, truncate, directory sync).
func (m *MemFS) CrashAfter(n int) {
	m.mu.Lock()
	m.crashAt = m.ops + n
	m.mu.Unlock()
}

// Ops returns how many mutating calls were made.
func (m *MemFS) Ops() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ops
}

// TornWrites makes Crash keep, for each file, a random prefix of what was
// written since it was last synced, with its last bytes garbled, as a disk
// that persisted some sectors of an interrupted write would.
func (m *MemFS) TornWrites(seed int64) {
	m.mu.Lock()
	m.tornSeed = seed
	m.mu.Unlock()
}

// Crash reverts to what survives a crash and clears the crash point.
func (m *MemFS) Crash() {
	m.mu.Lock()
	defer m.mu.Unlock()
	rng := rand.New(rand.NewSource(m.tornSeed))
	m.entries = map[string]*memFile{}
	names := make([]string, 0, len(m.durable))
	for name := range m.durable {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		f := m.durable[name]
		data := append([]byte(nil), f.durable...)
		if m.tornSeed != 0 && len(f.data) > len(f.durable) && hasPrefix(f.data, f.durable) {
			extra := f.data[len(f.durable):]
			keep := rng.Intn(len(extra) + 1)
			data = append(data, extra[:keep]...)
			for i := 0; i < 3 && keep > 0; i++ {
				data[len(data)-1-rng.Intn(min(keep, 8))] ^= byte(rng.Intn(255) + 1)
			}
		}
		f.data = data
		f.durable = append([]byte(nil), data...)
		m.entries[name] = f
	}
	m.crashAt, m.crashed, m.tornDone = -1, false, false
}

func hasPrefix(b, prefix []byte) bool {
	return len(b) >= len(prefix) && string(b[:len(prefix)]) == string(prefix)
}

// step counts a mutating call and reports whether it may proceed.
func (m *MemFS) step() error {
	if m.crashed {
		return ErrCrashed
	}
	if m.crashAt >= 0 && m.ops >= m.crashAt {
		m.crashed = true
		return ErrCrashed
	}
	m.ops++
	return nil
}

func clean(name string) string { return path.Clean(name) }

func (m *MemFS) Create(name string) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.step(); err != nil {
		return nil, err
	}
	name = clean(name)
	if _, ok := m.entries[name]; ok {
		return nil, &os.PathError{Op: "create", Path: name, Err: os.ErrExist}
	}
	f := &memFile{}
	m.entries[name] = f
	return &memHandle{fs: m, f: f, name: name}, nil
}

func (m *MemFS) Open(name string) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.crashed {
		return nil, ErrCrashed
	}
	name = clean(name)
	f, ok := m.entries[name]
	if !ok {
		return nil, &os.PathError{Op: "open", Path: name, Err: os.ErrNotExist}
	}
	return &memHandle{fs: m, f: f, name: name}, nil
}

func (m *MemFS) Rename(oldname, newname string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.step(); err != nil {
		return err
	}
	oldname, newname = clean(oldname), clean(newname)
	f, ok := m.entries[oldname]
	if !ok {
		return &os.PathError{Op: "rename", Path: oldname, Err: os.ErrNotExist}
	}
	delete(m.entries, oldname)
	m.entries[newname] = f
	return nil
}

func (m *MemFS) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.step(); err != nil {
		return err
	}
	name = clean(name)
	if _, ok := m.entries[name]; !ok {
		return &os.PathError{Op: "remove", Path: name, Err: os.ErrNotExist}
	}
	delete(m.entries, name)
	return nil
}

func (m *MemFS) List(dir string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.crashed {
		return nil, ErrCrashed
	}
	dir = clean(dir) + "/"
	var out []string
	for name := range m.entries {
		if rest, ok := strings.CutPrefix(name, dir); ok && !strings.Contains(rest, "/") {
			out = append(out, rest)
		}
	}
	sort.Strings(out)
	return out, nil
}

func (m *MemFS) MkdirAll(string) error { return nil }

func (m *MemFS) SyncDir(dir string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.step(); err != nil {
		return err
	}
	dir = clean(dir) + "/"
	for name := range m.durable {
		if strings.HasPrefix(name, dir) {
			if _, ok := m.entries[name]; !ok {
				delete(m.durable, name)
			}
		}
	}
	for name, f := range m.entries {
		if strings.HasPrefix(name, dir) {
			m.durable[name] = f
		}
	}
	return nil
}

type memHandle struct {
	fs   *MemFS
	f    *memFile
	name string
}

func (h *memHandle) ReadAt(p []byte, off int64) (int, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if h.fs.crashed {
		return 0, ErrCrashed
	}
	if off >= int64(len(h.f.data)) {
		return 0, io.EOF
	}
	n := copy(p, h.f.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (h *memHandle) WriteAt(p []byte, off int64) (int, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if err := h.fs.step(); err != nil {
		// With torn writes on, the crash hits mid-write: a prefix of p
		// reaches the file (and, for a dsync file, the disk).
		if errors.Is(err, ErrCrashed) && h.fs.tornSeed != 0 && !h.fs.tornDone {
			h.fs.tornDone = true
			keep := rand.New(rand.NewSource(h.fs.tornSeed + off)).Intn(len(p) + 1)
			h.write(p[:keep], off)
		}
		return 0, err
	}
	h.write(p, off)
	return len(p), nil
}

func (h *memHandle) write(p []byte, off int64) {
	if end := off + int64(len(p)); end > int64(len(h.f.data)) {
		h.f.data = append(h.f.data, make([]byte, end-int64(len(h.f.data)))...)
	}
	copy(h.f.data[off:], p)
}

func (h *memHandle) Sync() error {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if err := h.fs.step(); err != nil {
		return err
	}
	h.f.durable = append(h.f.durable[:0], h.f.data...)
	return nil
}

// Preallocate is a no-op in memory: unwritten space reads as zeros anyway
// once written past, and the model concerns durability, not space.
func (h *memHandle) Preallocate(int64) error { return nil }

func (h *memHandle) Truncate(size int64) error {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if err := h.fs.step(); err != nil {
		return err
	}
	if size < int64(len(h.f.data)) {
		h.f.data = h.f.data[:size]
	}
	return nil
}

func (h *memHandle) Size() (int64, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	return int64(len(h.f.data)), nil
}

func (h *memHandle) Close() error { return nil }

package server

import (
	"bytes"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/zkx-project/zkx/core/acl"
	"github.com/zkx-project/zkx/transport/jute"
)

type discardPeers struct{}

func (discardPeers) SendApp(int64, []byte) {}

// FuzzHandleApp: whatever bytes a peer sends as an app message, the
// server answers an error or handles it, and never panics.
func FuzzHandleApp(f *testing.F) {
	// Seeds: a well-formed message of each kind.
	req := &Request{Session: 0x100, Xid: 7, Op: jute.OpCreate, Auth: []acl.Id{{Scheme: "ip", ID: "127.0.0.1"}}}
	e := jute.NewEncoder(nil)
	(&jute.CreateRequest{Path: "/x", Data: []byte("d"), ACL: []jute.ACL{{Perms: jute.PermAll, Scheme: "world", ID: "anyone"}}}).Encode(e)
	s := New(Config{
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Peers:  &capture{},
		Now:    func() time.Time { return time.Unix(1700000000, 0) },
		Rand:   bytes.NewReader(make([]byte, 1<<12)),
	})
	s.SetRole(RoleFollower, 2, 1)
	s.forward(req, e.Bytes())
	for _, p := range s.cfg.Peers.(*capture).sent {
		f.Add(p)
	}
	for _, kind := range []byte{appTouch, appSync, appSyncDone, appValidate, appValid} {
		w := appWriter{b: []byte{kind}}
		w.varint(1)
		w.varint(0x100)
		w.bytes([]byte("password"))
		f.Add(w.b)
	}
	f.Add([]byte{})
	f.Add([]byte{99})
	f.Fuzz(func(t *testing.T, payload []byte) {
		for _, role := range []Role{RoleLeader, RoleFollower} {
			s := New(Config{
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
				Peers:  discardPeers{},
				Now:    func() time.Time { return time.Unix(1700000000, 0) },
				Rand:   bytes.NewReader(make([]byte, 1<<12)),
			})
			s.SetRole(role, 2, 1)
			_ = s.HandleApp(3, payload)
		}
	})
}

// capture records what a server sends its peers.
type capture struct{ sent [][]byte }

func (c *capture) SendApp(_ int64, p []byte) { c.sent = append(c.sent, append([]byte(nil), p...)) }

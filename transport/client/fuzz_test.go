package client

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zkx-project/zkx/transport/jute"
)

// FuzzReplies feeds the client arbitrary replies, notifications and
// frames: whatever a server sends, the client must neither panic nor hang,
// and Close must return.
//
// The script is consumed three bytes and a body at a time, one step per
// request the client sends: byte 0 picks what the server does (reply,
// notification then reply, raw frame, reply with a wrong xid), byte 1 the
// error code, byte 2 the body's length, then the body.
func FuzzReplies(f *testing.F) {
	var stat jute.Encoder
	(&jute.Stat{Version: 1}).Encode(&stat)
	f.Add(append([]byte{0, 0, byte(stat.Len())}, stat.Bytes()...))
	f.Add([]byte{0, 3, 0, 1, 0, 6, 0, 0, 0, 1, 0, 0, 0, 3, 0, 0, 0, 2, '/', 'a'})
	f.Add([]byte{2, 0, 5, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 1, 0})
	f.Add([]byte{3, 9, 0, 0, 0, 0})
	var multi jute.Encoder
	(&jute.MultiResponse{Results: []jute.MultiResult{{Type: jute.OpCreate, Path: "/x"}, {Type: jute.OpError, Err: jute.ErrNoNode}}}).Encode(&multi)
	f.Add(append([]byte{0, 0, byte(multi.Len())}, multi.Bytes()...))

	f.Fuzz(func(t *testing.T, script []byte) {
		cli, srv := net.Pipe()
		var dialed atomic.Bool
		dial := func(ctx context.Context, addr string) (net.Conn, error) {
			if dialed.Swap(true) {
				return nil, errors.New("refused")
			}
			return cli, nil
		}
		serverDone := make(chan struct{})
		go func() {
			defer close(serverDone)
			defer srv.Close()
			fuzzServe(srv, script)
		}()
		c, err := Connect(context.Background(), []string{"fuzz:2181"}, withDialer(dial), WithMaxBuffer(4096))
		if err != nil {
			t.Fatalf("Connect: %v", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		go func() {
			<-serverDone
			cancel()
		}()
		for _, op := range fuzzOps {
			op(ctx, c)
		}
		done := make(chan struct{})
		go func() {
			c.Close()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("Close hung")
		}
		<-serverDone
	})
}

var fuzzOps = []func(ctx context.Context, c *Client){
	func(ctx context.Context, c *Client) { c.GetW(ctx, "/a") },
	func(ctx context.Context, c *Client) { c.Children2W(ctx, "/a") },
	func(ctx context.Context, c *Client) { c.ExistsW(ctx, "/a") },
	func(ctx context.Context, c *Client) { c.GetACL(ctx, "/a") },
	func(ctx context.Context, c *Client) {
		c.Multi(ctx, CreateOp("/a", nil, Persistent, WorldACL(PermAll)), SetOp("/a", nil, -1))
	},
	func(ctx context.Context, c *Client) { c.MultiRead(ctx, GetDataOp("/a"), GetChildrenOp("/")) },
	func(ctx context.Context, c *Client) { c.WhoAmI(ctx) },
	func(ctx context.Context, c *Client) { c.CreateWithStat(ctx, "/b", nil, Ephemeral, WorldACL(PermAll)) },
	func(ctx context.Context, c *Client) { c.Sync(ctx, "/") },
	func(ctx context.Context, c *Client) { c.GetEphemerals(ctx, "/") },
	func(ctx context.Context, c *Client) { c.GetAllChildrenNumber(ctx, "/") },
	func(ctx context.Context, c *Client) { c.Call(ctx, "r", "f", nil) },
	func(ctx context.Context, c *Client) { c.AddWatch(ctx, "/", true) },
	func(ctx context.Context, c *Client) { c.RemoveWatches(ctx, "/a", WatcherAny) },
	func(ctx context.Context, c *Client) { c.Children(ctx, "/") },
}

// fuzzServe answers the handshake, then each request as the script says,
// and hangs up when the script runs out.
func fuzzServe(nc net.Conn, script []byte) {
	br := bufio.NewReader(nc)
	if _, err := readFrame(br, 1<<20); err != nil {
		return
	}
	hello := appendFrame(nil, &jute.ConnectResponse{TimeOut: 30000, SessionID: 1, Passwd: make([]byte, 16), HasReadOnly: true}, nil)
	if _, err := nc.Write(hello); err != nil {
		return
	}
	codes := []jute.Err{jute.ErrOK, jute.ErrNoNode, jute.ErrAuthFailed, jute.ErrSessionExpired, jute.ErrRecipeFailed, jute.ErrBadVersion}
	for len(script) >= 3 {
		// A client that sends nothing for a while is waiting for a reply
		// the script did not give (a stray frame it ignored): hang up.
		_ = nc.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		req, err := readFrame(br, 1<<20)
		if err != nil || len(req) < 8 {
			return
		}
		xid := int32(binary.BigEndian.Uint32(req))
		action, code, n := script[0], codes[int(script[1])%len(codes)], int(script[2])
		script = script[3:]
		body := script[:min(n, len(script))]
		script = script[len(body):]

		var frame []byte
		switch action % 4 {
		case 0:
			frame = appendFrame(nil, &jute.ReplyHeader{Xid: xid, Zxid: 5, Err: code}, body)
		case 1:
			ev := replyRecord{jute.ReplyHeader{Xid: jute.XidNotification, Zxid: -1},
				&jute.WatcherEvent{Type: int32(action>>2) % 8, State: jute.StateSyncConnected, Path: "/a"}}
			frame = appendFrame(nil, ev, nil)
			frame = appendFrame(frame, &jute.ReplyHeader{Xid: xid, Zxid: 6, Err: code}, body)
		case 2:
			frame = appendFrame(nil, nil, body)
		case 3:
			frame = appendFrame(nil, &jute.ReplyHeader{Xid: xid + int32(action>>2) + 1, Zxid: 7}, body)
		}
		if _, err := nc.Write(frame); err != nil {
			return
		}
	}
}

// appendFrame appends a frame holding rec (if any) followed by body.
func appendFrame(out []byte, rec jute.Record, body []byte) []byte {
	var e jute.Encoder
	e.Reset(out)
	off := e.BeginFrame()
	if rec != nil {
		rec.Encode(&e)
	}
	b := append(e.Bytes(), body...)
	binary.BigEndian.PutUint32(b[off:], uint32(len(b)-off-4))
	return b
}

package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/zkx-project/zkx/transport/jute"
)

// Every request below encodes its record straight into a pooled call and
// decodes the reply from the call's buffer, with concrete record types so
// nothing but the results escapes to the heap.

// finishDecode releases cl after its reply was decoded and reports a body
// that did not decode.
func (cl *call) finishDecode(path string) error {
	err, op := cl.dec.Err(), cl.op
	cl.release()
	if err != nil {
		return decodeErr(op, path, err)
	}
	return nil
}

// Create creates a node (opcode create) and returns its path, which for a
// sequential mode carries the sequence number. Use CreateContainer and
// CreateTTL for those kinds of node.
func (c *Client) Create(ctx context.Context, path string, data []byte, mode CreateMode, acl []ACL) (string, error) {
	p, _, err := c.create(ctx, jute.OpCreate, path, data, mode, acl, 0)
	return p, err
}

// CreateWithStat creates a node (opcode create2) and returns its path and Stat.
func (c *Client) CreateWithStat(ctx context.Context, path string, data []byte, mode CreateMode, acl []ACL) (string, Stat, error) {
	return c.create(ctx, jute.OpCreate2, path, data, mode, acl, 0)
}

// CreateContainer creates a container node (opcode createContainer), which
// the server deletes once its last child is gone.
func (c *Client) CreateContainer(ctx context.Context, path string, data []byte, acl []ACL) (string, Stat, error) {
	return c.create(ctx, jute.OpCreateContainer, path, data, Container, acl, 0)
}

// CreateTTL creates a node that the server deletes when it has had no
// children and no change for ttl (opcode createTTL, millisecond precision).
// mode should be PersistentWithTTL or PersistentSequentialWithTTL; the
// server needs TTL nodes enabled (zookeeper.extendedTypesEnabled).
func (c *Client) CreateTTL(ctx context.Context, path string, data []byte, mode CreateMode, acl []ACL, ttl time.Duration) (string, Stat, error) {
	return c.create(ctx, jute.OpCreateTTL, path, data, mode, acl, ttl.Milliseconds())
}

func (c *Client) create(ctx context.Context, op jute.OpCode, path string, data []byte, mode CreateMode, acl []ACL, ttl int64) (string, Stat, error) {
	cl := newCall(op)
	req := jute.CreateRequest{Path: path, Data: data, ACL: acl, Flags: int32(mode), TTL: ttl, HasTTL: op == jute.OpCreateTTL}
	req.Encode(&cl.enc)
	cl.seal()
	if err := c.roundTrip(ctx, cl, path); err != nil {
		return "", Stat{}, err
	}
	if op == jute.OpCreate {
		var resp jute.CreateResponse
		resp.Decode(cl.decoder())
		return resp.Path, Stat{}, cl.finishDecode(path)
	}
	var resp jute.Create2Response
	resp.Decode(cl.decoder())
	return resp.Path, resp.Stat, cl.finishDecode(path)
}

// Delete deletes a node if its version matches (-1 matches any).
func (c *Client) Delete(ctx context.Context, path string, version int32) error {
	cl := newCall(jute.OpDelete)
	req := jute.PathVersionRequest{Path: path, Version: version}
	req.Encode(&cl.enc)
	cl.seal()
	if err := c.roundTrip(ctx, cl, path); err != nil {
		return err
	}
	cl.release()
	return nil
}

// Exists returns the node's Stat and true, or false if there is no node.
func (c *Client) Exists(ctx context.Context, path string) (Stat, bool, error) {
	st, ok, _, err := c.exists(ctx, path, false)
	return st, ok, err
}

// ExistsW is Exists that also sets a watch, whether or not the node exists
// (as ZooKeeper does): it fires with NodeCreated, NodeDataChanged or
// NodeDeleted. The channel receives exactly one event and is then closed.
func (c *Client) ExistsW(ctx context.Context, path string) (Stat, bool, <-chan Event, error) {
	return c.exists(ctx, path, true)
}

func (c *Client) exists(ctx context.Context, path string, watch bool) (Stat, bool, <-chan Event, error) {
	cl := newCall(jute.OpExists)
	req := jute.PathWatchRequest{Path: path, Watch: watch}
	req.Encode(&cl.enc)
	cl.seal()
	ch := cl.watchOnce(watch, watchExists, path)
	if err := c.roundTrip(ctx, cl, path); err != nil {
		if errors.Is(err, jute.ErrNoNode) {
			return Stat{}, false, ch, nil
		}
		return Stat{}, false, nil, err
	}
	var resp jute.StatResponse
	resp.Decode(cl.decoder())
	if err := cl.finishDecode(path); err != nil {
		return Stat{}, false, nil, err
	}
	return resp.Stat, true, ch, nil
}

// watchOnce prepares a one-shot watch for the reply to register.
func (cl *call) watchOnce(watch bool, kind watchKind, path string) chan Event {
	if !watch {
		return nil
	}
	ch := make(chan Event, 1)
	cl.watch = watchReg{kind: kind, path: path, ch: ch}
	return ch
}

// Get returns a node's data and Stat.
func (c *Client) Get(ctx context.Context, path string) ([]byte, Stat, error) {
	data, st, _, err := c.get(ctx, path, false)
	return data, st, err
}

// GetW is Get that also sets a data watch (NodeDataChanged, NodeDeleted).
func (c *Client) GetW(ctx context.Context, path string) ([]byte, Stat, <-chan Event, error) {
	return c.get(ctx, path, true)
}

func (c *Client) get(ctx context.Context, path string, watch bool) ([]byte, Stat, <-chan Event, error) {
	cl := newCall(jute.OpGetData)
	req := jute.PathWatchRequest{Path: path, Watch: watch}
	req.Encode(&cl.enc)
	cl.seal()
	ch := cl.watchOnce(watch, watchData, path)
	if err := c.roundTrip(ctx, cl, path); err != nil {
		return nil, Stat{}, nil, err
	}
	var resp jute.GetDataResponse
	resp.Decode(cl.decoder())
	if err := cl.finishDecode(path); err != nil {
		return nil, Stat{}, nil, err
	}
	return resp.Data, resp.Stat, ch, nil
}

// Set replaces a node's data if its version matches (-1 matches any).
func (c *Client) Set(ctx context.Context, path string, data []byte, version int32) (Stat, error) {
	cl := newCall(jute.OpSetData)
	req := jute.SetDataRequest{Path: path, Data: data, Version: version}
	req.Encode(&cl.enc)
	cl.seal()
	return c.statReply(ctx, cl, path)
}

func (c *Client) statReply(ctx context.Context, cl *call, path string) (Stat, error) {
	if err := c.roundTrip(ctx, cl, path); err != nil {
		return Stat{}, err
	}
	var resp jute.StatResponse
	resp.Decode(cl.decoder())
	return resp.Stat, cl.finishDecode(path)
}

// Children returns the names of a node's children, in the server's order.
func (c *Client) Children(ctx context.Context, path string) ([]string, error) {
	names, _, _, err := c.children(ctx, jute.OpGetChildren, path, false)
	return names, err
}

// ChildrenW is Children that also sets a child watch
// (NodeChildrenChanged, NodeDeleted).
func (c *Client) ChildrenW(ctx context.Context, path string) ([]string, <-chan Event, error) {
	names, _, ch, err := c.children(ctx, jute.OpGetChildren, path, true)
	return names, ch, err
}

// Children2 returns the children and the node's Stat (opcode getChildren2).
func (c *Client) Children2(ctx context.Context, path string) ([]string, Stat, error) {
	names, st, _, err := c.children(ctx, jute.OpGetChildren2, path, false)
	return names, st, err
}

// Children2W is Children2 that also sets a child watch.
func (c *Client) Children2W(ctx context.Context, path string) ([]string, Stat, <-chan Event, error) {
	return c.children(ctx, jute.OpGetChildren2, path, true)
}

func (c *Client) children(ctx context.Context, op jute.OpCode, path string, watch bool) ([]string, Stat, <-chan Event, error) {
	cl := newCall(op)
	req := jute.PathWatchRequest{Path: path, Watch: watch}
	req.Encode(&cl.enc)
	cl.seal()
	ch := cl.watchOnce(watch, watchChild, path)
	if err := c.roundTrip(ctx, cl, path); err != nil {
		return nil, Stat{}, nil, err
	}
	if op == jute.OpGetChildren {
		var resp jute.ChildrenResponse
		resp.Decode(cl.decoder())
		if err := cl.finishDecode(path); err != nil {
			return nil, Stat{}, nil, err
		}
		return resp.Children, Stat{}, ch, nil
	}
	var resp jute.Children2Response
	resp.Decode(cl.decoder())
	if err := cl.finishDecode(path); err != nil {
		return nil, Stat{}, nil, err
	}
	return resp.Children, resp.Stat, ch, nil
}

// GetACL returns a node's ACL and Stat.
func (c *Client) GetACL(ctx context.Context, path string) ([]ACL, Stat, error) {
	cl := newCall(jute.OpGetACL)
	req := jute.PathRequest{Path: path}
	req.Encode(&cl.enc)
	cl.seal()
	if err := c.roundTrip(ctx, cl, path); err != nil {
		return nil, Stat{}, err
	}
	var resp jute.GetACLResponse
	resp.Decode(cl.decoder())
	return resp.ACL, resp.Stat, cl.finishDecode(path)
}

// SetACL replaces a node's ACL if its ACL version (Stat.Aversion) matches
// (-1 matches any).
func (c *Client) SetACL(ctx context.Context, path string, acl []ACL, version int32) (Stat, error) {
	cl := newCall(jute.OpSetACL)
	req := jute.SetACLRequest{Path: path, ACL: acl, Version: version}
	req.Encode(&cl.enc)
	cl.seal()
	return c.statReply(ctx, cl, path)
}

// Sync waits until the server this client is connected to has applied
// everything the leader had committed when it received the sync, and
// returns the path the server echoes.
func (c *Client) Sync(ctx context.Context, path string) (string, error) {
	cl := newCall(jute.OpSync)
	req := jute.PathRequest{Path: path}
	req.Encode(&cl.enc)
	cl.seal()
	if err := c.roundTrip(ctx, cl, path); err != nil {
		return "", err
	}
	var resp jute.PathRequest
	resp.Decode(cl.decoder())
	return resp.Path, cl.finishDecode(path)
}

// AddAuth adds an identity to the session (an auth packet, xid -4). The
// client remembers it and sends it again on every reconnection. A server
// that refuses it (AuthFailed) also closes the connection, and, as with the
// Java client, the session is then unusable: every request fails with
// AuthFailed.
func (c *Client) AddAuth(ctx context.Context, scheme string, auth []byte) error {
	a := authInfo{scheme: scheme, auth: append([]byte(nil), auth...)}
	cl := newAuthCall(a, false)
	c.mu.Lock()
	if !c.endedLocked() && !c.closing {
		c.auths = append(c.auths, a)
	}
	c.mu.Unlock()
	if err := c.roundTrip(ctx, cl, ""); err != nil {
		return err
	}
	cl.release()
	return nil
}

// AddWatch adds a persistent watch on path (opcode addWatch), recursive or
// not. A persistent watch fires on every NodeCreated, NodeDeleted,
// NodeDataChanged and (non-recursive only) NodeChildrenChanged of the path,
// or with recursive of the path and every node below it, and is
// re-registered after reconnects.
func (c *Client) AddWatch(ctx context.Context, path string, recursive bool) (*PersistentWatch, error) {
	cl := newCall(jute.OpAddWatch)
	mode, kind := jute.AddWatchPersistent, watchPersistent
	if recursive {
		mode, kind = jute.AddWatchPersistentRecursive, watchRecursive
	}
	req := jute.PathModeRequest{Path: path, Mode: mode}
	req.Encode(&cl.enc)
	cl.seal()
	pw := newPersistentWatch(c, path, recursive)
	cl.watch = watchReg{kind: kind, path: path, pw: pw}
	if err := c.roundTrip(ctx, cl, path); err != nil {
		return nil, err
	}
	cl.release()
	return pw, nil
}

// RemoveWatches removes this session's watches of watcherType
// (WatcherChildren, WatcherData or WatcherAny) on path, on the server
// (opcode removeWatches) and then locally: each removed watch receives
// ChildWatchRemoved, DataWatchRemoved or PersistentWatchRemoved. The server
// answers NoWatcher if it has none. Unlike the Java client there is no
// client-side check first, so what the server says is what you get.
func (c *Client) RemoveWatches(ctx context.Context, path string, watcherType int32) error {
	return c.removeWatches(ctx, jute.OpRemoveWatches, path, watcherType, true)
}

// CheckWatches asks the server whether this session has a watch of
// watcherType on path (opcode checkWatches): nil, or NoWatcher.
func (c *Client) CheckWatches(ctx context.Context, path string, watcherType int32) error {
	return c.removeWatches(ctx, jute.OpCheckWatches, path, watcherType, false)
}

func (c *Client) removeWatches(ctx context.Context, op jute.OpCode, path string, watcherType int32, local bool) error {
	cl := newCall(op)
	req := jute.PathModeRequest{Path: path, Mode: watcherType}
	req.Encode(&cl.enc)
	cl.seal()
	if local {
		cl.watch = watchReg{kind: watchRemove, path: path, removeType: watcherType}
	}
	if err := c.roundTrip(ctx, cl, path); err != nil {
		return err
	}
	cl.release()
	return nil
}

// GetEphemerals returns the paths of this session's ephemeral nodes that
// start with prefix ("/" for all).
func (c *Client) GetEphemerals(ctx context.Context, prefix string) ([]string, error) {
	cl := newCall(jute.OpGetEphemerals)
	req := jute.PathRequest{Path: prefix}
	req.Encode(&cl.enc)
	cl.seal()
	if err := c.roundTrip(ctx, cl, prefix); err != nil {
		return nil, err
	}
	var resp jute.ChildrenResponse
	resp.Decode(cl.decoder())
	return resp.Children, cl.finishDecode(prefix)
}

// GetAllChildrenNumber returns the number of nodes below path (all
// descendants, not only children).
func (c *Client) GetAllChildrenNumber(ctx context.Context, path string) (int32, error) {
	cl := newCall(jute.OpGetAllChildrenNumber)
	req := jute.PathRequest{Path: path}
	req.Encode(&cl.enc)
	cl.seal()
	if err := c.roundTrip(ctx, cl, path); err != nil {
		return 0, err
	}
	var resp jute.IntResponse
	resp.Decode(cl.decoder())
	return resp.Value, cl.finishDecode(path)
}

// WhoAmI returns the identities the server has for this connection.
func (c *Client) WhoAmI(ctx context.Context) ([]jute.ClientInfo, error) {
	cl := newCall(jute.OpWhoAmI)
	cl.seal()
	if err := c.roundTrip(ctx, cl, ""); err != nil {
		return nil, err
	}
	var resp jute.WhoAmIResponse
	resp.Decode(cl.decoder())
	return resp.ClientInfo, cl.finishDecode("")
}

// Call runs function of the server-side recipe named recipe with args
// (zkx's opcode 7001) and returns its result. A recipe that blocks (a lock
// that is held) answers only when it finishes, so bound the wait with ctx.
//
// Unlike other requests, a Call outstanding when the connection drops is
// sent again on the next connection rather than failing with
// ConnectionLoss: zkx's built-in recipes are idempotent per session. It
// fails only when ctx ends or the session does. A failed recipe returns an
// *Error whose Message is the server's explanation.
//
// If ctx has a deadline and args is a JSON object without "timeout_ms",
// Call adds it (the time left), so that the server gives up a blocked call
// when the caller does: a lock is not granted to a caller that has stopped
// waiting for it.
func (c *Client) Call(ctx context.Context, recipe, function string, args []byte) ([]byte, error) {
	if dl, ok := ctx.Deadline(); ok {
		args = withTimeout(args, time.Until(dl))
	}
	cl := newCall(jute.OpRecipeCall)
	req := jute.RecipeCallRequest{Name: recipe, Function: function, Args: args}
	req.Encode(&cl.enc)
	cl.seal()
	cl.resend = true
	if err := c.roundTrip(ctx, cl, recipe+"."+function); err != nil {
		return nil, err
	}
	var resp jute.BufferResponse
	resp.Decode(cl.decoder())
	return resp.Data, cl.finishDecode(recipe)
}

// Do sends any request: op with req as its body (nil for none), and
// decodes the reply body into resp (which may be nil) when there is one.
// It returns the reply header; the error is an *Error when the header
// carries an error code. It is meant for tests that need requests this
// package has no method for. Ping, auth and closeSession have their own
// xids or side effects and are refused.
func (c *Client) Do(ctx context.Context, op jute.OpCode, req jute.Record, resp jute.Record) (jute.ReplyHeader, error) {
	switch op {
	case jute.OpPing, jute.OpAuth, jute.OpCloseSession:
		return jute.ReplyHeader{}, &Error{Code: jute.ErrBadArguments, Op: op.String(), Message: "not allowed through Do"}
	}
	cl := newCall(op)
	if req != nil {
		req.Encode(&cl.enc)
	}
	cl.seal()
	if err := c.exchange(ctx, cl); err != nil {
		return jute.ReplyHeader{}, err
	}
	h := cl.hdr
	var err error
	if h.Err != jute.ErrOK {
		err = &Error{Code: h.Err, Op: op.String()}
	}
	if resp != nil && len(cl.reply) > 0 {
		resp.Decode(cl.decoder())
		if derr := cl.dec.Err(); derr != nil && err == nil {
			err = decodeErr(op, "", derr)
		}
	}
	cl.release()
	return h, err
}

// withTimeout adds "timeout_ms" to a JSON object that has none.
func withTimeout(args []byte, left time.Duration) []byte {
	trimmed := bytes.TrimSpace(args)
	if len(trimmed) < 2 || trimmed[0] != '{' {
		return args
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(trimmed, &fields) != nil {
		return args
	}
	if _, ok := fields["timeout_ms"]; ok {
		return args
	}
	ms := max(left.Milliseconds(), 1)
	body := bytes.TrimSpace(trimmed[1 : len(trimmed)-1])
	out := make([]byte, 0, len(trimmed)+32)
	out = append(out, `{"timeout_ms":`...)
	out = strconv.AppendInt(out, ms, 10)
	if len(body) > 0 {
		out = append(out, ',')
		out = append(out, body...)
	}
	return append(out, '}')
}

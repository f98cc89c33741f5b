package client

import (
	"context"
	"time"

	"github.com/zkx-project/zkx/transport/jute"
)

// Op is one write of a Multi.
type Op struct{ m jute.MultiOp }

// CreateOp creates a node; its result carries the path (opcode create).
func CreateOp(path string, data []byte, mode CreateMode, acl []ACL) Op {
	return Op{jute.MultiOp{Type: jute.OpCreate, Req: &jute.CreateRequest{Path: path, Data: data, ACL: acl, Flags: int32(mode)}}}
}

// Create2Op creates a node; its result carries the path and Stat (opcode create2).
func Create2Op(path string, data []byte, mode CreateMode, acl []ACL) Op {
	return Op{jute.MultiOp{Type: jute.OpCreate2, Req: &jute.CreateRequest{Path: path, Data: data, ACL: acl, Flags: int32(mode)}}}
}

// CreateContainerOp creates a container node.
func CreateContainerOp(path string, data []byte, acl []ACL) Op {
	return Op{jute.MultiOp{Type: jute.OpCreateContainer, Req: &jute.CreateRequest{Path: path, Data: data, ACL: acl, Flags: int32(Container)}}}
}

// CreateTTLOp creates a TTL node (see Client.CreateTTL).
func CreateTTLOp(path string, data []byte, mode CreateMode, acl []ACL, ttl time.Duration) Op {
	return Op{jute.MultiOp{Type: jute.OpCreateTTL, Req: &jute.CreateRequest{
		Path: path, Data: data, ACL: acl, Flags: int32(mode), TTL: ttl.Milliseconds(), HasTTL: true}}}
}

// DeleteOp deletes a node if its version matches (-1 matches any).
func DeleteOp(path string, version int32) Op {
	return Op{jute.MultiOp{Type: jute.OpDelete, Req: &jute.PathVersionRequest{Path: path, Version: version}}}
}

// SetOp sets a node's data if its version matches; its result carries the Stat.
func SetOp(path string, data []byte, version int32) Op {
	return Op{jute.MultiOp{Type: jute.OpSetData, Req: &jute.SetDataRequest{Path: path, Data: data, Version: version}}}
}

// CheckOp fails the multi unless the node exists with this version (-1: any).
func CheckOp(path string, version int32) Op {
	return Op{jute.MultiOp{Type: jute.OpCheck, Req: &jute.PathVersionRequest{Path: path, Version: version}}}
}

// OpResult is the outcome of one op of a Multi. When the multi succeeded,
// Type is the op's type and Path (creates) and Stat (create2, setData) are
// set. When it failed, every result has Type jute.OpError: the op that
// failed carries its code, the ops before it ErrOK and the ops after it
// RuntimeInconsistency (ZooKeeper's convention).
type OpResult struct {
	Type jute.OpCode
	Err  jute.Err
	Path string
	Stat Stat
}

// Multi runs ops atomically: all of them or none. If the multi fails it
// returns the per-op results and an *Error whose Code is the first non-OK
// result's (as the Java client throws). An empty multi sends nothing.
func (c *Client) Multi(ctx context.Context, ops ...Op) ([]OpResult, error) {
	if len(ops) == 0 {
		return nil, nil
	}
	req := jute.MultiRequest{Ops: make([]jute.MultiOp, len(ops))}
	for i := range ops {
		req.Ops[i] = ops[i].m
	}
	res, err := c.multi(ctx, jute.OpMulti, &req)
	if err != nil {
		return nil, err
	}
	out := make([]OpResult, len(res))
	var failed *Error
	for i, r := range res {
		out[i] = OpResult{Type: r.Type, Err: r.Err, Path: r.Path, Stat: r.Stat}
		if failed == nil && r.Type == jute.OpError && r.Err != jute.ErrOK {
			failed = &Error{Code: r.Err, Op: jute.OpMulti.String()}
			if i < len(req.Ops) {
				failed.Path = req.Ops[i].Path()
			}
		}
	}
	if failed != nil {
		return out, failed
	}
	return out, nil
}

func (c *Client) multi(ctx context.Context, op jute.OpCode, req *jute.MultiRequest) ([]jute.MultiResult, error) {
	cl := newCall(op)
	req.Encode(&cl.enc)
	cl.seal()
	if err := c.roundTrip(ctx, cl, ""); err != nil {
		return nil, err
	}
	var resp jute.MultiResponse
	resp.Decode(cl.decoder())
	return resp.Results, cl.finishDecode("")
}

// ReadOp is one read of a MultiRead.
type ReadOp struct{ m jute.MultiOp }

// GetDataOp reads a node's data and Stat.
func GetDataOp(path string) ReadOp {
	return ReadOp{jute.MultiOp{Type: jute.OpGetData, Req: &jute.PathWatchRequest{Path: path}}}
}

// GetChildrenOp reads a node's children.
func GetChildrenOp(path string) ReadOp {
	return ReadOp{jute.MultiOp{Type: jute.OpGetChildren, Req: &jute.PathWatchRequest{Path: path}}}
}

// ReadResult is the outcome of one read of a MultiRead: Type jute.OpGetData
// (Data, Stat) or jute.OpGetChildren (Children), or jute.OpError with Err.
type ReadResult struct {
	Type     jute.OpCode
	Err      jute.Err
	Data     []byte
	Stat     Stat
	Children []string
}

// MultiRead runs reads together (opcode multiRead). Reads are not atomic
// as a group and fail one by one: a failed read is a result with Err set,
// not an error of the call.
func (c *Client) MultiRead(ctx context.Context, ops ...ReadOp) ([]ReadResult, error) {
	if len(ops) == 0 {
		return nil, nil
	}
	req := jute.MultiRequest{Ops: make([]jute.MultiOp, len(ops))}
	for i := range ops {
		req.Ops[i] = ops[i].m
	}
	res, err := c.multi(ctx, jute.OpMultiRead, &req)
	if err != nil {
		return nil, err
	}
	out := make([]ReadResult, len(res))
	for i, r := range res {
		out[i] = ReadResult{Type: r.Type, Err: r.Err, Data: r.Data, Stat: r.Stat, Children: r.Children}
	}
	return out, nil
}

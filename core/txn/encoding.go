package txn

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/zkx-project/zkx/core/acl"
)

// Errors from Unmarshal. A txn that does not decode is corruption, never a
// partial result.
var (
	ErrTruncated   = errors.New("txn: record truncated")
	ErrUnknownType = errors.New("txn: unknown op type")
	ErrTooDeep     = errors.New("txn: multi nested too deeply")
)

// formatVersion is written first in every encoded txn. Part of the format.
const formatVersion = 1

// Marshal appends the encoding of t to b:
//
//	version:u8 zxid:varint session:varint cxid:varint time:varint op
//	op      = type:u8 body
//	bytes   = uvarint(len+1) data   (0 encodes nil)
//	string  = uvarint(len) data
//	acls    = uvarint(n) { perms:varint scheme:string id:string }
//	recipe  = result:bytes code:varint message:string parked:u8
//	          uvarint(n) { wait-path:string }
func Marshal(b []byte, t *Txn) []byte {
	b = append(b, formatVersion)
	b = binary.AppendVarint(b, t.Zxid)
	b = binary.AppendVarint(b, t.Session)
	b = binary.AppendVarint(b, int64(t.Cxid))
	b = binary.AppendVarint(b, t.Time)
	return marshalOp(b, t.Op)
}

func putString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func putBytes(b []byte, d []byte) []byte {
	if d == nil {
		return append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(d))+1)
	return append(b, d...)
}

func putACLs(b []byte, acls []acl.ACL) []byte {
	b = binary.AppendUvarint(b, uint64(len(acls)))
	for _, a := range acls {
		b = binary.AppendVarint(b, int64(a.Perms))
		b = putString(b, a.Scheme)
		b = putString(b, a.ID)
	}
	return b
}

func marshalOp(b []byte, op Op) []byte {
	b = append(b, byte(op.Type()))
	switch o := op.(type) {
	case *Create:
		b = putString(b, o.Path)
		b = putBytes(b, o.Data)
		b = putACLs(b, o.ACL)
		b = binary.AppendVarint(b, o.Owner)
		b = binary.AppendVarint(b, int64(o.ParentCversion))
	case *Delete:
		b = putString(b, o.Path)
	case *SetData:
		b = putString(b, o.Path)
		b = putBytes(b, o.Data)
		b = binary.AppendVarint(b, int64(o.Version))
	case *SetACL:
		b = putString(b, o.Path)
		b = putACLs(b, o.ACL)
		b = binary.AppendVarint(b, int64(o.Version))
	case *Check:
		b = putString(b, o.Path)
		b = binary.AppendVarint(b, int64(o.Version))
	case *Multi:
		b = binary.AppendUvarint(b, uint64(len(o.Ops)))
		for _, sub := range o.Ops {
			b = marshalOp(b, sub)
		}
	case *CreateSession:
		b = binary.AppendVarint(b, int64(o.Timeout))
		b = putBytes(b, o.Password)
		b = binary.AppendVarint(b, o.Owner)
	case *CloseSession:
		b = binary.AppendUvarint(b, uint64(len(o.Paths)))
		for _, p := range o.Paths {
			b = putString(b, p)
		}
	case *Error:
		b = binary.AppendVarint(b, int64(o.Code))
	case *RecipeResult:
		b = putBytes(b, o.Result)
		b = binary.AppendVarint(b, int64(o.Code))
		b = putString(b, o.Message)
		if o.Parked {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
		b = binary.AppendUvarint(b, uint64(len(o.Wait)))
		for _, p := range o.Wait {
			b = putString(b, p)
		}
	case *SetSessionOwner:
		b = binary.AppendVarint(b, o.Owner)
	default:
		panic(fmt.Sprintf("txn: marshal of unknown op %T", op))
	}
	return b
}

type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

func (r *reader) byte() byte {
	if r.err != nil || len(r.b) == 0 {
		r.fail(ErrTruncated)
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *reader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail(ErrTruncated)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) int32() int32 {
	v := r.varint()
	if v != int64(int32(v)) {
		r.fail(ErrTruncated)
		return 0
	}
	return int32(v)
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail(ErrTruncated)
		return 0
	}
	r.b = r.b[n:]
	return v
}

// count reads an element count and rejects one that the remaining bytes
// cannot hold (each element takes at least one byte).
func (r *reader) count() int {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail(ErrTruncated)
		return 0
	}
	return int(n)
}

func (r *reader) string() string {
	n := r.count()
	if r.err != nil {
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *reader) bytes() []byte {
	n := r.uvarint()
	if r.err != nil || n == 0 {
		return nil
	}
	n--
	if n > uint64(len(r.b)) {
		r.fail(ErrTruncated)
		return nil
	}
	d := make([]byte, n)
	copy(d, r.b[:n])
	r.b = r.b[n:]
	return d
}

func (r *reader) acls() []acl.ACL {
	n := r.count()
	if r.err != nil {
		return nil
	}
	out := make([]acl.ACL, n)
	for i := range out {
		out[i].Perms = r.int32()
		out[i].Scheme = r.string()
		out[i].ID = r.string()
	}
	return out
}

// Unmarshal decodes one txn from b and returns the bytes after it.
func Unmarshal(b []byte) (*Txn, []byte, error) {
	r := &reader{b: b}
	if v := r.byte(); r.err == nil && v != formatVersion {
		return nil, nil, fmt.Errorf("txn: unknown format version %d", v)
	}
	t := &Txn{}
	t.Zxid = r.varint()
	t.Session = r.varint()
	t.Cxid = r.int32()
	t.Time = r.varint()
	t.Op = r.op(0)
	if r.err != nil {
		return nil, nil, r.err
	}
	return t, r.b, nil
}

func (r *reader) op(depth int) Op {
	typ := Type(r.byte())
	if r.err != nil {
		return nil
	}
	switch typ {
	case TypeCreate:
		return &Create{Path: r.string(), Data: r.bytes(), ACL: r.acls(), Owner: r.varint(), ParentCversion: r.int32()}
	case TypeDelete:
		return &Delete{Path: r.string()}
	case TypeSetData:
		return &SetData{Path: r.string(), Data: r.bytes(), Version: r.int32()}
	case TypeSetACL:
		return &SetACL{Path: r.string(), ACL: r.acls(), Version: r.int32()}
	case TypeCheck:
		return &Check{Path: r.string(), Version: r.int32()}
	case TypeMulti:
		if depth > 0 {
			r.fail(ErrTooDeep)
			return nil
		}
		n := r.count()
		m := &Multi{Ops: make([]Op, 0, n)}
		for i := 0; i < n && r.err == nil; i++ {
			m.Ops = append(m.Ops, r.op(depth+1))
		}
		return m
	case TypeCreateSession:
		return &CreateSession{Timeout: r.int32(), Password: r.bytes(), Owner: r.varint()}
	case TypeCloseSession:
		n := r.count()
		c := &CloseSession{Paths: make([]string, 0, n)}
		for i := 0; i < n && r.err == nil; i++ {
			c.Paths = append(c.Paths, r.string())
		}
		return c
	case TypeError:
		return &Error{Code: r.int32()}
	case TypeRecipeResult:
		rr := &RecipeResult{Result: r.bytes(), Code: r.int32(), Message: r.string(), Parked: r.byte() == 1}
		n := r.count()
		for i := 0; i < n && r.err == nil; i++ {
			rr.Wait = append(rr.Wait, r.string())
		}
		return rr
	case TypeSetSessionOwner:
		return &SetSessionOwner{Owner: r.varint()}
	}
	r.fail(fmt.Errorf("%w %d", ErrUnknownType, typ))
	return nil
}

package jute

// MultiHeader precedes each op of a multi request and each result of a multi
// response; a header with Done set ends the list.
type MultiHeader struct {
	Type OpCode
	Done bool
	Err  Err
}

func (r *MultiHeader) Encode(e *Encoder) { e.Int(int32(r.Type)); e.Bool(r.Done); e.Int(int32(r.Err)) }
func (r *MultiHeader) Decode(d *Decoder) {
	r.Type = OpCode(d.Int())
	r.Done = d.Bool()
	r.Err = Err(d.Int())
}

// MultiOp is one operation of a multi or multiRead request. Req is a
// *CreateRequest (create, create2, createContainer, createTTL),
// *PathVersionRequest (delete, check), *SetDataRequest (setData) or
// *PathWatchRequest (getData, getChildren in multiRead).
type MultiOp struct {
	Type OpCode
	Req  Record
}

// Path returns the path the op names.
func (o *MultiOp) Path() string {
	switch r := o.Req.(type) {
	case *CreateRequest:
		return r.Path
	case *PathVersionRequest:
		return r.Path
	case *SetDataRequest:
		return r.Path
	case *PathWatchRequest:
		return r.Path
	}
	return ""
}

// NewMultiOpRecord returns an empty request record for op type t, or nil if t
// may not appear in a multi.
func NewMultiOpRecord(t OpCode) Record {
	switch t {
	case OpCreate, OpCreate2, OpCreateContainer:
		return &CreateRequest{}
	case OpCreateTTL:
		return &CreateRequest{HasTTL: true}
	case OpDelete, OpCheck:
		return &PathVersionRequest{}
	case OpSetData:
		return &SetDataRequest{}
	case OpGetData, OpGetChildren:
		return &PathWatchRequest{}
	}
	return nil
}

// MultiRequest is the body of multi and multiRead.
type MultiRequest struct {
	Ops []MultiOp
}

func (r *MultiRequest) Encode(e *Encoder) {
	for i := range r.Ops {
		h := MultiHeader{Type: r.Ops[i].Type, Done: false, Err: -1}
		h.Encode(e)
		r.Ops[i].Req.Encode(e)
	}
	end := MultiHeader{Type: -1, Done: true, Err: -1}
	end.Encode(e)
}

func (r *MultiRequest) Decode(d *Decoder) {
	r.Ops = r.Ops[:0]
	for {
		var h MultiHeader
		h.Decode(d)
		if d.err != nil || h.Done {
			return
		}
		rec := NewMultiOpRecord(h.Type)
		if rec == nil {
			d.err = ErrUnknownOp
			return
		}
		rec.Decode(d)
		r.Ops = append(r.Ops, MultiOp{Type: h.Type, Req: rec})
	}
}

// MultiResult is one result of a multi or multiRead response. Which fields
// are meaningful depends on Type: create (Path), create2 (Path, Stat),
// setData (Stat), getData (Data, Stat), getChildren (Children), delete and
// check (nothing), error (Err).
type MultiResult struct {
	Type     OpCode
	Err      Err
	Path     string
	Stat     Stat
	Data     []byte
	Children []string
}

// MultiResponse is the reply to multi and multiRead.
type MultiResponse struct {
	Results []MultiResult
}

func (r *MultiResponse) Encode(e *Encoder) {
	for i := range r.Results {
		res := &r.Results[i]
		var errc Err
		if res.Type == OpError {
			errc = res.Err
		}
		h := MultiHeader{Type: res.Type, Done: false, Err: errc}
		h.Encode(e)
		switch res.Type {
		case OpCreate:
			e.String(res.Path)
		case OpCreate2:
			e.String(res.Path)
			res.Stat.Encode(e)
		case OpSetData:
			res.Stat.Encode(e)
		case OpGetData:
			e.Buffer(res.Data)
			res.Stat.Encode(e)
		case OpGetChildren:
			e.Strings(res.Children)
		case OpError:
			e.Int(int32(res.Err))
		}
	}
	end := MultiHeader{Type: -1, Done: true, Err: -1}
	end.Encode(e)
}

func (r *MultiResponse) Decode(d *Decoder) {
	r.Results = r.Results[:0]
	for {
		var h MultiHeader
		h.Decode(d)
		if d.err != nil || h.Done {
			return
		}
		res := MultiResult{Type: h.Type}
		switch h.Type {
		case OpCreate:
			res.Path = d.String()
		case OpCreate2:
			res.Path = d.String()
			res.Stat.Decode(d)
		case OpSetData:
			res.Stat.Decode(d)
		case OpGetData:
			res.Data = d.Buffer()
			res.Stat.Decode(d)
		case OpGetChildren:
			res.Children = d.Strings()
		case OpDelete, OpCheck:
		case OpError:
			res.Err = Err(d.Int())
		default:
			d.err = ErrUnknownOp
			return
		}
		r.Results = append(r.Results, res)
	}
}

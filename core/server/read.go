package server

import (
	"strings"

	"github.com/zkx-project/zkx/core/acl"
	"github.com/zkx-project/zkx/core/tree"
	"github.com/zkx-project/zkx/core/watch"
	"github.com/zkx-project/zkx/transport/jute"
)

// execRead answers a read-like request from the committed tree. The caller
// holds s.mu (for reading or writing), so the read and any watch it sets are
// atomic with respect to apply.
func (s *Server) execRead(r *Request) {
	c := r.conn
	zxid := s.tree.LastZxid()
	defer c.recordLatency(r)
	if r.err != 0 {
		c.reply(r.Xid, zxid, r.err, nil)
		return
	}
	body, errc := s.read(r)
	xid := r.Xid
	if r.Op == jute.OpPing {
		xid = jute.XidPing // ZooKeeper answers every ping with xid -2
	}
	c.reply(xid, zxid, errc, body)
}

func (s *Server) addWatch(c *Conn, kind watch.Kind, path string) {
	s.watchMu.Lock()
	s.watches.Add(c.id, kind, path)
	s.watchMu.Unlock()
}

func (s *Server) addWatches(c *Conn, kinds []watch.Kind, path string) {
	s.watchMu.Lock()
	for _, k := range kinds {
		s.watches.Add(c.id, k, path)
	}
	s.watchMu.Unlock()
}

func (s *Server) read(r *Request) (jute.Record, jute.Err) {
	c := r.conn
	switch r.Op {
	case jute.OpPing, jute.OpSetWatches, jute.OpSetWatches2:
		if sw, ok := r.Body.(*jute.SetWatchesRequest); ok {
			s.setWatches(c, sw)
		}
		return nil, 0
	case jute.OpSync:
		req := r.Body.(*jute.PathRequest)
		return &jute.PathRequest{Path: req.Path}, 0
	case jute.OpExists:
		req := r.Body.(*jute.PathWatchRequest)
		if strings.IndexByte(req.Path, 0) >= 0 {
			return nil, jute.ErrBadArguments
		}
		_, st, acls, ok := s.tree.Node(req.Path)
		if ok && !acl.Check(acls, acl.Read, r.Auth) {
			return nil, jute.ErrNoAuth
		}
		if req.Watch {
			s.addWatch(c, watch.Data, req.Path)
		}
		if !ok {
			return nil, jute.ErrNoNode
		}
		r.statResp.Stat = jute.Stat(st)
		return &r.statResp, 0
	case jute.OpGetData:
		req := r.Body.(*jute.PathWatchRequest)
		data, st, errc := s.getData(r, req)
		if errc != 0 {
			return nil, errc
		}
		r.dataResp = jute.GetDataResponse{Data: data, Stat: jute.Stat(st)}
		return &r.dataResp, 0
	case jute.OpGetChildren:
		req := r.Body.(*jute.PathWatchRequest)
		kids, _, errc := s.getChildren(r, req)
		if errc != 0 {
			return nil, errc
		}
		r.kidsOnly.Children = kids
		return &r.kidsOnly, 0
	case jute.OpGetChildren2:
		req := r.Body.(*jute.PathWatchRequest)
		kids, st, errc := s.getChildren(r, req)
		if errc != 0 {
			return nil, errc
		}
		r.kidsResp = jute.Children2Response{Children: kids, Stat: jute.Stat(st)}
		return &r.kidsResp, 0
	case jute.OpGetACL:
		return s.getACL(r)
	case jute.OpGetAllChildrenNumber:
		req := r.Body.(*jute.PathRequest)
		_, _, acls, ok := s.tree.Node(req.Path)
		if !ok {
			return nil, jute.ErrNoNode
		}
		if !acl.Check(acls, acl.Read, r.Auth) {
			return nil, jute.ErrNoAuth
		}
		n, _ := s.tree.AllChildrenNumber(req.Path)
		return &jute.IntResponse{Value: int32(n)}, 0
	case jute.OpGetEphemerals:
		req := r.Body.(*jute.PathRequest)
		prefix := strings.TrimSpace(req.Path)
		all := s.tree.Ephemerals(r.Session)
		out := make([]string, 0, len(all))
		for _, p := range all {
			if prefix == "" || prefix == "/" || strings.HasPrefix(p, req.Path) {
				out = append(out, p)
			}
		}
		return &jute.ChildrenResponse{Children: out}, 0
	case jute.OpWhoAmI:
		resp := &jute.WhoAmIResponse{ClientInfo: make([]jute.ClientInfo, 0, len(r.Auth))}
		for _, id := range r.Auth {
			resp.ClientInfo = append(resp.ClientInfo, jute.ClientInfo{AuthScheme: id.Scheme, User: acl.UserName(id)})
		}
		return resp, 0
	case jute.OpAddWatch:
		req := r.Body.(*jute.PathModeRequest)
		switch req.Mode {
		case jute.AddWatchPersistent:
			s.addWatches(c, watch.Persistent, req.Path)
		case jute.AddWatchPersistentRecursive:
			s.addWatches(c, watch.Recursive, req.Path)
		default:
			return nil, jute.ErrMarshallingError
		}
		return &jute.IntResponse{Value: 0}, 0
	case jute.OpCheckWatches, jute.OpRemoveWatches:
		req := r.Body.(*jute.PathModeRequest)
		kinds := watcherKinds(req.Mode)
		if kinds == nil {
			return nil, jute.ErrMarshallingError
		}
		found := false
		s.watchMu.Lock()
		for _, k := range kinds {
			if r.Op == jute.OpCheckWatches {
				found = found || s.watches.Has(c.id, k, req.Path)
			} else if s.watches.Remove(c.id, k, req.Path) {
				found = true
			}
		}
		s.watchMu.Unlock()
		if !found {
			return nil, jute.ErrNoWatcher
		}
		return nil, 0
	case jute.OpMultiRead:
		return s.multiRead(r)
	}
	return nil, jute.ErrUnimplemented
}

// watcherKinds maps a WatcherType to the watch kinds it covers: ZooKeeper
// 3.8 looks in its child table (Children), its data table (Data) or both,
// and each holds one half of every persistent watch.
func watcherKinds(t int32) []watch.Kind {
	switch t {
	case jute.WatcherChildren:
		return []watch.Kind{watch.Child, watch.PersistentChild, watch.RecursiveChild}
	case jute.WatcherData:
		return []watch.Kind{watch.Data, watch.PersistentData, watch.RecursiveData}
	case jute.WatcherAny:
		return []watch.Kind{watch.Data, watch.Child, watch.PersistentData, watch.PersistentChild,
			watch.RecursiveData, watch.RecursiveChild}
	}
	return nil
}

func (s *Server) getData(r *Request, req *jute.PathWatchRequest) ([]byte, tree.Stat, jute.Err) {
	data, st, acls, ok := s.tree.Node(req.Path)
	if !ok {
		return nil, st, jute.ErrNoNode
	}
	if !acl.Check(acls, acl.Read, r.Auth) {
		return nil, st, jute.ErrNoAuth
	}
	if req.Watch {
		s.addWatch(r.conn, watch.Data, req.Path)
	}
	return data, st, 0
}

func (s *Server) getChildren(r *Request, req *jute.PathWatchRequest) ([]string, tree.Stat, jute.Err) {
	_, _, acls, ok := s.tree.Node(req.Path)
	if !ok {
		return nil, tree.Stat{}, jute.ErrNoNode
	}
	if !acl.Check(acls, acl.Read, r.Auth) {
		return nil, tree.Stat{}, jute.ErrNoAuth
	}
	kids, st, _ := s.tree.Children(req.Path)
	if req.Watch {
		s.addWatch(r.conn, watch.Child, req.Path)
	}
	return kids, st, 0
}

func (s *Server) getACL(r *Request) (jute.Record, jute.Err) {
	req := r.Body.(*jute.PathRequest)
	acls, st, ok := s.tree.ACL(req.Path)
	if !ok {
		return nil, jute.ErrNoNode
	}
	if !acl.Check(acls, acl.Read|acl.Admin, r.Auth) {
		return nil, jute.ErrNoAuth
	}
	out := fromACL(acls)
	if !acl.Check(acls, acl.Admin, r.Auth) {
		// Without ADMIN the digests are hidden (ZooKeeper 3.8 does the same).
		for i := range out {
			if out[i].Scheme == "digest" {
				user, _, _ := strings.Cut(out[i].ID, ":")
				out[i].ID = user + ":x"
			}
		}
	}
	return &jute.GetACLResponse{ACL: out, Stat: jute.Stat(st)}, 0
}

func (s *Server) multiRead(r *Request) (*jute.MultiResponse, jute.Err) {
	m := r.Body.(*jute.MultiRequest)
	for _, op := range m.Ops {
		if op.Type != jute.OpGetData && op.Type != jute.OpGetChildren {
			return nil, jute.ErrMarshallingError // as ZooKeeper: a write in a multiRead
		}
	}
	out := &jute.MultiResponse{Results: make([]jute.MultiResult, 0, len(m.Ops))}
	for _, op := range m.Ops {
		req, ok := op.Req.(*jute.PathWatchRequest)
		if !ok {
			out.Results = append(out.Results, jute.MultiResult{Type: jute.OpError, Err: jute.ErrMarshallingError})
			continue
		}
		switch op.Type {
		case jute.OpGetData:
			data, st, errc := s.getData(r, req)
			if errc != 0 {
				out.Results = append(out.Results, jute.MultiResult{Type: jute.OpError, Err: errc})
				continue
			}
			out.Results = append(out.Results, jute.MultiResult{Type: jute.OpGetData, Data: data, Stat: jute.Stat(st)})
		case jute.OpGetChildren:
			kids, _, errc := s.getChildren(r, req)
			if errc != 0 {
				out.Results = append(out.Results, jute.MultiResult{Type: jute.OpError, Err: errc})
				continue
			}
			out.Results = append(out.Results, jute.MultiResult{Type: jute.OpGetChildren, Children: kids})
		}
	}
	return out, 0
}

// setWatches re-registers a reconnecting client's watches. A watch whose
// event was missed while the client was away (the node changed after
// relativeZxid, or appeared or vanished) fires at once instead.
func (s *Server) setWatches(c *Conn, sw *jute.SetWatchesRequest) {
	type fire struct {
		typ  int32
		path string
	}
	var fires []fire
	s.watchMu.Lock()
	for _, p := range sw.DataWatches {
		st, ok := s.tree.Exists(p)
		switch {
		case !ok:
			fires = append(fires, fire{tree.EventNodeDeleted, p})
		case st.Mzxid > sw.RelativeZxid:
			fires = append(fires, fire{tree.EventNodeDataChanged, p})
		default:
			s.watches.Add(c.id, watch.Data, p)
		}
	}
	for _, p := range sw.ExistWatches {
		if _, ok := s.tree.Exists(p); ok {
			fires = append(fires, fire{tree.EventNodeCreated, p})
		} else {
			s.watches.Add(c.id, watch.Data, p)
		}
	}
	for _, p := range sw.ChildWatches {
		st, ok := s.tree.Exists(p)
		switch {
		case !ok:
			fires = append(fires, fire{tree.EventNodeDeleted, p})
		case st.Pzxid > sw.RelativeZxid:
			fires = append(fires, fire{tree.EventNodeChildrenChanged, p})
		default:
			s.watches.Add(c.id, watch.Child, p)
		}
	}
	for _, p := range sw.PersistentWatches {
		for _, k := range watch.Persistent {
			s.watches.Add(c.id, k, p)
		}
	}
	for _, p := range sw.PersistentRecursive {
		for _, k := range watch.Recursive {
			s.watches.Add(c.id, k, p)
		}
	}
	s.watchMu.Unlock()
	for _, f := range fires {
		c.sendEvent(f.typ, f.path)
	}
}

package difftest

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/zkx-project/zkx/transport/jute"
)

// probe is a bare ZooKeeper protocol client: one request at a time, every
// notification kept in arrival order. The same probe code talks to both
// servers, so a difference in what comes back is the servers'.
type probe struct {
	addr     string
	nc       net.Conn
	br       *bufio.Reader
	xid      int32
	sid      int64
	pw       []byte
	timeout  int32
	lastZxid int64
	events   []jute.WatcherEvent
	closed   bool
}

const ioTimeout = 10 * time.Second

func dialProbe(addr string, sid int64, pw []byte, timeoutMs int32, lastZxid int64) (*probe, jute.ConnectResponse, error) {
	if pw == nil {
		pw = make([]byte, 16)
	}
	return dialProbeWith(addr, jute.ConnectRequest{TimeOut: timeoutMs, SessionID: sid, Passwd: pw, LastZxidSeen: lastZxid, HasReadOnly: true})
}

// dialProbeWith connects with the handshake req.
func dialProbeWith(addr string, req jute.ConnectRequest) (*probe, jute.ConnectResponse, error) {
	p := &probe{addr: addr}
	var resp jute.ConnectResponse
	nc, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		return nil, resp, err
	}
	p.nc, p.br = nc, bufio.NewReader(nc)
	lastZxid := req.LastZxidSeen
	e := jute.NewEncoder(nil)
	off := e.BeginFrame()
	req.Encode(e)
	e.EndFrame(off)
	if err := p.write(e.Bytes()); err != nil {
		return nil, resp, err
	}
	frame, err := p.readFrame()
	if err != nil {
		return nil, resp, fmt.Errorf("connect response: %w", err)
	}
	if err := jute.Decode(frame, &resp); err != nil {
		return nil, resp, err
	}
	p.sid, p.pw, p.timeout, p.lastZxid = resp.SessionID, resp.Passwd, resp.TimeOut, lastZxid
	return p, resp, nil
}

func (p *probe) write(b []byte) error {
	_ = p.nc.SetWriteDeadline(time.Now().Add(ioTimeout))
	_, err := p.nc.Write(b)
	return err
}

func (p *probe) readFrame() ([]byte, error) {
	_ = p.nc.SetReadDeadline(time.Now().Add(ioTimeout))
	var hdr [4]byte
	if _, err := io.ReadFull(p.br, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > jute.MaxBuffer {
		return nil, fmt.Errorf("frame of %d bytes", n)
	}
	b := make([]byte, n)
	_, err := io.ReadFull(p.br, b)
	return b, err
}

// call sends one request with a fresh xid (or the given special xid) and
// returns its reply header and body, collecting notifications on the way.
func (p *probe) call(xid int32, op jute.OpCode, req jute.Record) (jute.ReplyHeader, []byte, error) {
	if xid == 0 {
		p.xid++
		xid = p.xid
	}
	e := jute.NewEncoder(nil)
	off := e.BeginFrame()
	h := jute.RequestHeader{Xid: xid, Type: op}
	h.Encode(e)
	if req != nil {
		req.Encode(e)
	}
	e.EndFrame(off)
	if err := p.write(e.Bytes()); err != nil {
		return jute.ReplyHeader{}, nil, err
	}
	for {
		frame, err := p.readFrame()
		if err != nil {
			return jute.ReplyHeader{}, nil, err
		}
		d := jute.NewDecoder(frame)
		var rh jute.ReplyHeader
		rh.Decode(d)
		if d.Err() != nil {
			return rh, nil, d.Err()
		}
		if rh.Xid == jute.XidNotification {
			var ev jute.WatcherEvent
			ev.Decode(d)
			p.events = append(p.events, ev)
			continue
		}
		if rh.Xid != xid {
			return rh, nil, fmt.Errorf("reply xid %d, want %d", rh.Xid, xid)
		}
		if rh.Zxid > p.lastZxid {
			p.lastZxid = rh.Zxid
		}
		return rh, d.Rest(), nil
	}
}

// ping is the barrier: every event caused by earlier requests is delivered
// before the ping's reply.
func (p *probe) ping() error {
	_, _, err := p.call(jute.XidPing, jute.OpPing, nil)
	return err
}

func (p *probe) takeEvents() []jute.WatcherEvent {
	ev := p.events
	p.events = nil
	return ev
}

func (p *probe) drop() {
	if !p.closed {
		p.closed = true
		p.nc.Close()
	}
}

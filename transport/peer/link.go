package peer

import (
	"bufio"
	"errors"
	"net"
	"sync"
)

// Buffer sizes of a link's socket reader and writer. Writes are batched:
// the writer flushes only when its queue is empty.
const (
	readBufSize  = 64 << 10
	writeBufSize = 64 << 10
)

// link is one established connection to a peer on one channel. It lives
// until it fails once; a reconnect makes a new link.
type link struct {
	m     *Mesh
	peer  int64
	ch    Channel
	nc    net.Conn
	sendq chan []byte

	// prev is the link this one replaced in its slot (live or not); the
	// reader waits for prev.finished before delivering, so prev's Down
	// comes before any message of this link.
	prev *link

	once     sync.Once
	closed   chan struct{} // closed by fail
	finished chan struct{} // closed when the reader has delivered its last message and Down
}

func newLink(m *Mesh, peer int64, ch Channel, nc net.Conn) *link {
	return &link{
		m:        m,
		peer:     peer,
		ch:       ch,
		nc:       nc,
		sendq:    make(chan []byte, m.cfg.QueueLen),
		closed:   make(chan struct{}),
		finished: make(chan struct{}),
	}
}

// fail breaks the link: the socket is closed (which ends the reader, which
// delivers Down), the slot forgets it, and unwritten payloads are dropped.
// Only the first call has an effect.
func (l *link) fail(err error) {
	l.once.Do(func() {
		close(l.closed)
		l.nc.Close()
		l.m.detach(l)
		attrs := []any{"peer", l.peer, "channel", l.ch.String(), "err", err}
		switch {
		case l.m.closing():
		case errors.Is(err, ErrReplaced):
			l.m.log.Info("peer link replaced", attrs...)
		case errors.Is(err, ErrQueueFull), errors.Is(err, ErrFrameTooLarge), errors.Is(err, ErrChecksum):
			l.m.log.Warn("peer link broken", attrs...)
		default:
			l.m.log.Info("peer link down", attrs...)
		}
	})
}

// readLoop delivers the link's frames in order, then its Down.
func (l *link) readLoop() {
	defer l.m.wg.Done()
	defer close(l.finished)
	if p := l.prev; p != nil {
		l.prev = nil
		select {
		case <-p.finished:
		case <-l.m.ctx.Done():
			l.fail(ErrClosed)
			return
		}
	}
	br := bufio.NewReaderSize(l.nc, readBufSize)
	for {
		p, err := readFrame(br, l.m.cfg.MaxFrame)
		if err != nil {
			l.fail(err)
			break
		}
		if !l.m.deliver(Inbound{From: l.peer, Channel: l.ch, Payload: p}) {
			l.fail(ErrClosed)
			return
		}
	}
	l.m.deliver(Inbound{From: l.peer, Channel: l.ch, Down: true})
}

// writeLoop writes queued payloads, flushing whenever the queue is empty.
func (l *link) writeLoop() {
	defer l.m.wg.Done()
	bw := bufio.NewWriterSize(l.nc, writeBufSize)
	for {
		var p []byte
		select {
		case p = <-l.sendq:
		case <-l.closed:
			return
		}
		for {
			if err := writeFrame(bw, p); err != nil {
				l.fail(err)
				return
			}
			select {
			case p = <-l.sendq:
				continue
			default:
			}
			break
		}
		if err := bw.Flush(); err != nil {
			l.fail(err)
			return
		}
	}
}

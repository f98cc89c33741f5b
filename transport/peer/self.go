package peer

import (
	"fmt"
	"sync"
)

// selfLink delivers what a server sends to itself, with the contract of a
// peer link: FIFO, and a queue of QueueLen that breaks (Down) when full.
type selfLink struct {
	m    *Mesh
	ch   Channel
	wake chan struct{}

	mu      sync.Mutex
	pending []Inbound // may start with a Down
	queued  int       // payloads in pending
	// broken is set from an overflow until the forwarder takes the Down:
	// like a peer link that is down, the local link drops sends meanwhile.
	broken bool
}

func newSelfLink(m *Mesh, ch Channel) *selfLink {
	return &selfLink{m: m, ch: ch, wake: make(chan struct{}, 1)}
}

func (s *selfLink) send(p []byte) {
	s.mu.Lock()
	if s.broken {
		s.mu.Unlock()
		return
	}
	if s.queued >= s.m.cfg.QueueLen || len(p) > s.m.cfg.MaxFrame {
		// Break the link: drop what is queued, report Down; the "new
		// link" starts empty.
		s.pending = append(s.pending[:0], Inbound{From: s.m.cfg.ID, Channel: s.ch, Down: true})
		s.queued = 0
		s.broken = true
		s.mu.Unlock()
		err := fmt.Errorf("%w: %d payloads queued", ErrQueueFull, s.m.cfg.QueueLen)
		if len(p) > s.m.cfg.MaxFrame {
			err = fmt.Errorf("%w: sending %d bytes, max %d", ErrFrameTooLarge, len(p), s.m.cfg.MaxFrame)
		}
		s.m.log.Warn("peer link broken", "peer", s.m.cfg.ID, "channel", s.ch.String(), "err", err)
	} else {
		s.pending = append(s.pending, Inbound{From: s.m.cfg.ID, Channel: s.ch, Payload: p})
		s.queued++
		s.mu.Unlock()
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *selfLink) forward() {
	defer s.m.wg.Done()
	var batch []Inbound
	for {
		select {
		case <-s.wake:
		case <-s.m.ctx.Done():
			return
		}
		s.mu.Lock()
		batch, s.pending = s.pending, batch[:0]
		s.queued = 0
		s.broken = false
		s.mu.Unlock()
		for i, in := range batch {
			if !s.m.deliver(in) {
				return
			}
			batch[i] = Inbound{}
		}
	}
}

package clustertest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"
)

// Fault is something the nemesis does to a cluster. Healing a partition and
// restarting killed nodes are always on; the nemesis brings the cluster
// back after its last fault.
type Fault int

const (
	KillLeader      Fault = iota + 1 // kill -9 the leader (standalone: the node)
	KillFollower                     // kill -9 a follower or observer
	IsolateLeader                    // cut the leader off from every other node
	IsolateFollower                  // cut a follower or observer off
)

func (f Fault) String() string {
	switch f {
	case KillLeader:
		return "kill-leader"
	case KillFollower:
		return "kill-follower"
	case IsolateLeader:
		return "isolate-leader"
	case IsolateFollower:
		return "isolate-follower"
	}
	return fmt.Sprintf("Fault(%d)", int(f))
}

// AllFaults are the faults that fit the cluster: all four in an ensemble,
// killing the node standalone.
func (c *Cluster) AllFaults() []Fault {
	if c.standalone() {
		return []Fault{KillLeader}
	}
	return []Fault{KillLeader, KillFollower, IsolateLeader, IsolateFollower}
}

// nemesisEvent is one thing the nemesis did, At from the workload's start.
type nemesisEvent struct {
	At   time.Duration
	What string
}

// nemesis injects faults on a seeded random schedule. It keeps at most as
// many voters down (killed or cut off) as the ensemble can lose and still
// have a quorum, so that the cluster stays available between elections;
// standalone, it kills the node and restarts it.
type nemesis struct {
	c      *Cluster
	rng    *rand.Rand
	faults []Fault
	// minGap..maxGap is the pause before each action.
	minGap, maxGap time.Duration
	start          time.Time
	record         func(nemesisEvent)

	deck     []Fault // faults still to come in this round
	killed   []int   // nodes killed and not restarted
	isolated int     // the node cut off, or -1
}

// maxDown is how many nodes may be down at once.
func (n *nemesis) maxDown() int {
	if n.c.standalone() {
		return 1
	}
	return (n.c.opts.Servers - 1) / 2
}

func (n *nemesis) down() int {
	d := len(n.killed)
	if n.isolated >= 0 {
		d++
	}
	return d
}

func (n *nemesis) log(format string, args ...any) {
	n.record(nemesisEvent{At: time.Since(n.start), What: fmt.Sprintf(format, args...)})
}

// run acts until ctx ends, then heals the cluster and restarts every
// killed node. Errors from the cluster end it.
func (n *nemesis) run(ctx context.Context) error {
	for {
		gap := n.minGap + time.Duration(n.rng.Int64N(int64(n.maxGap-n.minGap)+1))
		select {
		case <-ctx.Done():
			return n.recover()
		case <-time.After(gap):
		}
		if err := n.step(); err != nil {
			return err
		}
	}
}

// step does one thing: a fault, or a recovery (healing the partition, or
// restarting a killed node). Faults come from a shuffled deck of the
// enabled faults, refilled when empty, so that a short run still sees each
// of them; while the budget allows another fault, a coin decides between
// fault and recovery.
func (n *nemesis) step() error {
	canFault := n.down() < n.maxDown() && len(n.faults) > 0
	canRecover := n.isolated >= 0 || len(n.killed) > 0
	if canFault && (!canRecover || n.rng.IntN(2) == 0) {
		if len(n.deck) == 0 {
			n.deck = slices.Clone(n.faults)
			n.rng.Shuffle(len(n.deck), func(i, j int) { n.deck[i], n.deck[j] = n.deck[j], n.deck[i] })
		}
		// The first fault in the deck that fits: one partition at a time.
		for k, f := range n.deck {
			if (f == IsolateLeader || f == IsolateFollower) && n.isolated >= 0 {
				continue
			}
			n.deck = slices.Delete(n.deck, k, k+1)
			return n.fault(f)
		}
	}
	if !canRecover {
		return nil
	}
	if n.isolated >= 0 && (len(n.killed) == 0 || n.rng.IntN(2) == 0) {
		n.c.Heal()
		n.log("heal (node %d rejoins)", n.isolated)
		n.isolated = -1
		return nil
	}
	k := n.rng.IntN(len(n.killed))
	i := n.killed[k]
	if err := n.c.Start(i); err != nil {
		return err
	}
	n.killed = slices.Delete(n.killed, k, k+1)
	n.log("restart node %d", i)
	return nil
}

// fault does f, or nothing if the cluster has no node for it right now
// (no leader during an election, no follower left up).
func (n *nemesis) fault(f Fault) error {
	leader := -1
	if l, err := n.c.Leader(time.Now().Add(3 * time.Second)); err == nil {
		leader = l
	}
	target := leader
	if f == KillFollower || f == IsolateFollower {
		var followers []int
		for i := range n.c.nodes {
			if i != leader && i != n.isolated && !slices.Contains(n.killed, i) {
				followers = append(followers, i)
			}
		}
		if len(followers) == 0 || leader < 0 {
			target = -1
		} else {
			target = followers[n.rng.IntN(len(followers))]
		}
	}
	if target < 0 || target == n.isolated {
		n.log("%s: no target (no single leader)", f)
		return nil
	}
	role := "follower"
	switch {
	case n.c.standalone():
		role = "standalone"
	case target == leader:
		role = "leader"
	case n.c.nodes[target].observer:
		role = "observer"
	}
	switch f {
	case KillLeader, KillFollower:
		if err := n.c.KillNine(target); err != nil {
			return err
		}
		n.killed = append(n.killed, target)
		n.log("kill -9 node %d (%s)", target, role)
	case IsolateLeader, IsolateFollower:
		n.c.Isolate(target)
		n.isolated = target
		n.log("isolate node %d (%s)", target, role)
	}
	return nil
}

// recover heals every partition and restarts every killed node.
func (n *nemesis) recover() error {
	if n.isolated >= 0 {
		n.c.Heal()
		n.log("heal (node %d rejoins)", n.isolated)
		n.isolated = -1
	}
	for _, i := range n.killed {
		if err := n.c.Start(i); err != nil {
			return err
		}
		n.log("restart node %d", i)
	}
	n.killed = nil
	return nil
}

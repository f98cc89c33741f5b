"""kazoo's Barrier and DoubleBarrier recipes against a server: waiters on a
Barrier pass only once it is removed; DoubleBarrier members pass enter()
only when all have entered and pass leave() only when all have left."""

import threading

from kazoo.recipe.barrier import Barrier, DoubleBarrier

from compatlib import check, client, eq, run, wait_for

MEMBERS = 3


def watchers_of(zk, path):
    """Counts the sessions that wchp lists under path."""
    n, inside = 0, False
    for line in zk.command(b"wchp").splitlines():
        if line.startswith("\t"):
            n += inside
        else:
            inside = line.strip() == path
    return n


def barrier(addr):
    owner = client(addr)
    b = Barrier(owner, "/barrier")
    b.create()
    waiters = [client(addr) for _ in range(MEMBERS)]
    eq(Barrier(waiters[0], "/barrier").wait(timeout=0.3), False,
       "wait(timeout) on a standing barrier returns False")
    removed = threading.Event()
    mu = threading.Lock()
    passed = []

    def wait(i):
        ok = Barrier(waiters[i], "/barrier").wait(timeout=30)
        with mu:
            passed.append((i, ok, removed.is_set()))

    threads = [threading.Thread(target=wait, args=(i,)) for i in range(MEMBERS)]
    for t in threads:
        t.start()
    # The waiters' exists-watches are in place once the server lists them.
    wait_for(lambda: watchers_of(owner, "/barrier") == MEMBERS,
             "the server lists %d sessions watching /barrier (wchp)" % MEMBERS)
    eq(passed, [], "no waiter passed a standing barrier")
    removed.set()
    check(b.remove(), "remove the barrier")
    for t in threads:
        t.join(30)
    eq(sorted(passed), [(i, True, True) for i in range(MEMBERS)],
       "every waiter passed, and only after the barrier was removed")
    eq(Barrier(waiters[0], "/barrier").wait(timeout=0.3), True, "wait on a removed barrier returns at once")
    for c in waiters + [owner]:
        c.stop()


def double_barrier(addr):
    clients = [client(addr) for _ in range(MEMBERS)]
    observer = client(addr)
    mu = threading.Lock()
    arrived = set()
    leaving = set()
    entered = []
    left = []
    can_leave = threading.Event()

    def member(i):
        db = DoubleBarrier(clients[i], "/dbarrier", MEMBERS, identifier="m%d" % i)
        with mu:
            arrived.add(i)
        db.enter()
        with mu:
            entered.append((i, sorted(arrived), db.participating))
        can_leave.wait(30)
        with mu:
            leaving.add(i)
        db.leave()
        with mu:
            left.append((i, sorted(leaving)))

    threads = [threading.Thread(target=member, args=(i,)) for i in range(MEMBERS)]
    for t in threads[:-1]:
        t.start()
    wait_for(lambda: observer.exists("/dbarrier") and
             len(observer.get_children("/dbarrier")) == MEMBERS - 1,
             "%d of %d members are in the barrier" % (MEMBERS - 1, MEMBERS))
    eq(entered, [], "nobody passes enter() before the last member arrives")
    threads[-1].start()
    wait_for(lambda: len(entered) == MEMBERS, "all members pass enter() once the last arrives")
    everyone = list(range(MEMBERS))
    for i, seen, participating in entered:
        eq(seen, everyone, "member %d passed enter() after all had arrived" % i)
        check(participating, "member %d is participating" % i)
    can_leave.set()
    for t in threads:
        t.join(30)
    eq(len(left), MEMBERS, "all members left")
    for i, seen in left:
        eq(seen, everyone, "member %d passed leave() after all had begun leaving" % i)
    eq(observer.get_children("/dbarrier"), [], "no member nodes left")
    for c in clients + [observer]:
        c.stop()


def main(addr):
    barrier(addr)
    double_barrier(addr)


if __name__ == "__main__":
    run(main)

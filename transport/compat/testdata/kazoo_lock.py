"""kazoo's Lock recipe against a server: contenders on several clients and
threads exclude each other (a shared counter updated with an unguarded
read-modify-write loses no increment), a lock that is held times out for
others, and when the holder's session is killed the next waiter acquires."""

import threading

from kazoo.client import KazooClient
from kazoo.exceptions import LockTimeout
from kazoo.protocol.states import KazooState

from compatlib import StateLog, check, client, eq, raises, run, wait_for

CLIENTS = 4
THREADS_PER_CLIENT = 2
ROUNDS = 5


def mutual_exclusion(addr):
    setup = client(addr)
    setup.create("/lock-counter", b"0")
    clients = [client(addr) for _ in range(CLIENTS)]
    mu = threading.Lock()
    inside = [0]
    max_inside = [0]
    errors = []

    def contender(zk, name):
        try:
            lock = zk.Lock("/lock", name)
            for _ in range(ROUNDS):
                with lock:
                    with mu:
                        inside[0] += 1
                        max_inside[0] = max(max_inside[0], inside[0])
                    # Unguarded read-modify-write on a znode: only mutual
                    # exclusion keeps every increment.
                    data, _ = zk.get("/lock-counter")
                    zk.set("/lock-counter", str(int(data) + 1).encode())
                    with mu:
                        inside[0] -= 1
        except Exception as e:  # reported below
            errors.append("%s: %r" % (name, e))

    threads = []
    for i, zk in enumerate(clients):
        for j in range(THREADS_PER_CLIENT):
            t = threading.Thread(target=contender, args=(zk, "c%d-t%d" % (i, j)))
            t.start()
            threads.append(t)
    for t in threads:
        t.join(60)
    check(not any(t.is_alive() for t in threads), "all contenders finished within 60s")
    eq(errors, [], "contender errors")
    eq(max_inside[0], 1, "most contenders inside the lock at once")
    total = CLIENTS * THREADS_PER_CLIENT * ROUNDS
    eq(int(setup.get("/lock-counter")[0]), total, "shared counter after %d guarded increments" % total)
    eq(setup.get_children("/lock"), [], "no lock nodes left after every release")
    for zk in clients:
        zk.stop()
    setup.stop()


def timeouts_and_handover(addr):
    holder = client(addr)
    holder_states = StateLog(holder)
    waiter = client(addr)
    hl = holder.Lock("/lock2", "holder")
    check(hl.acquire(timeout=5), "holder acquires the free lock")
    other = waiter.Lock("/lock2", "probe")
    eq(other.acquire(blocking=False), False, "non-blocking acquire of a held lock")
    raises(LockTimeout, lambda: other.acquire(timeout=0.3), "acquire with a timeout on a held lock")

    wl = waiter.Lock("/lock2", "waiter")
    got = threading.Event()

    def wait_for_lock():
        if wl.acquire(timeout=30):
            got.set()

    t = threading.Thread(target=wait_for_lock)
    t.start()
    wait_for(lambda: wl.contenders() == ["holder", "waiter"], "contenders list the holder, then the waiter")
    check(not got.is_set(), "waiter has not acquired while the holder holds")

    # Kill the holder's session: attach to it from another client and
    # close it, as if the holder's process had died and its session ended.
    sid = holder.client_id
    killer = KazooClient(hosts=addr, client_id=sid, timeout=10.0)
    killer.start(timeout=15)
    killer.stop()
    t.join(30)
    check(got.is_set(), "waiter acquires once the holder's session is killed")
    eq(wl.contenders(), ["waiter"], "contenders after the handover")
    holder_states.wait(KazooState.LOST, "the killed holder sees LOST")
    wl.release()
    eq(waiter.get_children("/lock2"), [], "no lock nodes left")
    holder.stop()
    waiter.stop()


def main(addr):
    mutual_exclusion(addr)
    timeouts_and_handover(addr)


if __name__ == "__main__":
    run(main)

"""kazoo's Queue and LockingQueue recipes against a server: FIFO order
(and priority order) with one consumer; with concurrent producers and
consumers on several clients no item is lost or duplicated and each
consumer sees each producer's items in order; a LockingQueue item taken
by a consumer whose session ends goes to another consumer."""

import threading
import time

from kazoo.client import KazooClient

from compatlib import check, client, eq, run, wait_for

PRODUCERS = 2
CONSUMERS = 3
PER_PRODUCER = 40


def fifo(zk):
    q = zk.Queue("/queue-fifo")
    for i in range(10):
        q.put(b"item-%d" % i)
    eq(len(q), 10, "queue length")
    got = [q.get() for _ in range(10)]
    eq(got, [b"item-%d" % i for i in range(10)], "items come out in the order they went in")
    eq(q.get(), None, "get on an empty queue")
    q.put(b"low", priority=200)
    q.put(b"normal")
    q.put(b"high", priority=10)
    eq([q.get(), q.get(), q.get()], [b"high", b"normal", b"low"], "priority order")


def concurrent_queue(addr):
    producers = [client(addr) for _ in range(PRODUCERS)]
    consumers = [client(addr) for _ in range(CONSUMERS)]
    total = PRODUCERS * PER_PRODUCER
    mu = threading.Lock()
    consumed = {i: [] for i in range(CONSUMERS)}
    count = [0]
    errors = []
    done = threading.Event()

    def produce(p):
        try:
            q = producers[p].Queue("/queue")
            for i in range(PER_PRODUCER):
                q.put(b"p%d-%03d" % (p, i))
        except Exception as e:
            errors.append("producer %d: %r" % (p, e))

    def consume(c):
        try:
            q = consumers[c].Queue("/queue")
            deadline = time.monotonic() + 60
            while not done.is_set() and time.monotonic() < deadline:
                item = q.get()
                if item is None:
                    done.wait(0.01)  # empty for now: producers still at work
                    continue
                with mu:
                    consumed[c].append(item)
                    count[0] += 1
                    if count[0] >= total:
                        done.set()
        except Exception as e:
            errors.append("consumer %d: %r" % (c, e))

    # Consumers start first, waiting on an empty queue; producers then
    # fill it concurrently while consumers race for the items.
    threads = [threading.Thread(target=consume, args=(c,)) for c in range(CONSUMERS)]
    threads += [threading.Thread(target=produce, args=(p,)) for p in range(PRODUCERS)]
    for t in threads:
        t.start()
    check(done.wait(60), "consumers took %d items within 60s" % total)
    for t in threads:
        t.join(10)
    eq(errors, [], "producer/consumer errors")
    everything = [x for c in consumed.values() for x in c]
    eq(len(everything), total, "items consumed")
    eq(sorted(set(everything)), sorted(b"p%d-%03d" % (p, i) for p in range(PRODUCERS)
                                       for i in range(PER_PRODUCER)),
       "every item consumed exactly once")
    for c, items in consumed.items():
        for p in range(PRODUCERS):
            mine = [x for x in items if x.startswith(b"p%d-" % p)]
            eq(mine, sorted(mine), "consumer %d saw producer %d's items in order" % (c, p))
    print("items per consumer: %r" % [len(consumed[c]) for c in range(CONSUMERS)])
    eq(len(producers[0].Queue("/queue")), 0, "queue is empty")
    for zk in producers + consumers:
        zk.stop()


def locking_queue(addr):
    zk = client(addr)
    q = zk.LockingQueue("/lqueue")
    q.put_all([b"a", b"b", b"c"])
    q.put(b"first", priority=1)
    eq(len(q), 4, "LockingQueue length")
    eq(q.get(timeout=5), b"first", "priority item first")
    check(q.holds_lock(), "consumer holds the entry it got")
    check(q.consume(), "consume removes the entry")
    eq(q.get(timeout=5), b"a", "then FIFO")
    check(q.consume(), "consume a")

    # A consumer takes "b" and dies before consuming it: the entry's lock
    # goes with its session and another consumer gets it.
    dying = client(addr)
    dq = dying.LockingQueue("/lqueue")
    eq(dq.get(timeout=5), b"b", "the doomed consumer takes b")
    other = client(addr)
    oq = other.LockingQueue("/lqueue")
    eq(oq.get(timeout=5), b"c", "a second consumer skips the locked entry b")
    check(oq.consume(), "consume c")
    got = []
    t = threading.Thread(target=lambda: got.append(oq.get(timeout=20)))
    t.start()
    sid = dying.client_id
    killer = KazooClient(hosts=addr, client_id=sid, timeout=10.0)
    killer.start(timeout=15)
    killer.stop()  # closes the doomed consumer's session
    t.join(25)
    eq(got, [b"b"], "b is handed to another consumer once its taker's session ends")
    check(oq.consume(), "consume b")
    eq(len(oq), 0, "LockingQueue empty")

    # Concurrent consumers on a LockingQueue: no loss, no duplicates.
    total = 60
    q.put_all([b"%03d" % i for i in range(total)])
    consumers = [client(addr) for _ in range(CONSUMERS)]
    mu = threading.Lock()
    taken = []
    errors = []

    def consume(zkc):
        try:
            lq = zkc.LockingQueue("/lqueue")
            while True:
                with mu:
                    if len(taken) >= total:
                        return
                item = lq.get(timeout=0.5)
                if item is None:
                    continue
                with mu:
                    taken.append(item)
                lq.consume()
        except Exception as e:
            errors.append(repr(e))

    threads = [threading.Thread(target=consume, args=(c,)) for c in consumers]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    check(not any(th.is_alive() for th in threads), "LockingQueue consumers finished within 60s")
    eq(errors, [], "LockingQueue consumer errors")
    eq(sorted(taken), [b"%03d" % i for i in range(total)], "every LockingQueue item taken exactly once")
    wait_for(lambda: len(q) == 0, "LockingQueue drained")
    for c in consumers + [zk, dying, other]:
        c.stop()


def main(addr):
    zk = client(addr)
    fifo(zk)
    zk.stop()
    concurrent_queue(addr)
    locking_queue(addr)


if __name__ == "__main__":
    run(main)

"""kazoo's Counter recipe against a server: concurrent increments from
several clients and threads add up exactly (each is a versioned
compare-and-set that retries on BadVersion)."""

import threading

from kazoo.recipe.counter import Counter

from compatlib import check, client, eq, run

CLIENTS = 4
THREADS_PER_CLIENT = 2
INCREMENTS = 25

# Retry a lost compare-and-set quickly: contention is the point here.
FAST_RETRY = {"max_tries": -1, "delay": 0.005, "backoff": 1.5, "max_delay": 0.1, "max_jitter": 0.5}


def main(addr):
    clients = [client(addr, command_retry=FAST_RETRY) for _ in range(CLIENTS)]
    c0 = Counter(clients[0], "/counter")
    eq(c0.value, 0, "a new counter starts at its default")
    c0 += 5
    eq(c0.value, 5, "after += 5")
    c0 -= 2
    eq(c0.value, 3, "after -= 2")
    eq((c0.pre_value, c0.post_value), (5, 3), "pre_value and post_value of the last change")

    errors = []

    def worker(zk):
        try:
            c = Counter(zk, "/counter")
            for _ in range(INCREMENTS):
                c += 1
        except Exception as e:
            errors.append(repr(e))

    threads = [threading.Thread(target=worker, args=(zk,))
               for zk in clients for _ in range(THREADS_PER_CLIENT)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    check(not any(t.is_alive() for t in threads), "all incrementers finished within 60s")
    eq(errors, [], "incrementer errors")
    want = 3 + CLIENTS * THREADS_PER_CLIENT * INCREMENTS
    eq(Counter(clients[1], "/counter").value, want, "counter after concurrent increments")
    eq(clients[2].exists("/counter").version, 2 + CLIENTS * THREADS_PER_CLIENT * INCREMENTS,
       "one version per successful change")

    fc = Counter(clients[0], "/fcounter", default=0.5)
    fc += 0.25
    eq(fc.value, 0.75, "float counter")
    for zk in clients:
        zk.stop()


if __name__ == "__main__":
    run(main)

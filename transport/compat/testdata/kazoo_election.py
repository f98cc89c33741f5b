"""kazoo's Election recipe against a server: several clients run for
leader; there is one leader at a time; when the leader's session is closed
another contender wins, until every contender has led once."""

import threading

from compatlib import client, eq, run, wait_for

CONTENDERS = 4


def main(addr):
    clients = [client(addr) for _ in range(CONTENDERS)]
    mu = threading.Lock()
    leaders = []         # in the order they were elected
    current = set()      # leaders not yet deposed
    violations = []
    abdicate = [threading.Event() for _ in range(CONTENDERS)]

    def lead(i):
        with mu:
            if current:
                violations.append("c%d elected while %r still lead" % (i, sorted(current)))
            current.add(i)
            leaders.append(i)
        # Lead until told to stop (the test closes our session first).
        abdicate[i].wait(60)

    def contender(i):
        e = clients[i].Election("/election", "c%d" % i)
        try:
            e.run(lead, i)
        except Exception:
            # The session was closed under the leader: run() may raise
            # while releasing, which is how kazoo reports it.
            pass

    threads = [threading.Thread(target=contender, args=(i,), daemon=True) for i in range(CONTENDERS)]
    for t in threads:
        t.start()
    observer = client(addr)
    wait_for(lambda: len(observer.get_children("/election")) == CONTENDERS
             if observer.exists("/election") else False,
             "all %d contenders registered" % CONTENDERS)
    contenders = clients[0].Election("/election").contenders()
    eq(sorted(contenders), sorted("c%d" % i for i in range(CONTENDERS)), "Election.contenders()")
    for round_ in range(CONTENDERS):
        wait_for(lambda: len(leaders) == round_ + 1, "leader #%d elected" % (round_ + 1))
        with mu:
            leader = leaders[-1]
            eq(len(current), 1, "exactly one leader in round %d" % (round_ + 1))
        eq(clients[leader].Election("/election").contenders()[0], "c%d" % leader,
           "the leader heads the contenders list")
        # Depose the leader by closing its session; only then let its
        # leadership function return.
        with mu:
            current.discard(leader)
        clients[leader].stop()
        abdicate[leader].set()
    eq(sorted(leaders), list(range(CONTENDERS)), "every contender led exactly once")
    eq(violations, [], "overlapping leaderships")
    wait_for(lambda: observer.get_children("/election") == [], "no contender nodes left")
    observer.stop()


if __name__ == "__main__":
    run(main)

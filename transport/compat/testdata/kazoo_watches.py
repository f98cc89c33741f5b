"""kazoo watches against a server: one-shot watches set by get, exists and
get_children deliver one event of the right type and path; DataWatch and
ChildrenWatch call back on every change and see the final state."""

import threading

from kazoo.protocol.states import EventType

from compatlib import check, client, eq, run, wait_event, wait_for


class Events(object):
    """Collects watch events delivered to a one-shot watch function."""

    def __init__(self):
        self.mu = threading.Lock()
        self.events = []
        self.fired = threading.Event()

    def __call__(self, ev):
        with self.mu:
            self.events.append(ev)
        self.fired.set()


def one_shot(zk, writer):
    zk.create("/w", b"0")

    # get(watch=): NodeDataChanged, once
    ev = Events()
    zk.get("/w", watch=ev)
    writer.set("/w", b"1")
    wait_event(ev.fired, "data watch fires on set")
    writer.set("/w", b"2")
    # The watch is one-shot. Prove that no second event came by waiting
    # for a later event on another watch: events on one connection arrive
    # in order, so if a second data event had been sent it would be here.
    marker = Events()
    zk.exists("/w-marker", watch=marker)
    writer.create("/w-marker")
    wait_event(marker.fired, "marker exists-watch fires")
    with ev.mu:
        eq([(e.type, e.path) for e in ev.events], [(EventType.CHANGED, "/w")],
           "one-shot data watch delivered exactly one CHANGED event")
    eq(marker.events[0].type, EventType.CREATED, "exists watch on a missing node sees CREATED")
    eq(marker.events[0].path, "/w-marker", "event path")

    # exists(watch=) on an existing node: DELETED
    ev = Events()
    check(zk.exists("/w-marker", watch=ev) is not None, "exists with a watch")
    writer.delete("/w-marker")
    wait_event(ev.fired, "exists watch fires on delete")
    eq(ev.events[0].type, EventType.DELETED, "event type after delete")

    # get_children(watch=): CHILD on create and on delete of a child
    ev = Events()
    eq(zk.get_children("/w", watch=ev), [], "no children yet")
    writer.create("/w/kid")
    wait_event(ev.fired, "child watch fires on a child's create")
    eq((ev.events[0].type, ev.events[0].path), (EventType.CHILD, "/w"), "child event")
    ev = Events()
    zk.get_children("/w", watch=ev)
    writer.set("/w/kid", b"data")  # a child's data change is not a child event
    writer.delete("/w/kid")
    wait_event(ev.fired, "child watch fires on a child's delete")
    eq([e.type for e in ev.events], [EventType.CHILD], "one CHILD event for the delete, none for the child's set")

    # get(watch=) then delete: DELETED to the data watch
    ev = Events()
    zk.get("/w", watch=ev)
    kids = Events()
    zk.get_children("/w", watch=kids)
    writer.delete("/w")
    wait_event(ev.fired, "data watch fires on delete")
    wait_event(kids.fired, "child watch fires when the node itself is deleted")
    eq(ev.events[0].type, EventType.DELETED, "data watch event type on delete")
    eq(kids.events[0].type, EventType.DELETED, "child watch event type on delete")

    # Watches are per client: a client that set none gets none.
    ev = Events()
    writer.exists("/w2", watch=ev)
    zk.create("/w2")
    wait_event(ev.fired, "writer's exists watch fires for zk's create")
    zk.delete("/w2")


def data_watch(zk, writer):
    cond = threading.Condition()
    seen = []

    def on_data(data, stat, event):
        with cond:
            seen.append((data, stat.version if stat else None,
                         event.type if event else None))
            cond.notify_all()

    zk.DataWatch("/dw", on_data)
    wait_for(lambda: seen and seen[0] == (None, None, None),
             "DataWatch on a missing node is called with None")
    writer.create("/dw", b"a")
    wait_for(lambda: (b"a", 0, EventType.CREATED) in seen, "DataWatch sees the create")
    for i in range(1, 6):
        writer.set("/dw", str(i).encode())
    wait_for(lambda: seen[-1][:2] == (b"5", 5), "DataWatch sees the last of 5 sets")
    versions = [v for (_, v, _) in seen if v is not None]
    eq(versions, sorted(versions), "DataWatch saw versions in increasing order")
    writer.delete("/dw")
    wait_for(lambda: seen[-1] == (None, None, EventType.DELETED), "DataWatch sees the delete")


def children_watch(zk, writer):
    cond = threading.Condition()
    seen = []

    def on_children(children):
        with cond:
            seen.append(sorted(children))
            cond.notify_all()

    writer.create("/cw")
    zk.ChildrenWatch("/cw", on_children)
    wait_for(lambda: seen and seen[0] == [], "ChildrenWatch initial call with no children")
    writer.create("/cw/a")
    writer.create("/cw/b")
    eph = writer.create("/cw/e-", ephemeral=True, sequence=True)
    wait_for(lambda: seen[-1] == sorted(["a", "b", eph.rsplit("/", 1)[1]]),
             "ChildrenWatch sees three children")
    writer.delete("/cw/a")
    wait_for(lambda: seen[-1] == sorted(["b", eph.rsplit("/", 1)[1]]), "ChildrenWatch sees a child deleted")
    writer.stop()  # closing the session removes its ephemeral child
    wait_for(lambda: seen[-1] == ["b"], "ChildrenWatch sees the ephemeral child vanish with its session")


def main(addr):
    zk = client(addr)
    writer = client(addr)
    one_shot(zk, writer)
    data_watch(zk, writer)
    children_watch(zk, writer)
    zk.stop()


if __name__ == "__main__":
    run(main)

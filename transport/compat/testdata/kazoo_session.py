"""kazoo session handling against a server:

- a connection that drops and comes back within the session timeout keeps
  the session: same session id, its ephemeral node still there, and a watch
  set before the drop fires for a change made while the client was away;
- a session the server stops hearing from expires: its ephemerals vanish,
  and the client sees SUSPENDED, then LOST when it gets through again, then
  CONNECTED with a new session;
- a session closed from another connection (client_id takeover, as
  kazoo's own test harness does it) makes its owner see LOST."""

import threading

from kazoo.client import KazooClient
from kazoo.protocol.states import EventType, KazooState

from compatlib import (FreezableProxy, StateLog, check, client, eq, run,
                       wait_event, wait_for)


def reconnect_keeps_session(addr, observer):
    proxy = FreezableProxy(addr)
    zk = client(proxy.addr, timeout=10.0)
    states = StateLog(zk)
    sid = zk.client_id[0]
    zk.create("/s/eph", b"mine", ephemeral=True, makepath=True)
    observer.create("/s/watched", b"before")
    # kazoo 2.8 drops its one-shot watches when the connection is lost
    # (it calls them with a NONE event) and sends no SetWatches; its
    # DataWatch and ChildrenWatch recipes re-read on reconnect and so see
    # what changed meanwhile. (go-zookeeper's test covers SetWatches.)
    cond = threading.Condition()
    data_seen = []
    kids_seen = []

    def on_data(data, stat):
        with cond:
            data_seen.append(data)

    def on_kids(children):
        with cond:
            kids_seen.append(sorted(children))

    zk.DataWatch("/s/watched", on_data)
    zk.ChildrenWatch("/s", on_kids)
    wait_for(lambda: data_seen == [b"before"] and kids_seen == [["eph", "watched"]],
             "DataWatch and ChildrenWatch initial calls")

    # Hold all traffic, then drop the connection: the client cannot get
    # back in until thawed, so the changes below happen while it is away.
    proxy.freeze()
    proxy.cut()
    states.wait(KazooState.SUSPENDED, "client sees SUSPENDED when the connection drops")
    observer.set("/s/watched", b"while away")
    observer.create("/s/new-child")
    eq(data_seen, [b"before"], "nothing delivered while disconnected")
    proxy.thaw()
    wait_for(lambda: zk.state == KazooState.CONNECTED, "client reconnects")
    eq(zk.client_id[0], sid, "session id after reconnect")
    wait_for(lambda: data_seen[-1] == b"while away", "DataWatch sees the change made while away")
    wait_for(lambda: kids_seen[-1] == ["eph", "new-child", "watched"],
             "ChildrenWatch sees the child created while away")
    st = observer.exists("/s/eph")
    check(st is not None and st.ephemeralOwner == sid, "ephemeral survived the reconnect")
    check(KazooState.LOST not in states.states, "session never LOST on a short drop")
    observer.set("/s/watched", b"after")
    wait_for(lambda: data_seen[-1] == b"after", "DataWatch keeps working after the reconnect")
    zk.stop()
    zk.close()
    proxy.close()


def expiry_is_lost(addr, observer):
    proxy = FreezableProxy(addr)
    # A 1s session: the server (tickTime 100ms) accepts it as asked.
    zk = client(proxy.addr, timeout=1.0)
    states = StateLog(zk)
    old_sid = zk.client_id[0]
    check(zk._session_timeout <= 1000, "negotiated session timeout %dms <= 1000ms" % zk._session_timeout)
    zk.create("/exp/eph", b"x", ephemeral=True, makepath=True)
    gone = threading.Event()

    def on_delete(ev):
        if ev.type == EventType.DELETED:
            gone.set()

    observer.exists("/exp/eph", watch=on_delete)
    proxy.freeze()  # the server stops hearing from the client
    wait_event(gone, "server expires the silent session and deletes its ephemeral", timeout=15)
    states.wait(KazooState.SUSPENDED, "client notices the silence (SUSPENDED)")
    proxy.thaw()
    states.wait(KazooState.LOST, "client sees LOST once it reaches the server again")
    lost_at = states.states.index(KazooState.LOST)
    wait_for(lambda: zk.state == KazooState.CONNECTED and zk.client_id is not None,
             "client connects again with a new session")
    check(zk.client_id[0] != old_sid, "new session id differs from the expired one")
    check(states.states.index(KazooState.SUSPENDED) < lost_at, "SUSPENDED came before LOST")
    eq(zk.exists("/exp/eph"), None, "ephemeral of the expired session is gone")
    zk.create("/exp/after", b"ok")
    eq(observer.get("/exp/after")[0], b"ok", "the client works with its new session")
    zk.stop()
    zk.close()
    proxy.close()


def takeover_close(addr, observer):
    victim = client(addr, timeout=10.0)
    states = StateLog(victim)
    victim.create("/take/eph", ephemeral=True, makepath=True)
    # Attach a second client to the victim's session and close it.
    victim_id = victim.client_id
    thief = KazooClient(hosts=addr, client_id=victim_id, timeout=10.0)
    thief.start(timeout=15)
    eq(thief.client_id[0], victim_id[0], "second client attached to the same session")
    thief.stop()
    wait_for(lambda: observer.exists("/take/eph") is None, "ephemeral gone once the session is closed")
    states.wait(KazooState.LOST, "the session's original client sees LOST")
    victim.stop()
    victim.close()


def main(addr):
    observer = client(addr, timeout=10.0)
    reconnect_keeps_session(addr, observer)
    expiry_is_lost(addr, observer)
    takeover_close(addr, observer)
    observer.stop()


if __name__ == "__main__":
    run(main)

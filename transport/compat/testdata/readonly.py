"""kazoo against a zkx ensemble member that lost its quorum, with
readonlymode.enabled: a read_only client connects, reads, and is refused
writes; the member says "ro" to isro. Usage: readonly.py HOST:PORT"""
import sys

from kazoo.client import KazooClient
from kazoo.exceptions import NotReadOnlyCallError

from compatlib import check, eq, raises, run


def main(addr):
    zk = KazooClient(hosts=addr, read_only=True, timeout=10.0)
    zk.start(timeout=15)
    data, _ = zk.get("/ro")
    eq(data, b"before", "read through a read-only member")
    raises(NotReadOnlyCallError, lambda: zk.create("/ro/new", b"x"), "a write in read-only mode")
    check(zk.command(b"isro").strip() == "ro", "isro says ro")
    zk.stop()
    zk.close()


run(main)

"""Shared helpers for the kazoo compatibility scripts.

Each script is run as `python3 SCRIPT HOST:PORT`. It prints one "ok:" line
per check that passed and exits 0, or prints "FAIL: ..." to stderr and exits
non-zero on the first check that does not hold.
"""

import logging
import os
import socket
import sys
import threading
import time
import traceback

from kazoo.client import KazooClient


class CheckFailed(Exception):
    pass


# Failed value checks are collected and the script goes on, so one run
# reports every difference; a failed wait ends the script at once.
failures = []
_failures_mu = threading.Lock()


def ok(what):
    print("ok: " + what, flush=True)


def fail(what):
    with _failures_mu:
        failures.append(what)
    print("FAIL: " + what, flush=True)


def check(cond, what):
    if not cond:
        fail(what)
        return False
    ok(what)
    return True


def eq(got, want, what):
    if got != want:
        fail("%s: got %r, want %r" % (what, got, want))
        return False
    ok("%s == %r" % (what, want))
    return True


def raises(exc_type, fn, what):
    """Checks that fn() raises exc_type."""
    try:
        fn()
    except exc_type:
        ok("%s raises %s" % (what, exc_type.__name__))
        return True
    except Exception as e:
        fail("%s: raised %s (%s), want %s" % (what, type(e).__name__, e, exc_type.__name__))
        return False
    fail("%s: returned normally, want %s" % (what, exc_type.__name__))
    return False


def wait_for(pred, what, timeout=10.0):
    """Polls pred until it is true or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            ok(what)
            return v
        if time.monotonic() > deadline:
            raise CheckFailed("timed out after %.1fs waiting for: %s" % (timeout, what))
        time.sleep(0.02)


def wait_event(ev, what, timeout=10.0):
    if not ev.wait(timeout):
        raise CheckFailed("timed out after %.1fs waiting for: %s" % (timeout, what))
    ok(what)


def client(addr, timeout=30.0, **kw):
    """A started KazooClient. The long default session keeps kazoo's pings
    (every third of it) on time on a loaded machine; tests that need a
    short session ask for one."""
    c = KazooClient(hosts=addr, timeout=timeout, **kw)
    c.start(timeout=15)
    return c


class StateLog(object):
    """Records a client's connection states in order."""

    def __init__(self, c):
        self.lock = threading.Condition()
        self.states = []
        c.add_listener(self._listen)

    def _listen(self, state):
        with self.lock:
            self.states.append(state)
            self.lock.notify_all()

    def wait(self, state, what, timeout=15.0):
        deadline = time.monotonic() + timeout
        with self.lock:
            while state not in self.states:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise CheckFailed("timed out after %.1fs waiting for %s (states seen: %r)"
                                      % (timeout, what, self.states))
                self.lock.wait(left)
        ok(what)


class FreezableProxy(object):
    """A TCP proxy in front of the server. freeze() stops forwarding bytes
    in both directions without closing anything, so the server stops hearing
    from the client (as if the network dropped every packet); thaw() forwards
    again; cut() closes every proxied connection."""

    def __init__(self, target):
        host, port = target.rsplit(":", 1)
        self.target = (host, int(port))
        self.ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(16)
        self.addr = "127.0.0.1:%d" % self.ls.getsockname()[1]
        self.frozen = threading.Event()
        self.thawed = threading.Event()
        self.thawed.set()
        self.socks = []
        self.mu = threading.Lock()
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.ls.accept()
            except OSError:
                return
            try:
                s = socket.create_connection(self.target)
            except OSError:
                c.close()
                continue
            with self.mu:
                self.socks += [c, s]
            threading.Thread(target=self._pipe, args=(c, s), daemon=True).start()
            threading.Thread(target=self._pipe, args=(s, c), daemon=True).start()

    def _pipe(self, src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                # While frozen, data is held back, never delivered: a
                # black hole that heals when thawed.
                self.thawed.wait()
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def freeze(self):
        self.thawed.clear()

    def thaw(self):
        self.thawed.set()

    def cut(self):
        with self.mu:
            socks, self.socks = self.socks, []
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def close(self):
        self.ls.close()
        self.thaw()
        self.cut()


def run(main):
    """Runs main(addr) and turns the outcome into the exit status."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if len(sys.argv) != 2:
        print("usage: %s HOST:PORT" % sys.argv[0], file=sys.stderr)
        sys.exit(2)
    name = os.path.basename(sys.argv[0])
    try:
        main(sys.argv[1])
    except CheckFailed as e:
        fail(str(e))
    except Exception:
        fail("unexpected exception: " + traceback.format_exc())
    if failures:
        print("%s: %d check(s) failed:" % (name, len(failures)), file=sys.stderr)
        for f in failures:
            print("  - " + f, file=sys.stderr)
        sys.stderr.flush()
        sys.stdout.flush()
        os._exit(1)
    print("PASS: %s" % name, flush=True)
    sys.stdout.flush()
    # Kazoo's threads may linger on clients a failed check left open.
    os._exit(0)

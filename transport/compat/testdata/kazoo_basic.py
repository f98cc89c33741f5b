"""kazoo's basic API against a server: create (ephemeral, sequence,
makepath), get/set with versions, get_children, exists, recursive delete,
transactions, and ACLs with digest authentication."""

from kazoo.exceptions import (BadVersionError, NoAuthError,
                              NoChildrenForEphemeralsError, NodeExistsError,
                              NoNodeError, NotEmptyError, RolledBackError,
                              RuntimeInconsistency)
from kazoo.security import Permissions, make_acl, make_digest_acl

from compatlib import check, client, eq, raises, run


def main(addr):
    zk = client(addr)
    other = client(addr)

    # create, get, exists
    eq(zk.create("/basic", b"root"), "/basic", "create /basic")
    data, st = zk.get("/basic")
    eq(data, b"root", "get /basic data")
    eq(st.version, 0, "new node's version")
    eq(st.data_length, 4, "dataLength")
    eq(st.ephemeralOwner, 0, "persistent node has no ephemeral owner")
    check(st.czxid == st.mzxid and st.czxid > 0, "czxid == mzxid > 0 on a new node")
    raises(NodeExistsError, lambda: zk.create("/basic"), "create of an existing node")
    raises(NoNodeError, lambda: zk.create("/missing/child"), "create under a missing parent")
    eq(zk.exists("/nothing-here"), None, "exists on a missing node")
    check(zk.exists("/basic") is not None, "exists on /basic")

    # makepath
    eq(zk.create("/basic/a/b/c", b"deep", makepath=True), "/basic/a/b/c", "create with makepath")
    eq(zk.get("/basic/a/b")[0], b"", "intermediate node made by makepath is empty")
    zk.ensure_path("/basic/a/b/c")
    zk.ensure_path("/basic/x/y")
    check(zk.exists("/basic/x/y") is not None, "ensure_path creates the whole path")

    # create with include_data returns the stat (create2)
    p, st2 = zk.create("/basic/withstat", b"12345", include_data=True)
    eq(p, "/basic/withstat", "create(include_data) path")
    eq(st2.data_length, 5, "create(include_data) stat dataLength")

    # sequence nodes: 10 digits, from the parent's cversion
    zk.create("/basic/seq")
    seqs = [zk.create("/basic/seq/n-", b"", sequence=True) for _ in range(3)]
    eq(seqs, ["/basic/seq/n-0000000000", "/basic/seq/n-0000000001",
              "/basic/seq/n-0000000002"], "sequential node names")
    zk.create("/basic/seq/plain")
    eq(zk.create("/basic/seq/n-", sequence=True), "/basic/seq/n-0000000004",
       "sequence counts every child created (cversion)")
    zk.delete("/basic/seq/n-0000000000")
    eq(zk.create("/basic/seq/n-", sequence=True), "/basic/seq/n-0000000005",
       "a delete does not advance the sequence (cversion counts creates here)")

    # ephemeral nodes
    eph = zk.create("/basic/eph", b"e", ephemeral=True)
    eq(zk.exists(eph).ephemeralOwner, zk.client_id[0], "ephemeral owner is the session id")
    raises(NoChildrenForEphemeralsError, lambda: zk.create("/basic/eph/kid"),
           "create under an ephemeral")
    eseq = zk.create("/basic/eph-seq-", ephemeral=True, sequence=True)
    check(eseq.startswith("/basic/eph-seq-") and len(eseq) == len("/basic/eph-seq-") + 10,
          "ephemeral sequential name %s" % eseq)
    o_eph = other.create("/basic/other-eph", ephemeral=True)
    other.stop()
    other.close()
    eq(zk.exists(o_eph), None, "ephemeral node gone once its session is closed")

    # set with versions
    st = zk.set("/basic", b"v1")
    eq(st.version, 1, "version after set")
    st = zk.set("/basic", b"v2", version=1)
    eq(st.version, 2, "version after conditional set")
    raises(BadVersionError, lambda: zk.set("/basic", b"x", version=1), "set with a stale version")
    eq(zk.get("/basic")[0], b"v2", "data after a failed set")
    raises(NoNodeError, lambda: zk.set("/nope", b"x"), "set on a missing node")

    # children
    eq(sorted(zk.get_children("/basic")),
       sorted(["a", "x", "withstat", "seq", "eph", eseq.rsplit("/", 1)[1]]),
       "get_children /basic")
    kids, st = zk.get_children("/basic/seq", include_data=True)
    eq(st.numChildren, len(kids), "get_children(include_data) numChildren")
    # ZooKeeper reports cversion as the number of child creations plus
    # deletions (DataNode.copyStat), while sequence numbers count creations.
    eq(st.cversion, 7, "cversion after 6 creates and 1 delete")
    raises(NoNodeError, lambda: zk.get_children("/nope"), "get_children on a missing node")

    # delete
    raises(NotEmptyError, lambda: zk.delete("/basic/a"), "delete of a node with children")
    raises(BadVersionError, lambda: zk.delete("/basic/withstat", version=3), "delete with a wrong version")
    zk.delete("/basic/withstat", version=0)
    eq(zk.exists("/basic/withstat"), None, "deleted with the right version")
    zk.delete("/basic/a", recursive=True)
    eq(zk.exists("/basic/a"), None, "recursive delete removed the subtree")
    raises(NoNodeError, lambda: zk.delete("/basic/a"), "delete of a missing node")

    # transactions (multi)
    zk.create("/basic/tx")
    t = zk.transaction()
    t.create("/basic/tx/one", b"1")
    t.create("/basic/tx/two", b"2")
    t.set_data("/basic/tx", b"txdata")
    t.check("/basic/tx/one", 0)
    t.delete("/basic/tx/two")
    res = t.commit()
    eq(res[0], "/basic/tx/one", "transaction create result")
    eq(res[1], "/basic/tx/two", "second create result")
    eq(res[2].version, 1, "transaction set_data result stat")
    eq(res[3], True, "transaction check result")
    eq(res[4], True, "transaction delete result")
    eq(zk.get_children("/basic/tx"), ["one"], "children after the transaction")
    eq(zk.get("/basic/tx")[0], b"txdata", "data after the transaction")

    t = zk.transaction()
    t.create("/basic/tx/three")
    t.set_data("/basic/tx/one", b"x", version=7)
    t.create("/basic/tx/four")
    res = t.commit()
    check(isinstance(res[0], RolledBackError), "first op of a failed transaction rolled back: %r" % (res[0],))
    check(isinstance(res[1], BadVersionError), "failing op reports BadVersion: %r" % (res[1],))
    check(isinstance(res[2], RuntimeInconsistency), "op after the failure reports RuntimeInconsistency: %r" % (res[2],))
    eq(zk.exists("/basic/tx/three"), None, "failed transaction left nothing behind")
    eq(zk.get("/basic/tx/one")[0], b"1", "failed transaction changed no data")

    # ACLs and digest auth
    acl = make_digest_acl("alice", "secret", all=True)
    zk.create("/basic/secure", b"hidden", acl=[acl])
    anon = client(addr)
    raises(NoAuthError, lambda: anon.get("/basic/secure"), "get without auth")
    raises(NoAuthError, lambda: anon.set("/basic/secure", b"x"), "set without auth")
    anon.add_auth("digest", "alice:wrong")
    raises(NoAuthError, lambda: anon.get("/basic/secure"), "get with a wrong password")
    alice = client(addr)
    alice.add_auth("digest", "alice:secret")
    eq(alice.get("/basic/secure")[0], b"hidden", "get with the right digest auth")
    acls, st = alice.get_acls("/basic/secure")
    eq(len(acls), 1, "one ACL entry")
    eq((acls[0].id.scheme, acls[0].id.id, acls[0].perms),
       (acl.id.scheme, acl.id.id, Permissions.ALL), "get_acls returns the digest ACL")
    # set_acls with a version
    readonly = make_acl("world", "anyone", read=True)
    st = alice.set_acls("/basic/secure", [acl, readonly], version=0)
    eq(st.aversion, 1, "aversion after set_acls")
    raises(BadVersionError, lambda: alice.set_acls("/basic/secure", [acl], version=0),
           "set_acls with a stale version")
    eq(anon.get("/basic/secure")[0], b"hidden", "world:anyone:r now lets anyone read")
    raises(NoAuthError, lambda: anon.set("/basic/secure", b"x"), "but not write")
    raises(NoAuthError, lambda: anon.set_acls("/basic/secure", [readonly]),
           "set_acls without ADMIN")
    anon.stop()
    alice.stop()
    zk.delete("/basic", recursive=True)
    eq(zk.exists("/basic"), None, "cleanup")
    zk.stop()


if __name__ == "__main__":
    run(main)

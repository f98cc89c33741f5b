// rwlock: a fair readers-writer lock. Readers share the lock, a writer holds
// it alone; requests are served in arrival order (a reader waits for the
// writers that asked before it).
//
// acquireRead  {path, timeout_ms?} -> {acquired, node, token}
// acquireWrite {path, timeout_ms?} -> {acquired, node, token}
//   (both: {acquired: false, timedOut: true} if timeout_ms passes first)
// release      {path}              -> {released: true}   (all of this session's holds)

function acquire(args, prefix) {
  var dir = need(args, "path");
  var kids = listing(dir);
  var me = enqueue(dir, kids, prefix);
  if (me === null) return gaveUp({ acquired: false });
  // A reader waits for the last writer ahead; a writer for anyone ahead.
  var blocker = ahead(kids, me, prefix === "write-" ? ["read-", "write-"] : ["write-"]).last;
  if (blocker === null) return grant(dir, me);
  if (zk.timedOut()) {
    zk.delete(dir + "/" + me);
    return gaveUp({ acquired: false });
  }
  zk.wait(dir + "/" + blocker);
}

exports.acquireRead = function (args) { return acquire(args, "read-"); };
exports.acquireWrite = function (args) { return acquire(args, "write-"); };

exports.release = function (args) {
  var dir = need(args, "path");
  if (!releaseAll(dir, ["read-", "write-"])) zk.fail(zk.RecipeFailed, "this session holds nothing at " + dir);
  return { released: true };
};

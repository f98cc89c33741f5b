// lock: a fair (FIFO) mutual-exclusion lock. One ephemeral sequential node
// per holder or waiter under args.path; the lowest holds the lock. A holder
// whose session ends loses the lock to the next waiter.
//
// acquire {path, timeout_ms?} -> {acquired: true, node, token}   (waits until held;
//                                 {acquired: false, timedOut: true} if timeout_ms passes)
// release {path}              -> {released: true}
// holder  {path}              -> {session, node, token} or null
// Calling acquire again while holding returns the same grant.

exports.acquire = function (args) {
  var dir = need(args, "path");
  var kids = listing(dir);
  var me = enqueue(dir, kids, "lock-");
  if (me === null) return gaveUp({ acquired: false });
  var prev = ahead(kids, me, ["lock-"]).last;
  if (prev === null) return grant(dir, me);
  if (zk.timedOut()) {
    zk.delete(dir + "/" + me);
    return gaveUp({ acquired: false });
  }
  zk.wait(dir + "/" + prev); // only the node just ahead: no herd
};

exports.release = function (args) {
  var dir = need(args, "path");
  if (!releaseAll(dir, ["lock-"])) zk.fail(zk.RecipeFailed, "this session does not hold or wait for " + dir);
  return { released: true };
};

exports.holder = function (args) {
  var dir = need(args, "path");
  var kids = zk.children(dir);
  var h = kids && first(kids, "lock-");
  if (!h) return null;
  return { session: sessionOf(h, "lock-"), node: dir + "/" + h, token: zk.exists(dir + "/" + h).czxid };
};

// semaphore: N permits under args.path, granted in arrival order. The
// number of permits is fixed by the first acquire (stored in the node).
//
// acquire {path, permits, timeout_ms?} -> {acquired, node, token}
//                                         ({acquired: false, timedOut: true} if timeout_ms passes)
// release {path}                       -> {released: true}
// holders {path}                       -> {permits, holders: [session, ...]}

var isPermit = prefixed("permit-");

exports.acquire = function (args) {
  var dir = need(args, "path");
  var permits = need(args, "permits");
  if (typeof permits !== "number" || permits < 1 || permits !== Math.floor(permits)) {
    zk.fail(zk.BadArguments, "permits must be a positive integer");
  }
  var kids = listing(dir);
  var node = zk.get(dir);
  if (node.data === "") {
    zk.set(dir, String(permits));
  } else if (parseInt(node.data, 10) !== permits) {
    zk.fail(zk.BadArguments, dir + " is a semaphore of " + node.data + " permits, not " + permits);
  }
  var me = enqueue(dir, kids, "permit-");
  if (me === null) return gaveUp({ acquired: false });
  if (ahead(kids, me, ["permit-"]).count < permits) return grant(dir, me);
  if (zk.timedOut()) {
    zk.delete(dir + "/" + me);
    return gaveUp({ acquired: false });
  }
  zk.wait(dir); // any release may let this waiter in
};

exports.release = function (args) {
  var dir = need(args, "path");
  if (!releaseAll(dir, ["permit-"])) zk.fail(zk.RecipeFailed, "this session holds no permit of " + dir);
  return { released: true };
};

exports.holders = function (args) {
  var dir = need(args, "path");
  var node = zk.get(dir);
  if (!node) return { permits: 0, holders: [] };
  var permits = parseInt(node.data, 10) || 0;
  var all = zk.children(dir).filter(isPermit).sort(function (a, b) { return seqOf(a) < seqOf(b) ? -1 : 1; });
  return {
    permits: permits,
    holders: all.slice(0, permits).map(function (n) { return sessionOf(n, "permit-"); })
  };
};

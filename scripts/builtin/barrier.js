// barrier: a gate that holds callers back while it is set. The barrier is
// the node args.path; set creates it, remove deletes it, and wait returns
// once it does not exist.
//
// set    {path}              -> {set: true}      (idempotent)
// wait   {path, timeout_ms?} -> {passed: true}   (waits while the barrier is set;
//                                {passed: false, timedOut: true} if timeout_ms passes)
// remove {path}              -> {removed: true}  (idempotent)

exports.set = function (args) {
  var dir = need(args, "path");
  ensure(dir);
  return { set: true };
};

exports.wait = function (args) {
  var dir = need(args, "path");
  if (!zk.exists(dir)) return { passed: true };
  if (zk.timedOut()) return gaveUp({ passed: false });
  zk.wait(dir);
};

exports.remove = function (args) {
  var dir = need(args, "path");
  if (zk.exists(dir)) {
    var kids = zk.children(dir);
    if (kids.length > 0) {
      zk.fail(zk.NotEmpty, "barrier " + dir + " has children; it is not a barrier node");
    }
    zk.delete(dir);
  }
  return { removed: true };
};

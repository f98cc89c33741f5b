// double_barrier: N processes enter together and leave together. Each
// participant is an ephemeral node under args.path; the participant that
// makes the count reach N also creates args.path/ready, which lets everyone
// in (late readers of the count cannot miss it). leave waits until every
// participant has left; the last one removes ready for the next round.
//
// enter {path, count, id?, timeout_ms?} -> {entered: true, participants}
// leave {path, timeout_ms?}             -> {left: true}
// If timeout_ms passes first: {entered: false, timedOut: true} (the caller
// is no longer counted) or {left: false, remaining, timedOut: true}.

var isParticipant = prefixed("p-");

function participants(dir) {
  return (zk.children(dir) || []).filter(isParticipant);
}

exports.enter = function (args) {
  var dir = need(args, "path");
  var count = need(args, "count");
  if (typeof count !== "number" || count < 1 || count !== Math.floor(count)) {
    zk.fail(zk.BadArguments, "count must be a positive integer");
  }
  var kids = listing(dir);
  var me = enqueue(dir, kids, "p-", args.id === undefined ? "" : String(args.id));
  if (me === null) return gaveUp({ entered: false });
  var n = kids.filter(isParticipant).length;
  var ready = kids.indexOf("ready") >= 0;
  if (!ready && n >= count) {
    zk.create(dir + "/ready", String(count));
    ready = true;
  }
  if (ready) return { entered: true, participants: n };
  if (zk.timedOut()) {
    zk.delete(dir + "/" + me);
    return gaveUp({ entered: false, participants: n - 1 });
  }
  zk.wait(dir + "/ready");
};

exports.leave = function (args) {
  var dir = need(args, "path");
  if (zk.children(dir) === null) return { left: true };
  releaseAll(dir, ["p-"]);
  var left = participants(dir).length;
  if (left === 0) {
    if (zk.exists(dir + "/ready")) zk.delete(dir + "/ready");
    return { left: true };
  }
  if (zk.timedOut()) return gaveUp({ left: false, remaining: left });
  zk.wait(dir);
};

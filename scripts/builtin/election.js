// election: leader election. Candidates line up as ephemeral sequential
// nodes; the first is the leader. When the leader resigns or its session
// ends, the next candidate becomes leader.
//
// campaign {path, id?, timeout_ms?} -> {leader: true, node, token}   (waits until elected;
//                                    {leader: false, timedOut: true} if timeout_ms passes)
// resign   {path}                   -> {resigned: true}
// leader   {path}                   -> {id, session, node, token} or null

exports.campaign = function (args) {
  var dir = need(args, "path");
  var kids = listing(dir);
  var me = enqueue(dir, kids, "candidate-", args.id === undefined ? "" : String(args.id));
  if (me === null) return gaveUp({ leader: false });
  var prev = ahead(kids, me, ["candidate-"]).last;
  if (prev === null) return grant(dir, me, { leader: true });
  if (zk.timedOut()) {
    zk.delete(dir + "/" + me);
    return gaveUp({ leader: false });
  }
  zk.wait(dir + "/" + prev);
};

exports.resign = function (args) {
  var dir = need(args, "path");
  if (!releaseAll(dir, ["candidate-"])) zk.fail(zk.RecipeFailed, "this session is not a candidate at " + dir);
  return { resigned: true };
};

exports.leader = function (args) {
  var dir = need(args, "path");
  var kids = zk.children(dir);
  var l = kids && first(kids, "candidate-");
  if (!l) return null;
  var n = zk.get(dir + "/" + l);
  return { id: n.data, session: sessionOf(l, "candidate-"), node: dir + "/" + l, token: n.stat.czxid };
};

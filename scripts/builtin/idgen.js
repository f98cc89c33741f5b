// idgen: unique, increasing ids from args.path. The node's data is the last
// id handed out; next reserves count ids in one atomic step. Ids are never
// reused, also across restarts and leader changes (the reservation is a
// committed write).
//
// next {path, count?=1} -> {id, last}   (ids id..last, last = id + count - 1)

exports.next = function (args) {
  var dir = need(args, "path");
  var count = args.count === undefined ? 1 : args.count;
  if (typeof count !== "number" || count < 1 || count > 1000000 || count !== Math.floor(count)) {
    zk.fail(zk.BadArguments, "count must be an integer from 1 to 1000000");
  }
  ensure(dir);
  var n = zk.get(dir);
  var last = n.data === "" ? 0 : Number(n.data);
  if (!Number.isSafeInteger(last)) zk.fail(zk.BadArguments, dir + " does not hold an id: " + n.data);
  var next = last + count;
  if (!Number.isSafeInteger(next)) zk.fail(zk.RecipeFailed, "ids at " + dir + " are exhausted");
  zk.set(dir, String(next), n.stat.version);
  return { id: last + 1, last: next };
};

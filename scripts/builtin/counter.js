// counter: an integer in the data of args.path, as decimal text (the
// format kazoo's Counter uses). add is atomic: concurrent adds never lose an
// update, and each caller gets the value its own add produced.
//
// add {path, delta?=1} -> {value}   (creates the counter at 0 first)
// get {path}           -> {value}   (0 if it does not exist)

function current(dir) {
  var n = zk.get(dir);
  if (!n || n.data === "") return 0;
  var v = Number(n.data);
  if (!isFinite(v) || v !== Math.floor(v)) zk.fail(zk.BadArguments, dir + " does not hold an integer: " + n.data);
  return v;
}

exports.add = function (args) {
  var dir = need(args, "path");
  var delta = args.delta === undefined ? 1 : args.delta;
  if (typeof delta !== "number" || delta !== Math.floor(delta)) zk.fail(zk.BadArguments, "delta must be an integer");
  ensure(dir);
  var v = current(dir) + delta;
  if (!Number.isSafeInteger(v)) zk.fail(zk.BadArguments, "counter " + dir + " would leave the range of exact integers");
  zk.set(dir, String(v));
  return { value: v };
};

exports.get = function (args) {
  return { value: current(need(args, "path")) };
};

// config: a configuration value in the data of args.path, changed with
// compare-and-set on its version so that concurrent editors cannot
// overwrite each other unseen.
//
// get   {path}                        -> {value, version} or null
// cas   {path, value, version}        -> {version}   (version -1: only if absent)
// watch {path, version, timeout_ms?}  -> {value, version} or null
//        (waits until the version differs from the one given; if timeout_ms
//        passes first, the unchanged value with timedOut: true)

function read(dir) {
  var n = zk.get(dir);
  if (!n) return null;
  return { value: n.data, version: n.stat.version };
}

exports.get = function (args) { return read(need(args, "path")); };

exports.cas = function (args) {
  var dir = need(args, "path");
  if (args.value === undefined || args.value === null) zk.fail(zk.BadArguments, "missing argument \"value\"");
  if (typeof args.version !== "number") zk.fail(zk.BadArguments, "missing argument \"version\" (-1 to create)");
  var value = String(args.value);
  var cur = zk.exists(dir);
  if (args.version === -1) {
    if (cur) zk.fail(zk.NodeExists, dir + " exists (version " + cur.version + ")");
    var i = dir.lastIndexOf("/");
    if (i > 0) ensure(dir.substring(0, i));
    zk.create(dir, value);
    return { version: 0 };
  }
  if (!cur) zk.fail(zk.NoNode, dir + " does not exist");
  return { version: zk.set(dir, value, args.version).version };
};

exports.watch = function (args) {
  var dir = need(args, "path");
  var cur = read(dir);
  var seen = args.version === undefined ? null : args.version;
  if (cur === null ? seen !== null && seen !== -1 : cur.version !== seen) return cur;
  if (zk.timedOut()) return gaveUp(cur === null ? { value: null, version: -1 } : cur);
  zk.wait(dir);
};

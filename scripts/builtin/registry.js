// registry: service discovery. Each instance of a service is an ephemeral
// node args.path/<id> holding its data (an address, a JSON description); it
// disappears when its session ends.
//
// register   {path, id, data?}         -> {node}   (again by the same session: updates the data)
// deregister {path, id}                -> {removed}
// list       {path}                    -> {version, instances: [{id, data, session}]}
// watch      {path, version?, timeout_ms?} -> like list, once version differs from
//             the one given (waits while it is the same; if timeout_ms passes
//             first, the unchanged list with timedOut: true)
//
// version changes whenever an instance comes, goes or changes its data.

exports.register = function (args) {
  var dir = need(args, "path");
  var id = String(need(args, "id"));
  if (id.indexOf("/") >= 0) zk.fail(zk.BadArguments, "id may not contain '/'");
  var data = args.data === undefined || args.data === null ? "" : String(args.data);
  ensure(dir);
  var node = dir + "/" + id;
  var st = zk.exists(node);
  if (st) {
    if (st.ephemeralOwner !== zk.session()) {
      zk.fail(zk.NodeExists, "instance " + id + " of " + dir + " is registered by session 0x" + st.ephemeralOwner);
    }
    zk.set(node, data);
    return { node: node };
  }
  return { node: zk.create(node, data, { ephemeral: true }) };
};

exports.deregister = function (args) {
  var dir = need(args, "path");
  var node = dir + "/" + String(need(args, "id"));
  var st = zk.exists(node);
  if (!st) return { removed: false };
  if (st.ephemeralOwner !== zk.session()) zk.fail(zk.NoAuth, node + " belongs to another session");
  zk.delete(node);
  return { removed: true };
};

// list reads every instance; version is the highest zxid among the
// directory's last child change and the instances' last data changes.
function list(dir) {
  var st = zk.exists(dir);
  if (!st) return { version: 0, instances: [], paths: [dir] };
  var version = st.pzxid;
  var out = [];
  var paths = [dir];
  var kids = zk.children(dir);
  for (var i = 0; i < kids.length; i++) {
    var n = zk.get(dir + "/" + kids[i]);
    if (n.stat.mzxid > version) version = n.stat.mzxid;
    out.push({ id: kids[i], data: n.data, session: n.stat.ephemeralOwner });
    paths.push(dir + "/" + kids[i]);
  }
  return { version: version, instances: out, paths: paths };
}

exports.list = function (args) {
  var l = list(need(args, "path"));
  return { version: l.version, instances: l.instances };
};

exports.watch = function (args) {
  var dir = need(args, "path");
  var l = list(dir);
  if (args.version === undefined || l.version !== args.version) {
    return { version: l.version, instances: l.instances };
  }
  if (zk.timedOut()) return gaveUp({ version: l.version, instances: l.instances });
  zk.wait.apply(zk, l.paths);
};

// priority_queue: like queue, but take returns the item with the lowest
// priority number first (0 is the most urgent), FIFO among equal
// priorities. Items are persistent sequential nodes named
// item-<priority, 10 digits>-<sequence>, so name order is take order.
//
// put  {path, data, priority?=0}  -> {node}      (0 <= priority <= 2147483647)
// take {path, timeout_ms?}        -> {data, node, priority}   (waits while empty;
//                                   null if timeout_ms passes first)
// poll {path}                     -> {data, node, priority} or null
// peek {path}                     -> {data, node, priority} or null
// size {path}                     -> {size}

function pad(n) {
  var s = String(n);
  while (s.length < 10) s = "0" + s;
  return s;
}

exports.put = function (args) {
  var dir = need(args, "path");
  if (args.data === undefined || args.data === null) zk.fail(zk.BadArguments, "missing argument \"data\"");
  var p = args.priority === undefined ? 0 : args.priority;
  if (typeof p !== "number" || p < 0 || p > 2147483647 || p !== Math.floor(p)) {
    zk.fail(zk.BadArguments, "priority must be an integer from 0 to 2147483647");
  }
  ensure(dir);
  return { node: zk.create(dir + "/item-" + pad(p) + "-", String(args.data), { sequential: true }) };
};

function head(dir) {
  var kids = zk.children(dir);
  if (!kids || kids.length === 0) return null;
  var top = kids[0]; // the listing is sorted: priority, then sequence
  return {
    data: zk.get(dir + "/" + top).data,
    node: dir + "/" + top,
    priority: parseInt(top.substring(5, 15), 10)
  };
}

queueFunctions(exports, head);

// queue: a FIFO queue of strings under args.path. Each item is a persistent
// sequential node; take removes the head in the same atomic step that reads
// it, so every item is taken exactly once.
//
// put  {path, data}              -> {node}
// take {path, timeout_ms?}       -> {data, node}   (waits while the queue is empty;
//                                  null if timeout_ms passes first)
// poll {path}                    -> {data, node} or null   (take without waiting)
// peek {path}                    -> {data, node} or null
// size {path}                    -> {size}

exports.put = function (args) {
  var dir = need(args, "path");
  if (args.data === undefined || args.data === null) zk.fail(zk.BadArguments, "missing argument \"data\"");
  ensure(dir);
  return { node: zk.create(dir + "/item-", String(args.data), { sequential: true }) };
};

function head(dir) {
  var kids = zk.children(dir);
  if (!kids || kids.length === 0) return null;
  // Items are all item-<sequence>: the sorted listing is queue order.
  var top = kids[0];
  return { data: zk.get(dir + "/" + top).data, node: dir + "/" + top };
}

queueFunctions(exports, head);

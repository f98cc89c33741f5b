// Shared helpers, prepended to every builtin recipe. A recipe function runs
// atomically inside the server; zk.wait() ends a run, and the server runs
// the function again from the top when a waited path changes, so every
// function first looks at the state, then acts.
//
// Waiters are ephemeral sequential nodes named <prefix><session>-<sequence>
// (lock-0x1000000a2b3c4d5-0000000042): a run finds the caller's own node and
// the order of all of them from the names alone, without reading each
// node. The sequence is fixed-width, so names order by comparing the last
// ten characters.

function need(args, field) {
  if (!args || args[field] === undefined || args[field] === null || args[field] === "") {
    zk.fail(zk.BadArguments, "missing argument \"" + field + "\"");
  }
  return args[field];
}

// ensure creates path and any missing parents as persistent nodes.
function ensure(path) {
  if (zk.exists(path)) return;
  var i = path.lastIndexOf("/");
  if (i > 0) ensure(path.substring(0, i));
  try {
    zk.create(path, "");
  } catch (e) {
    if (e.code !== zk.NodeExists) throw e;
  }
}

// listing returns dir's children, creating dir (and its parents) first if
// it does not exist.
function listing(dir) {
  var kids = zk.children(dir);
  if (kids !== null) return kids;
  ensure(dir);
  return [];
}

function seqOf(name) {
  return name.slice(-10);
}

// own is the name prefix of the caller's waiter nodes.
function own(prefix) {
  return prefix + zk.session() + "-";
}

// mineAmong returns the caller's nodes among names (any of prefixes), in
// sequence order.
function mineAmong(names, prefixes) {
  var owns = prefixes.map(own), out = [];
  for (var i = 0; i < names.length; i++) {
    for (var j = 0; j < owns.length; j++) {
      if (names[i].lastIndexOf(owns[j], 0) === 0) out.push(names[i]);
    }
  }
  if (out.length > 1) out.sort(function (a, b) { return seqOf(a) < seqOf(b) ? -1 : 1; });
  return out;
}

// enqueue returns the caller's waiter node under dir (with prefix),
// creating it if there is none. It returns null instead of creating one in
// a run that timed out.
function enqueue(dir, kids, prefix, data) {
  var mine = own(prefix);
  for (var i = 0; i < kids.length; i++) {
    if (kids[i].lastIndexOf(mine, 0) === 0) return kids[i]; // one per session
  }
  if (zk.timedOut()) return null;
  var name = zk.create(dir + "/" + mine, data || "", { ephemeral: true, sequential: true });
  name = name.substring(dir.length + 1);
  kids.push(name);
  return name;
}

// ahead scans the waiters in front of me (those with a lower sequence
// whose name starts with one of prefixes): how many, and the last of them
// (or null).
function ahead(kids, me, prefixes) {
  var s = seqOf(me), n = 0, last = null, lastSeq = "";
  for (var i = 0; i < kids.length; i++) {
    var k = kids[i];
    var ks = k.slice(-10);
    if (ks >= s) continue;
    for (var j = 0; j < prefixes.length; j++) {
      if (k.lastIndexOf(prefixes[j], 0) === 0) {
        n++;
        if (ks > lastSeq) {
          last = k;
          lastSeq = ks;
        }
        break;
      }
    }
  }
  return { count: n, last: last };
}

// first returns the waiter with the lowest sequence whose name starts with
// prefix.
function first(kids, prefix) {
  var best = null, bestSeq = null;
  for (var i = 0; i < kids.length; i++) {
    if (kids[i].lastIndexOf(prefix, 0) !== 0) continue;
    var ks = kids[i].slice(-10);
    if (best === null || ks < bestSeq) {
      best = kids[i];
      bestSeq = ks;
    }
  }
  return best;
}

function prefixed(prefix) {
  return function (name) { return name.lastIndexOf(prefix, 0) === 0; };
}

// sessionOf is the session in a waiter's name.
function sessionOf(name, prefix) {
  return name.substring(prefix.length, name.length - 11);
}

// grant is what a recipe returns to the holder of something: the node that
// stands for it and a fencing token (the node's creation zxid, which grows
// with every grant).
function grant(dir, name, extra) {
  var st = zk.exists(dir + "/" + name);
  var g = { acquired: true, node: dir + "/" + name, token: st.czxid };
  for (var k in extra || {}) g[k] = extra[k];
  return g;
}

// releaseAll deletes the caller's waiter nodes under dir (any of
// prefixes) and reports whether there were any.
function releaseAll(dir, prefixes) {
  var kids = zk.children(dir);
  var mine = kids === null ? [] : mineAmong(kids, prefixes);
  for (var i = 0; i < mine.length; i++) zk.delete(dir + "/" + mine[i]);
  return mine.length > 0;
}

// gaveUp is what a waiting function returns when the call's timeout_ms
// passed first: its usual result, negative, marked timedOut: true. (It is a
// result, not an error, so that the cleanup before it, such as removing
// the caller's place in a lock's queue, takes effect.)
function gaveUp(result) {
  result.timedOut = true;
  return result;
}

// queueFunctions adds take, poll, peek and size to a queue recipe's exports,
// given head(dir): the item to take next ({data, node, ...}) or null. take
// removes the head in the same atomic step that reads it, so every item is
// taken exactly once; on an empty queue it waits (null once timed out).
function queueFunctions(exports, head) {
  function takeHead(dir) {
    var h = head(dir);
    if (h) zk.delete(h.node);
    return h;
  }
  exports.take = function (args) {
    var dir = need(args, "path");
    var h = takeHead(dir);
    if (h) return h;
    if (zk.timedOut()) return null;
    zk.wait(dir);
  };
  exports.poll = function (args) { return takeHead(need(args, "path")); };
  exports.peek = function (args) { return head(need(args, "path")); };
  exports.size = function (args) {
    var kids = zk.children(need(args, "path"));
    return { size: kids ? kids.length : 0 };
  };
}

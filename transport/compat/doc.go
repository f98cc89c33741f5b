// Package compat holds no code, only tests: they show that stock
// third-party ZooKeeper clients work against zkx unchanged.
//
// Every test starts an in-process zkx node (transport/zkxtest) and talks to
// it with a real client, never a mock:
//
//   - kazoo (Debian python3-kazoo, run with /usr/bin/python3): the scripts
//     in testdata/kazoo_*.py, one Go subtest each, cover kazoo's API,
//     watches, session loss and its Lock, Election, Counter, Queue,
//     LockingQueue, Barrier and DoubleBarrier recipes;
//   - zkCli.sh (Debian zookeeper): one batch of commands piped to its
//     stdin, plus one command given on its command line, checked against
//     the text ZooKeeper 3.8 prints;
//   - go-zookeeper (github.com/go-zookeeper/zk): every operation it offers,
//     watches of each type, session expiry, and re-attaching a session
//     through a TCP proxy the test can cut;
//   - raw sockets: four-letter words and their whitelist, and malformed
//     frames, which must close only the connection that sent them.
//
// A missing python3-kazoo, java or zkCli.sh fails the tests that need it
// (CI installs them); nothing is skipped. A test that fails because zkx
// answers differently from ZooKeeper 3.8 is a bug report against zkx: the
// test states what ZooKeeper does.
//
// The expectations were checked against Apache ZooKeeper 3.8 itself. To do
// that again, start one (tickTime=100, 4lw.commands.whitelist=*, and the
// system properties zookeeper.extendedTypesEnabled=true and
// znode.container.checkIntervalMs=100) and name it in ZKX_COMPAT_SERVER:
// the go-zookeeper, zkCli, four-letter-word and malformed-input tests then
// use it instead of zkx (except those that need a node option), and the
// kazoo scripts take its address directly:
//
//	ZKX_COMPAT_SERVER=127.0.0.1:2181 go test -run 'GoZK|ZkCli|FourLetterWords|Malformed|Oversized' ./transport/compat
//	cd transport/compat/testdata && python3 -B kazoo_lock.py 127.0.0.1:2181
//
// The zkCli script uses fixed top-level paths: give it a fresh server.
package compat

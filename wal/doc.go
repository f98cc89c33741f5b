// Package wal makes zkx durable: a segmented, zstd-compressed write-ahead log
// of txns, fuzzy snapshots of the tree, crash recovery and purging.
//
// # What a caller does, in order
//
//  1. Open(dir) recovers: it finds the newest valid snapshot, reads every log
//     record after it, truncates a torn tail (logging it), and stops with a
//     *CorruptionError naming the file and offset if anything else is wrong.
//     The caller loads the snapshot and applies Recovery.Txns in order.
//  2. Log.Append(batch) writes one record holding the whole batch and fsyncs
//     it (group commit). Only after Append returns may the batch be applied
//     and acknowledged. Append never leaves a partial record behind as valid:
//     a crash mid-write is a torn tail that the next Open truncates.
//  3. Log.Snapshot(fn) takes a snapshot in the background: fn writes the tree
//     (in chunks, while writes go on) and the file is made durable by write,
//     fsync, rename, directory fsync. Recovery replays the log from the
//     snapshot's starting zxid; replay is idempotent, so the snapshot may be
//     fuzzy (include some changes made while it was written).
//  4. Purge keeps the newest N snapshots and the log segments they need.
//
// # Files (in the log directory)
//
//	log-<first zxid, 16 hex>.wal     a log segment
//	snap-<zxid, 16 hex>.snap         a snapshot taken from zxid on
//	*.tmp                            a snapshot being written (ignored, removed)
//
// # Log segment format (all integers little-endian; part of the format)
//
//	segment = header record* zero-fill
//	header  = magic "ZKXWAL\x00\x01" (8)  version u32 (=1)  flags u32
//	          first-zxid u64  header-crc u32 (CRC-32C of the 24 bytes before)
//	record  = length u32  crc u32  payload[length]
//	          crc = CRC-32C over the length's 4 bytes, then the payload
//	payload = kind u8  body
//	kind 1, batch: first-zxid u64  count u32  raw-length u32  compressed[...]
//	          compressed = the next blocks of the segment's single zstd
//	          stream (flushed at the end of every record), which decode to
//	          raw-length bytes: count txns, each as core/txn.Marshal writes
//	          it, back to back.
//
// A zero length marks the preallocated, never-written tail of a segment.
// Because the zstd stream spans the segment, a record can only be decoded
// after the ones before it: recovery reads segments from their start. A new
// segment (and stream) begins when a segment passes its size limit and after
// every recovery, so a truncated tail is never appended to.
//
// # Snapshot format
//
//	snapshot = header zstd-frame trailer
//	header   = magic "ZKXSNP\x00\x01" (8)  version u32  flags u32  zxid u64
//	           header-crc u32
//	frame    = one zstd frame of: sessions, ACL table, nodes (see core/tree
//	           WriteSnapshot), written by the caller's function
//	trailer  = magic "ZKXEND\x00\x01" (8)  nodes u64  digest u64
//	           body-crc u32 (CRC-32C of the compressed frame)  trailer-crc u32
//
// A snapshot without a valid trailer is incomplete (ignored if an older one
// exists); one with a bad body CRC is corrupt.
//
// Changing any of the above is a format change: bump the version, and keep
// reading the old one.
package wal

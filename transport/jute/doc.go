// Package jute encodes and decodes ZooKeeper's client wire protocol: the
// records of zookeeper.jute (3.8), opcodes, error codes and framing.
//
// A frame is a 4-byte big-endian length followed by that many bytes. After the
// handshake (ConnectRequest / ConnectResponse, each a whole frame) a client
// frame is RequestHeader + request record and a server frame is ReplyHeader +
// response record; notifications are replies with xid -1 and a WatcherEvent.
//
// Encoding rules: int is 4 bytes and long 8 bytes, big-endian; boolean one
// byte; ustring and buffer an int length then the bytes (-1 for null); vector
// an int count then the elements (-1 for null). Decoders never trust a
// length: every count is checked against the bytes that remain.
//
// zkx adds one request, opcode 7001 (RecipeCallRequest -> BufferResponse), and
// error codes -7001..-7004; everything else is ZooKeeper's, value for value.
package jute

// NewRequestRecord returns an empty request record for op, or nil for ops
// whose request has no body (ping, closeSession, whoAmI) or that are unknown.
func NewRequestRecord(op OpCode) Record {
	switch op {
	case OpCreate, OpCreate2, OpCreateContainer:
		return &CreateRequest{}
	case OpCreateTTL:
		return &CreateRequest{HasTTL: true}
	case OpDelete, OpCheck:
		return &PathVersionRequest{}
	case OpExists, OpGetData, OpGetChildren, OpGetChildren2:
		return &PathWatchRequest{}
	case OpSetData:
		return &SetDataRequest{}
	case OpGetACL, OpSync, OpGetAllChildrenNumber, OpGetEphemerals:
		return &PathRequest{}
	case OpSetACL:
		return &SetACLRequest{}
	case OpMulti, OpMultiRead:
		return &MultiRequest{}
	case OpAuth:
		return &AuthPacket{}
	case OpSetWatches:
		return &SetWatchesRequest{}
	case OpSetWatches2:
		return &SetWatchesRequest{V2: true}
	case OpAddWatch, OpCheckWatches, OpRemoveWatches:
		return &PathModeRequest{}
	case OpReconfig:
		return &ReconfigRequest{}
	case OpSasl:
		return &BufferResponse{}
	case OpRecipeCall:
		return &RecipeCallRequest{}
	}
	return nil
}

// Decode reads rec from b and reports the first error. Bytes after the
// record are ignored, as ZooKeeper ignores them (newer clients may append
// fields that older servers do not know).
func Decode(b []byte, rec Record) error {
	d := NewDecoder(b)
	rec.Decode(d)
	return d.err
}

package peer

import "errors"

// Sentinel errors. Refusals and link failures are logged with them under
// the "err" key; Start returns ErrConfig (wrapped) for a bad Config.
var (
	ErrConfig         = errors.New("peer: invalid config")
	ErrClosed         = errors.New("peer: mesh is closed")
	ErrBadMagic       = errors.New("peer: not a zkx peer connection (bad magic)")
	ErrVersion        = errors.New("peer: unsupported protocol version")
	ErrUnknownPeer    = errors.New("peer: unknown server id")
	ErrWrongChannel   = errors.New("peer: channel does not match the port")
	ErrFingerprint    = errors.New("peer: ensemble configuration differs (fingerprint mismatch)")
	ErrWrongDirection = errors.New("peer: connection from a lower server id (the higher id dials)")
	ErrChecksum       = errors.New("peer: frame checksum mismatch")
	ErrFrameTooLarge  = errors.New("peer: frame larger than MaxFrame")
	ErrQueueFull      = errors.New("peer: send queue full")
	ErrReplaced       = errors.New("peer: replaced by a newer connection from the same peer")
	ErrAuth           = errors.New("peer: authentication failed")
)

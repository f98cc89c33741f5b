package clustertest

import "errors"

// Errors of the cluster.
var (
	// ErrEnsembleUnsupported: the server ran standalone, or exited, when
	// configured as a member of an ensemble. Tests skip on it until zkx
	// replicates.
	ErrEnsembleUnsupported = errors.New("clustertest: the server does not support ensembles")
	ErrUnhealthy           = errors.New("clustertest: cluster unhealthy")
	ErrNoLeader            = errors.New("clustertest: no single leader")
	ErrExited              = errors.New("clustertest: server exited unexpectedly")
	ErrRunning             = errors.New("clustertest: already running")
	ErrNotRunning          = errors.New("clustertest: not running")
	ErrStopped             = errors.New("clustertest: cluster stopped")
)

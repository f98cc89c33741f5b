package client

import (
	"context"
	"log/slog"
	"net"
	"time"

	"github.com/zkx-project/zkx/transport/jute"
)

// Option configures Connect.
type Option func(*config)

type config struct {
	sessionTimeout time.Duration
	dialTimeout    time.Duration // 0: session timeout / number of servers, at least minDialTimeout
	auths          []authInfo
	log            *slog.Logger
	onEvent        func(Event)
	maxBuffer      int
	dial           func(ctx context.Context, addr string) (net.Conn, error) // tests replace it
}

type authInfo struct {
	scheme string
	auth   []byte
}

const (
	defaultSessionTimeout = 10 * time.Second
	minDialTimeout        = time.Second
)

func defaultConfig() config {
	return config{
		sessionTimeout: defaultSessionTimeout,
		log:            slog.New(slog.DiscardHandler),
		maxBuffer:      jute.MaxBuffer,
		dial: func(ctx context.Context, addr string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", addr)
		},
	}
}

// WithSessionTimeout sets the session timeout the client asks for (default
// 10s). The server clamps it to its [minSessionTimeout, maxSessionTimeout];
// SessionTimeout reports the result.
func WithSessionTimeout(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.sessionTimeout = d
		}
	}
}

// WithAuth adds an identity (for example "digest", "user:password") that
// the client sends on every connection, before any other request.
func WithAuth(scheme string, auth []byte) Option {
	return func(c *config) {
		c.auths = append(c.auths, authInfo{scheme: scheme, auth: append([]byte(nil), auth...)})
	}
}

// WithDialTimeout bounds each attempt to connect to one server: the TCP
// dial plus the session handshake. The default is the session timeout
// divided by the number of servers (as the Java client does), but at least
// one second.
func WithDialTimeout(d time.Duration) Option {
	return func(c *config) { c.dialTimeout = d }
}

// WithLogger sets the logger; by default the client logs nothing.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) { c.log = l }
}

// WithEventCallback sets a function that receives session state events
// (Type jute.EventNone): SyncConnected on every (re)connection, then
// Disconnected, Expired, AuthFailed or Closed. Calls are made one at a time,
// in order, from a goroutine of the client's; a slow callback delays later
// callbacks but nothing else.
func WithEventCallback(fn func(Event)) Option {
	return func(c *config) { c.onEvent = fn }
}

// WithMaxBuffer sets the largest frame the client accepts from a server
// (default jute.MaxBuffer, ZooKeeper's jute.maxbuffer). A larger frame drops
// the connection.
func WithMaxBuffer(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.maxBuffer = n
		}
	}
}

// withDialer replaces how the client opens connections (tests).
func withDialer(dial func(ctx context.Context, addr string) (net.Conn, error)) Option {
	return func(c *config) { c.dial = dial }
}

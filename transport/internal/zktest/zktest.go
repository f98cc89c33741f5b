// Package zktest runs a real Apache ZooKeeper 3.8 server (the Debian
// package "zookeeper") for tests, and a TCP proxy that lets a test cut,
// hold or refuse client connections.
//
// A test calls Start, which picks a free loopback port and a temporary data
// directory, starts ZooKeeperServerMain in a JVM, and returns once the
// server answers "ruok" with "imok" and serves requests. The server is killed when the test
// ends. Restart kills it and starts it again on the same port and data, so
// sessions survive as they do in production. If java or the ZooKeeper jars
// are missing the test fails: these tests must run in CI, never skip.
package zktest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// Where the Debian package puts ZooKeeper and its dependencies.
const (
	javaDir       = "/usr/share/java"
	zookeeperJar  = javaDir + "/zookeeper.jar"
	startDeadline = 60 * time.Second
)

// Server is a running (or stopped) ZooKeeper standalone server.
type Server struct {
	t      testing.TB
	dir    string
	addr   string
	extra  map[string]string
	jvm    []string
	cmd    *exec.Cmd
	exited chan struct{}
}

// Option adjusts the server's configuration.
type Option func(*Server)

// WithConfig sets a zoo.cfg key (for example "maxSessionTimeout").
func WithConfig(key, value string) Option {
	return func(s *Server) { s.extra[key] = value }
}

// WithJVMFlag adds a JVM flag, typically a system property such as
// "-Dzookeeper.DigestAuthenticationProvider.superDigest=super:...".
func WithJVMFlag(flag string) Option {
	return func(s *Server) { s.jvm = append(s.jvm, flag) }
}

// Start starts a ZooKeeper server for t with tickTime=200 (sessions of
// 400ms to 4s unless WithConfig says otherwise), TTL and container nodes
// enabled, and every four-letter word allowed.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	java, err := exec.LookPath("java")
	if err != nil {
		t.Fatalf("zktest: java is not installed (apt-get install zookeeper default-jre-headless): %v", err)
	}
	if _, err := os.Stat(zookeeperJar); err != nil {
		t.Fatalf("zktest: ZooKeeper jars are missing (apt-get install zookeeper): %v", err)
	}
	s := &Server{t: t, dir: t.TempDir(), extra: map[string]string{}}
	for _, o := range opts {
		o(s)
	}
	t.Cleanup(s.Stop)
	// The port is free when we look, but another process may take it before
	// the JVM binds it; then try another.
	for attempt := 0; ; attempt++ {
		s.addr = freePort(t)
		err := s.start(java)
		if err == nil {
			return s
		}
		if attempt == 2 || !errors.Is(err, errExited) {
			t.Fatalf("zktest: %v\n%s", err, s.logTail())
		}
	}
}

// Addr returns the client address, "127.0.0.1:port".
func (s *Server) Addr() string { return s.addr }

// Dir returns the server's working directory (config, data, log).
func (s *Server) Dir() string { return s.dir }

// Stop kills the server (SIGKILL: ZooKeeper fsyncs its log before it
// acknowledges, so nothing acknowledged is lost) and waits for it to exit.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

// Restart stops the server if it runs and starts it again on the same port
// with the same data.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	java, _ := exec.LookPath("java")
	if err := s.start(java); err != nil {
		s.t.Fatalf("zktest: restart: %v\n%s", err, s.logTail())
	}
}

// FourLetter sends a four-letter word ("ruok", "stat", "cons", "wchc", ...)
// and returns the answer.
func (s *Server) FourLetter(cmd string) (string, error) {
	return FourLetter(s.addr, cmd)
}

// FourLetter sends a four-letter word to addr and returns the answer.
func FourLetter(addr, cmd string) (string, error) {
	nc, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return "", err
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := nc.Write([]byte(cmd)); err != nil {
		return "", err
	}
	b, err := io.ReadAll(nc)
	return string(b), err
}

var errExited = errors.New("ZooKeeper exited before it was ready")

func (s *Server) start(java string) error {
	dataDir := filepath.Join(s.dir, "data")
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return err
	}
	_, port, _ := net.SplitHostPort(s.addr)
	cfg := map[string]string{
		"tickTime":                "200",
		"dataDir":                 dataDir,
		"clientPort":              port,
		"clientPortAddress":       "127.0.0.1",
		"4lw.commands.whitelist":  "*",
		"admin.enableServer":      "false",
		"maxClientCnxns":          "0",
		"autopurge.purgeInterval": "0",
	}
	for k, v := range s.extra {
		cfg[k] = v
	}
	keys := make([]string, 0, len(cfg))
	for k := range cfg {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%s\n", k, cfg[k])
	}
	cfgPath := filepath.Join(s.dir, "zoo.cfg")
	if err := os.WriteFile(cfgPath, []byte(b.String()), 0o644); err != nil {
		return err
	}
	logFile, err := os.OpenFile(s.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logFile.Close()
	fmt.Fprintf(logFile, "=== zktest: starting ZooKeeper on %s at %s\n", s.addr, time.Now().Format(time.RFC3339Nano))

	args := []string{
		"-Xmx256m",
		"-Dzookeeper.extendedTypesEnabled=true",
		"-Dorg.slf4j.simpleLogger.defaultLogLevel=info",
		"-Dorg.slf4j.simpleLogger.showDateTime=true",
	}
	args = append(args, s.jvm...)
	// slf4j-simple first, so the server's log lands in zookeeper.log instead
	// of whichever binding the wildcard finds first (slf4j-nop).
	args = append(args, "-cp", javaDir+"/slf4j-simple.jar:"+javaDir+"/*",
		"org.apache.zookeeper.server.ZooKeeperServerMain", cfgPath)
	cmd := exec.Command(java, args...)
	cmd.Dir = s.dir
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start java: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	s.cmd, s.exited = cmd, exited

	deadline := time.Now().Add(startDeadline)
	for {
		select {
		case <-exited:
			s.cmd = nil
			return errExited
		default:
		}
		if s.serving() {
			return nil
		}
		if time.Now().After(deadline) {
			s.Stop()
			return fmt.Errorf("ZooKeeper on %s did not answer ruok within %v", s.addr, startDeadline)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// serving reports whether the server takes sessions. "ruok" answers imok
// as soon as the port is open, before the server serves requests (clients
// that connect then are dropped), so also ask "srvr", which says "not
// currently serving" until it does.
func (s *Server) serving() bool {
	if ans, err := FourLetter(s.addr, "ruok"); err != nil || ans != "imok" {
		return false
	}
	ans, err := FourLetter(s.addr, "srvr")
	return err == nil && strings.Contains(ans, "Mode: ")
}

func (s *Server) logPath() string { return filepath.Join(s.dir, "zookeeper.log") }

// logTail returns the end of the server's log, for failure messages.
func (s *Server) logTail() string {
	b, err := os.ReadFile(s.logPath())
	if err != nil {
		return "(no ZooKeeper log: " + err.Error() + ")"
	}
	const max = 8 << 10
	if len(b) > max {
		b = b[len(b)-max:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return "--- ZooKeeper log (tail) ---\n" + string(b)
}

// Log returns the server's whole log so far.
func (s *Server) Log() string {
	b, _ := os.ReadFile(s.logPath())
	return string(b)
}

func freePort(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("zktest: find a free port: %v", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

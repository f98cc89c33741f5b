package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/zkx-project/zkx/transport/client"
)

// process is a server the harness started. Its output goes to a log file,
// it lives in its own process group (a ^C at the terminal reaches only the
// harness, which then stops it in order), and the kernel kills it if the
// harness dies without cleaning up.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	started time.Time     // just before the process was started
	exited  chan struct{} // closed when the process has exited
	waitErr error         // valid once exited is closed
}

// liveProcesses are the processes started and not yet stopped, so that
// stopAllProcesses can end them whatever path the harness exits by.
var liveProcesses = struct {
	sync.Mutex
	m map[*process]bool
}{m: map[*process]bool{}}

// startProcess runs argv in dir with its stdout and stderr appended to
// logPath.
func startProcess(name, dir, logPath string, argv []string) (*process, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	fmt.Fprintf(logFile, "=== bench: %s at %s: %s\n", name, time.Now().Format(time.RFC3339Nano), strings.Join(argv, " "))
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	started := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, logPath: logPath, started: started, exited: make(chan struct{})}
	liveProcesses.Lock()
	liveProcesses.m[p] = true
	liveProcesses.Unlock()
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

func (p *process) pid() int { return p.cmd.Process.Pid }

func (p *process) alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// stop sends SIGTERM (both servers stop gracefully on it), waits up to
// grace, then kills. It reports how long the process took to exit.
func (p *process) stop(grace time.Duration) (time.Duration, error) {
	start := time.Now()
	defer p.forget()
	if !p.alive() {
		return 0, nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return time.Since(start), nil
	case <-time.After(grace):
	}
	_ = p.cmd.Process.Kill()
	<-p.exited
	return time.Since(start), fmt.Errorf("%s did not stop within %v of SIGTERM; killed", p.name, grace)
}

// kill sends SIGKILL, as a crash would end the server, and waits for the
// process to exit.
func (p *process) kill() {
	defer p.forget()
	if p.alive() {
		_ = p.cmd.Process.Kill()
	}
	<-p.exited
}

// forget takes an ended (or ending) process off liveProcesses.
func (p *process) forget() {
	liveProcesses.Lock()
	delete(liveProcesses.m, p)
	liveProcesses.Unlock()
}

// stopAllProcesses stops whatever is still running; main calls it on every
// way out.
func stopAllProcesses() {
	liveProcesses.Lock()
	var ps []*process
	for p := range liveProcesses.m {
		ps = append(ps, p)
	}
	liveProcesses.Unlock()
	for _, p := range ps {
		if _, err := p.stop(10 * time.Second); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
		}
	}
}

// logTail returns the last lines of the process's log, for error messages.
func (p *process) logTail() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	const max = 4 << 10
	if len(b) > max {
		b = b[len(b)-max:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return fmt.Sprintf("--- %s (tail of %s) ---\n%s", p.name, p.logPath, b)
}

// errExitedEarly: the process ended before it served; with a port picked
// by freeLoopbackAddr that is usually a lost race for the port.
var errExitedEarly = errors.New("server exited before it was ready")

// freeLoopbackAddr returns a 127.0.0.1 address whose port was free a
// moment ago. Another process may take it before the server binds it;
// callers retry on errExitedEarly.
func freeLoopbackAddr() (string, error) {
	ports, err := freeLoopbackPorts(1)
	if err != nil {
		return "", err
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0])), nil
}

// freeLoopbackPorts returns n different ports of 127.0.0.1 that were free
// a moment ago (all are held open together, so none repeats), with the
// same caveat as freeLoopbackAddr.
func freeLoopbackPorts(n int) ([]int, error) {
	// Below the kernel's ephemeral range (32768-60999 by default): a
	// member killed and restarted on its ports must find them free, and an
	// ephemeral port may meanwhile be some connection's source port.
	var ports []int
	for tries := 0; len(ports) < n; tries++ {
		if tries > 1000 {
			return nil, fmt.Errorf("find a free port: none of 1000 tries in 10000-32767 was free")
		}
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(10000+mrand.IntN(32768-10000))))
		if err != nil {
			continue
		}
		defer ln.Close()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// srvrField returns a field of a "srvr" answer ("Mode", "Node count",
// "Zookeeper version"), or "".
func srvrField(answer, field string) string {
	for line := range strings.Lines(answer) {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// waitServing waits until the server at addr serves clients: "srvr"
// answers with a "Mode:" line (ZooKeeper answers "This ZooKeeper instance
// is not currently serving requests" before that, and "ruok" says imok
// too early). It fails at once if p exits.
func waitServing(ctx context.Context, addr string, p *process, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if !p.alive() {
			return errExitedEarly
		}
		if ans, err := client.FourLetterWord(addr, "srvr"); err == nil && srvrField(ans, "Mode") != "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s on %s did not answer srvr with a Mode within %v", p.name, addr, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-p.exited:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// procStatus is the memory of a process as /proc/<pid>/status reports it.
type procStatus struct {
	rss uint64 // VmRSS: resident now, bytes
	hwm uint64 // VmHWM: peak resident, bytes
}

// readProcStatus reads VmRSS and VmHWM of pid.
func readProcStatus(pid int) (procStatus, error) {
	f, err := os.Open(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return procStatus{}, err
	}
	defer f.Close()
	var st procStatus
	found := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok || key != "VmRSS" && key != "VmHWM" {
			continue
		}
		fields := strings.Fields(val) // "123456 kB"
		if len(fields) != 2 || fields[1] != "kB" {
			return procStatus{}, fmt.Errorf("/proc/%d/status: unexpected %s line %q", pid, key, val)
		}
		kb, err := strconv.ParseUint(fields[0], 10, 64)
		if err != nil {
			return procStatus{}, fmt.Errorf("/proc/%d/status: %s: %w", pid, key, err)
		}
		if key == "VmRSS" {
			st.rss = kb << 10
		} else {
			st.hwm = kb << 10
		}
		found++
	}
	if err := sc.Err(); err != nil {
		return procStatus{}, err
	}
	if found != 2 {
		return procStatus{}, fmt.Errorf("/proc/%d/status has no VmRSS/VmHWM (a zombie?)", pid)
	}
	return st, nil
}

// waitRSSSettled samples pid's memory every second until VmRSS has made no
// new low for quiet (garbage collectors and allocators give memory back
// gradually), or until limit passes. It returns the last reading and how
// long it waited.
func waitRSSSettled(ctx context.Context, pid int, quiet, limit time.Duration) (procStatus, time.Duration, error) {
	start := time.Now()
	st, err := readProcStatus(pid)
	if err != nil {
		return st, 0, err
	}
	low, lowAt := st.rss, start
	for time.Since(lowAt) < quiet && time.Since(start) < limit {
		if !sleepCtx(ctx, time.Second) {
			return st, time.Since(start), ctx.Err()
		}
		if st, err = readProcStatus(pid); err != nil {
			return st, time.Since(start), err
		}
		// Ignore wobbles of under 0.5%: a new low must be a real one.
		if st.rss < low-low/200 {
			low, lowAt = st.rss, time.Now()
		}
	}
	return st, time.Since(start), nil
}

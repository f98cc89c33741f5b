package clustertest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// process is one run of a server: its output appended to a log file, in its
// own process group, and killed by the kernel if the test binary dies
// first (Pdeathsig), so that no server outlives a test however it ends.
type process struct {
	cmd     *exec.Cmd
	exited  chan struct{} // closed once the process has exited
	waitErr error         // valid once exited is closed
	killed  bool          // we sent SIGKILL; an exit is no surprise
}

// startLine begins the line the harness writes to a server's log before
// each start.
const startLine = "=== clustertest: start"

// startProcess runs argv in dir with its stdout and stderr appended to
// logPath, after a line saying what runs.
func startProcess(dir, logPath string, argv []string) (*process, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	fmt.Fprintf(logFile, "%s at %s: %s\n", startLine, time.Now().Format(time.RFC3339Nano), strings.Join(argv, " "))
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("clustertest: start %s: %w", argv[0], err)
	}
	p := &process{cmd: cmd, exited: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

func (p *process) alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// killTimeout bounds the wait for a SIGKILLed process to be reaped.
const killTimeout = 10 * time.Second

// kill sends SIGKILL to the process group and waits until the process has
// exited.
func (p *process) kill() error {
	p.killed = true
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-p.exited:
		return nil
	case <-time.After(killTimeout):
		return fmt.Errorf("clustertest: pid %d still runs %v after SIGKILL", p.cmd.Process.Pid, killTimeout)
	}
}

// logTail returns about the last n lines of the file at path.
func logTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	b = bytes.TrimRight(b, "\n")
	end := len(b)
	for i := 0; i < n && end > 0; i++ {
		end = bytes.LastIndexByte(b[:end], '\n')
		if end < 0 {
			return string(b)
		}
	}
	return string(b[end+1:])
}

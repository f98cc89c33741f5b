package compat

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

const (
	pythonPath = "/usr/bin/python3"
	zkCliPath  = "/usr/share/zookeeper/bin/zkCli.sh"
)

// requireKazoo fails the test unless /usr/bin/python3 can import kazoo.
func requireKazoo(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(pythonPath); err != nil {
		t.Fatalf("%s is missing (install Debian packages python3 and python3-kazoo): %v", pythonPath, err)
	}
	out, err := exec.Command(pythonPath, "-c", "import kazoo.client, kazoo.recipe.lock").CombinedOutput()
	if err != nil {
		t.Fatalf("python3 cannot import kazoo (install Debian package python3-kazoo): %v\n%s", err, out)
	}
	return pythonPath
}

// requireZkCli fails the test unless zkCli.sh and java are installed.
func requireZkCli(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("java"); err != nil {
		t.Fatalf("java is not on PATH (install Debian packages default-jre-headless and zookeeper): %v", err)
	}
	if _, err := os.Stat(zkCliPath); err != nil {
		t.Fatalf("%s is missing (install Debian package zookeeper): %v", zkCliPath, err)
	}
	return zkCliPath
}

// runTool runs a command in testdata with a deadline and returns its
// standard output and standard error. A run that outlives the deadline
// fails the test.
func runTool(t *testing.T, timeout time.Duration, stdin string, name string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	return run(t, timeout, stdin, false, name, args...)
}

// runToolCombined is runTool with standard error sent to the same pipe as
// standard output, so that lines keep the order the tool wrote them in.
func runToolCombined(t *testing.T, timeout time.Duration, stdin string, name string, args ...string) (output string, err error) {
	t.Helper()
	output, _, err = run(t, timeout, stdin, true, name, args...)
	return output, err
}

func run(t *testing.T, timeout time.Duration, stdin string, combined bool, name string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = "testdata"
	cmd.WaitDelay = 5 * time.Second
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var so, se strings.Builder
	cmd.Stdout, cmd.Stderr = &so, &se
	if combined {
		cmd.Stderr = &so
	}
	err = cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s %s did not finish within %v\nstdout:\n%s\nstderr:\n%s",
			name, strings.Join(args, " "), timeout, so.String(), se.String())
	}
	return so.String(), se.String(), err
}

// lines splits s into lines without their line ends.
func lines(s string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

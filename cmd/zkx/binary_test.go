package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/zkx-project/zkx/transport/zkxtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// built is the zkx binary the tests that run it share: one go build per
// test process.
var built struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// zkxBinary builds zkx (once), with the race detector if the tests have
// it, and returns its path.
func zkxBinary(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		goTool, err := exec.LookPath("go")
		if err != nil {
			goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
		}
		if built.dir, built.err = os.MkdirTemp("", "zkx-bin-"); built.err != nil {
			return
		}
		built.path = filepath.Join(built.dir, "zkx")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		args := []string{"build", "-o", built.path}
		if raceEnabled {
			args = append(args, "-race")
		}
		if out, err := exec.CommandContext(ctx, goTool, append(args, ".")...).CombinedOutput(); err != nil {
			built.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.path
}

// TestBinary builds zkx and runs it as a user does, against a test node.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := zkxBinary(t)
	addr := zkxtest.Start(t, zkxtest.Options{}).Addr()

	zkx := func(args ...string) (stdout, stderr string, code int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, args...)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		var exit *exec.ExitError
		switch {
		case errors.As(err, &exit):
			code = exit.ExitCode()
		case err != nil:
			t.Fatalf("zkx %v: %v", args, err)
		}
		return out.String(), errOut.String(), code
	}

	if out, errOut, code := zkx("--server", addr, "create", "/bin", "hello from the binary"); code != 0 || out != "Created /bin\n" || errOut != "" {
		t.Errorf("create: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if out, errOut, code := zkx("--server", addr, "get", "/bin"); code != 0 || out != "hello from the binary\n" || errOut != "" {
		t.Errorf("get: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if out, errOut, code := zkx("--server", addr, "get", "/missing"); code != 1 || out != "" || errOut != "Node does not exist: /missing\n" {
		t.Errorf("get of a missing node: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if _, errOut, code := zkx("--server", addr, "get"); code != 2 || errOut == "" {
		t.Errorf("get without a path: exit %d, stderr %q", code, errOut)
	}
	if _, errOut, code := zkx("--server", deadAddr(t), "get", "/bin"); code != 1 || errOut == "" {
		t.Errorf("get from no server: exit %d, stderr %q", code, errOut)
	}
}

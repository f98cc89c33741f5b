package main

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/zkx-project/zkx/transport/zkxtest"
)

// TestBinary builds zkx and runs it as a user does, against a test node.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "zkx")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, goTool, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
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

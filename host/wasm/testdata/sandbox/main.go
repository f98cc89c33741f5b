// Command sandbox reports what it can see of the machine, for host/wasm's
// tests: clocks, randomness, environment, files.
package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"time"

	zkx "github.com/zkx-project/zkx/scripts/sdk"
)

func main() {}

type report struct {
	UnixMilli int64    `json:"unixMilli"`
	Slept     int64    `json:"sleptNs"`
	Rand      string   `json:"rand"`
	Env       []string `json:"env"`
	Args      []string `json:"args"`
	Open      string   `json:"open"`
	ReadDir   string   `json:"readDir"`
}

//go:wasmexport look
func look(argsPtr, argsLen int32) int64 {
	return zkx.Run(argsPtr, argsLen, func([]byte) ([]byte, error) {
		var r report
		t0 := time.Now()
		r.UnixMilli = t0.UnixMilli()
		time.Sleep(10 * time.Millisecond)
		r.Slept = int64(time.Since(t0))
		b := make([]byte, 16)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		r.Rand = hex.EncodeToString(b)
		r.Env, r.Args = os.Environ(), os.Args
		if _, err := os.Open("/etc/passwd"); err != nil {
			r.Open = err.Error()
		}
		if _, err := os.ReadDir("/"); err != nil {
			r.ReadDir = err.Error()
		}
		fmt.Println("to stdout")
		fmt.Fprintln(os.Stderr, "to stderr")
		return json.Marshal(r)
	})
}

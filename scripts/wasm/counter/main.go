//go:build wasip1

// Command counter is an example recipe in Go: a counter kept in a znode as
// decimal text. Build it with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o counter.wasm ./scripts/wasm/counter
//
// Functions (arguments and results are JSON):
//
//	add         {"path": P, "delta": N} -> {"value": V}  creates P (as 0) if missing
//	get         {"path": P}             -> {"value": V}  0 if P is missing
//	waitAtLeast {"path": P, "value": N} -> {"value": V}  once V >= N; with
//	            "timeout_ms" the call gives up then: {"value": V, "timedOut": true}
package main

import (
	"errors"
	"strconv"

	zkx "github.com/zkx-project/zkx/scripts/sdk"
)

func main() {}

type request struct {
	Path  string
	Delta int64
	Value int64
}

type reply struct {
	Value    int64
	TimedOut bool
}

// parse reads the arguments with the SDK's flat-object reader, not
// encoding/json: inside WebAssembly its reflection costs tens of
// microseconds per call, more than the rest of the call.
func parse(args []byte) (request, error) {
	var r request
	a, err := zkx.ParseArgs(args)
	if err != nil {
		return r, err
	}
	r.Path = a.String("path")
	if r.Path == "" {
		return r, zkx.Fail(zkx.CodeBadArguments, `"path" is required`)
	}
	if r.Delta, err = a.Int("delta"); err != nil {
		return r, err
	}
	if r.Value, err = a.Int("value"); err != nil {
		return r, err
	}
	return r, nil
}

// read returns the counter's value and version; a missing node is 0 at
// version -1.
func read(path string) (int64, int32, error) {
	data, st, err := zkx.Get(path)
	if errors.Is(err, zkx.ErrNoNode) {
		return 0, -1, nil
	}
	if err != nil {
		return 0, 0, err
	}
	v, err := strconv.ParseInt(string(data), 10, 64)
	if err != nil {
		return 0, 0, zkx.Fail(zkx.CodeBadArguments, path+" does not hold a number")
	}
	return v, st.Version, nil
}

func answer(r reply) ([]byte, error) {
	o := zkx.Object().Int("value", r.Value)
	if r.TimedOut {
		o.Bool("timedOut", true)
	}
	return o.JSON(), nil
}

//go:wasmexport add
func add(argsPtr, argsLen int32) int64 {
	return zkx.Run(argsPtr, argsLen, func(args []byte) ([]byte, error) {
		r, err := parse(args)
		if err != nil {
			return nil, err
		}
		v, version, err := read(r.Path)
		if err != nil {
			return nil, err
		}
		v += r.Delta
		data := []byte(strconv.FormatInt(v, 10))
		if version < 0 {
			_, err = zkx.Create(r.Path, data, zkx.Persistent)
		} else {
			_, err = zkx.Set(r.Path, data, version)
		}
		if err != nil {
			return nil, err
		}
		return answer(reply{Value: v})
	})
}

//go:wasmexport get
func get(argsPtr, argsLen int32) int64 {
	return zkx.Run(argsPtr, argsLen, func(args []byte) ([]byte, error) {
		r, err := parse(args)
		if err != nil {
			return nil, err
		}
		v, _, err := read(r.Path)
		if err != nil {
			return nil, err
		}
		return answer(reply{Value: v})
	})
}

//go:wasmexport waitAtLeast
func waitAtLeast(argsPtr, argsLen int32) int64 {
	return zkx.Run(argsPtr, argsLen, func(args []byte) ([]byte, error) {
		r, err := parse(args)
		if err != nil {
			return nil, err
		}
		v, _, err := read(r.Path)
		switch {
		case err != nil:
			return nil, err
		case v >= r.Value:
			return answer(reply{Value: v})
		case zkx.TimedOut():
			return answer(reply{Value: v, TimedOut: true})
		}
		return nil, zkx.Wait(r.Path)
	})
}

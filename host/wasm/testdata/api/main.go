// Command api calls every function of the SDK, for host/wasm's tests.
package main

import (
	"encoding/json"
	"errors"

	zkx "github.com/zkx-project/zkx/scripts/sdk"
)

func main() {}

type request struct {
	Op      string   `json:"op"`
	Path    string   `json:"path"`
	Data    string   `json:"data"`
	Mode    zkx.Mode `json:"mode"`
	Version int32    `json:"version"`
	Paths   []string `json:"paths"`
	Code    int32    `json:"code"`
	Message string   `json:"message"`
	Catch   bool     `json:"catch"`
}

type reply struct {
	Data     *string   `json:"data,omitempty"`
	Stat     *zkx.Stat `json:"stat,omitempty"`
	Found    *bool     `json:"found,omitempty"`
	Children []string  `json:"children,omitempty"`
	Path     string    `json:"path,omitempty"`
	Session  int64     `json:"session,omitempty"`
	Now      int64     `json:"now,omitempty"`
	Random   uint64    `json:"random,omitempty"`
	TimedOut bool      `json:"timedOut,omitempty"`
	Code     int32     `json:"code,omitempty"`
	Message  string    `json:"message,omitempty"`
	Is       string    `json:"is,omitempty"`
}

var sentinels = map[string]error{
	"NoNode": zkx.ErrNoNode, "NodeExists": zkx.ErrNodeExists, "NoAuth": zkx.ErrNoAuth,
	"BadVersion": zkx.ErrBadVersion, "NotEmpty": zkx.ErrNotEmpty, "BadArguments": zkx.ErrBadArguments,
	"NoChildrenForEphemerals": zkx.ErrNoChildrenForEphemerals,
}

// do performs one API call: {"op": "get", "path": ...}. With "catch" an API
// error is returned as {"code", "message", "is"} instead of failing the call.
func do(args []byte) ([]byte, error) {
	var q request
	if err := json.Unmarshal(args, &q); err != nil {
		return nil, err
	}
	var r reply
	var err error
	switch q.Op {
	case "get":
		var d []byte
		var st zkx.Stat
		if d, st, err = zkx.Get(q.Path); err == nil {
			s := string(d)
			r.Data, r.Stat = &s, &st
		}
	case "exists":
		var st zkx.Stat
		var ok bool
		if st, ok, err = zkx.Exists(q.Path); err == nil {
			r.Found = &ok
			if ok {
				r.Stat = &st
			}
		}
	case "children":
		r.Children, err = zkx.Children(q.Path)
	case "create":
		r.Path, err = zkx.Create(q.Path, []byte(q.Data), q.Mode)
	case "set":
		var st zkx.Stat
		if st, err = zkx.Set(q.Path, []byte(q.Data), q.Version); err == nil {
			r.Stat = &st
		}
	case "delete":
		err = zkx.Delete(q.Path, q.Version)
	case "session":
		r.Session = zkx.Session()
	case "now":
		r.Now = zkx.Now()
	case "random":
		r.Random = zkx.Random()
	case "timedOut":
		r.TimedOut = zkx.TimedOut()
	case "wait":
		return nil, zkx.Wait(q.Paths...)
	case "fail":
		return nil, zkx.Fail(q.Code, q.Message)
	case "plainError":
		return nil, errors.New(q.Message)
	case "panic":
		panic(q.Message)
	case "big":
		return make([]byte, q.Version), nil
	default:
		return nil, zkx.Fail(zkx.CodeBadArguments, "unknown op "+q.Op)
	}
	var e *zkx.Error
	if err != nil && q.Catch && errors.As(err, &e) {
		r.Code, r.Message = e.Code, e.Message
		for name, s := range sentinels {
			if errors.Is(err, s) {
				r.Is = name
			}
		}
	} else if err != nil {
		return nil, err
	}
	return json.Marshal(r)
}

//go:wasmexport do
func doExport(argsPtr, argsLen int32) int64 { return zkx.Run(argsPtr, argsLen, do) }

//go:wasmexport echo
func echo(argsPtr, argsLen int32) int64 {
	return zkx.Run(argsPtr, argsLen, func(args []byte) ([]byte, error) { return args, nil })
}

// Exports that are not recipe functions: another signature, and the
// reserved prefix.

//go:wasmexport notARecipe
func notARecipe(x int32) int32 { return x }

//go:wasmexport zkx_reserved
func reserved(argsPtr, argsLen int32) int64 { return 0 }

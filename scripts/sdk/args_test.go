package zkx

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
)

func TestParseArgs(t *testing.T) {
	a, err := ParseArgs([]byte(` { "path" : "/a\"b\u00e9\ud83d\ude00", "delta": -42, "on": true, "nested": {"x": [1, "}"]}, "f": 1.5, "n": null } `))
	if err != nil {
		t.Fatal(err)
	}
	if got := a.String("path"); got != "/a\"bé😀" {
		t.Errorf("path %q", got)
	}
	if d, err := a.Int("delta"); err != nil || d != -42 {
		t.Errorf("delta %d %v", d, err)
	}
	if !a.Bool("on") || a.Bool("path") || !a.Has("nested") || a.Has("missing") {
		t.Error("bool / has")
	}
	if n, err := a.Int("n"); err != nil || n != 0 {
		t.Errorf("null int: %d %v", n, err)
	}
	var fe *Error
	if _, err := a.Int("f"); !errors.As(err, &fe) || fe.Code != CodeBadArguments {
		t.Errorf("non-integer: %v", err)
	}
	if _, err := a.Int("path"); err == nil {
		t.Error("a string read as an integer")
	}
	for _, bad := range []string{`[1]`, `{"a":}`, `{"a":1`, `{"a":1}x`, `{a:1}`, `{"a":tru}`, `{"a":"\q"}`, `{"a":"x`} {
		if _, err := ParseArgs([]byte(bad)); !errors.As(err, &fe) || fe.Code != CodeBadArguments {
			t.Errorf("%s: %v, want BadArguments", bad, err)
		}
	}
	if a, err := ParseArgs(nil); err != nil || a.Has("x") {
		t.Errorf("empty args: %v", err)
	}
}

// ParseArgs agrees with encoding/json on random flat objects, and Object's
// output decodes with encoding/json to what was put in.
func TestArgsAgreeWithEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	runes := []rune{'a', 'Z', '/', '"', '\\', '\n', 0, 'é', '😀', '\u2028', ' '}
	randString := func() string {
		rs := make([]rune, rng.IntN(8))
		for i := range rs {
			rs[i] = runes[rng.IntN(len(runes))]
		}
		return string(rs)
	}
	for i := 0; i < 2000; i++ {
		in := map[string]any{}
		o := Object()
		for j := 0; j < rng.IntN(5); j++ {
			k := fmt.Sprintf("k%d", j)
			switch rng.IntN(3) {
			case 0:
				s := randString()
				in[k] = s
				o.String(k, s)
			case 1:
				n := rng.Int64() - rng.Int64()
				in[k] = n
				o.Int(k, n)
			default:
				b := rng.IntN(2) == 0
				in[k] = b
				o.Bool(k, b)
			}
		}
		var back map[string]any
		if err := json.Unmarshal(o.JSON(), &back); err != nil || len(back) != len(in) {
			t.Fatalf("Object %s: %v", o.JSON(), err)
		}
		enc, _ := json.Marshal(in)
		a, err := ParseArgs(enc)
		if err != nil {
			t.Fatalf("%s: %v", enc, err)
		}
		for k, v := range in {
			switch v := v.(type) {
			case string:
				if a.String(k) != v || back[k] != v {
					t.Fatalf("%s: %s = %q / %q, want %q", enc, k, a.String(k), back[k], v)
				}
			case int64:
				if n, err := a.Int(k); err != nil || n != v {
					t.Fatalf("%s: %s = %d %v, want %d", enc, k, n, err, v)
				}
			case bool:
				if a.Bool(k) != v || back[k] != v {
					t.Fatalf("%s: %s = %v, want %v", enc, k, a.Bool(k), v)
				}
			}
		}
	}
}

func TestArgsRepeatedAndEscapedKeys(t *testing.T) {
	a, err := ParseArgs([]byte(`{"n":1,"p\u0061th":"/x","n":2,"s":"a\tb"}`))
	if err != nil {
		t.Fatal(err)
	}
	if n, err := a.Int("n"); err != nil || n != 2 {
		t.Errorf("repeated field: %d %v, want the last value 2", n, err)
	}
	if a.String("path") != "/x" {
		t.Errorf("escaped key: %q", a.String("path"))
	}
	if a.String("s") != "a\tb" {
		t.Errorf("escaped value: %q", a.String("s"))
	}
}

// Whatever encoding/json accepts as an object, ParseArgs accepts too and
// reads its top-level strings, integers and booleans the same way.
func FuzzParseArgs(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1}`, `{"a":"\u00e9","b":[1,{"c":"}"}],"a":true}`, ` {"x" : -0.5e+3 , "y":null}`, `{"a":"\q"}`, `{"a":1,}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var m map[string]any
		jsonErr := json.Unmarshal(b, &m)
		a, err := ParseArgs(b)
		if jsonErr != nil || m == nil {
			return // ParseArgs may be laxer inside nested values
		}
		if err != nil {
			t.Fatalf("%q: encoding/json reads it, ParseArgs says %v", b, err)
		}
		for k, v := range m {
			if !a.Has(k) {
				t.Fatalf("%q: no field %q", b, k)
			}
			switch v := v.(type) {
			case string:
				if a.String(k) != v {
					t.Fatalf("%q: %q = %q, want %q", b, k, a.String(k), v)
				}
			case bool:
				if a.Bool(k) != v {
					t.Fatalf("%q: %q = %v, want %v", b, k, a.Bool(k), v)
				}
			case float64:
				if n, err := a.Int(k); err == nil && float64(n) != v {
					t.Fatalf("%q: %q = %d, want %v", b, k, n, v)
				}
			}
		}
	})
}

package main

import (
	"errors"
	"fmt"
	"unicode/utf16"
)

// validatePath checks a znode path before anything is sent, with the
// messages of ZooKeeper's PathUtils.validatePath, which zkCli prints. Like
// Java it walks UTF-16 units, so positions ("@3") are Java's and a
// character outside the Basic Multilingual Plane is refused (its surrogate
// falls in a refused range). A sequential create checks path+"1", since the
// server appends the sequence number ("/queue/" is a valid prefix).
func validatePath(path string, sequential bool) error {
	if sequential {
		path += "1"
	}
	switch {
	case path == "":
		return errors.New("Path length must be > 0")
	case path[0] != '/':
		return errors.New("Path must start with / character")
	case len(path) == 1:
		return nil
	case path[len(path)-1] == '/':
		return errors.New("Path must not end with / character")
	}
	chars := utf16.Encode([]rune(path))
	reason := ""
	lastc := uint16('/')
	for i := 1; i < len(chars); lastc, i = chars[i], i+1 {
		c := chars[i]
		endsComponent := i+1 == len(chars) || chars[i+1] == '/'
		switch {
		case c == 0:
			reason = fmt.Sprintf("null character not allowed @%d", i)
		case c == '/' && lastc == '/':
			reason = fmt.Sprintf("empty node name specified @%d", i)
		case c == '.' && lastc == '.':
			if chars[i-2] == '/' && endsComponent {
				reason = fmt.Sprintf("relative paths not allowed @%d", i)
			}
		case c == '.':
			if chars[i-1] == '/' && endsComponent {
				reason = fmt.Sprintf("relative paths not allowed @%d", i)
			}
		case c <= 0x1f, c >= 0x7f && c <= 0x9f, c >= 0xd800 && c <= 0xf8ff, c >= 0xfff0:
			reason = fmt.Sprintf("invalid character @%d", i)
		}
		if reason != "" {
			return fmt.Errorf("Invalid path string \"%s\" caused by %s", path, reason)
		}
	}
	return nil
}

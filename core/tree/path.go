package tree

import "unicode/utf8"

// ValidPath reports whether path is a valid znode path by ZooKeeper's rules
// (PathUtils.validatePath): absolute, no trailing or double slash, no "." or
// ".." component, and none of the characters ZooKeeper forbids. Java checks
// UTF-16 units, so every character outside the Basic Multilingual Plane
// (a surrogate pair in Java) is refused too.
func ValidPath(path string) bool {
	if len(path) == 0 || path[0] != '/' {
		return false
	}
	if len(path) == 1 {
		return true
	}
	if path[len(path)-1] == '/' {
		return false
	}
	if !utf8.ValidString(path) {
		return false
	}
	start := 1 // start of the current component
	for i, r := range path {
		if i == 0 {
			continue
		}
		switch {
		case r == 0:
			return false
		case r == '/':
			if i == start { // empty component
				return false
			}
			if comp := path[start:i]; comp == "." || comp == ".." {
				return false
			}
			start = i + 1
		case r > 0 && r <= 0x1f, r >= 0x7f && r <= 0x9f,
			r >= 0xd800 && r <= 0xf8ff, r >= 0xfff0:
			return false
		}
	}
	comp := path[start:]
	return comp != "." && comp != ".."
}

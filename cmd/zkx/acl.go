package main

import (
	"fmt"
	"strings"

	"github.com/zkx-project/zkx/transport/client"
)

// parseACL reads zkCli's ACL syntax: scheme:id:perms, comma-separated, with
// perms letters from "crwda". The id is everything between the first and
// the last colon, so "digest:user:HASH:r" and "ip:::1:r" work. zkCli warns
// about a malformed entry and skips it; here it is an error, since a
// silently narrowed ACL is worse than a refused command.
func parseACL(s string) ([]client.ACL, error) {
	var acl []client.ACL
	for _, entry := range strings.Split(s, ",") {
		first, last := strings.IndexByte(entry, ':'), strings.LastIndexByte(entry, ':')
		if first < 0 || first == last {
			return nil, fmt.Errorf("%s does not have the form scheme:id:perm", entry)
		}
		perms, err := parsePerms(entry[last+1:])
		if err != nil {
			return nil, err
		}
		acl = append(acl, client.ACL{Perms: perms, Scheme: entry[:first], ID: entry[first+1 : last]})
	}
	return acl, nil
}

func parsePerms(s string) (int32, error) {
	var perms int32
next:
	for i := 0; i < len(s); i++ {
		for _, p := range aclPerms {
			if s[i] == p.letter {
				perms |= p.bit
				continue next
			}
		}
		return 0, fmt.Errorf("Unknown perm type: %c", s[i])
	}
	return perms, nil
}

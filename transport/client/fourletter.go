package client

import (
	"io"
	"net"
	"time"
)

// FourLetterWord sends a four-letter word ("ruok", "srvr", "mntr", ...) to
// the server at addr on a connection of its own and returns the answer
// (the server closes the connection after it). It gives up after a few
// seconds.
func FourLetterWord(addr, word string) (string, error) {
	nc, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return "", err
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(nc, word); err != nil {
		return "", err
	}
	b, err := io.ReadAll(nc)
	return string(b), err
}

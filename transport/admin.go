package transport

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// adminCommands maps ZooKeeper's AdminServer command names to four-letter
// words.
var adminCommands = map[string]string{
	"ruok": "ruok", "server_stats": "srvr", "srvr": "srvr", "stats": "stat", "stat": "stat",
	"monitor": "mntr", "mntr": "mntr", "configuration": "conf", "conf": "conf",
	"connections": "cons", "cons": "cons", "environment": "envi", "envi": "envi",
	"watch_summary": "wchs", "wchs": "wchs", "watches": "wchc", "wchc": "wchc",
	"watches_by_path": "wchp", "wchp": "wchp", "dump": "dump", "is_read_only": "isro", "isro": "isro",
	"hash": "hash",
}

// startAdmin serves the admin endpoints: /commands/<name> answers a command
// as JSON, /metrics gives the mntr figures in Prometheus' text format.
func (n *Node) startAdmin(addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		// As in ZooKeeper, a busy admin port does not stop the node.
		n.log.Warn("admin server not started", "addr", addr, "err", err)
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/commands", n.serveCommandList)
	mux.HandleFunc("/commands/", n.serveCommand)
	mux.HandleFunc("/metrics", n.serveMetrics)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	n.admin = srv
	n.adminAddr = ln.Addr().String()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Warn("admin server stopped", "err", err)
		}
	}()
	n.log.Info("admin server", "addr", ln.Addr().String())
}

// AdminAddr returns the admin server's address ("" if it is not running).
func (n *Node) AdminAddr() string { return n.adminAddr }

func (n *Node) serveCommandList(w http.ResponseWriter, r *http.Request) {
	names := make([]string, 0, len(adminCommands))
	for name := range adminCommands {
		names = append(names, name)
	}
	writeJSON(w, map[string]any{"commands": names})
}

func (n *Node) serveCommand(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/commands/")
	word, ok := adminCommands[name]
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		writeJSON(w, map[string]any{"command": name, "error": "Command not found: " + name})
		return
	}
	out := map[string]any{"command": name, "error": nil}
	switch word {
	case "mntr":
		for _, m := range n.Metrics() {
			out[strings.TrimPrefix(m.Key, "zk_")] = m.Value
		}
	case "ruok":
	default:
		out["output"] = n.FourLetter(word)
	}
	writeJSON(w, out)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func (n *Node) serveMetrics(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	for _, m := range n.Metrics() {
		var v float64
		switch x := m.Value.(type) {
		case int:
			v = float64(x)
		case int64:
			v = float64(x)
		case uint64:
			v = float64(x)
		case float64:
			v = x
		case string:
			f, err := strconv.ParseFloat(x, 64)
			if err != nil {
				continue // not a number (version, state)
			}
			v = f
		default:
			continue
		}
		name := strings.ReplaceAll(m.Key, ".", "_")
		fmt.Fprintf(w, "# TYPE %s gauge\n%s %g\n", name, name, v)
	}
}

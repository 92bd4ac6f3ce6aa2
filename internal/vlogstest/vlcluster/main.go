// Command vlcluster starts VictoriaLogs as vlogstest does (one node, or -cluster: two
// storage nodes behind an insert/select node, on 127.0.0.1, -retentionPeriod=100y), writes
// the URL to insert and query at to -url-file, and runs until SIGTERM or SIGINT, when it
// stops the processes by PID. For scripts/bench-vlogs.sh; tests use vlogstest.Start.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/kubesleuth/kubesleuth/internal/vlogstest"
)

func main() {
	dir := flag.String("dir", "", "data and logs (required)")
	cluster := flag.Bool("cluster", false, "two storage nodes and one insert/select node")
	urlFile := flag.String("url-file", "", "write the URL here once every process is healthy (required)")
	flag.Parse()
	if *dir == "" || *urlFile == "" {
		fmt.Fprintln(os.Stderr, "vlcluster: -dir and -url-file are required")
		os.Exit(2)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	s, err := vlogstest.New(vlogstest.Options{Dir: *dir, Cluster: *cluster})
	if err != nil {
		fmt.Fprintln(os.Stderr, "vlcluster:", err)
		os.Exit(1)
	}
	// redact: a test harness's own URL (no input bytes)
	if err := os.WriteFile(*urlFile, []byte(s.URL+"\n"), 0o600); err != nil {
		s.Stop()
		fmt.Fprintln(os.Stderr, "vlcluster:", err)
		os.Exit(1)
	}
	<-sig
	if err := s.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "vlcluster:", err)
		os.Exit(1)
	}
}

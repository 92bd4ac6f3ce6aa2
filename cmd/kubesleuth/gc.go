package main

import (
	"os"
	"runtime/debug"
)

// tuneGC trades memory for CPU on the commands that stream large inputs: decoding
// allocates per event, and at the default GOGC=100 the collector cost ~15% of a scan.
// GOGC=300 under a 272 MiB soft limit: a 1M-event scan with the catalog peaks near
// 310 MiB RSS and the reader alone near 285 MiB (make bench; GOGC=300 alone reached
// 400 MiB). A GOGC or GOMEMLIMIT set by the user wins.
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(300)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(272 << 20)
	}
}

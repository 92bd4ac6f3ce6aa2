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

// tuneIngestGC is tuneGC for an ingest, which keeps more alive (events waiting for their
// flush, open groups, the ID index's arena): a 400 MiB soft limit keeps the 1M-event
// ingest under 600 MB of RSS (measured with make bench) without the collector running
// back to back, which a tighter limit caused (44 s became 70 s at 272 MiB).
func tuneIngestGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(200)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(400 << 20)
	}
}

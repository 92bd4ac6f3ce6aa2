package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/spf13/cobra"
)

// addProfiling gives every command hidden --cpuprofile and --memprofile flags (for
// performance work: `go tool pprof bin/kubesleuth FILE`).
func addProfiling(root *cobra.Command) {
	var cpu, mem string
	pf := root.PersistentFlags()
	pf.StringVar(&cpu, "cpuprofile", "", "write a CPU profile of the run to this file")
	pf.StringVar(&mem, "memprofile", "", "write a heap profile at the end of the run (and at its peak, FILE.peak) to this file")
	_ = pf.MarkHidden("cpuprofile")
	_ = pf.MarkHidden("memprofile")
	var cpuFile *os.File
	stopPeak := func() {}
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		if mem != "" {
			stopPeak = watchPeak(mem + ".peak")
		}
		if cpu == "" {
			return nil
		}
		f, err := os.Create(cpu) // redact: a CPU profile holds function names and counts, no input data
		if err != nil {
			return usageError{err}
		}
		cpuFile = f
		return pprof.StartCPUProfile(f)
	}
	root.PersistentPostRunE = func(cmd *cobra.Command, _ []string) error {
		if cpuFile != nil {
			pprof.StopCPUProfile()
			cpuFile.Close()
		}
		if mem == "" {
			return nil
		}
		stopPeak()
		f, err := os.Create(mem) // redact: a heap profile holds allocation sites and sizes, no input data
		if err != nil {
			return fmt.Errorf("memprofile: %w", err)
		}
		defer f.Close()
		runtime.GC()
		return pprof.Lookup("heap").WriteTo(f, 0)
	}
}

// watchPeak writes a heap profile to path each time the live heap grows 10% past its
// largest size so far: the profile of the peak, which the end of a run no longer has.
func watchPeak(path string) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		var peak uint64
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc < peak+peak/10 {
				continue
			}
			peak = ms.HeapAlloc
			f, err := os.Create(path) // redact: a heap profile holds allocation sites and sizes, no input data
			if err != nil {
				return
			}
			_ = pprof.Lookup("heap").WriteTo(f, 0)
			f.Close()
		}
	}()
	return func() { close(done); <-finished }
}

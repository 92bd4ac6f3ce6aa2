package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kubesleuth/kubesleuth/internal/generate"
	"github.com/kubesleuth/kubesleuth/internal/testbin"
	"github.com/kubesleuth/kubesleuth/pipeline"
)

// rotatingLog is the apiserver's log writer for the soak: audit.log renamed to
// audit-<n>.log every rotateBytes, rotated files deleted once tail has read past them,
// and the writer held back while tail is more than maxLag behind (so the disk holds a
// few hundred MB, whatever the number of events).
type rotatingLog struct {
	t       *testing.T
	dir     string
	state   string
	f       *bufio.Writer
	fh      *os.File
	size    int64
	n       int
	written int64
	lines   int64
	inodes  map[uint64]int // inode -> the number of the rotated file (0: the live one)
}

const (
	rotateBytes = 256 << 20
	maxLag      = 3
)

func (r *rotatingLog) live() string { return filepath.Join(r.dir, "audit.log") }

func (r *rotatingLog) Write(p []byte) (int, error) {
	written := 0
	for {
		if r.fh == nil {
			fh, err := os.OpenFile(r.live(), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
			if err != nil {
				return written, err
			}
			r.fh, r.f = fh, bufio.NewWriterSize(fh, 1<<20)
		}
		// rotate at the first line end past rotateBytes
		chunk := p
		rotate := false
		if over := r.size + int64(len(p)) - rotateBytes; over >= 0 {
			if i := bytes.IndexByte(p[max(0, int64(len(p))-over-1):], '\n'); i >= 0 {
				cut := int(max(0, int64(len(p))-over-1)) + i + 1
				chunk, rotate = p[:cut], true
			}
		}
		n, err := r.f.Write(chunk)
		r.size += int64(n)
		r.written += int64(n)
		r.lines += int64(bytes.Count(chunk[:n], []byte{'\n'}))
		written += n
		if err != nil {
			return written, err
		}
		p = p[n:]
		if rotate {
			if err := r.rotate(); err != nil {
				return written, err
			}
		}
		if len(p) == 0 {
			return written, nil
		}
	}
}

func (r *rotatingLog) rotate() error {
	if err := r.f.Flush(); err != nil {
		return err
	}
	if fi, err := r.fh.Stat(); err == nil {
		r.inodes[fi.Sys().(*syscall.Stat_t).Ino] = r.n + 1
	}
	r.fh.Close()
	r.fh, r.size = nil, 0
	r.n++
	if err := os.Rename(r.live(), filepath.Join(r.dir, fmt.Sprintf("audit-2026-03-02T08-00-00.%03d.log", r.n))); err != nil {
		return err
	}
	// hold the writer back while tail is more than maxLag files behind, then delete
	// what it has read
	for {
		behind := r.n - r.readRotations()
		if behind < maxLag {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	for i := 1; i < min(r.readRotations(), r.n+1); i++ {
		os.Remove(filepath.Join(r.dir, fmt.Sprintf("audit-2026-03-02T08-00-00.%03d.log", i)))
	}
	return nil
}

// readRotations is the number of the rotated file tail's checkpoint stands in, by its
// inode (a checkpoint names a file by the path it was opened under), r.n+1 for the live
// file, 0 when unknown.
func (r *rotatingLog) readRotations() int {
	cp, err := pipeline.LoadCheckpoint(r.state)
	if err != nil || cp == nil {
		return 0
	}
	if k, ok := r.inodes[cp.File.Ino]; ok {
		return k
	}
	if fi, err := os.Stat(r.live()); err == nil && fi.Sys().(*syscall.Stat_t).Ino == cp.File.Ino {
		return r.n + 1
	}
	return 0
}

func rssKB(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			v, _ := strconv.ParseInt(strings.Fields(line)[1], 10, 64)
			return v
		}
	}
	return 0
}

// TestTailSoakMemory follows a stream of generated events (KUBESLEUTH_TAIL_SOAK events,
// e.g. 10000000) written on the fly with rotations, and samples the resident memory of
// the real tail process: it must stay under 400 MB and flat (the last third's peak no
// more than 10% above the middle third's). Skipped unless the variable is set: 10 M
// events take several minutes.
//
//	KUBESLEUTH_TAIL_SOAK=10000000 go test ./cmd/kubesleuth -run TailSoak -v -timeout 60m
func TestTailSoakMemory(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("KUBESLEUTH_TAIL_SOAK"))
	if n <= 0 {
		t.Skip("set KUBESLEUTH_TAIL_SOAK=<events> to run the memory soak")
	}
	bin := testbin.Path(t)
	dir := t.TempDir()
	logs := filepath.Join(dir, "logs")
	os.Mkdir(logs, 0o700)
	state := filepath.Join(dir, "tail.state")
	w := &rotatingLog{t: t, dir: logs, state: state, inodes: map[uint64]int{}}
	if _, err := w.Write([]byte{}); err != nil {
		t.Fatal(err)
	}
	w.f.Flush()
	p := startTail(t, bin, dir, w.live(), "--state", state, "--alert", "jsonl="+filepath.Join(dir, "alerts.jsonl"), "--alert", "line,min=critical")
	waitStarted(t, state)

	type sample struct {
		at     time.Duration
		events int64
		rss    int64
	}
	var samples []sample
	stop := make(chan struct{})
	sampled := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(sampled)
		tk := time.NewTicker(5 * time.Second)
		defer tk.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tk.C:
				samples = append(samples, sample{time.Since(start), w.lines, rssKB(p.cmd.Process.Pid)})
			}
		}
	}()
	if _, err := generate.Audit(w, generate.Options{Events: n, Seed: 21, Attacks: true}); err != nil {
		t.Fatal(err)
	}
	if err := w.f.Flush(); err != nil {
		t.Fatal(err)
	}
	waitCaughtUp(t, state, w.live(), p)
	elapsed := time.Since(start)
	close(stop)
	<-sampled
	samples = append(samples, sample{elapsed, w.lines, rssKB(p.cmd.Process.Pid)})
	if code := p.stop(t, syscall.SIGTERM); code != 143 {
		t.Errorf("exit %d after SIGTERM", code)
	}
	var peak, mid, last int64
	for i, s := range samples {
		peak = max(peak, s.rss)
		switch {
		case i >= len(samples)*2/3:
			last = max(last, s.rss)
		case i >= len(samples)/3:
			mid = max(mid, s.rss)
		}
		if i%12 == 0 || i == len(samples)-1 {
			t.Logf("%6s  %9d events written  RSS %4d MB", s.at.Round(time.Second), s.events, s.rss/1024)
		}
	}
	t.Logf("%d events (%d MB) in %s (%.0f events/s): peak RSS %d MB, middle third %d MB, last third %d MB",
		n, w.written>>20, elapsed.Round(time.Second), float64(n)/elapsed.Seconds(), peak/1024, mid/1024, last/1024)
	if peak > 400*1024 {
		t.Errorf("peak RSS %d MB, want < 400 MB", peak/1024)
	}
	if mid > 0 && last > mid*11/10 {
		t.Errorf("RSS grew: middle third %d MB, last third %d MB", mid/1024, last/1024)
	}
}

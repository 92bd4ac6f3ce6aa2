package index

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/metrics"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

// Hostile review (h-hostile) of the case's queries: a query or a flag a responder can type
// must neither hang nor take memory in proportion to the case, and counts must be exact
// ("results are exact", README). Each test failed on main at b4119e4.

// hostileCase writes events (one per time, each with its own namespace, name and user
// when distinct, so that every event is its own group) into a new case.
func hostileCase(t testing.TB, times []time.Time, distinct bool) string {
	t.Helper()
	dir := t.TempDir()
	w, err := Create(dir, "test")
	if err != nil {
		t.Fatal(err)
	}
	for i, tm := range times {
		ns, user := "shop", "alice"
		if distinct {
			ns, user = fmt.Sprintf("ns-%06d", i), fmt.Sprintf("user-%06d", i)
		}
		ev := &auditv1.Event{
			Level: auditv1.LevelMetadata, AuditID: types.UID(fmt.Sprintf("%08x-0000-4000-8000-000000000000", i)),
			Stage: auditv1.StageResponseComplete, RequestURI: "/api/v1/namespaces/" + ns + "/configmaps/cm", Verb: "get",
			SourceIPs: []string{"10.0.0.1"}, UserAgent: "kubectl/v1.32.0",
			ObjectRef:                &auditv1.ObjectReference{Resource: "configmaps", Namespace: ns, Name: fmt.Sprintf("cm-%06d", i)},
			RequestReceivedTimestamp: metav1.NewMicroTime(tm), StageTimestamp: metav1.NewMicroTime(tm),
		}
		ev.User.Username = user
		p, err := Prepare(ev)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Add(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Finish(nil, []byte(`{}`), nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestHostileHistogramOverCenturies: the reader accepts times from 1678 to 2262
// (bad_timestamp outside), but time.Time.Sub saturates at 292 years. On a case whose
// events span 1700..2200, newHistogram's bucket count overflows: --histogram 1ns passes
// the 5000-bucket check (int(+Inf-ish float) is negative, clamped to 1) and then loops
// appending ~1.6e19 buckets (a hang that eats memory until the OOM killer); and with a
// valid interval the event of 2200 is counted in the bucket of 1899 (index() uses the
// saturated Sub), a silent wrong count.
func TestHostileHistogramOverCenturies(t *testing.T) {
	times := []time.Time{
		time.Date(1700, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	c, err := Open(hostileCase(t, times, false), OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	t.Run("every event in its own bucket", func(t *testing.T) {
		iv := 876000 * time.Hour // 100 years: 6 buckets
		res, err := c.Search(context.Background(), Query{Text: "*", Histogram: iv})
		if err != nil {
			t.Fatal(err)
		}
		for _, tm := range times {
			found := false
			for _, b := range res.Histogram {
				if !tm.Before(b.Start) && tm.Before(b.Start.Add(iv)) {
					found = true
					if b.Count != 1 {
						t.Errorf("bucket %s holds the event of %s: count %d, want 1", b.Start.Format(time.DateOnly), tm.Format(time.DateOnly), b.Count)
					}
				}
			}
			if !found {
				t.Errorf("no bucket covers the event of %s", tm.Format(time.DateOnly))
			}
		}
	})

	t.Run("1ns is refused, not looped over", func(t *testing.T) {
		// in a child process with a heap watchdog: in this process the loop would take
		// every byte of the machine (it did: the OOM killer ended the test binary)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run", "^TestHostileHistogramChild$", "-test.v")
		cmd.Env = append(os.Environ(), "KS_HOSTILE_HISTOGRAM_CHILD=1")
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		switch code {
		case 0:
		case childHeap:
			t.Errorf("Search with histogram 1ns over 1700..2200 took more than %d MiB of heap (it appends buckets one nanosecond apart, ~1.6e19 of them): a hang that ends in the OOM killer", childHeapLimit>>20)
		case childTimeout:
			t.Errorf("Search with histogram 1ns over 1700..2200 had not returned after %s", childWait)
		default:
			t.Errorf("child exited %d:\n%s", code, out)
		}
	})
}

const (
	childHeap      = 7
	childTimeout   = 8
	childHeapLimit = 512 << 20
	childWait      = 20 * time.Second // bounds a hang; the check itself takes microseconds
)

// TestHostileHistogramChild is TestHostileHistogramOverCenturies's child process: a
// histogram of 1ns must return an error; a watchdog ends the process when the heap passes
// childHeapLimit or the call takes longer than childWait.
func TestHostileHistogramChild(t *testing.T) {
	if os.Getenv("KS_HOSTILE_HISTOGRAM_CHILD") != "1" {
		t.Skip("run by TestHostileHistogramOverCenturies")
	}
	times := []time.Time{time.Date(1700, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)}
	c, err := Open(hostileCase(t, times, false), OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go func() {
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		deadline := time.Now().Add(childWait)
		for {
			metrics.Read(s)
			if s[0].Value.Uint64() > childHeapLimit {
				os.Exit(childHeap)
			}
			if time.Now().After(deadline) {
				os.Exit(childTimeout)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	if _, err := c.Search(context.Background(), Query{Text: "*", Histogram: time.Nanosecond}); err == nil {
		t.Errorf("a histogram of 1ns over 500 years was accepted")
	}
}

// peakHeap runs f while sampling the live heap every millisecond and returns the highest
// value seen above the heap before f.
func peakHeap(f func()) uint64 {
	runtime.GC()
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	base := s[0].Value.Uint64()
	var peak atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		ss := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		for {
			metrics.Read(ss)
			if v := ss[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	f()
	close(stop)
	<-done
	if p := peak.Load(); p > base {
		return p - base
	}
	return 0
}

// TestHostileWildcardQueryMemory: a page of two results of `name:*`, `*?*?*?*` or `-*` (a
// responder's first guesses at "everything", in the TUI's search bar or `kubesleuth
// search`) takes memory in proportion to the number of groups in the case: bleve expands
// the wildcard over every term of the fields searched. Measured with the binary on a case
// of 400,000 groups (one event each, distinct names): 4.8 GB of RSS for `*?*?*?*`, 4.7 GB
// for `-*`, 3.4 GB for `name:*`, against 0.5 GB for `*` with two facets. "Bounded memory
// whatever the input's size and cardinality" (preamble): eight times the groups must not
// take eight times the memory.
func TestHostileWildcardQueryMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("builds two cases of 5,000 and 40,000 groups")
	}
	mk := func(n int) string {
		times := make([]time.Time, n)
		t0 := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
		for i := range times {
			times[i] = t0.Add(time.Duration(i) * time.Second)
		}
		return hostileCase(t, times, true)
	}
	small, large := mk(5_000), mk(40_000)
	for _, q := range []string{"verb:get", "name:*", "*?*?*?*", "-*"} {
		measure := func(dir string) uint64 {
			c, err := Open(dir, OpenOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			var serr error
			p := peakHeap(func() { _, serr = c.Search(context.Background(), Query{Text: q, Limit: 2}) })
			if serr != nil {
				t.Fatalf("%q: %v", q, serr)
			}
			return p
		}
		ps, pl := measure(small), measure(large)
		t.Logf("%q: peak heap %d MiB on 5k groups, %d MiB on 40k", q, ps>>20, pl>>20)
		if q == "verb:get" {
			continue // the control: a clause matching every group (5x for 8x groups today, 22 MiB on 40k)
		}
		if pl > 2*ps+(16<<20) {
			t.Errorf("%q with --limit 2: peak heap grows with the case: %d MiB on 5,000 groups, %d MiB on 40,000", q, ps>>20, pl>>20)
		}
	}
}

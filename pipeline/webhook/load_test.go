package webhook

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kubesleuth/kubesleuth/analyzer"
	"github.com/kubesleuth/kubesleuth/pipeline"
)

// TestServeLoad is the bounded loopback load test (KUBESLEUTH_SERVE_LOAD=60s; skipped
// without it): 50 clients post realistic batches (400 generated events, the apiserver's
// default --audit-webhook-batch-max-size) over mTLS for the duration, each re-sending a
// batch refused with 429 (after Retry-After) or failed until it is acknowledged, then
// stop. serve's whole path runs in this process: TLS, the envelope check, the spool with
// real fsyncs, and the pipeline with the built-in catalog and a JSON-lines alert file.
// Every event carries a unique auditID; the test checks that every acknowledged event
// was processed exactly once (and no other), and reports events/s acknowledged and
// processed, request latency p50/p99 and the process's peak RSS (clients included).
func TestServeLoad(t *testing.T) {
	spec := os.Getenv("KUBESLEUTH_SERVE_LOAD")
	if spec == "" {
		t.Skip("set KUBESLEUTH_SERVE_LOAD=60s to run the load test")
	}
	dur, err := time.ParseDuration(spec)
	if err != nil {
		t.Fatal(err)
	}
	clients, per := 50, 400
	if v := os.Getenv("KUBESLEUTH_SERVE_LOAD_CLIENTS"); v != "" {
		clients, _ = strconv.Atoi(v)
	}
	p := newPKI(t)
	dir := t.TempDir()
	sp, err := OpenSpool(filepath.Join(dir, "spool"), SpoolOptions{MaxBytes: 512 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	src := &Source{Spool: sp}
	var logs logBuf
	srv, err := NewServer(Config{Spool: sp, Source: src, CertFile: p.server.CertFile, KeyFile: p.server.KeyFile, ClientCAFile: p.ca.CertFile, Log: logs.add})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Shutdown(context.Background())
	url := "https://" + ln.Addr().String() + "/audit"

	rules, err := analyzer.BuiltinRules()
	if err != nil {
		t.Fatal(err)
	}
	al, err := analyzer.LoadAllowlists("")
	if err != nil {
		t.Fatal(err)
	}
	eng, err := analyzer.NewEngine(rules, analyzer.Config{Allowlists: al})
	if err != nil {
		t.Fatal(err)
	}
	alerts, err := pipeline.OpenAlertFile(filepath.Join(dir, "alerts.jsonl"), pipeline.FormatJSONL, analyzer.Info)
	if err != nil {
		t.Fatal(err)
	}
	defer alerts.Close()

	const maxEvents = 1 << 25
	seen := make([]uint8, maxEvents)
	acked := make([]atomic.Bool, maxEvents)
	var processed atomic.Int64
	var dup atomic.Int64
	live := &pipeline.Live{Source: src, Engine: eng, StatePath: filepath.Join(dir, "state"),
		Sinks: []pipeline.NamedSink{{Name: "alerts", Sink: alerts}},
		OnRecord: func(r pipeline.Record) {
			id := string(r.Event.AuditID)
			n, err := strconv.ParseUint(id[min(24, len(id)):], 16, 64)
			if err != nil || n >= maxEvents {
				t.Errorf("an event with auditID %s that no client sent", id)
				return
			}
			if seen[n]++; seen[n] > 1 {
				dup.Add(1)
			}
			processed.Add(1)
		}}
	ctx, cancel := context.WithCancel(context.Background())
	liveDone := make(chan error, 1)
	go func() { liveDone <- live.Run(ctx) }()

	// a pool of generated events whose auditIDs are replaced by a sequence number
	pool := genLines(t, 20000, 7)
	type tmpl struct {
		pre, post []byte
	}
	tmpls := make([]tmpl, len(pool))
	for i, l := range pool {
		k := bytes.Index(l, []byte(`"auditID":"`)) + len(`"auditID":"`)
		e := k + bytes.IndexByte(l[k:], '"')
		tmpls[i] = tmpl{l[:k], l[e:]}
	}
	var seq atomic.Uint64
	var peak atomic.Int64
	stopRSS := make(chan struct{})
	var rssLog []string // RSS every 10 s: flat once warm means bounded
	rssDone := make(chan struct{})
	go func() {
		defer close(rssDone)
		t0 := time.Now()
		next := 10 * time.Second
		for {
			select {
			case <-stopRSS:
				return
			case <-time.After(200 * time.Millisecond):
				r := rss()
				if r > peak.Load() {
					peak.Store(r)
				}
				if time.Since(t0) >= next {
					rssLog = append(rssLog, fmt.Sprintf("%v: %d MiB (spool %d MiB)", next, r>>20, func() int64 { n, _ := sp.Bytes(); return n >> 20 }()))
					next += 10 * time.Second
				}
			}
		}
	}()

	var mu sync.Mutex
	var lat []time.Duration
	var refused429, failed atomic.Int64
	start := time.Now()
	deadline := start.Add(dur)
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			hc := p.clientFor(t, p.client)
			var my []time.Duration
			var body bytes.Buffer
			for time.Now().Before(deadline) {
				first := seq.Add(uint64(per)) - uint64(per)
				body.Reset()
				body.WriteString(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[`)
				for i := 0; i < per; i++ {
					n := first + uint64(i)
					tp := tmpls[int(n)%len(tmpls)]
					if i > 0 {
						body.WriteByte(',')
					}
					body.Write(tp.pre)
					fmt.Fprintf(&body, "%08x-0000-4000-8000-%012x", n>>48, n&(1<<48-1))
					body.Write(tp.post)
				}
				body.WriteString("]}")
				// the batch is re-sent until acknowledged (bounded: 2 minutes past the end)
				for {
					t0 := time.Now()
					resp, err := hc.Post(url, "application/json", bytes.NewReader(body.Bytes()))
					if err != nil {
						failed.Add(1)
						if time.Since(deadline) > 2*time.Minute {
							t.Errorf("client %d: gave up on a batch: %v", c, err)
							return
						}
						time.Sleep(100 * time.Millisecond)
						continue
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode == 200 {
						my = append(my, time.Since(t0))
						for i := 0; i < per; i++ {
							acked[first+uint64(i)].Store(true)
						}
						break
					}
					if resp.StatusCode != 429 {
						t.Errorf("client %d: answered %d", c, resp.StatusCode)
						return
					}
					refused429.Add(1)
					ra, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
					time.Sleep(time.Duration(max(ra, 1)) * time.Second)
				}
			}
			mu.Lock()
			lat = append(lat, my...)
			mu.Unlock()
		}(c)
	}
	wg.Wait()
	sent := time.Since(start)
	// the pipeline catches up with the spool
	for src.Lag() > 0 {
		time.Sleep(10 * time.Millisecond)
	}
	caughtUp := time.Since(start)
	cancel()
	if err := <-liveDone; err != context.Canceled {
		t.Errorf("live: %v", err)
	}
	close(stopRSS)
	<-rssDone
	if r := rss(); r > peak.Load() {
		peak.Store(r)
	}

	total := seq.Load()
	var ackedN, lost int64
	for n := uint64(0); n < total; n++ {
		if acked[n].Load() {
			ackedN++
			if seen[n] != 1 {
				lost++
			}
		} else if seen[n] != 0 {
			t.Errorf("event %d processed but never acknowledged", n)
		}
	}
	if lost > 0 || dup.Load() > 0 {
		t.Errorf("%d acknowledged events not processed exactly once (%d duplicates)", lost, dup.Load())
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	q := func(f float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(int(f*float64(len(lat))), len(lat)-1)]
	}
	t.Logf("%d clients, batches of %d, %v, GOMAXPROCS %d", clients, per, dur, runtime.GOMAXPROCS(0))
	t.Logf("acknowledged %d events in %d requests: %.0f events/s; %d refused with 429 and re-sent, %d failed and re-sent",
		ackedN, len(lat), float64(ackedN)/sent.Seconds(), refused429.Load(), failed.Load())
	t.Logf("processed %d events (each acknowledged one exactly once) by %v: %.0f events/s", processed.Load(), caughtUp.Round(time.Millisecond), float64(processed.Load())/caughtUp.Seconds())
	t.Logf("request latency (200s): p50 %v, p99 %v, max %v", q(.5).Round(time.Microsecond), q(.99).Round(time.Microsecond), q(1).Round(time.Microsecond))
	t.Logf("peak RSS %d MiB (this process: server, pipeline and the clients); RSS over time: %s", peak.Load()>>20, strings.Join(rssLog, ", "))
}

// rss is the process's resident set (VmRSS), in bytes.
func rss() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/kubesleuth/kubesleuth/analyzer"
	"github.com/kubesleuth/kubesleuth/internal/generate"
)

// probeRule alerts on every probe event: each probe has a user of its own, so each is a
// new finding and an alert line of its own.
const probeRule = `rules:
  - id: BENCH-PROBE
    title: Latency probe
    severity: high
    mitre: [T1609]
    description: a probe event written by the latency benchmark
    remediation: none
    on: {resources: [pods], verbs: [get]}
    match: user.username.startsWith("latency-probe-")
    subject: [user]
`

// stampWriter records when each probe's alert line reached it.
type stampWriter struct {
	mu   sync.Mutex
	seen map[string]time.Time
	buf  []byte
}

var probeUser = regexp.MustCompile(`latency-probe-[0-9]+`)

func (s *stampWriter) Write(p []byte) (int, error) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf = append(s.buf, p...)
	for {
		i := bytes.IndexByte(s.buf, '\n')
		if i < 0 {
			break
		}
		if m := probeUser.Find(s.buf[:i]); m != nil {
			if _, ok := s.seen[string(m)]; !ok {
				s.seen[string(m)] = now
			}
		}
		s.buf = s.buf[i+1:]
	}
	return len(p), nil
}

var tsField = regexp.MustCompile(`"requestReceivedTimestamp":"[^"]+"`)

func probeLine(n int, ts []byte) []byte {
	return []byte(fmt.Sprintf(`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"00000000-0000-4000-8000-%012d","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/default/pods/p","verb":"get","user":{"username":"latency-probe-%d"},"sourceIPs":["10.0.0.1"],"objectRef":{"resource":"pods","namespace":"default","name":"p","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":200},%s,"stageTimestamp":%s}`+"\n",
		n, n, ts, bytes.TrimPrefix(ts, []byte(`"requestReceivedTimestamp":`))))
}

// BenchmarkTailLatency measures the time from writing an event to the file to its alert
// line, with tail's engine (the whole catalog plus a probe rule) following the file at a
// steady rate of generated events, one in a hundred a probe. It reports p50 and p99.
//
//	go test ./pipeline -run '^$' -bench TailLatency -benchtime 1x
func BenchmarkTailLatency(b *testing.B) {
	for _, rate := range []int{5000, 20000} {
		b.Run(fmt.Sprintf("%deps", rate), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				p50, p99, n := tailLatency(b, rate, 8*time.Second)
				b.ReportMetric(float64(p50.Milliseconds()), "p50-ms")
				b.ReportMetric(float64(p99.Milliseconds()), "p99-ms")
				b.ReportMetric(float64(n), "probes")
			}
		})
	}
}

func tailLatency(b *testing.B, rate int, d time.Duration) (p50, p99 time.Duration, n int) {
	dir := b.TempDir()
	total := int(float64(rate) * d.Seconds())
	var gen bytes.Buffer
	if _, err := generate.Audit(&gen, generate.Options{Events: total, Seed: 5, Attacks: true}); err != nil {
		b.Fatal(err)
	}
	lines := bytes.SplitAfter(gen.Bytes(), []byte("\n"))
	rules, err := analyzer.BuiltinRules()
	if err != nil {
		b.Fatal(err)
	}
	rf := filepath.Join(dir, "probe.yaml")
	os.WriteFile(rf, []byte(probeRule), 0o600)
	extra, err := analyzer.LoadRuleFiles(rf)
	if err != nil {
		b.Fatal(err)
	}
	al, _ := analyzer.DefaultAllowlists()
	eng, err := analyzer.NewEngine(append(rules, extra...), analyzer.Config{Allowlists: al})
	if err != nil {
		b.Fatal(err)
	}
	log := filepath.Join(dir, "audit.log")
	f, err := os.Create(log)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sw := &stampWriter{seen: map[string]time.Time{}}
	sink := NewAlerts("bench", sw, FormatJSONL, analyzer.Info)
	live := &Live{Follow: &Follow{Path: log, Poll: 50 * time.Millisecond}, Engine: eng,
		Sinks: []NamedSink{{Name: "bench", Sink: sink}}, StatePath: filepath.Join(dir, "state")}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- live.Run(ctx) }()
	time.Sleep(300 * time.Millisecond)

	written := map[string]time.Time{}
	tick := 10 * time.Millisecond
	per := rate / 100 // lines per tick
	start := time.Now()
	next := 0
	probe := 0
	var chunk []byte
	b.ResetTimer()
	for step := 0; next < len(lines); step++ {
		chunk = chunk[:0]
		var probes []string
		for k := 0; k < per && next < len(lines); k++ {
			l := lines[next]
			next++
			chunk = append(chunk, l...)
			if next%100 == 0 {
				if ts := tsField.Find(l); ts != nil {
					probe++
					chunk = append(chunk, probeLine(probe, ts)...)
					probes = append(probes, fmt.Sprintf("latency-probe-%d", probe))
				}
			}
		}
		if _, err := f.Write(chunk); err != nil {
			b.Fatal(err)
		}
		now := time.Now()
		for _, p := range probes {
			written[p] = now
		}
		if wait := time.Until(start.Add(time.Duration(step+1) * tick)); wait > 0 {
			time.Sleep(wait)
		}
	}
	behind := time.Since(start) - d
	// every probe alerted, or 10 s at most
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		sw.mu.Lock()
		got := len(sw.seen)
		sw.mu.Unlock()
		if got >= len(written) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.StopTimer()
	cancel()
	<-done
	var lat []time.Duration
	sw.mu.Lock()
	for p, w := range written {
		if a, ok := sw.seen[p]; ok {
			lat = append(lat, a.Sub(w))
		} else {
			lat = append(lat, 10*time.Second) // never alerted: counted as the worst
		}
	}
	sw.mu.Unlock()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if len(lat) == 0 {
		b.Fatal("no probe written")
	}
	if behind > d/10 {
		b.Logf("the writer fell %s behind its schedule (the machine is busy)", behind)
	}
	return lat[len(lat)/2], lat[len(lat)*99/100], len(lat)
}

// Package generate writes realistic kube-apiserver audit logs, optionally with injected
// attack scenarios and a labels file naming every attack event. It feeds `make demo`, the
// tests of the readers and detectors, and the benchmarks.
//
// The output is JSON lines of audit.k8s.io/v1 Events byte-compatible with what
// kube-apiserver writes: same field order, same string escaping (`&` as \u0026), MicroTime
// timestamps, the RequestReceived / ResponseStarted / ResponseComplete stages of one
// request sharing an auditID, objectRef fields filled the way the apiserver fills them
// (no name on the RequestReceived stage of a create, uid and resourceVersion only once the
// request body was decoded), failed authentication logged as a single ResponseStarted event
// with an empty user, and so on.
//
// The simulated cluster is a nine-node cluster (one control plane, eight workers) with the
// usual control-plane traffic (node leases renewed every 10 s, node status patches,
// leader election, controllers, long-running watches), a few add-ons, human users working
// with kubectl and a CI service account deploying. Its audit policy is modelled on the
// one GKE/GCE clusters use:
//
//   - secrets, configmaps, tokenreviews and serviceaccounts/token at Metadata, except a
//     leftover debugging rule that logs secrets in namespace "payments" and cluster-wide
//     secret lists at RequestResponse, so secret values do reach the log (Stats.SecretValues);
//   - kubelet updates of nodes/status and pods/status at Request;
//   - get, list and watch of resources at Request (no body is logged for reads);
//   - every other request on a resource at RequestResponse; non-resource URLs at Metadata.
//
// Output is a pure function of Options: one PCG stream seeded from Options.Seed drives every
// choice, the clock starts at Options.Start and nothing iterates a map, so the same options
// give the same bytes. Memory does not grow with the number of events: the generator keeps
// only the pending stages of in-flight requests (bounded by the number of open watches).
package generate

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// DefaultStart is the simulated clock's start when Options.Start is zero, fixed so that
// output is reproducible.
var DefaultStart = time.Date(2026, time.March, 2, 8, 0, 0, 0, time.UTC)

// MinEventsWithAttacks is the smallest Options.Events that leaves room for every attack
// scenario between the control-plane noise.
const MinEventsWithAttacks = 1000

// Options selects what Audit writes.
type Options struct {
	// Events is the exact number of audit events (lines) to write. It must be positive,
	// and at least MinEventsWithAttacks when Attacks is set.
	Events int
	// Seed selects the random stream; the same seed gives the same bytes.
	Seed uint64
	// Attacks injects the attack scenarios (see Scenarios) at fixed fractions of the run.
	Attacks bool
	// Start is the time of the first request; zero means DefaultStart.
	Start time.Time
	// Labels, when not nil, receives one JSON line per attack event:
	// {"auditID":"...","stage":"...","scenario":"..."}.
	Labels io.Writer
}

// Stats describes what Audit wrote.
type Stats struct {
	Events   int   // lines written
	Requests int   // distinct auditIDs among them
	Bytes    int64 // bytes written, newlines included
	// First and Last are the smallest and largest stageTimestamp written.
	First, Last time.Time
	// Stages counts events per stage name.
	Stages map[string]int
	// Levels counts events per audit level.
	Levels map[string]int
	// Scenarios counts labelled events per attack scenario (empty without attacks).
	Scenarios map[string]int
	// SecretValues lists, in first-written order and without repeats, every secret value
	// the log discloses (Secret data logged at RequestResponse), decoded: in the log each
	// appears base64-encoded, as the apiserver writes Secret data. Tests use it to prove
	// that nothing downstream stores or prints a value.
	SecretValues []string
}

// Scenarios lists the attack scenario names in injection order. Each event of a scenario
// is written to the labels file with that name.
func Scenarios() []string {
	out := make([]string, len(attackScenarios))
	for i, sc := range attackScenarios {
		out[i] = sc.name
	}
	return out
}

// Audit writes opts.Events audit events to w as JSON lines and returns what it wrote.
// It fails on invalid options or when writing to w or opts.Labels fails; the output is
// then truncated at an arbitrary point.
func Audit(w io.Writer, opts Options) (Stats, error) {
	if opts.Events <= 0 {
		return Stats{}, fmt.Errorf("generate: events must be positive, got %d", opts.Events)
	}
	if opts.Attacks && opts.Events < MinEventsWithAttacks {
		return Stats{}, fmt.Errorf("generate: attack scenarios need at least %d events, got %d", MinEventsWithAttacks, opts.Events)
	}
	if opts.Start.IsZero() {
		opts.Start = DefaultStart
	}
	s := newSim(w, opts)
	err := s.run()
	if ferr := s.out.Flush(); err == nil && ferr != nil {
		err = fmt.Errorf("generate: writing audit log: %w", ferr)
	}
	if s.labels != nil {
		if ferr := s.labels.Flush(); err == nil && ferr != nil {
			err = fmt.Errorf("generate: writing labels: %w", ferr)
		}
	}
	return s.stats, err
}

// Audit levels, in policy order.
type level uint8

const (
	levelMetadata level = iota
	levelRequest
	levelRequestResponse
)

var levelNames = [...]string{"Metadata", "Request", "RequestResponse"}

// Stages of one request.
type stage uint8

const (
	stageRequestReceived stage = iota
	stageResponseStarted
	stageResponseComplete
)

var stageNames = [...]string{"RequestReceived", "ResponseStarted", "ResponseComplete"}

// identity is who sends a request, pre-rendered because the same few hundred identities
// send every request.
type identity struct {
	name string
	user []byte // `"user":{...}`
	tail []byte // `,"sourceIPs":[...],"userAgent":"..."`
}

// objRef is the audit objectRef of a request.
type objRef struct {
	resource, namespace, name, group, version, subresource string
	// bodyName is the name the apiserver learns from the request body (creates), shown
	// from the ResponseStarted stage on.
	bodyName string
	// uid and rv come from the metadata of the request body (updates), shown from the
	// ResponseStarted stage on.
	uid string
	rv  uint64
}

// bodyFunc appends a request or response object.
type bodyFunc func(s *sim, r *request, b []byte) []byte

// request is one API request, rendered as one to three events.
type request struct {
	id        [36]byte
	level     level
	verb      string
	uri       string
	who       *identity
	imp       []byte // `"impersonatedUser":{...}` or nil
	ref       objRef
	hasRef    bool
	code      int
	status    []byte // rendered responseStatus for failures; nil means `{"metadata":{},"code":N}`
	reqBody   bodyFunc
	respBody  bodyFunc
	notes     []byte // rendered annotations content after `{`, without the closing brace
	received  int64  // µs since the epoch
	started   int64  // ResponseStarted time (long-running requests)
	completed int64
	// stages to emit: RequestReceived (unless failed authentication), ResponseStarted
	// (long-running or failed authentication), ResponseComplete (unless failed authentication).
	noReceived, withStarted, noComplete bool
	left                                int // stages not yet written
	scenario                            string
	// free-form parameters the body functions read.
	i1     int
	s1, s2 string
	t1     int64
	x      any
}

// item is a heap entry: either an actor to fire or a request stage to write.
type item struct {
	t     int64
	seq   uint64
	a     *actor
	r     *request
	stage stage
}

// actor is a source of requests that fires at times of its own choosing.
type actor struct {
	fire func(s *sim, a *actor) // fires at s.now; reschedules itself through s.at
	i    int
	n    int // step counter
	x    any
}

type sim struct {
	bound  map[*pod][]boundID // pod-bound service-account identities by pod
	rng    *rand.Rand
	out    *bufio.Writer
	labels *bufio.Writer
	opts   Options
	stats  Stats

	now  int64 // µs
	seq  uint64
	heap []item
	buf  []byte
	clk  clock
	rv   uint64

	c        *cluster
	watchers []watcher

	free []*request

	// attack bookkeeping
	triggers       []int // event counts at which attackScenarios[i] starts
	nextTrigger    int
	pendingAttack  int // attack events scheduled but not yet written
	secretsWritten []bool
}

func newSim(w io.Writer, opts Options) *sim {
	s := &sim{
		rng:  rand.New(rand.NewPCG(opts.Seed, 0x6b756265736c6575)), // "kubesleu"
		out:  bufio.NewWriterSize(w, 1<<20),
		opts: opts,
		now:  opts.Start.UnixMicro(),
		rv:   48213390 + uint64(opts.Seed%1000)*1000,
		buf:  make([]byte, 0, 64<<10),
	}
	if opts.Labels != nil {
		s.labels = bufio.NewWriterSize(opts.Labels, 64<<10)
	}
	s.stats.Stages = map[string]int{}
	s.stats.Levels = map[string]int{}
	s.stats.Scenarios = map[string]int{}
	s.c = newCluster(s)
	s.secretsWritten = make([]bool, len(s.c.secrets))
	if opts.Attacks {
		// Spread the scenarios over the run, leaving room at the end for every attack
		// event so that the log holds them all whatever Events is.
		room := opts.Events - attackReserve
		for i := range attackScenarios {
			s.triggers = append(s.triggers, room*(i+1)/(len(attackScenarios)+1))
		}
	}
	return s
}

// attackReserve is an upper bound on the number of events all scenarios write together.
const attackReserve = 600

var errDone = errors.New("done")

func (s *sim) run() error {
	s.c.start()
	for len(s.heap) > 0 {
		it := s.pop()
		s.now = it.t
		if it.a != nil {
			if s.draining() {
				continue
			}
			it.a.fire(s, it.a)
			continue
		}
		r := it.r
		if r.scenario == "" && s.draining() {
			// No room left but for the attack events still to come.
			s.release(r)
			continue
		}
		if err := s.write(r, it.stage, it.t); err != nil {
			return err
		}
		if r.scenario != "" {
			s.pendingAttack--
		}
		s.release(r)
		if s.stats.Events >= s.opts.Events {
			return nil
		}
		for s.nextTrigger < len(s.triggers) && s.stats.Events >= s.triggers[s.nextTrigger] {
			attackScenarios[s.nextTrigger].run(s)
			s.nextTrigger++
		}
	}
	return nil
}

// draining reports whether the remaining room is reserved for scheduled attack events.
func (s *sim) draining() bool {
	return s.stats.Events+s.pendingAttack >= s.opts.Events
}

func (s *sim) release(r *request) {
	r.left--
	if r.left == 0 && r.scenario == "" {
		*r = request{}
		s.free = append(s.free, r)
	}
}

// at schedules actor a to fire at time t.
func (s *sim) at(t int64, a *actor) {
	if t < s.now {
		t = s.now
	}
	s.push(item{t: t, a: a})
}

// newRequest returns a zeroed request with a fresh auditID, received now.
func (s *sim) newRequest() *request {
	var r *request
	if n := len(s.free); n > 0 {
		r = s.free[n-1]
		s.free = s.free[:n-1]
	} else {
		r = new(request)
	}
	appendUUID(r.id[:0], s.rng.Uint64(), s.rng.Uint64())
	r.received = s.now
	r.code = 200
	return r
}

// submit schedules the stages of r. r.received must be set; latency is the time to
// ResponseComplete (or, for long-running requests, to ResponseStarted, with completed set
// by the caller).
func (s *sim) submit(r *request, latency int64) {
	if latency < 50 {
		latency = 50
	}
	r.level = policyLevel(r)
	if r.withStarted {
		if r.started == 0 {
			r.started = r.received + latency
		}
		if r.completed < r.started {
			r.completed = r.started
		}
	} else {
		r.completed = r.received + latency
		if latency > 500000 && r.notes != nil && r.hasRef {
			r.notes = s.latencyNotes(r, latency)
		}
	}
	if !r.noReceived {
		s.push(item{t: r.received, r: r, stage: stageRequestReceived})
		r.left++
	}
	if r.withStarted {
		s.push(item{t: r.started, r: r, stage: stageResponseStarted})
		r.left++
	}
	if !r.noComplete {
		s.push(item{t: r.completed, r: r, stage: stageResponseComplete})
		r.left++
	}
	if r.scenario != "" {
		s.pendingAttack += r.left
	}
}

// longRunning marks r as a long-running request (watch, exec, attach, portforward,
// proxy, log): the apiserver logs a ResponseStarted stage when the response begins,
// startAfter µs after receipt, and ResponseComplete when it ends, lasting µs later.
func (s *sim) longRunning(r *request, startAfter, lasting int64) {
	r.withStarted = true
	r.started = r.received + startAfter
	r.completed = r.started + lasting
}

// latencyNotes prepends the annotations the apiserver adds to a request slower than
// 500 ms (keys sorted, before authorization.k8s.io/*).
func (s *sim) latencyNotes(r *request, latency int64) []byte {
	etcd := latency * int64(40+s.rng.IntN(50)) / 100
	d := func(us int64) string { return time.Duration(us*1000 + s.rng.Int64N(1000)).String() }
	b := appendKV(nil, false, "apiserver.latency.k8s.io/etcd", d(etcd))
	b = appendKV(b, true, "apiserver.latency.k8s.io/response-write", time.Duration(400+s.rng.IntN(600)).String())
	b = appendKV(b, true, "apiserver.latency.k8s.io/serialize-response-object", d(10+s.rng.Int64N(90)))
	b = appendKV(b, true, "apiserver.latency.k8s.io/total", d(latency))
	b = appendKV(b, true, "apiserver.latency.k8s.io/transform-response-object", d(3+s.rng.Int64N(40)))
	b = append(b, ',')
	return append(b, r.notes...)
}

// nextRV returns a fresh etcd revision for a write.
func (s *sim) nextRV() uint64 {
	s.rv += 1 + uint64(s.rng.IntN(3))
	return s.rv
}

// jitter returns d ± frac·d, in µs.
func (s *sim) jitter(d int64, frac float64) int64 {
	return d + int64((s.rng.Float64()*2-1)*frac*float64(d))
}

// latency returns a plausible apiserver latency in µs for a cheap request.
func (s *sim) latency() int64 {
	// Mostly 1-8 ms, with a tail.
	l := 800 + s.rng.Int64N(7000)
	switch n := s.rng.IntN(4000); {
	case n == 0: // an etcd hiccup: the apiserver adds latency annotations
		l += 500000 + s.rng.Int64N(1500000)
	case n <= 80:
		l += s.rng.Int64N(150000)
	}
	return l
}

// write renders one event line and, for attack events, its label.
func (s *sim) write(r *request, st stage, t int64) error {
	b := s.buf[:0]
	b = append(b, `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"`...)
	b = append(b, levelNames[r.level]...)
	b = append(b, `","auditID":"`...)
	b = append(b, r.id[:]...)
	b = append(b, `","stage":"`...)
	b = append(b, stageNames[st]...)
	b = append(b, `","requestURI":`...)
	b = appendString(b, r.uri)
	b = append(b, `,"verb":"`...)
	b = append(b, r.verb...)
	b = append(b, `",`...)
	b = append(b, r.who.user...)
	if r.imp != nil {
		b = append(b, ',')
		b = append(b, r.imp...)
	}
	b = append(b, r.who.tail...)
	if r.hasRef {
		b = s.appendRef(b, r, st)
	}
	if st != stageRequestReceived {
		b = append(b, `,"responseStatus":`...)
		if r.status != nil {
			b = append(b, r.status...)
		} else {
			b = append(b, `{"metadata":{},"code":`...)
			b = appendUint(b, uint64(r.code))
			b = append(b, '}')
		}
		if r.level >= levelRequest && r.reqBody != nil {
			b = append(b, `,"requestObject":`...)
			b = r.reqBody(s, r, b)
		}
		if st == stageResponseComplete && r.level == levelRequestResponse {
			if r.respBody != nil {
				b = append(b, `,"responseObject":`...)
				b = r.respBody(s, r, b)
			} else if r.status != nil {
				// A failed request's response is the Status object itself.
				b = append(b, `,"responseObject":{"kind":"Status","apiVersion":"v1",`...)
				b = append(b, r.status[1:]...)
			}
		}
	}
	b = append(b, `,"requestReceivedTimestamp":`...)
	b = s.clk.appendMicro(b, r.received)
	b = append(b, `,"stageTimestamp":`...)
	b = s.clk.appendMicro(b, t)
	if st != stageRequestReceived && r.notes != nil {
		b = append(b, `,"annotations":{`...)
		b = append(b, r.notes...)
		b = append(b, '}')
	}
	b = append(b, '}', '\n')
	s.buf = b
	if _, err := s.out.Write(b); err != nil {
		return fmt.Errorf("generate: writing audit log: %w", err)
	}
	if s.stats.Events == 0 {
		s.stats.First = time.UnixMicro(t).UTC()
	}
	s.stats.Last = time.UnixMicro(max(t, s.stats.Last.UnixMicro())).UTC()
	s.stats.Events++
	s.stats.Bytes += int64(len(b))
	s.stats.Stages[stageNames[st]]++
	s.stats.Levels[levelNames[r.level]]++
	if r.left == r.stagesTotal() {
		s.stats.Requests++
	}
	if r.scenario != "" {
		s.stats.Scenarios[r.scenario]++
		if s.labels != nil {
			l := b[len(b):]
			l = append(l, `{"auditID":"`...)
			l = append(l, r.id[:]...)
			l = append(l, `","stage":"`...)
			l = append(l, stageNames[st]...)
			l = append(l, `","scenario":"`...)
			l = append(l, r.scenario...)
			l = append(l, "\"}\n"...)
			if _, err := s.labels.Write(l); err != nil {
				return fmt.Errorf("generate: writing labels: %w", err)
			}
		}
	}
	return nil
}

// stagesTotal is the number of stages r was submitted with.
func (r *request) stagesTotal() int {
	n := 0
	if !r.noReceived {
		n++
	}
	if r.withStarted {
		n++
	}
	if !r.noComplete {
		n++
	}
	return n
}

func (s *sim) appendRef(b []byte, r *request, st stage) []byte {
	f := &r.ref
	b = append(b, `,"objectRef":{`...)
	comma := false
	if f.resource != "" {
		b = appendKV(b, comma, "resource", f.resource)
		comma = true
	}
	if f.namespace != "" {
		b = appendKV(b, comma, "namespace", f.namespace)
		comma = true
	}
	name := f.name
	if name == "" && st != stageRequestReceived {
		name = f.bodyName
	}
	if name != "" {
		b = appendKV(b, comma, "name", name)
		comma = true
	}
	if st != stageRequestReceived && f.uid != "" {
		b = appendKV(b, comma, "uid", f.uid)
		comma = true
	}
	if f.group != "" {
		b = appendKV(b, comma, "apiGroup", f.group)
		comma = true
	}
	if f.version != "" {
		b = appendKV(b, comma, "apiVersion", f.version)
		comma = true
	}
	if st != stageRequestReceived && f.rv != 0 {
		if comma {
			b = append(b, ',')
		}
		b = append(b, `"resourceVersion":"`...)
		b = appendUint(b, f.rv)
		b = append(b, '"')
		comma = true
	}
	if f.subresource != "" {
		b = appendKV(b, comma, "subresource", f.subresource)
	}
	return append(b, '}')
}

// discloseSecret records that secret index i's values were written into the log.
func (s *sim) discloseSecret(i int) {
	if s.secretsWritten[i] {
		return
	}
	s.secretsWritten[i] = true
	for _, kv := range s.c.secrets[i].data {
		if !slices.Contains(s.stats.SecretValues, kv.value) {
			s.stats.SecretValues = append(s.stats.SecretValues, kv.value)
		}
	}
}

// policyLevel is the simulated audit policy (see the package doc).
func policyLevel(r *request) level {
	if !r.hasRef {
		return levelMetadata
	}
	res, sub := r.ref.resource, r.ref.subresource
	switch {
	case res == "secrets" && (r.ref.namespace == "payments" || (r.verb == "list" && r.ref.namespace == "")):
		return levelRequestResponse
	case res == "secrets" || res == "configmaps" || res == "tokenreviews" || (res == "serviceaccounts" && sub == "token"):
		return levelMetadata
	case strings.HasPrefix(r.who.name, "system:node:") && (sub == "status") && (res == "nodes" || res == "pods") &&
		(r.verb == "update" || r.verb == "patch"):
		return levelRequest
	case r.verb == "get" || r.verb == "list" || r.verb == "watch":
		return levelRequest
	}
	return levelRequestResponse
}

// ---- heap of items ordered by (t, seq) ----

func (s *sim) push(it item) {
	s.seq++
	it.seq = s.seq
	h := append(s.heap, it)
	i := len(h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !less(&h[i], &h[p]) {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
	s.heap = h
}

func (s *sim) pop() item {
	h := s.heap
	top := h[0]
	n := len(h) - 1
	h[0] = h[n]
	h[n] = item{}
	h = h[:n]
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && less(&h[r], &h[l]) {
			m = r
		}
		if !less(&h[m], &h[i]) {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	s.heap = h
	return top
}

func less(a, b *item) bool {
	if a.t != b.t {
		return a.t < b.t
	}
	return a.seq < b.seq
}

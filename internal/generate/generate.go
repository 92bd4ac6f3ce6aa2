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
// The zero Options give that cluster as described. The other options reshape it into the
// distributions real logs have, for benchmarks and tests that must not depend on one shape:
//
//   - OmitStages drops stages from the log, as managed clusters do (GKE and EKS omit
//     RequestReceived, so every line is a stage a detector must evaluate);
//   - Identities adds a population of nodes, workload service accounts, people and CI
//     jobs until that many distinct user names send the traffic (population.go);
//   - Unique gives every request of the noise a fresh user, source IP, user agent or
//     object name: a cardinality stress test;
//   - APIServers splits the traffic over an HA control plane's apiservers, each with its
//     own clock skew and identity lease, and merges their logs as a log shipper does, in
//     rough rather than strict time order;
//   - Bodies sets the share of requests logged at Request or RequestResponse.
//
// The attack scenarios are written in every variant with their labels: Unique and Bodies
// reshape the noise only (an attack keeps its identities, names and levels, so a detection
// that needs them still has them); OmitStages and APIServers apply to every request, as
// they would in the cluster.
//
// Output is a pure function of Options: one PCG stream seeded from Options.Seed drives every
// choice, the clock starts at Options.Start and nothing iterates a map, so the same options
// give the same bytes. Memory does not grow with the number of events nor with
// Options.Identities: the generator keeps the pending stages of in-flight requests (bounded
// by the number of open watches), a fixed-size cache of rendered population identities,
// and with several apiservers a bounded buffer per apiserver.
package generate

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strconv"
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

	// OmitStages lists the stages the audit policy does not log (its omitStages), among
	// OmittableStages. GKE and EKS omit RequestReceived. Without ResponseStarted, failed
	// authentications (logged only at that stage) are not logged at all, as in the
	// apiserver. Events stays the exact line count: the run covers more simulated time.
	OmitStages []string
	// Identities is the number of distinct user names that send the traffic. Zero means
	// the simulated cluster's own, BaseIdentities(APIServers); more adds a population of
	// nodes, workload service accounts, people and CI jobs, each derived from its index
	// (so 100,000 or more cost no memory per identity), with a heavy-tailed share of the
	// requests: a few busy identities and a long tail. Every identity of the population
	// has sent a request once the population has sent twice as many requests as it has
	// members; the cluster's own people and CI job come at random, so a run of less than
	// an hour of simulated time may lack one of them. The attack scenarios' identities
	// come on top.
	Identities int
	// Unique lists fields, among UniqueFields, that every request of the noise gets a
	// fresh value of: "user" (the user name gets a per-request suffix, keeping its form:
	// system:node:X-N, alice+N@example.com), "source-ip" (an address of 10.128.0.0/10,
	// which no simulated host uses, distinct for the first 4,194,304 requests),
	// "user-agent" (a /rN suffix) and "name"
	// (objectRef.name and the requestURI of every request that names an object; request
	// and response bodies keep the simulated object's name). Stats.Unique counts the
	// requests that got a fresh value (with "name" alone, those that name an object),
	// written or still in flight when the run ends. Attack requests keep theirs.
	Unique []string
	// APIServers is the number of apiservers of an HA control plane, 0 or 1 meaning one.
	// With more, each client's requests go to one apiserver (a connection sticks to it),
	// each apiserver stamps its events with its own clock skew (within ±5 ms) and renews
	// its identity lease (apiserver-<hash> in kube-system, as kube-apiserver names it),
	// each has its control-plane node, and the logs are merged as a shipper tailing each
	// file does: in blocks of about a second (at most 256 KiB) per apiserver, so the
	// merged log is in rough, not strict, time order. At most MaxAPIServers.
	APIServers int
	// Bodies, when not nil, is the share (0 to 1) of the noise's requests logged at
	// Request or RequestResponse: the chosen requests keep the policy's level, or get
	// Request (reads) or RequestResponse (writes) when the policy gives them Metadata; the
	// others are logged at Metadata, without bodies. Which requests are chosen depends
	// on their auditIDs only, so changing Bodies changes levels, not traffic. Nil is the
	// simulated policy: about 92% of requests at Request or RequestResponse, half of them
	// with a body (reads at Request have none).
	Bodies *float64
}

// OmittableStages are the stages Options.OmitStages may name. ResponseComplete cannot be
// omitted: it is the one stage almost every request has.
var OmittableStages = []string{"RequestReceived", "ResponseStarted"}

// UniqueFields are the fields Options.Unique may name.
var UniqueFields = []string{"user", "source-ip", "user-agent", "name"}

// MaxAPIServers bounds Options.APIServers (real HA control planes have 3 to 5).
const MaxAPIServers = 16

// baseIdentities is the number of distinct user names of the simulated cluster's noise
// with one apiserver (TestBaseIdentities counts them).
const baseIdentities = 27

// BaseIdentities is the number of distinct user names of the simulated cluster's own
// traffic with the given number of apiservers (each extra one brings its control-plane
// node's kubelet): the smallest Options.Identities.
func BaseIdentities(apiservers int) int {
	return baseIdentities + max(apiservers, 1) - 1
}

// Validate reports the first invalid option, naming it; Audit calls it.
func (o Options) Validate() error {
	if o.Events <= 0 {
		return fmt.Errorf("generate: events must be positive, got %d", o.Events)
	}
	if o.Attacks && o.Events < MinEventsWithAttacks {
		return fmt.Errorf("generate: attack scenarios need at least %d events, got %d", MinEventsWithAttacks, o.Events)
	}
	for _, st := range o.OmitStages {
		if !slices.Contains(OmittableStages, st) {
			return fmt.Errorf("generate: cannot omit stage %q: the stages that can be omitted are %s", st, strings.Join(OmittableStages, ", "))
		}
	}
	for _, f := range o.Unique {
		if !slices.Contains(UniqueFields, f) {
			return fmt.Errorf("generate: unknown unique field %q: the fields are %s", f, strings.Join(UniqueFields, ", "))
		}
	}
	if o.APIServers < 0 || o.APIServers > MaxAPIServers {
		return fmt.Errorf("generate: apiservers must be between 1 and %d, got %d", MaxAPIServers, o.APIServers)
	}
	if base := BaseIdentities(o.APIServers); o.Identities != 0 && o.Identities < base {
		return fmt.Errorf("generate: identities must be at least %d (the simulated cluster's own), got %d", base, o.Identities)
	}
	if o.Bodies != nil && !(*o.Bodies >= 0 && *o.Bodies <= 1) {
		return fmt.Errorf("generate: bodies must be a share between 0 and 1, got %v", *o.Bodies)
	}
	return nil
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
	// Unique is the number of requests that got fresh values of Options.Unique's fields.
	Unique int
	// APIServers counts events per apiserver (one entry per apiserver).
	APIServers []int
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
func Audit(w io.Writer, opts Options) (Stats, error) { return audit(w, opts, nil) }

// audit is Audit, calling trace (when not nil) with the apiserver, auditID and stage of
// each line as it is made: the tests' view of what the output alone does not tell.
func audit(w io.Writer, opts Options, trace func(ap int, auditID, stage string)) (Stats, error) {
	if err := opts.Validate(); err != nil {
		return Stats{}, err
	}
	if opts.Start.IsZero() {
		opts.Start = DefaultStart
	}
	s := newSim(w, opts)
	s.trace = trace
	err := s.run()
	if err == nil {
		err = s.flushAll()
	}
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

// identity is who sends a request, pre-rendered because the same identities send request
// after request.
type identity struct {
	name string
	user []byte // `"user":{...}`
	tail []byte // `,"sourceIPs":[...],"userAgent":"..."`
	// Offsets for Options.Unique: where user gets the name's suffix (0: never), where
	// the first source IP ends in tail (0: never).
	nameAt, ipEnd int
	plus          bool   // the suffix goes before '@' as "+N", not after the name as "-N"
	conn          uint32 // picks the apiserver this identity's connection goes to
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
	left                                int    // stages not yet written
	total                               int    // stages submitted
	ap                                  int    // apiserver that handles the request
	uniq                                uint64 // Options.Unique's per-request value (0: none)
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

	// variants (Options beyond the default cluster)
	omit                               [3]bool
	bodies                             int64 // Options.Bodies scaled to 1<<32; -1: the policy
	uniqUser, uniqIP, uniqUA, uniqName bool
	uniqN                              uint64
	aps                                []apiserver // len > 1 only for an HA control plane
	population                         *population
	trace                              func(ap int, auditID, stage string)
}

// apiserver is one apiserver of an HA control plane: its clock skew, and the block of its
// log that the shipper has not sent yet.
type apiserver struct {
	skew     int64 // µs added to every timestamp it writes
	pend     []byte
	deadline int64 // when pend is shipped, at the latest
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
	s.bodies = -1
	if opts.Bodies != nil {
		s.bodies = int64(*opts.Bodies * (1 << 32))
	}
	for _, st := range opts.OmitStages {
		s.omit[slices.Index(stageNames[:], st)] = true
	}
	for _, f := range opts.Unique {
		switch f {
		case "user":
			s.uniqUser = true
		case "source-ip":
			s.uniqIP = true
		case "user-agent":
			s.uniqUA = true
		case "name":
			s.uniqName = true
		}
	}
	s.stats.APIServers = make([]int, max(opts.APIServers, 1))
	if opts.APIServers > 1 {
		s.aps = make([]apiserver, opts.APIServers)
		for i := range s.aps {
			s.aps[i].skew = s.rng.Int64N(10001) - 5000
		}
	}
	s.c = newCluster(s)
	if opts.Identities > 0 {
		s.population = newPopulation(s, opts.Identities-BaseIdentities(opts.APIServers))
	}
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
	if r.left <= 0 && r.scenario == "" {
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
	if r.scenario == "" {
		if s.bodies >= 0 {
			r.level = s.bodyLevel(r)
		}
		if s.uniqUser || s.uniqIP || s.uniqUA || s.uniqName && (r.ref.name != "" || r.ref.bodyName != "") && !ownObject(r) {
			s.uniqN++
			s.stats.Unique++
			r.uniq = s.uniqN
			if s.uniqName && !ownObject(r) {
				s.uniqueName(r)
			}
		}
	}
	if s.aps != nil {
		r.ap = int(r.who.conn % uint32(len(s.aps)))
	}
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
	if !r.noReceived && !s.omit[stageRequestReceived] {
		s.push(item{t: r.received, r: r, stage: stageRequestReceived})
		r.left++
	}
	if r.withStarted && !s.omit[stageResponseStarted] {
		s.push(item{t: r.started, r: r, stage: stageResponseStarted})
		r.left++
	}
	if !r.noComplete {
		s.push(item{t: r.completed, r: r, stage: stageResponseComplete})
		r.left++
	}
	r.total = r.left
	if r.left == 0 {
		// Every stage omitted (a failed authentication without ResponseStarted): the
		// request leaves no trace, as in the apiserver.
		s.release(r)
		return
	}
	if r.scenario != "" {
		s.pendingAttack += r.left
	}
}

// bodyLevel is the level of r under Options.Bodies. The choice reads r's auditID, which is
// uniformly random, rather than drawing from the stream: the traffic stays the same
// whatever the share.
func (s *sim) bodyLevel(r *request) level {
	var u int64
	for _, c := range r.id[:8] {
		u = u<<4 | int64(strings.IndexByte(hexDigits, c))
	}
	if u >= s.bodies {
		return levelMetadata
	}
	if r.level != levelMetadata {
		return r.level
	}
	if r.verb == "get" || r.verb == "list" || r.verb == "watch" {
		return levelRequest
	}
	return levelRequestResponse
}

// ownObject: r is a kubelet's request on its own Node or Lease, whose name is the
// kubelet's own. Renamed, the kubelet would write another node's object (KS-CP-007 on
// every request), which no cluster does: Options.Unique leaves those names alone.
func ownObject(r *request) bool {
	n := r.ref.name
	return n != "" && (r.ref.resource == "nodes" || r.ref.resource == "leases") && strings.HasSuffix(r.who.name, ":"+n)
}

// uniqueName gives r's object a fresh name, in objectRef and in the requestURI.
func (s *sim) uniqueName(r *request) {
	suffix := "-u" + strconv.FormatUint(r.uniq, 10)
	if n := r.ref.name; n != "" {
		path, query, _ := strings.Cut(r.uri, "?")
		if i := strings.LastIndex(path, "/"+n); i >= 0 && (i+1+len(n) == len(path) || path[i+1+len(n)] == '/') {
			path = path[:i+1+len(n)] + suffix + path[i+1+len(n):]
			if query != "" {
				path += "?" + query
			}
			r.uri = path
		}
		r.ref.name = n + suffix
	}
	if r.ref.bodyName != "" {
		r.ref.bodyName += suffix
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
	b = s.appendUser(b, r)
	if r.imp != nil {
		b = append(b, ',')
		b = append(b, r.imp...)
	}
	b = s.appendTail(b, r)
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
	var skew int64
	if s.aps != nil {
		skew = s.aps[r.ap].skew
	}
	b = append(b, `,"requestReceivedTimestamp":`...)
	b = s.clk.appendMicro(b, r.received+skew)
	b = append(b, `,"stageTimestamp":`...)
	b = s.clk.appendMicro(b, t+skew)
	if st != stageRequestReceived && r.notes != nil {
		b = append(b, `,"annotations":{`...)
		b = append(b, r.notes...)
		b = append(b, '}')
	}
	b = append(b, '}', '\n')
	s.buf = b
	if s.trace != nil {
		s.trace(r.ap, string(r.id[:]), stageNames[st])
	}
	if err := s.emit(b, r.ap, t); err != nil {
		return err
	}
	if ts := t + skew; s.stats.Events == 0 {
		s.stats.First = time.UnixMicro(ts).UTC()
		s.stats.Last = s.stats.First
	} else if ts < s.stats.First.UnixMicro() {
		s.stats.First = time.UnixMicro(ts).UTC()
	} else if ts > s.stats.Last.UnixMicro() {
		s.stats.Last = time.UnixMicro(ts).UTC()
	}
	s.stats.Events++
	s.stats.Bytes += int64(len(b))
	s.stats.Stages[stageNames[st]]++
	s.stats.Levels[levelNames[r.level]]++
	s.stats.APIServers[r.ap]++
	if r.left == r.total {
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

// shipBlock bounds an apiserver's unshipped block of log.
const shipBlock = 256 << 10

// emit writes one line handled by apiserver ap at simulated time t. With one apiserver it
// goes straight out. With several, it joins its apiserver's block, and every block whose
// deadline has passed is shipped first: a shipper tailing each apiserver's file sends
// what it read about once a second, so blocks of different apiservers interleave.
func (s *sim) emit(line []byte, ap int, t int64) error {
	if s.aps == nil {
		if _, err := s.out.Write(line); err != nil {
			return fmt.Errorf("generate: writing audit log: %w", err)
		}
		return nil
	}
	for i := range s.aps {
		if a := &s.aps[i]; len(a.pend) > 0 && t >= a.deadline {
			if err := s.ship(a); err != nil {
				return err
			}
		}
	}
	a := &s.aps[ap]
	if len(a.pend) == 0 {
		a.deadline = t + s.jitter(sec, 0.5)
	}
	a.pend = append(a.pend, line...)
	if len(a.pend) >= shipBlock {
		return s.ship(a)
	}
	return nil
}

func (s *sim) ship(a *apiserver) error {
	_, err := s.out.Write(a.pend)
	a.pend = a.pend[:0]
	if err != nil {
		return fmt.Errorf("generate: writing audit log: %w", err)
	}
	return nil
}

// flushAll ships the blocks left at the end of the run, earliest deadline first.
func (s *sim) flushAll() error {
	for {
		var next *apiserver
		for i := range s.aps {
			if a := &s.aps[i]; len(a.pend) > 0 && (next == nil || a.deadline < next.deadline) {
				next = a
			}
		}
		if next == nil {
			return nil
		}
		if err := s.ship(next); err != nil {
			return err
		}
	}
}

// appendUser appends r's `"user":{...}`, with a fresh name under Options.Unique.
func (s *sim) appendUser(b []byte, r *request) []byte {
	who := r.who
	if !s.uniqUser || r.uniq == 0 || who.nameAt == 0 {
		return append(b, who.user...)
	}
	b = append(b, who.user[:who.nameAt]...)
	if who.plus {
		b = append(b, '+')
	} else {
		b = append(b, '-')
	}
	b = appendUint(b, r.uniq)
	return append(b, who.user[who.nameAt:]...)
}

// appendTail appends r's source IPs and user agent, fresh ones under Options.Unique.
func (s *sim) appendTail(b []byte, r *request) []byte {
	who := r.who
	if r.uniq == 0 || who.ipEnd == 0 || !s.uniqIP && !s.uniqUA {
		return append(b, who.tail...)
	}
	rest := who.tail
	if s.uniqIP {
		n := (r.uniq - 1) & (1<<22 - 1)
		b = append(b, `,"sourceIPs":["10.`...)
		b = appendUint(b, 128+n>>16)
		b = append(b, '.')
		b = appendUint(b, n>>8&255)
		b = append(b, '.')
		b = appendUint(b, n&255)
		b = append(b, '"')
		rest = rest[who.ipEnd:]
	}
	if !s.uniqUA {
		return append(b, rest...)
	}
	b = append(b, rest[:len(rest)-1]...) // without the user agent's closing quote
	b = append(b, '/', 'r')
	b = appendUint(b, r.uniq)
	return append(b, '"')
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

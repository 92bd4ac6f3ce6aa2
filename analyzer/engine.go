package analyzer

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/cel-go/cel"
	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/kubesleuth/kubesleuth/analyzer/redact"
)

// Config tunes an Engine.
type Config struct {
	// Allowlists used by allowed() and isSystem(). Zero value: none beyond the built-ins
	// of isSystem; use DefaultAllowlists() for the documented defaults.
	Allowlists Allowlists
	// MaxEvidence caps the auditIDs kept per finding (Count stays exact). Default 100.
	MaxEvidence int
}

// RuleCoverage says a rule could not look at some events because their audit level did
// not record the body it reads.
type RuleCoverage struct {
	RuleID string `json:"rule_id"`
	Needs  string `json:"needs"`
	Events int    `json:"events"`
}

// Result is what the engine concluded so far.
type Result struct {
	Findings     []Finding      `json:"findings"`
	NotEvaluable []RuleCoverage `json:"not_evaluable,omitempty"`
	// NotEvaluableEvents is the number of events on which at least one rule could not
	// look (each RuleCoverage counts its own)
	NotEvaluableEvents int `json:"not_evaluable_events,omitempty"`
	// EvalErrors counts, per rule, events on which its CEL failed (a missing field, a
	// type mismatch): the rule did not match them.
	EvalErrors map[string]int `json:"eval_errors,omitempty"`
}

// Engine evaluates rules over audit events given in time order. It is not safe for
// concurrent use: one goroutine calls Observe.
type Engine struct {
	cfg   Config
	rules []*compiled
	// the prefilter index, per stage class (stageClass): rules that name the resource,
	// and rules that accept any resource
	prefilterIx [3]stageIndex
	own         *Matcher
	mu          sync.Mutex
	matchers    []*Matcher // every Matcher made, for their evaluation-error counts
	findings    []*Finding
	open        map[string]*Finding // fold key -> the finding still absorbing repeats
	notEval     map[string]int
	// notEvalEvents counts the events on which at least one rule was not evaluable
	notEvalEvents int
	evalErrs      map[string]int
	first         time.Time // first event time seen (learning periods count from it)
	now           time.Time
	onFind        func(Finding)
	onUpdate      func(Update)
	// forget: drop findings whose fold has closed (long-running modes); lastSweep is the
	// event time of the last pass over the open folds
	forget    bool
	lastSweep time.Time
	state     map[string]*ruleState
	// constKeys holds the value of key expressions that are literals ("cluster")
	constKeys map[cel.Program][]string
	foldByID  map[string]time.Duration
	// what the log taught about the cluster, requests counted at ResponseStarted, and
	// the findings of template objects (serial stage only)
	facts *clusterFacts
	seen  stageSeen
	tmpl  templates
	grown generations[[]string] // where.grows: an object's items when last seen
	subj  *Subject              // the subject fire gives the finding being fired, when not the rule's own
}

// pure: everything the rule decides from an event (prefilter, match, keys) reads only
// memo variables, so events of one signature get the same hits. Bodies, URIs, needs and
// where checks that evaluate CEL make a rule impure.
func (c *compiled) pure(consts map[cel.Program][]string) bool {
	constKey := func(p cel.Program) bool { _, ok := consts[p]; return ok }
	pre := func(p *prefilter) bool {
		if p.uri != nil {
			return false
		}
		for i := range p.any {
			if p.any[i].uri != nil {
				return false
			}
		}
		return true
	}
	if c.Kind == KindSequence {
		// decided step by step (markPureSteps); the rule as a whole is not
		return false
	}
	if c.Needs != "" || c.needles != nil || c.bodySecrets || !pre(&c.pre) || c.cpNode != nil || c.grows != nil || (c.match != nil && c.memoVars == nil) ||
		readsName(c.memoVars) || readsName(c.keyVars) || readsName(c.fieldVars) {
		return false
	}
	switch c.Kind {
	case KindThreshold, KindFirstSeen, KindGap:
		return c.keyVars != nil || constKey(c.key)
	case KindDistinct:
		return (c.keyVars != nil || constKey(c.key)) && (c.fieldVars != nil || constKey(c.field))
	}
	return true
}

// readsName: memo variables that include the object's name, which the signature leaves
// out (it has too many values to repeat).
func readsName(vars []int) bool {
	for _, v := range vars {
		if v == memoVarIndex["objectRef"] {
			return true
		}
	}
	return false
}

// markPureSteps sets each step's pure: a step whose prefilter, match and key read only
// memo variables.
func (c *compiled) markPureSteps(consts map[cel.Program][]string) {
	for i := range c.steps {
		s := &c.steps[i]
		_, constant := consts[s.key]
		s.pure = s.needs == "" && s.pre.uri == nil && (s.match == nil || s.memoVars != nil) && (s.keyVars != nil || constant) &&
			!readsName(s.memoVars) && !readsName(s.keyVars)
		for j := range s.pre.any {
			s.pure = s.pure && s.pre.any[j].uri == nil
		}
	}
}

// prefilterResources are the resources an event must be of to pass p: its own, or, when
// it names none, those of its alternatives when every one names some (else nil: any).
func prefilterResources(p *Prefilter) []string {
	if p == nil {
		return nil
	}
	if len(p.Resources) > 0 || len(p.Any) == 0 {
		return p.Resources
	}
	var out []string
	for i := range p.Any {
		if len(p.Any[i].Resources) == 0 {
			return nil
		}
		out = append(out, p.Any[i].Resources...)
	}
	return out
}

// stageIndex is the prefilter index of one stage class, the pure rules (whose hits the
// signature memo replays) apart.
type stageIndex struct {
	byRes, pureByRes map[string][]*compiled
	anyRes, pureAny  []*compiled
}

// stageClass sorts stages for the index: RequestReceived (few rules look at it: it has
// neither response nor bodies), ResponseStarted (long-running requests and failed
// authentication), and the final stages.
func stageClass(s auditv1.Stage) int {
	switch s {
	case auditv1.StageRequestReceived:
		return 0
	case auditv1.StageResponseStarted:
		return 1
	}
	return 2
}

// compiled is a rule with its programs.
type compiled struct {
	*Rule
	// memoVars is set when the match reads only variables that repeat across events
	// (user agent, identity, verb...): its result is cached per distinct value of them.
	// keyVars and fieldVars: the same for the key and field expressions.
	memoVars, keyVars, fieldVars []int
	// guard: the conjuncts of a match that is not memoizable which are (guardVars)
	guard     cel.Program
	guardVars []int
	idx       int // position in Engine.rules
	// needles: the raw body the rule reads must contain one of these to be worth parsing
	needles     [][]byte
	bodySecrets bool // the body must pass redact.MayHold
	pre         prefilter
	match       cel.Program
	msg         cel.Program
	key         cel.Program
	field       cel.Program
	steps       []compiledStep
	// where checks: the node name program, and whether the source must be outside
	cpNode        cel.Program
	grows         cel.Program
	outside       bool
	objectSubject bool // the subject names the object: controller-made objects are attributed
}

type compiledStep struct {
	pure     bool // its hits are replayed from the signature memo
	needs    string
	memoVars []int
	keyVars  []int // the key's memo variables
	after    time.Duration
	pre      prefilter
	match    cel.Program
	key      cel.Program
}

// prefilter is the cheap test before any CEL. Sets are short slices: for the handful of
// values a rule names, a linear scan beats hashing.
type prefilter struct {
	verbs, resources, subresources, stages, levels, namespaces, notResources []string
	codes                                                                    []int32
	users                                                                    []string
	impersonated                                                             bool
	// classes: the stage classes (stageClass) the rule sees
	classes [3]bool
	// any: alternatives, one of which must pass too (their stages are not used)
	any []prefilter
	uri []string
}

// defaultStages: a request counts at the stage that holds its outcome, ResponseComplete
// (Panic when it crashed), or at ResponseStarted, the only stage of a failed
// authentication and the first of a stream (exec, attach, watch) whose end the log may
// not hold. One request counts once whichever of them the log holds (Engine.seen).
var defaultStages = []string{string(auditv1.StageResponseStarted), string(auditv1.StageResponseComplete), string(auditv1.StagePanic)}

func newPrefilter(p *Prefilter) prefilter {
	var f prefilter
	if p != nil {
		f = prefilter{verbs: p.Verbs, resources: p.Resources, subresources: p.Subresources, stages: p.Stages,
			levels: p.Levels, namespaces: p.Namespaces, notResources: p.ExcludeResources, users: p.Users, impersonated: p.Impersonated}
		for _, c := range p.Codes {
			f.codes = append(f.codes, int32(c))
		}
		for i := range p.Any {
			f.any = append(f.any, newPrefilter(&p.Any[i]))
		}
		f.uri = p.URI
	}
	if len(f.stages) == 0 {
		f.stages = defaultStages
	}
	for _, s := range f.stages {
		f.classes[stageClass(auditv1.Stage(s))] = true
	}
	return f
}

func in(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func (p *prefilter) pass(ev *auditv1.Event, res, sub string) bool {
	if !in(p.stages, string(ev.Stage)) {
		return false
	}
	if !p.fields(ev, res, sub) {
		return false
	}
	if p.any == nil {
		return true
	}
	for i := range p.any {
		if p.any[i].fields(ev, res, sub) {
			return true
		}
	}
	return false
}

// fields checks everything but the stage.
func (p *prefilter) fields(ev *auditv1.Event, res, sub string) bool {
	if p.uri != nil {
		found := false
		for _, n := range p.uri {
			if strings.Contains(ev.RequestURI, n) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	if p.verbs != nil && !in(p.verbs, ev.Verb) {
		return false
	}
	if p.resources != nil && !in(p.resources, res) {
		return false
	}
	if p.notResources != nil && in(p.notResources, res) {
		return false
	}
	if p.subresources != nil && !in(p.subresources, sub) {
		return false
	}
	if p.levels != nil && !in(p.levels, string(ev.Level)) {
		return false
	}
	if p.impersonated && (ev.ImpersonatedUser == nil || ev.ImpersonatedUser.Username == "") {
		return false
	}
	if p.namespaces != nil && (ev.ObjectRef == nil || !in(p.namespaces, ev.ObjectRef.Namespace)) {
		return false
	}
	if p.codes != nil {
		if ev.ResponseStatus == nil {
			return false
		}
		found := false
		for _, c := range p.codes {
			if c == ev.ResponseStatus.Code {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	if p.users != nil && !matchUser(p.users, ev.User.Username) {
		return false
	}
	return true
}

var levelIndex = map[auditv1.Level]int{auditv1.LevelNone: 0, auditv1.LevelMetadata: 1, auditv1.LevelRequest: 2, auditv1.LevelRequestResponse: 3}

// NewEngine compiles every rule's CEL once. A rule that does not compile fails the whole
// call with a *RuleError naming the file, the rule and the CEL error.
func NewEngine(rules []*Rule, cfg Config) (*Engine, error) {
	if cfg.MaxEvidence <= 0 {
		cfg.MaxEvidence = 100
	}
	if err := cfg.Allowlists.parse(); err != nil {
		return nil, fmt.Errorf("allowlist: %w", err)
	}
	env, err := newEnv(cfg.Allowlists)
	if err != nil {
		return nil, fmt.Errorf("building the CEL environment: %w", err)
	}
	rules, err = tuned(rules, cfg.Allowlists.Tuning)
	if err != nil {
		return nil, err
	}
	e := &Engine{cfg: cfg, open: map[string]*Finding{}, notEval: map[string]int{}, evalErrs: map[string]int{},
		state: map[string]*ruleState{}, constKeys: map[cel.Program][]string{}}
	e.facts = newClusterFacts(&e.cfg.Allowlists)
	for _, r := range rules {
		c, err := compileRule(env, r, e.constKeys)
		if err != nil {
			return nil, err
		}
		c.idx = len(e.rules)
		e.rules = append(e.rules, c)
	}
	e.index()
	e.own = e.NewMatcher()
	return e, nil
}

// index builds the per-resource prefilter index and empty state for every rule.
func (e *Engine) index() {
	for i := range e.prefilterIx {
		e.prefilterIx[i] = stageIndex{byRes: map[string][]*compiled{}, pureByRes: map[string][]*compiled{}}
	}
	for _, c := range e.rules {
		r := c.Rule
		e.state[r.ID] = newRuleState(r)
		if r.Kind == KindSequence {
			for _, pure := range []bool{true, false} {
				var res []string
				var classes [3]bool
				any, some := false, false
				for i, s := range c.steps {
					if s.pure != pure {
						continue
					}
					some = true
					for k, in := range s.pre.classes {
						classes[k] = classes[k] || in
					}
					sr := prefilterResources(r.Steps[i].On)
					if len(sr) == 0 {
						any = true
					}
					res = append(res, sr...)
				}
				if !some {
					continue
				}
				if any {
					res = nil
				}
				e.place(c, pure, res, classes)
			}
			continue
		}
		var res []string
		if r.On != nil {
			res = prefilterResources(r.On)
		}
		e.place(c, c.pure(e.constKeys), res, c.pre.classes)
	}
}

// place puts a rule in the index of each stage class it sees, under its resources (none:
// any resource), with the pure rules or the others.
func (e *Engine) place(c *compiled, pure bool, res []string, classes [3]bool) {
	for i, in := range classes {
		if !in {
			continue
		}
		ix := &e.prefilterIx[i]
		byRes, anyRes := ix.byRes, &ix.anyRes
		if pure {
			byRes, anyRes = ix.pureByRes, &ix.pureAny
		}
		if len(res) == 0 {
			*anyRes = append(*anyRes, c)
			continue
		}
		seen := map[string]bool{}
		for _, x := range res {
			if !seen[x] {
				seen[x] = true
				byRes[x] = append(byRes[x], c)
			}
		}
	}
}

func compileRule(env *cel.Env, r *Rule, consts map[cel.Program][]string) (*compiled, error) {
	c := &compiled{Rule: r, pre: newPrefilter(r.On)}
	for _, p := range r.Subject {
		c.objectSubject = c.objectSubject || p == "object"
	}
	prog := func(what, expr string, want *cel.Type) (cel.Program, error) {
		if expr == "" {
			return nil, nil
		}
		ast, iss := env.Compile(expr)
		if iss != nil && iss.Err() != nil {
			return nil, &RuleError{File: r.Source, RuleID: r.ID, Err: fmt.Errorf("%s: %v", what, iss.Err())}
		}
		if want != nil && !ast.OutputType().IsAssignableType(want) && ast.OutputType() != cel.DynType {
			return nil, &RuleError{File: r.Source, RuleID: r.ID, Err: fmt.Errorf("%s must return %s, not %s", what, want, ast.OutputType())}
		}
		p, err := env.Program(ast, cel.EvalOptions(cel.OptOptimize))
		if err != nil {
			return nil, &RuleError{File: r.Source, RuleID: r.ID, Err: fmt.Errorf("%s: %v", what, err)}
		}
		if ast.NativeRep().Expr().Kind() == celast.LiteralKind {
			v, _, err := p.Eval(cel.NoVars())
			if err == nil {
				if b, ok := v.(types.Bool); ok && bool(b) && want == cel.BoolType {
					return nil, nil // always true: nothing to evaluate
				}
				if s, ok := v.(types.String); ok && s != "" {
					consts[p] = []string{string(s)}
				}
			}
		}
		return p, nil
	}
	var err error
	if c.match, err = prog("match", r.Match, cel.BoolType); err != nil {
		return nil, err
	}
	if r.Match != "" && r.Kind != KindSequence {
		c.memoVars = memoIndexes(memoizable(env, r.Match))
		if c.memoVars == nil && c.match != nil {
			if g := guardOf(env, r.Match); g != "" {
				if c.guard, err = prog("match guard", g, cel.BoolType); err != nil {
					return nil, err
				}
				c.guardVars = memoIndexes(memoizable(env, g))
			}
		}
	}
	if r.On != nil {
		for _, b := range r.On.Body {
			c.needles = append(c.needles, []byte(b))
		}
		c.bodySecrets = r.On.BodySecrets
	}
	if c.msg, err = prog("message", r.Message, cel.StringType); err != nil {
		return nil, err
	}
	if c.key, err = prog("key", r.Key, nil); err != nil {
		return nil, err
	}
	if r.Key != "" {
		c.keyVars = memoIndexes(memoizable(env, r.Key))
	}
	if r.Field != "" {
		c.fieldVars = memoIndexes(memoizable(env, r.Field))
	}
	if c.field, err = prog("field", r.Field, nil); err != nil {
		return nil, err
	}
	if r.Where != nil {
		c.outside = r.Where.SourceOutsideCluster
		if c.cpNode, err = prog("where.control_plane_node", r.Where.ControlPlaneNode, cel.StringType); err != nil {
			return nil, err
		}
		if c.grows, err = prog("where.grows", r.Where.Grows, cel.ListType(cel.StringType)); err != nil {
			return nil, err
		}
	}
	for i, s := range r.Steps {
		cs := compiledStep{pre: newPrefilter(s.On), after: s.After.D(), needs: s.Needs}
		if cs.match, err = prog(fmt.Sprintf("step %d match", i+1), s.Match, cel.BoolType); err != nil {
			return nil, err
		}
		cs.memoVars = memoIndexes(memoizable(env, s.Match))
		k := s.Key
		if k == "" {
			k = r.Key
		}
		if cs.key, err = prog(fmt.Sprintf("step %d key", i+1), k, nil); err != nil {
			return nil, err
		}
		cs.keyVars = memoIndexes(memoizable(env, k))
		c.steps = append(c.steps, cs)
	}
	c.markPureSteps(consts)
	return c, nil
}

// Fresh returns an engine with the same compiled rules and configuration and no state:
// compiling a catalog costs milliseconds per rule, starting over costs nothing.
func (e *Engine) Fresh() *Engine {
	f := &Engine{cfg: e.cfg, rules: e.rules, open: map[string]*Finding{}, notEval: map[string]int{},
		evalErrs: map[string]int{}, state: map[string]*ruleState{}, constKeys: e.constKeys}
	f.facts = newClusterFacts(&f.cfg.Allowlists)
	f.index()
	f.own = f.NewMatcher()
	return f
}

// Rules returns the rules the engine runs.
func (e *Engine) Rules() []*Rule {
	out := make([]*Rule, len(e.rules))
	for i, c := range e.rules {
		out[i] = c.Rule
	}
	return out
}

// OnFinding registers a callback called when a new finding opens (not when an open one
// absorbs a repeat): live mode alerts from it.
func (e *Engine) OnFinding(fn func(Finding)) { e.onFind = fn }

// UpdateKind says what happened to a finding.
type UpdateKind int

const (
	// Opened: a new finding (the first event, or a stateful trigger with its evidence).
	Opened UpdateKind = iota
	// Grew: an open finding absorbed a repeat (its fold).
	Grew
	// Closed: the finding's fold window has passed at the engine's clock (the newest event
	// time): nothing more folds into it. Only sent when the engine forgets (SetForget).
	Closed
)

func (k UpdateKind) String() string {
	switch k {
	case Opened:
		return "opened"
	case Grew:
		return "grew"
	case Closed:
		return "closed"
	}
	return fmt.Sprintf("update(%d)", int(k))
}

// Update is one change to a finding, sent in the serial stage. Finding is a copy (its
// AuditIDs too) taken after the change. For Grew, Added is the count the repeat added and
// NewIDs the evidence it added (empty once MaxEvidence is reached: Count stays exact).
type Update struct {
	Kind    UpdateKind
	Finding Finding
	Added   int
	NewIDs  []string
}

// OnUpdate registers a callback for every finding update: opened, grew, and (when the
// engine forgets) closed. Sinks of a live pipeline are fed from it. It costs a copy of the
// finding per repeat, so batch runs that only want the end result leave it unset.
func (e *Engine) OnUpdate(fn func(Update)) { e.onUpdate = fn }

// SetForget makes the engine forget each finding once its fold has closed (after its
// Closed update): Result and SaveState then hold only the open findings, so a daemon's
// memory stays bounded by the findings of the last fold window. Batch runs keep every
// finding (the default): their result is the whole list, and a later ingest of older
// events may still fold into a finding whose window passed at this run's clock.
func (e *Engine) SetForget(on bool) { e.forget = on }

// sweepEvery is how much event time passes between two passes over the open folds.
const sweepEvery = time.Minute

// sweep closes the folds whose window has passed at now and forgets their findings.
func (e *Engine) sweep(now time.Time) {
	e.lastSweep = now
	closed := map[*Finding]bool{}
	for k, f := range e.open {
		if now.Sub(f.LastSeen) > e.foldOf(f.RuleID) {
			delete(e.open, k)
			closed[f] = true
		}
	}
	// a finding no fold points at any more (a fold replaced by a later one) is closed too
	live := map[*Finding]bool{}
	for _, f := range e.open {
		live[f] = true
	}
	kept := e.findings[:0]
	for _, f := range e.findings {
		if live[f] {
			kept = append(kept, f)
			continue
		}
		if e.onUpdate != nil {
			e.onUpdate(Update{Kind: Closed, Finding: copyFinding(f)})
		}
	}
	clear(e.findings[len(kept):])
	e.findings = kept
}

// foldOf is a rule's fold window (a rule the engine no longer has: none).
func (e *Engine) foldOf(id string) time.Duration {
	if e.foldByID == nil {
		e.foldByID = map[string]time.Duration{}
		for _, c := range e.rules {
			e.foldByID[c.ID] = c.Fold.D()
		}
	}
	return e.foldByID[id]
}

func copyFinding(f *Finding) Finding {
	cp := *f
	cp.AuditIDs = append([]string(nil), f.AuditIDs...)
	cp.MITRE = append([]string(nil), f.MITRE...)
	return cp
}

// Observe runs every applicable rule on one event: Match on the engine's own Matcher,
// then the stateful stage. Callers that decode on several goroutines call Match there
// and ObserveMatched here instead.
func (e *Engine) Observe(ev *auditv1.Event) {
	e.ObserveMatched(ev, e.own.Match(ev))
}

// ObserveMatched is the serial stage: windows, first-seen sets, sequences and folding,
// for an event whose rules a Matcher already evaluated. Events must come in time order;
// m may be nil (no rule applied). m is taken back for reuse: do not use it afterwards.
func (e *Engine) ObserveMatched(ev *auditv1.Event, m *Matched) {
	defer m.release()
	t := timeOf(ev)
	if e.first.IsZero() || t.Before(e.first) {
		e.first = t
	}
	if t.After(e.now) {
		e.now = t
	}
	if e.forget && e.now.Sub(e.lastSweep) >= sweepEvery {
		e.sweep(e.now)
	}
	e.learnFrom(ev, m)
	if m == nil {
		return
	}
	for _, c := range m.notEval {
		e.notEval[c.ID]++
	}
	if len(m.notEval) > 0 {
		e.notEvalEvents++
	}
	cnt := e.countedBefore(ev)
	defer func() {
		if len(cnt.now) > 0 {
			e.seen.put(string(ev.AuditID), cnt.now)
		}
	}()
	for i := 0; i < len(m.hits); i++ {
		h := &m.hits[i]
		if !e.counts(h, ev, &cnt) {
			// a sequence's hits go together: skip them all
			for i+1 < len(m.hits) && h.c.Kind == KindSequence && m.hits[i+1].c == h.c {
				i++
			}
			continue
		}
		switch h.c.Kind {
		case KindMatch:
			if !e.where(h, ev) || h.ex().observe {
				continue
			}
			s := e.subjectFor(h, ev)
			e.subj = &s
			e.fire(h.c, ev, t, "", nil, 1, h.msg)
			e.subj = nil
			if t := h.ex().tmpl; t != "" {
				// saved into the case with the engine's state: redacted like the fold keys
				e.tmpl.put(h.c.ID+"\x00"+redact.String(t), s.Redacted())
			}
		case KindThreshold:
			e.threshold(h, ev, t)
		case KindDistinct:
			e.distinct(h, ev, t)
		case KindFirstSeen:
			e.firstSeen(h, ev, t)
		case KindGap:
			e.gap(h, ev, t)
		case KindSequence:
			// the hits of one sequence are adjacent, last step first
			j := i
			for j+1 < len(m.hits) && m.hits[j+1].c == h.c {
				j++
			}
			e.sequence(m.hits[i:j+1], ev, t)
			i = j
		}
	}
}

// subjectOf builds a finding's subject from the parts the rule names.
func subjectOf(r *Rule, ev *auditv1.Event) Subject {
	var s Subject
	for _, part := range r.Subject {
		switch part {
		case "user":
			s.User = ev.User.Username
			if ev.ImpersonatedUser != nil && ev.ImpersonatedUser.Username != "" {
				s.Impersonated = ev.ImpersonatedUser.Username
			}
		case "source_ip":
			if len(ev.SourceIPs) > 0 {
				s.SourceIP = ev.SourceIPs[0]
			}
		case "user_agent":
			s.UserAgent = ev.UserAgent
		case "object":
			if o := ev.ObjectRef; o != nil {
				s.Namespace, s.Resource, s.Subresource, s.Name = o.Namespace, o.Resource, o.Subresource, o.Name
			}
		}
	}
	return s
}

// fire records one matching event (or a stateful trigger with its evidence) as a new
// finding or as a repeat folded into the open finding of the same rule and subject.
func (e *Engine) fire(c *compiled, ev *auditv1.Event, t time.Time, key string, evidence []string, n int, msg string) {
	e.fireFrom(c, ev, t, t, key, evidence, n, msg)
}

// fireFrom is fire for a trigger whose evidence began at start (a burst, a sequence).
func (e *Engine) fireFrom(c *compiled, ev *auditv1.Event, start, t time.Time, key string, evidence []string, n int, msg string) {
	// the subject is redacted before it keys the fold: the fold keys are saved with the
	// engine's state into the case
	subj := subjectOf(c.Rule, ev)
	if e.subj != nil {
		subj = *e.subj
	}
	subj = subj.Redacted()
	fk := c.ID + "\x00" + key + "\x00" + subj.String() + "\x00" + subj.SourceIP + "\x00" + subj.UserAgent
	if evidence == nil {
		evidence = []string{string(ev.AuditID)}
	}
	if f, ok := e.open[fk]; ok && t.Sub(f.LastSeen) <= c.Fold.D() {
		f.Count += n
		if t.After(f.LastSeen) {
			f.LastSeen = t
		}
		before := len(f.AuditIDs)
		e.addEvidence(f, evidence)
		if e.onUpdate != nil {
			e.onUpdate(Update{Kind: Grew, Finding: copyFinding(f), Added: n, NewIDs: append([]string(nil), f.AuditIDs[before:]...)})
		}
		return
	}
	if msg == "" && c.msg != nil && c.Kind != KindMatch {
		e.own.vars.reset(ev) // the serial stage's own activation: firing is rare
		msg = e.own.message(c)
	}
	if msg == "" {
		msg = c.Title
	}
	// a finding is born redacted: its message quotes the event (an exec command line, a
	// user agent) and its subject names identities that may be tokens
	f := &Finding{RuleID: c.ID, Title: c.Title, Severity: c.Severity, MITRE: c.MITRE, Subject: subj,
		FirstSeen: start, LastSeen: t, Count: n, Message: redact.String(msg)}
	if c.Author != "" {
		// attributed to the rule's author (a Sigma rule) in every sink: scan, case, alerts
		f.Author, f.References = c.Author, append([]string(nil), c.References...)
	}
	e.addEvidence(f, evidence)
	e.open[fk] = f
	e.findings = append(e.findings, f)
	if e.onFind != nil {
		e.onFind(*f)
	}
	if e.onUpdate != nil {
		e.onUpdate(Update{Kind: Opened, Finding: copyFinding(f), Added: n, NewIDs: append([]string(nil), f.AuditIDs...)})
	}
}

func (e *Engine) addEvidence(f *Finding, ids []string) {
	for _, id := range ids {
		if len(f.AuditIDs) >= e.cfg.MaxEvidence {
			return
		}
		id = redact.String(id) // as the case stores it
		dup := false
		for _, have := range f.AuditIDs {
			if have == id {
				dup = true
				break
			}
		}
		if !dup {
			f.AuditIDs = append(f.AuditIDs, id)
		}
	}
}

// Result returns the findings so far, sorted by first_seen then rule, and the coverage
// of rules that could not see bodies.
func (e *Engine) Result() Result {
	r := Result{Findings: make([]Finding, 0, len(e.findings))}
	for _, f := range e.findings {
		cp := *f
		cp.AuditIDs = append([]string(nil), f.AuditIDs...)
		r.Findings = append(r.Findings, cp)
	}
	sort.SliceStable(r.Findings, func(i, j int) bool {
		a, b := r.Findings[i], r.Findings[j]
		if !a.FirstSeen.Equal(b.FirstSeen) {
			return a.FirstSeen.Before(b.FirstSeen)
		}
		return a.RuleID < b.RuleID
	})
	r.NotEvaluableEvents = e.notEvalEvents
	for _, c := range e.rules {
		if n := e.notEval[c.ID]; n > 0 {
			r.NotEvaluable = append(r.NotEvaluable, RuleCoverage{RuleID: c.ID, Needs: c.Needs, Events: n})
		}
	}
	if errs := e.evalErrors(); len(errs) > 0 {
		r.EvalErrors = errs
	}
	return r
}

func matchUser(patterns []string, name string) bool {
	for _, p := range patterns {
		if p == name || (strings.HasSuffix(p, "*") && strings.HasPrefix(name, p[:len(p)-1])) {
			return true
		}
	}
	return false
}

package analyzer

import (
	"fmt"
	"sync"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/kubesleuth/kubesleuth/analyzer/redact"
)

// hit is one rule (or one step of a sequence) that matched an event, with what the
// stateful stage needs from CEL: the keys, the field values, the message.
type hit struct {
	c    *compiled
	step int // sequence step, or -1
	keys []string
	vals []string
	msg  string    // match rules only; stateful rules evaluate theirs when they fire
	x    *hitExtra // what few hits carry, kept out of the common hit's size
}

// hitExtra: for match rules whose subject names the object, whom a controller made it
// for (onBehalf) and the object's own key when it is a template others fold into; the
// node name where.control_plane_node returned; where.grows' object key and items, and
// whether the hit did not match and only teaches the engine the object's items.
type hitExtra struct {
	owner     *ownerInfo
	tmpl      string
	cpNode    string
	growKey   string
	growItems []string
	observe   bool
}

func (h *hit) extra() *hitExtra {
	if h.x == nil {
		h.x = &hitExtra{}
	}
	return h.x
}

var noExtra = &hitExtra{}

// ex is the hit's extra, or an empty one to read.
func (h *hit) ex() *hitExtra {
	if h.x == nil {
		return noExtra
	}
	return h.x
}

// Matched is what a Matcher found in one event; nil when no rule applied and nothing
// was learned. Engine.ObserveMatched takes it back for reuse: it must not be used after
// that call.
type Matched struct {
	hits    []hit
	notEval []*compiled
	learned *learnedFacts
}

// matchedPool recycles Matched values between the Matchers (on the decoding goroutines)
// and the serial stage: most events hit a rule or two, and a Matched per event was
// most of the matcher's garbage.
var matchedPool = sync.Pool{New: func() any { return &Matched{hits: make([]hit, 0, 8)} }}

func newMatched() *Matched { return matchedPool.Get().(*Matched) }

// release returns m to the pool, emptied.
func (m *Matched) release() {
	if m == nil {
		return
	}
	if cap(m.hits) > 64 {
		return // an outlier: let it go rather than keep it
	}
	clear(m.hits)
	m.hits, m.notEval, m.learned = m.hits[:0], m.notEval[:0], nil
	matchedPool.Put(m)
}

// NotEvaluable lists the rules that could not look at the event because the body they
// read was not logged.
func (m *Matched) NotEvaluable() []string {
	if m == nil {
		return nil
	}
	out := make([]string, len(m.notEval))
	for i, c := range m.notEval {
		out[i] = c.ID
	}
	return out
}

// Matcher evaluates the engine's rules (prefilters and CEL) on single events. CEL is the
// costly part of detection and depends on nothing but the event, so it can run on the
// goroutines that decode; the Engine's serial stage then only updates state. A Matcher
// is used by one goroutine; make one per goroutine with Engine.NewMatcher.
type Matcher struct {
	e        *Engine
	vars     eventVars
	ready    bool                 // vars hold the event Match is looking at
	memo     []lru[memoKey, bool] // per memo slot (memoSlot): memoized match results
	keyMemo  []lru[memoKey, []string]
	sigMemo  lru[signature, []hit] // pure rules' hits per event signature
	evalErrs map[string]int
}

// NewMatcher makes a Matcher for one goroutine. Safe to call concurrently.
func (e *Engine) NewMatcher() *Matcher {
	n := len(e.rules) * memoSlots
	m := &Matcher{e: e, memo: make([]lru[memoKey, bool], n), keyMemo: make([]lru[memoKey, []string], n), evalErrs: map[string]int{}}
	m.vars.al = &e.cfg.Allowlists
	m.vars.objects = map[auditv1.ObjectReference]map[string]any{}
	m.vars.statuses = map[statusKey]map[string]any{}
	e.mu.Lock()
	e.matchers = append(e.matchers, m)
	e.mu.Unlock()
	return m
}

// evalErrors sums the evaluation errors of every Matcher. Call it when no Matcher runs.
func (e *Engine) evalErrors() map[string]int {
	out := map[string]int{}
	for k, v := range e.evalErrs {
		out[k] += v
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, m := range e.matchers {
		for k, v := range m.evalErrs {
			out[k] += v
		}
	}
	return out
}

// Match evaluates every applicable rule on ev.
func (m *Matcher) Match(ev *auditv1.Event) *Matched {
	e := m.e
	res, sub := "", ""
	if ev.ObjectRef != nil {
		res, sub = ev.ObjectRef.Resource, ev.ObjectRef.Subresource
	}
	var out *Matched
	add := func(h hit) {
		if out == nil {
			out = newMatched()
		}
		out.hits = append(out.hits, h)
	}
	m.ready = false
	if m.vars.flush {
		// an intern table is full: numbers start over, and the memos keyed on them too
		m.vars.intern = [nMemoVars]map[string]uint32{}
		m.vars.idents, m.vars.nIdents, m.vars.nameGroups, m.vars.lastByName = nil, 0, nil, nil
		m.vars.ipIDs, m.vars.objIDs = nil, nil
		clear(m.memo) // the maps go: empty entries are made again
		clear(m.keyMemo)
		m.sigMemo = lru[signature, []hit]{}
		m.vars.flush = false
	}
	prepare := func() {
		if !m.ready {
			m.vars.reset(ev)
			m.ready = true
		}
	}
	run := func(list []*compiled, pure bool) {
		for _, c := range list {
			if c.Kind == KindSequence {
				counted := false
				for i := len(c.steps) - 1; i >= 0; i-- {
					s := &c.steps[i]
					if s.pure != pure || !s.pre.pass(ev, res, sub) {
						continue
					}
					if s.needs != "" && notEvaluable(s.needs, ev) {
						if !counted {
							if out == nil {
								out = newMatched()
							}
							out.notEval = append(out.notEval, c)
							counted = true
						}
						continue
					}
					prepare()
					if !m.memoBool(c.ID, memoSlot(c, 1+i), s.match, s.memoVars) {
						continue
					}
					h := hit{c: c, step: i, keys: m.memoKeys(c.ID, memoSlot(c, 1+maxSteps+i), s.key, s.keyVars)}
					if len(h.keys) == 0 {
						continue
					}
					add(h)
				}
				continue
			}
			if !c.pre.pass(ev, res, sub) {
				continue
			}
			if c.Needs != "" && notEvaluable(c.Needs, ev) {
				if out == nil {
					out = newMatched()
				}
				out.notEval = append(out.notEval, c)
				continue
			}
			if c.needles != nil && !bodyHas(ev, c.Needs, c.needles) {
				continue
			}
			if c.bodySecrets && !redact.MayHold(rawBody(ev, c.Needs)) {
				continue
			}
			prepare()
			// a match that reads bodies may carry a guard: its conjuncts on repeating
			// variables, memoized; when the guard is false, so is the match
			matched := c.guard == nil || m.memoBool(c.ID, memoSlot(c, slotGuard), c.guard, c.guardVars)
			matched = matched && m.memoBool(c.ID, memoSlot(c, 0), c.match, c.memoVars)
			var gk string
			var gi []string
			if c.grows != nil && ev.ObjectRef != nil {
				if n := m.vars.objectName(); n != "" {
					gk, gi = ev.ObjectRef.Namespace+"/"+res+"/"+n, m.rawKeysOf(c.ID, c.grows)
				}
			}
			if !matched {
				if gk != "" {
					add(hit{c: c, step: -1, x: &hitExtra{growKey: gk, growItems: gi, observe: true}})
				}
				continue
			}
			h := hit{c: c, step: -1}
			if gk != "" {
				h.x = &hitExtra{growKey: gk, growItems: gi}
			}
			switch c.Kind {
			case KindThreshold, KindFirstSeen, KindGap:
				if h.keys = m.memoKeys(c.ID, memoSlot(c, slotKey), c.key, c.keyVars); len(h.keys) == 0 {
					continue
				}
			case KindDistinct:
				if h.keys = m.memoKeys(c.ID, memoSlot(c, slotKey), c.key, c.keyVars); len(h.keys) == 0 {
					continue
				}
				if h.vals = m.memoKeys(c.ID, memoSlot(c, slotField), c.field, c.fieldVars); len(h.vals) == 0 {
					continue
				}
			}
			if c.Kind == KindMatch {
				m.finish(&h, ev, res, sub)
			}
			add(h)
		}
	}
	idx := &e.prefilterIx[stageClass(ev.Stage)]
	// Pure rules (prefilter, match and keys on repeating variables only) decide the same
	// for every event of the same signature: their hits are replayed from the signature
	// memo; the others are evaluated.
	if pure := idx.pureByRes[res]; len(pure)+len(idx.pureAny) > 0 {
		prepare()
		sig := m.vars.signature()
		if cached, ok := m.sigMemo.get(sig); ok {
			for _, h := range cached {
				if h.c.Kind == KindMatch {
					m.finish(&h, ev, res, sub)
				}
				add(h)
			}
		} else {
			from := 0
			if out != nil {
				from = len(out.hits)
			}
			if res != "" {
				run(pure, true)
			}
			run(idx.pureAny, true)
			var rec []hit
			if out != nil && len(out.hits) > from {
				rec = make([]hit, len(out.hits)-from)
				for i, h := range out.hits[from:] {
					rec[i] = hit{c: h.c, step: h.step, keys: h.keys, vals: h.vals}
				}
			}
			m.sigMemo.put(sig, rec, maxSignatures)
		}
	}
	if res != "" {
		run(idx.byRes[res], false)
	}
	run(idx.anyRes, false)
	if out != nil && len(out.hits) > 1 {
		sortHits(out.hits)
	}
	if l := m.learn(ev, res, sub); l != nil {
		if out == nil {
			out = newMatched()
		}
		out.learned = l
	}
	return out
}

// finish completes a match hit with what depends on the event beyond its signature:
// the control-plane node where asks about, the owner of a controller-made object, the
// template key, the message.
func (m *Matcher) finish(h *hit, ev *auditv1.Event, res, sub string) {
	c := h.c
	if c.cpNode != nil {
		if n := m.stringOf(c.ID, c.cpNode); n != "" {
			h.extra().cpNode = n
		}
	}
	if c.objectSubject {
		if m.vars.onBehalf() {
			h.extra().owner = m.vars.owner()
		}
		if templateResources[res] && sub == "" {
			if n := m.vars.objectName(); n != "" {
				h.extra().tmpl = ev.ObjectRef.Namespace + "/" + res + "/" + n
			}
		}
	}
	h.msg = m.message(c)
}

// sortHits puts the hits of one sequence together, last step first, as the serial
// stage reads them (its pure and impure steps are matched in two passes); other hits
// keep their order. Insertion sort: an event hits a handful of rules.
func sortHits(h []hit) {
	less := func(a, b *hit) bool {
		if a.c.idx != b.c.idx {
			return a.c.idx < b.c.idx
		}
		return a.step > b.step
	}
	for i := 1; i < len(h); i++ {
		for j := i; j > 0 && less(&h[j], &h[j-1]); j-- {
			h[j], h[j-1] = h[j-1], h[j]
		}
	}
}

// Bounds of a Matcher's memos (per generation: lru keeps two).
const (
	maxSignatures = 1 << 15
	maxMemo       = 1 << 14
)

// lru is a map bounded by two generations: when the current one is full it becomes the
// old one (the oldest entries are forgotten), and an entry found in the old one moves to
// the current one. The working set stays; a scan of one-off values cannot evict it for
// longer than a generation.
type lru[K comparable, V any] struct {
	cur, old map[K]V
}

func (g *lru[K, V]) get(k K) (V, bool) {
	if v, ok := g.cur[k]; ok {
		return v, true
	}
	v, ok := g.old[k]
	if ok {
		g.cur[k] = v // cur exists: old is only made from a full cur
	}
	return v, ok
}

func (g *lru[K, V]) put(k K, v V, max int) {
	if g.cur == nil {
		g.cur = map[K]V{}
	} else if len(g.cur) >= max {
		g.old, g.cur = g.cur, make(map[K]V, max/4)
	}
	g.cur[k] = v
}

// stringOf evaluates a program that returns a string ("" on errors and other types).
func (m *Matcher) stringOf(id string, p cel.Program) string {
	if v, ok := m.eval(id, p); ok {
		if s, ok := v.Value().(string); ok {
			return s
		}
	}
	return ""
}

// notEvaluable: the rule reads a body the log did not keep for this event. Decided by
// whether the body is there, not by the level field (exports from other tools have
// bodies and no level): a body that is present is read; one that is absent is missing
// only when the request could have had one (a write's request, a resource response, on
// the stage that carries bodies) and the level, if any, is too low to have kept it.
func notEvaluable(needs string, ev *auditv1.Event) bool {
	if ev.Stage != auditv1.StageResponseComplete && ev.Stage != auditv1.StagePanic {
		return false // bodies are on the final stage: judged there
	}
	hasReq := ev.RequestObject != nil && len(ev.RequestObject.Raw) > 0
	hasResp := ev.ResponseObject != nil && len(ev.ResponseObject.Raw) > 0
	reqPossible := ev.Verb == "create" || ev.Verb == "update" || ev.Verb == "patch"
	respPossible := ev.ObjectRef != nil && ev.Verb != "watch" && (ev.ResponseStatus == nil || ev.ResponseStatus.Code != 401)
	lvl := levelIndex[ev.Level]
	switch needs {
	case NeedsRequest:
		return !hasReq && reqPossible && lvl < 2
	case NeedsResponse:
		return !hasResp && respPossible && lvl < 3
	case NeedsObject:
		return !hasReq && !hasResp && (reqPossible || respPossible) && lvl < 2
	}
	return false
}

func (m *Matcher) message(c *compiled) string {
	if c.msg == nil {
		return ""
	}
	if v, ok := m.eval(c.ID, c.msg); ok {
		if s, ok := v.Value().(string); ok {
			return s
		}
	}
	return ""
}

// Memo slots: per rule, its match, its steps' matches and keys, its key and its field.
const (
	maxSteps  = 8
	slotKey   = 1 + 2*maxSteps
	slotField = slotKey + 1
	slotGuard = slotField + 1
	memoSlots = slotGuard + 1
)

func memoSlot(c *compiled, i int) int { return c.idx*memoSlots + i }

// memoBool evaluates a boolean program, from the memo when it reads only repeating
// variables (memoVars non-nil).
func (m *Matcher) memoBool(id string, slot int, p cel.Program, vars []int) bool {
	if p == nil {
		return true // a constant true match
	}
	if vars == nil {
		return m.boolOf(id, p)
	}
	memo := &m.memo[slot]
	k := m.vars.memoKey(vars)
	if v, ok := memo.get(k); ok {
		return v
	}
	v := m.boolOf(id, p)
	memo.put(k, v, maxMemo)
	return v
}

func (m *Matcher) eval(id string, p cel.Program) (ref.Val, bool) {
	out, _, err := p.Eval(&m.vars)
	if err != nil {
		m.evalErrs[id]++
		return nil, false
	}
	return out, true
}

func (m *Matcher) boolOf(id string, p cel.Program) bool {
	v, ok := m.eval(id, p)
	if !ok {
		return false
	}
	b, isBool := v.(types.Bool)
	return isBool && bool(b)
}

// memoKeys is keysOf from the memo when the expression reads only repeating variables
// (vars non-nil). The slices it returns are shared: callers never write into them.
func (m *Matcher) memoKeys(id string, slot int, p cel.Program, vars []int) []string {
	if vars == nil || p == nil {
		return m.keysOf(id, p)
	}
	if _, ok := m.e.constKeys[p]; ok {
		return m.keysOf(id, p)
	}
	memo := &m.keyMemo[slot]
	k := m.vars.memoKey(vars)
	if v, ok := memo.get(k); ok {
		return v
	}
	v := m.keysOf(id, p)
	memo.put(k, v, maxMemo)
	return v
}

// keysOf evaluates a key expression: a string, or a list of strings (each a key). Keys
// pass the redactor: they are remembered, saved into the case with the engine's state,
// and named in findings (a username that is a token is keyed by its fingerprint).
func (m *Matcher) keysOf(id string, p cel.Program) []string {
	keys := m.rawKeysOf(id, p)
	copied := false // literal keys are shared: never written in place
	for i, k := range keys {
		if r := redact.String(k); r != k {
			if !copied {
				keys, copied = append([]string(nil), keys...), true
			}
			keys[i] = r
		}
	}
	return keys
}

func (m *Matcher) rawKeysOf(id string, p cel.Program) []string {
	if p == nil {
		return nil
	}
	if k, ok := m.e.constKeys[p]; ok {
		return k
	}
	v, ok := m.eval(id, p)
	if !ok {
		return nil
	}
	switch x := v.Value().(type) {
	case string:
		if x == "" {
			return nil
		}
		return []string{x}
	}
	if l, ok := v.(interface {
		Size() ref.Val
		Get(ref.Val) ref.Val
	}); ok && v.Type() == types.ListType {
		n := int(l.Size().(types.Int))
		out := make([]string, 0, n)
		for i := 0; i < n; i++ {
			if s, ok := l.Get(types.Int(i)).(types.String); ok && s != "" {
				out = append(out, string(s))
			}
		}
		return out
	}
	return []string{fmt.Sprint(v.Value())}
}

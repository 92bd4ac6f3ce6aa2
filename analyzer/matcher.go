package analyzer

import (
	"fmt"

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
	msg  string // match rules only; stateful rules evaluate theirs when they fire
	// match rules whose subject names the object: whom a controller made it for
	// (onBehalf), and the object's own key when it is a template others fold into
	owner  *ownerInfo
	tmpl   string
	cpNode string // the node name where.control_plane_node returned
	// where.grows: the object's key and items; observe marks a hit that did not match
	// and only teaches the engine the object's items
	growKey   string
	growItems []string
	observe   bool
}

// Matched is what a Matcher found in one event; nil when no rule applied and nothing
// was learned.
type Matched struct {
	hits    []hit
	notEval []*compiled
	learned *learnedFacts
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
	ready    bool                    // vars hold the event Match is looking at
	memo     map[int]map[string]bool // per rule (and step): memoized match results
	evalErrs map[string]int
}

// NewMatcher makes a Matcher for one goroutine. Safe to call concurrently.
func (e *Engine) NewMatcher() *Matcher {
	m := &Matcher{e: e, memo: map[int]map[string]bool{}, evalErrs: map[string]int{}}
	m.vars.al = &e.cfg.Allowlists
	m.vars.users = map[string]map[string]any{}
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
			out = &Matched{}
		}
		out.hits = append(out.hits, h)
	}
	m.ready = false
	prepare := func() {
		if !m.ready {
			m.vars.reset(ev)
			m.ready = true
		}
	}
	run := func(list []*compiled) {
		for _, c := range list {
			if c.Kind == KindSequence {
				counted := false
				for i := len(c.steps) - 1; i >= 0; i-- {
					s := &c.steps[i]
					if !s.pre.pass(ev, res, sub) {
						continue
					}
					if s.needs != "" && notEvaluable(s.needs, ev) {
						if !counted {
							if out == nil {
								out = &Matched{}
							}
							out.notEval = append(out.notEval, c)
							counted = true
						}
						continue
					}
					prepare()
					if !m.memoBool(c.ID, (c.idx+1)<<8|(i+1), s.match, s.memoVars) {
						continue
					}
					h := hit{c: c, step: i, keys: m.keysOf(c.ID, s.key)}
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
					out = &Matched{}
				}
				out.notEval = append(out.notEval, c)
				continue
			}
			if c.needles != nil && !bodyHas(ev, c.Needs, c.needles) {
				continue
			}
			prepare()
			matched := m.memoBool(c.ID, (c.idx+1)<<8, c.match, c.memoVars)
			var gk string
			var gi []string
			if c.grows != nil && ev.ObjectRef != nil {
				if n := m.vars.objectName(); n != "" {
					gk, gi = ev.ObjectRef.Namespace+"/"+res+"/"+n, m.rawKeysOf(c.ID, c.grows)
				}
			}
			if !matched {
				if gk != "" {
					add(hit{c: c, step: -1, growKey: gk, growItems: gi, observe: true})
				}
				continue
			}
			h := hit{c: c, step: -1, growKey: gk, growItems: gi}
			switch c.Kind {
			case KindThreshold, KindFirstSeen, KindGap:
				if h.keys = m.keysOf(c.ID, c.key); len(h.keys) == 0 {
					continue
				}
			case KindDistinct:
				if h.keys = m.keysOf(c.ID, c.key); len(h.keys) == 0 {
					continue
				}
				if h.vals = m.keysOf(c.ID, c.field); len(h.vals) == 0 {
					continue
				}
			}
			if c.Kind == KindMatch {
				if c.cpNode != nil {
					h.cpNode = m.stringOf(c.ID, c.cpNode)
				}
				if c.objectSubject {
					if m.vars.onBehalf() {
						h.owner = m.vars.owner()
					}
					if templateResources[res] && sub == "" {
						if n := m.vars.objectName(); n != "" {
							h.tmpl = ev.ObjectRef.Namespace + "/" + res + "/" + n
						}
					}
				}
				h.msg = m.message(c)
			}
			add(h)
		}
	}
	idx := &e.prefilterIx[stageClass(ev.Stage)]
	if res != "" {
		run(idx.byRes[res])
	}
	run(idx.anyRes)
	if l := m.learn(ev, res, sub); l != nil {
		if out == nil {
			out = &Matched{}
		}
		out.learned = l
	}
	return out
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

// memoBool evaluates a boolean program, from the memo when it reads only repeating
// variables (memoVars non-nil).
func (m *Matcher) memoBool(id string, slot int, p cel.Program, vars []string) bool {
	if p == nil {
		return true // a constant true match
	}
	if vars == nil {
		return m.boolOf(id, p)
	}
	memo := m.memo[slot]
	if memo == nil {
		memo = map[string]bool{}
		m.memo[slot] = memo
	}
	k := m.vars.memoKey(vars)
	if v, ok := memo[k]; ok {
		return v
	}
	v := m.boolOf(id, p)
	if len(memo) >= 10000 {
		clear(memo)
	}
	memo[k] = v
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

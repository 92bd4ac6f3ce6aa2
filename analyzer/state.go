package analyzer

import (
	"container/list"
	"encoding/json"
	"fmt"
	"time"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/kubesleuth/kubesleuth/analyzer/redact"
)

// ruleState is the memory of one stateful rule: per key, what the rule has seen. It is
// bounded twice: at most MaxKeys keys (the least recently used is forgotten first), and
// per key only what lies within the rule's window.
type ruleState struct {
	cap  int
	keys map[string]*list.Element
	lru  *list.List // front: most recently used; values *keyState
}

// keyState is what one key (an identity, a source IP...) has accumulated.
type keyState struct {
	Key string `json:"key"`
	// threshold: matching events in the window, oldest first
	Times []time.Time `json:"times,omitempty"`
	IDs   []string    `json:"ids,omitempty"`
	// distinct: value -> last seen, and the first auditID of each value
	Values   map[string]time.Time `json:"values,omitempty"`
	ValueIDs map[string]string    `json:"value_ids,omitempty"`
	// sequence: the next step expected and when the sequence started
	Next  int       `json:"next,omitempty"`
	Start time.Time `json:"start,omitempty"`
	Last  time.Time `json:"last,omitempty"` // when the latest step matched
	// when the key's finding last grew (threshold, distinct): repeats within the rule's
	// fold extend it instead of waiting for a new burst
	FiredLast time.Time `json:"fired_last,omitempty"`
}

// redacted is a copy of ks for saving: the auditIDs it holds pass the redactor (keys and
// values did when they were computed).
func (ks *keyState) redacted() *keyState {
	cp := *ks
	if len(ks.IDs) > 0 {
		cp.IDs = make([]string, len(ks.IDs))
		for i, id := range ks.IDs {
			cp.IDs[i] = redact.String(id)
		}
	}
	if len(ks.ValueIDs) > 0 {
		cp.ValueIDs = make(map[string]string, len(ks.ValueIDs))
		for v, id := range ks.ValueIDs {
			cp.ValueIDs[v] = redact.String(id)
		}
	}
	return &cp
}

func newRuleState(r *Rule) *ruleState {
	return &ruleState{cap: r.MaxKeys, keys: map[string]*list.Element{}, lru: list.New()}
}

func (s *ruleState) get(key string) *keyState {
	if el, ok := s.keys[key]; ok {
		s.lru.MoveToFront(el)
		return el.Value.(*keyState)
	}
	return nil
}

func (s *ruleState) put(ks *keyState) {
	if el, ok := s.keys[ks.Key]; ok {
		el.Value = ks
		s.lru.MoveToFront(el)
		return
	}
	s.keys[ks.Key] = s.lru.PushFront(ks)
	for s.lru.Len() > s.cap {
		old := s.lru.Back()
		s.lru.Remove(old)
		delete(s.keys, old.Value.(*keyState).Key)
	}
}

func (s *ruleState) del(key string) {
	if el, ok := s.keys[key]; ok {
		s.lru.Remove(el)
		delete(s.keys, key)
	}
}

// Len is the number of keys remembered.
func (s *ruleState) Len() int { return s.lru.Len() }

func (s *ruleState) getOrNew(key string) *keyState {
	ks := s.get(key)
	if ks == nil {
		ks = &keyState{Key: key}
		s.put(ks)
	}
	return ks
}

func (e *Engine) threshold(h *hit, ev *auditv1.Event, t time.Time) {
	c := h.c
	id := string(ev.AuditID)
	for _, k := range h.keys {
		ks := e.state[c.ID].getOrNew(k)
		if !ks.FiredLast.IsZero() && t.Sub(ks.FiredLast) <= c.Fold.D() {
			ks.FiredLast = t
			e.fire(c, ev, t, k, []string{id}, 1, h.msg)
			continue
		}
		ks.Times = append(ks.Times, t)
		ks.IDs = append(ks.IDs, id)
		cut := 0
		for cut < len(ks.Times) && t.Sub(ks.Times[cut]) > c.Window.D() {
			cut++
		}
		// keep the window, and never more entries than the threshold needs
		if over := len(ks.Times) - cut - max(c.Threshold, e.cfg.MaxEvidence); over > 0 {
			cut += over
		}
		ks.Times, ks.IDs = ks.Times[cut:], ks.IDs[cut:]
		if len(ks.Times) >= c.Threshold {
			ks.FiredLast = t
			e.fireFrom(c, ev, ks.Times[0], t, k, ks.IDs, len(ks.Times), h.msg)
			ks.Times, ks.IDs = nil, nil
		}
	}
}

func (e *Engine) distinct(h *hit, ev *auditv1.Event, t time.Time) {
	c, vals := h.c, h.vals
	id := string(ev.AuditID)
	for _, k := range h.keys {
		ks := e.state[c.ID].getOrNew(k)
		if ks.Values == nil {
			ks.Values, ks.ValueIDs = map[string]time.Time{}, map[string]string{}
		}
		for v, seen := range ks.Values {
			if t.Sub(seen) > c.Window.D() {
				delete(ks.Values, v)
				delete(ks.ValueIDs, v)
			}
		}
		for _, v := range vals {
			_, known := ks.Values[v]
			ks.Values[v] = t
			if known {
				continue
			}
			if len(ks.ValueIDs) < max(c.Threshold, e.cfg.MaxEvidence) {
				ks.ValueIDs[v] = id
			}
			if !ks.FiredLast.IsZero() && t.Sub(ks.FiredLast) <= c.Fold.D() {
				ks.FiredLast = t
				e.fire(c, ev, t, k, []string{id}, 1, h.msg)
				continue
			}
			if len(ks.Values) >= c.Threshold {
				ks.FiredLast = t
				ids := make([]string, 0, len(ks.ValueIDs))
				for _, x := range ks.ValueIDs {
					ids = append(ids, x)
				}
				sortStrings(ids)
				e.fire(c, ev, t, k, ids, len(ks.Values), h.msg)
			}
		}
	}
}

func (e *Engine) firstSeen(h *hit, ev *auditv1.Event, t time.Time) {
	c := h.c
	learning := t.Sub(e.first) < c.Learning.D()
	st := e.state[c.ID]
	for _, k := range h.keys {
		if st.get(k) != nil {
			continue
		}
		st.put(&keyState{Key: k})
		if !learning {
			e.fire(c, ev, t, k, nil, 1, h.msg)
		}
	}
}

// gap fires when a key that was seen falls silent for longer than the window and then
// speaks again: the evidence is the last event before the silence and the first after.
func (e *Engine) gap(h *hit, ev *auditv1.Event, t time.Time) {
	c := h.c
	st := e.state[c.ID]
	id := string(ev.AuditID)
	for _, k := range h.keys {
		ks := st.get(k)
		if ks == nil {
			st.put(&keyState{Key: k, Last: t, IDs: []string{id}})
			continue
		}
		if t.Sub(ks.Last) > c.Window.D() {
			e.fireFrom(c, ev, ks.Last, t, k, append(ks.IDs[:1:1], id), 1, h.msg)
		}
		if t.After(ks.Last) {
			ks.Last, ks.IDs = t, append(ks.IDs[:0], id)
		}
	}
}

// sequence advances one sequence rule with the steps an event matched (last step first,
// so that one event never advances the same key twice).
func (e *Engine) sequence(hits []hit, ev *auditv1.Event, t time.Time) {
	c := hits[0].c
	st := e.state[c.ID]
	advanced := map[string]bool{}
	for _, h := range hits {
		i := h.step
		for _, k := range h.keys {
			if advanced[k] {
				continue
			}
			ks := st.get(k)
			if ks != nil && t.Sub(ks.Start) > c.Within.D() {
				st.del(k)
				ks = nil
			}
			switch {
			case i == 0 && ks == nil:
				st.put(&keyState{Key: k, Next: 1, Start: t, Last: t, IDs: []string{string(ev.AuditID)}})
				advanced[k] = true
			case ks != nil && ks.Next == i && !t.Before(ks.Last) && t.Sub(ks.Last) >= c.steps[i].after:
				ks.Next++
				ks.Last = t
				ks.IDs = append(ks.IDs, string(ev.AuditID))
				advanced[k] = true
				if ks.Next == len(c.steps) {
					st.del(k)
					e.fireFrom(c, ev, ks.Start, t, k, ks.IDs, 1, h.msg)
				}
			}
		}
	}
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// savedState is the engine's memory in JSON: the stateful rules' keys, the findings and
// which of them still absorb repeats. Version guards against restoring another format.
type savedState struct {
	Version       int                    `json:"version"`
	First         time.Time              `json:"first"`
	Now           time.Time              `json:"now"`
	Rules         map[string][]*keyState `json:"rules"`
	Findings      []Finding              `json:"findings"`
	Open          map[string]int         `json:"open"` // fold key -> index in Findings
	NotEval       map[string]int         `json:"not_evaluable"`
	NotEvalEvents int                    `json:"not_evaluable_events"`
	Errors        map[string]int         `json:"eval_errors"`
	// what the log taught about the cluster, requests counted at ResponseStarted whose
	// ResponseComplete may come in the next file, and template findings
	Networks     []string            `json:"networks,omitempty"`
	ControlPlane []string            `json:"control_plane,omitempty"`
	StageSeen    []string            `json:"stage_seen,omitempty"`
	Templates    map[string]Subject  `json:"templates,omitempty"`
	Grown        map[string][]string `json:"grown,omitempty"`
}

const stateVersion = 1

// SaveState serialises everything the engine remembers, so that a later run (the next
// ingest into a case, live mode after a restart) continues where this one stopped.
func (e *Engine) SaveState() ([]byte, error) {
	s := savedState{Version: stateVersion, First: e.first, Now: e.now, Rules: map[string][]*keyState{},
		Open: map[string]int{}, NotEval: e.notEval, NotEvalEvents: e.notEvalEvents, Errors: e.evalErrors()}
	idx := map[*Finding]int{}
	for i, f := range e.findings {
		idx[f] = i
		s.Findings = append(s.Findings, *f)
	}
	for k, f := range e.open {
		s.Open[k] = idx[f]
	}
	s.Networks, s.ControlPlane = e.facts.saved()
	s.StageSeen = e.seen.saved(e.rules)
	s.Templates = e.tmpl.all()
	s.Grown = e.grown.all()
	for id, st := range e.state {
		var keys []*keyState
		for el := st.lru.Back(); el != nil; el = el.Prev() { // oldest first
			keys = append(keys, el.Value.(*keyState).redacted())
		}
		if len(keys) > 0 {
			s.Rules[id] = keys
		}
	}
	return json.Marshal(s)
}

// RestoreState loads what SaveState wrote. State of rules the engine no longer has is
// dropped; rules it did not have start empty.
func (e *Engine) RestoreState(b []byte) error {
	var s savedState
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("reading engine state: %w", err)
	}
	if s.Version != stateVersion {
		return fmt.Errorf("engine state version %d, this build reads %d", s.Version, stateVersion)
	}
	e.first, e.now = s.First, s.Now
	e.findings = e.findings[:0]
	for i := range s.Findings {
		f := s.Findings[i]
		e.findings = append(e.findings, &f)
	}
	e.open = map[string]*Finding{}
	for k, i := range s.Open {
		if i >= 0 && i < len(e.findings) {
			e.open[k] = e.findings[i]
		}
	}
	for k, v := range s.NotEval {
		e.notEval[k] = v
	}
	e.notEvalEvents = s.NotEvalEvents
	e.facts.restore(s.Networks, s.ControlPlane)
	e.seen.restore(s.StageSeen, e.rules)
	for k, v := range s.Templates {
		e.tmpl.put(k, v)
	}
	for k, v := range s.Grown {
		e.grown.put(k, v)
	}
	for k, v := range s.Errors {
		e.evalErrs[k] = v
	}
	for id, keys := range s.Rules {
		st, ok := e.state[id]
		if !ok {
			continue
		}
		for _, ks := range keys {
			st.put(ks)
		}
	}
	return nil
}

// StateKeys reports how many keys each stateful rule remembers (for bounds checks).
func (e *Engine) StateKeys() map[string]int {
	out := map[string]int{}
	for id, st := range e.state {
		out[id] = st.Len()
	}
	return out
}

// StateCoverage reads from a saved state (SaveState) how many events each rule could
// not look at (Result.NotEvaluable's counts), without restoring the engine. It fails
// on a state that is not JSON or of another version.
func StateCoverage(state []byte) (map[string]int, error) {
	var s struct {
		Version int            `json:"version"`
		NotEval map[string]int `json:"not_evaluable"`
	}
	if err := json.Unmarshal(state, &s); err != nil {
		return nil, fmt.Errorf("engine state: %w", err)
	}
	if s.Version != stateVersion {
		return nil, fmt.Errorf("engine state version %d, this kubesleuth reads %d", s.Version, stateVersion)
	}
	return s.NotEval, nil
}

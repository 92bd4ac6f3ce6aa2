package analyzer

import (
	"bytes"
	"fmt"
	"net/netip"
	"sort"
	"strings"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/kubesleuth/kubesleuth/analyzer/redact"
)

// What the engine learns about the cluster from the log itself, for the rules' where
// checks: the cluster's networks (addresses its nodes' identities use, the nodes' pod
// CIDRs and addresses) and its control-plane nodes. Learning is monotonic and bounded:
// past maxFacts networks or nodes nothing more is learned (a log that names more is not
// one cluster's), and facts configured in the allowlist file are always known.

const maxFacts = 4096

// learnedFacts is what one event taught, found by a Matcher (bodies are parsed there, on
// the decoding goroutines) and added to the engine's facts in the serial stage.
type learnedFacts struct {
	nets         []netip.Prefix
	controlPlane []string
}

// clusterFacts is the engine's knowledge of the cluster.
type clusterFacts struct {
	configured []netip.Prefix // Allowlists.ClusterNetworks
	nets       map[netip.Prefix]bool
	cp         map[string]bool
	learned    map[string]struct{} // addresses as node identities wrote them, learned
}

func newClusterFacts(al *Allowlists) *clusterFacts {
	return &clusterFacts{configured: al.nets, nets: map[netip.Prefix]bool{}, cp: map[string]bool{}, learned: map[string]struct{}{}}
}

func (f *clusterFacts) add(l *learnedFacts) {
	for _, p := range l.nets {
		if len(f.nets) < maxFacts {
			f.nets[p] = true
		}
	}
	for _, n := range l.controlPlane {
		if len(f.cp) < maxFacts {
			f.cp[n] = true
		}
	}
}

// learnAddress remembers an address a node identity used (nodes make a request every
// few seconds: the text already learned is not parsed again).
func (f *clusterFacts) learnAddress(s string) {
	if _, ok := f.learned[s]; ok {
		return
	}
	if a, err := netip.ParseAddr(s); err == nil && len(f.nets) < maxFacts {
		f.nets[netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())] = true
		f.learned[s] = struct{}{}
	}
}

// inside reports whether an address lies in the cluster's networks: configured, learned,
// loopback and link-local always, and every private address when none is configured.
// An address that does not parse is not inside (it cannot be placed).
func (f *clusterFacts) inside(s string) bool {
	a, err := netip.ParseAddr(strings.Trim(strings.TrimSpace(s), "[]"))
	if err != nil {
		return false
	}
	a = a.Unmap()
	if a.IsLoopback() || a.IsLinkLocalUnicast() {
		return true
	}
	if len(f.configured) == 0 && (a.IsPrivate() || cgnatPrefix.Contains(a)) {
		return true
	}
	for _, p := range f.configured {
		if p.Contains(a) {
			return true
		}
	}
	if f.nets[netip.PrefixFrom(a, a.BitLen())] {
		return true
	}
	for p := range f.nets {
		if p.Bits() < a.BitLen() && p.Contains(a) {
			return true
		}
	}
	return false
}

var cgnatPrefix = netip.MustParsePrefix("100.64.0.0/10")

func (f *clusterFacts) controlPlane(node string, al *Allowlists) bool {
	return f.cp[node] || al.Allowed("control_plane_nodes", node)
}

// saved is the facts in a stable order, for the engine's saved state.
func (f *clusterFacts) saved() (nets, cp []string) {
	for p := range f.nets {
		nets = append(nets, p.String())
	}
	for n := range f.cp {
		cp = append(cp, n)
	}
	sort.Strings(nets)
	sort.Strings(cp)
	return nets, cp
}

func (f *clusterFacts) restore(nets, cp []string) {
	for _, s := range nets {
		if p, err := netip.ParsePrefix(s); err == nil && len(f.nets) < maxFacts {
			f.nets[p] = true
		}
	}
	for _, n := range cp {
		if len(f.cp) < maxFacts {
			f.cp[n] = true
		}
	}
}

var nodeNeedles = [][]byte{[]byte(`"podCIDR`), []byte(`"addresses"`), []byte(`node-role.kubernetes.io/`)}

// learn finds facts in an event's bodies: Node objects (and lists of them) name their pod
// CIDRs, their addresses and, by label, whether they are control-plane nodes. Only bodies
// that hold one of nodeNeedles are parsed.
func (m *Matcher) learn(ev *auditv1.Event, res, sub string) *learnedFacts {
	if res != "nodes" || (sub != "" && sub != "status") || (ev.Stage != auditv1.StageResponseComplete && ev.Stage != auditv1.StagePanic) {
		return nil
	}
	raw := []byte(nil)
	if ev.ResponseObject != nil {
		raw = ev.ResponseObject.Raw
	}
	if len(raw) == 0 && ev.RequestObject != nil {
		raw = ev.RequestObject.Raw
	}
	hit := false
	for _, n := range nodeNeedles {
		if bytes.Contains(raw, n) {
			hit = true
			break
		}
	}
	if !hit {
		return nil
	}
	if !m.ready {
		m.vars.reset(ev)
		m.ready = true
	}
	var l learnedFacts
	obj, _ := m.vars.object().(map[string]any)
	nodes := []any{obj}
	if items, ok := obj["items"].([]any); ok {
		nodes = items
	}
	for _, n := range nodes {
		node, _ := n.(map[string]any)
		if node == nil {
			continue
		}
		md, _ := node["metadata"].(map[string]any)
		name, _ := md["name"].(string)
		if name == "" && ev.ObjectRef != nil {
			name = ev.ObjectRef.Name
		}
		labels, _ := md["labels"].(map[string]any)
		for _, k := range []string{"node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master"} {
			if _, ok := labels[k]; ok && name != "" {
				l.controlPlane = append(l.controlPlane, name)
				break
			}
		}
		spec, _ := node["spec"].(map[string]any)
		cidrs := stringsOf(spec["podCIDRs"])
		if c, _ := spec["podCIDR"].(string); c != "" {
			cidrs = append(cidrs, c)
		}
		for _, c := range cidrs {
			if p, err := netip.ParsePrefix(c); err == nil {
				l.nets = append(l.nets, p.Masked())
			}
		}
		status, _ := node["status"].(map[string]any)
		addrs, _ := status["addresses"].([]any)
		for _, x := range addrs {
			ad, _ := x.(map[string]any)
			if t, _ := ad["type"].(string); t != "InternalIP" && t != "ExternalIP" {
				continue
			}
			if s, _ := ad["address"].(string); s != "" {
				if a, err := netip.ParseAddr(s); err == nil {
					l.nets = append(l.nets, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
				}
			}
		}
	}
	if len(l.nets) == 0 && len(l.controlPlane) == 0 {
		return nil
	}
	return &l
}

// stageSeen remembers, for requests rules counted at ResponseStarted, which rules did,
// so that the same request's ResponseComplete is not counted again by them: one request
// counts once whichever of its stages the log holds. Bounded: the oldest requests go
// first (a stream that outlived maxStageSeen other counted streams is counted twice at
// worst).
type stageSeen struct {
	keys map[string][]uint16 // auditID -> indexes of the rules that counted it
	ring []string
	next int
}

const maxStageSeen = 1 << 16

func (s *stageSeen) put(id string, rules []uint16) {
	if s.keys == nil {
		s.keys = map[string][]uint16{}
		s.ring = make([]string, 0, 1024)
	}
	if have, ok := s.keys[id]; ok {
		for _, r := range rules {
			if !hasIdx(have, r) {
				have = append(have, r)
			}
		}
		s.keys[id] = have
		return
	}
	if len(s.ring) < maxStageSeen {
		s.ring = append(s.ring, id)
	} else {
		delete(s.keys, s.ring[s.next])
		s.ring[s.next] = id
		s.next = (s.next + 1) % maxStageSeen
	}
	s.keys[id] = rules
}

// take returns the rules that counted id, and forgets it (no later stage follows).
func (s *stageSeen) take(id string) []uint16 {
	r, ok := s.keys[id]
	if ok {
		delete(s.keys, id)
	}
	return r
}

func hasIdx(l []uint16, i uint16) bool {
	for _, x := range l {
		if x == i {
			return true
		}
	}
	return false
}

// saved lists "ruleID\x00auditID" for the engine's saved state, oldest first.
func (s *stageSeen) saved(rules []*compiled) []string {
	var out []string
	for _, id := range s.ring {
		for _, r := range s.keys[id] {
			if int(r) < len(rules) {
				out = append(out, rules[r].ID+"\x00"+id)
			}
		}
	}
	return out
}

func (s *stageSeen) restore(saved []string, rules []*compiled) {
	idx := map[string]uint16{}
	for i, c := range rules {
		idx[c.ID] = uint16(i)
	}
	for _, k := range saved {
		rule, id, ok := strings.Cut(k, "\x00")
		if i, known := idx[rule]; ok && known {
			s.put(id, []uint16{i})
		}
	}
}

// generations is a map bounded by two generations: when the current one is full it
// becomes the old one and the oldest entries are forgotten.
type generations[V any] struct {
	cur, old map[string]V
}

const maxGenerations = 1 << 14

func (t *generations[V]) get(k string) (V, bool) {
	if s, ok := t.cur[k]; ok {
		return s, true
	}
	s, ok := t.old[k]
	return s, ok
}

func (t *generations[V]) put(k string, s V) {
	if t.cur == nil {
		t.cur = map[string]V{}
	}
	if len(t.cur) >= maxGenerations {
		t.old, t.cur = t.cur, map[string]V{}
	}
	t.cur[k] = s
}

// all is every entry, the newer generation winning.
func (t *generations[V]) all() map[string]V {
	if len(t.cur)+len(t.old) == 0 {
		return nil
	}
	out := make(map[string]V, len(t.cur)+len(t.old))
	for k, v := range t.old {
		out[k] = v
	}
	for k, v := range t.cur {
		out[k] = v
	}
	return out
}

// templates remembers, per rule, the subject of the finding each template object (a
// Deployment, a ReplicaSet, a Job...) fired, so that what a controller makes from it
// folds into that finding.
type templates = generations[Subject]

// subjectFor is the subject a match hit's finding gets: the rule's own parts, or, for an
// object a controller made for an owner, the subject of the finding the owner fired
// (when it is in the log) or the owner itself, attributed to the controller.
func (e *Engine) subjectFor(h *hit, ev *auditv1.Event) Subject {
	if o := h.ex().owner; o != nil {
		for _, k := range o.keys {
			if s, ok := e.tmpl.get(h.c.ID + "\x00" + redact.String(k)); ok {
				return s
			}
		}
		s := subjectOf(h.c.Rule, ev)
		s.Resource, s.Subresource, s.Name = o.resource, "", o.name
		return s
	}
	return subjectOf(h.c.Rule, ev)
}

// learnFrom adds what ev teaches to the engine's facts: the address a node identity
// used, and what its Matcher found in its bodies.
func (e *Engine) learnFrom(ev *auditv1.Event, m *Matched) {
	if len(ev.SourceIPs) > 0 && isNodeIdentity(ev.User.Username, ev.User.Groups) {
		e.facts.learnAddress(ev.SourceIPs[0])
	}
	if m != nil && m.learned != nil {
		e.facts.add(m.learned)
	}
}

func isNodeIdentity(name string, groups []string) bool {
	if strings.HasPrefix(name, "system:node:") {
		return true
	}
	for _, g := range groups {
		if g == "system:nodes" {
			return true
		}
	}
	return false
}

// counted is what the serial stage knows of an event's request before its hits: the
// rules that counted it at ResponseStarted (for a final stage), and, for a
// ResponseStarted event, the rules that count it now.
type counted struct {
	before []uint16
	now    []uint16
}

func (e *Engine) countedBefore(ev *auditv1.Event) counted {
	if (ev.Stage == auditv1.StageResponseComplete || ev.Stage == auditv1.StagePanic) && len(e.seen.keys) > 0 {
		return counted{before: e.seen.take(string(ev.AuditID))}
	}
	return counted{}
}

// counts reports whether a hit is the first time its rule counts its request.
func (e *Engine) counts(h *hit, ev *auditv1.Event, c *counted) bool {
	i := uint16(h.c.idx)
	if ev.Stage == auditv1.StageResponseStarted {
		if !hasIdx(c.now, i) {
			c.now = append(c.now, i)
		}
		return true
	}
	return !hasIdx(c.before, i)
}

// where runs a match hit's checks against the cluster facts and, for where.grows, the
// object's previous items (which it then replaces). An observe hit only teaches.
func (e *Engine) where(h *hit, ev *auditv1.Event) bool {
	x := h.ex()
	if h.c.grows != nil && x.growKey != "" {
		k := h.c.ID + "\x00" + redact.String(x.growKey)
		items := make([]string, len(x.growItems))
		for i, it := range x.growItems {
			items[i] = redact.String(it) // saved into the case with the engine's state
		}
		prev, seen := e.grown.get(k)
		e.grown.put(k, items)
		if x.observe || (seen && !hasNew(items, prev)) {
			return false
		}
	}
	if h.c.outside && (len(ev.SourceIPs) == 0 || e.facts.inside(ev.SourceIPs[0])) {
		return false
	}
	if x.cpNode != "" && !e.facts.controlPlane(x.cpNode, &e.cfg.Allowlists) {
		return false
	}
	return true
}

// tuned applies the allowlist file's tuning to copies of the rules it names. Tuning a
// rule the engine does not run is an error (a typo would otherwise change nothing).
func tuned(rules []*Rule, tuning map[string]RuleTuning) ([]*Rule, error) {
	if len(tuning) == 0 {
		return rules, nil
	}
	out := make([]*Rule, len(rules))
	used := map[string]bool{}
	for i, r := range rules {
		out[i] = r
		t, ok := tuning[r.ID]
		if !ok {
			continue
		}
		used[r.ID] = true
		cp := *r
		if t.Threshold > 0 {
			cp.Threshold = t.Threshold
		}
		if t.Window > 0 {
			cp.Window = t.Window
		}
		if t.Learning > 0 {
			cp.Learning = t.Learning
		}
		if t.Fold > 0 {
			cp.Fold = t.Fold
		}
		out[i] = &cp
	}
	var unknown []string
	for id := range tuning {
		if !used[id] {
			unknown = append(unknown, id)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, fmt.Errorf("allowlist tuning names rules the engine does not run: %s", strings.Join(unknown, ", "))
	}
	return out, nil
}

func hasNew(items, prev []string) bool {
	for _, x := range items {
		found := false
		for _, p := range prev {
			if p == x {
				found = true
				break
			}
		}
		if !found {
			return true
		}
	}
	return false
}

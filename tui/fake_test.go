package tui

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/kubesleuth/kubesleuth/analyzer"
	"github.com/kubesleuth/kubesleuth/index"
)

// fakeReader is a deterministic in-memory case for golden tests: fixed events, findings
// and secrets, and a search that implements the clause semantics the TUI uses (exact
// keyword values, negation, time bounds, both orders, pages, histograms).
type fakeReader struct {
	mu      sync.Mutex
	rows    []index.Row // oldest first
	finds   []analyzer.Finding
	secrets []index.SecretAtRest
	notes   map[index.Target]index.Annotation
}

var fakeStart = time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)

// evilAgent holds a color change, an OSC 8 hyperlink and a C1 CSI: none may reach the
// terminal.
const evilAgent = "kubectl/v1.31 \x1b[31mred\x1b[0m \x1b]8;;http://evil.example/\x07link\x1b]8;;\x07 \u009b2J"

func newFakeReader() *fakeReader {
	f := &fakeReader{notes: map[index.Target]index.Annotation{}}
	users := []string{"alice@example.com", "system:serviceaccount:ci:deployer", "bob@example.com", "system:node:worker-1"}
	verbs := []string{"get", "list", "create", "delete", "update", "watch"}
	res := []string{"pods", "secrets", "configmaps", "deployments"}
	for i := 0; i < 300; i++ {
		// two bursts of activity an hour apart, so the identity view splits them
		t := fakeStart.Add(time.Duration(i) * 7 * time.Second)
		if i >= 150 {
			t = t.Add(time.Hour)
		}
		r := index.Row{
			ID: index.EventID(fmt.Sprintf("a%04d/ResponseComplete", i)), AuditID: fmt.Sprintf("a%04d", i), Stage: "ResponseComplete",
			Time: t, User: users[i%len(users)], SourceIP: fmt.Sprintf("10.0.0.%d", i%5+1), UserAgent: "kubectl/v1.31",
			Verb: verbs[i%len(verbs)], Resource: res[i%len(res)], Namespace: []string{"prod", "staging"}[i%2],
			Name: fmt.Sprintf("obj-%d", i%7), Code: []int{200, 201, 403, 404, 500}[i%5], Latency: 3,
		}
		if i == 297 {
			r.UserAgent = evilAgent
			r.User = "mallory\x1b[2J"
			r.Name = "db-password"
			r.Resource = "secrets"
			r.Namespace = "prod"
		}
		r.URI = "/api/v1/namespaces/" + r.Namespace + "/" + r.Resource + "/" + r.Name
		f.rows = append(f.rows, r)
	}
	f.finds = []analyzer.Finding{
		{RuleID: "KS-SEC-002", Title: "Secret read by an unusual identity", Severity: analyzer.High, MITRE: []string{"T1552.007"},
			Subject:  analyzer.Subject{User: "mallory\x1b[2J", SourceIP: "10.0.0.3", UserAgent: evilAgent, Namespace: "prod", Resource: "secrets", Name: "db-password"},
			AuditIDs: []string{"a0297"}, FirstSeen: f.rows[297].Time, LastSeen: f.rows[297].Time, Count: 1,
			Message: "mallory read secret prod/db-password"},
		{RuleID: "KS-EXEC-001", Title: "Shell in a running container", Severity: analyzer.Critical, MITRE: []string{"T1609"},
			Subject:  analyzer.Subject{User: "alice@example.com", Namespace: "prod", Resource: "pods", Subresource: "exec", Name: "obj-0"},
			AuditIDs: []string{"a0000", "a0012"}, FirstSeen: f.rows[0].Time, LastSeen: f.rows[12].Time, Count: 2,
			Message: "alice@example.com opened a shell in prod/obj-0"},
		{RuleID: "KS-DISC-001", Title: "Many forbidden requests", Severity: analyzer.Medium,
			Subject: analyzer.Subject{User: "bob@example.com", SourceIP: "10.0.0.3"}, AuditIDs: []string{"a0002"},
			FirstSeen: f.rows[2].Time, LastSeen: f.rows[200].Time, Count: 40, Message: "40 forbidden requests"},
		{RuleID: "KS-ETCD-001", Title: "Secret stored in plaintext in etcd", Severity: analyzer.High,
			Subject: analyzer.Subject{Key: "/registry/secrets/prod/db-password"}, Count: 1, Message: "plaintext"},
	}
	sort.SliceStable(f.finds, func(i, j int) bool { return f.finds[i].Severity > f.finds[j].Severity })
	f.secrets = []index.SecretAtRest{
		{Key: "/registry/secrets/prod/db-password", Namespace: "prod", Name: "db-password", Type: "Opaque", State: "plaintext", Revision: 7, OldPlaintextRevisions: 2, CurrentValueExposed: true},
		{Key: "/registry/secrets/prod/tls", Namespace: "prod", Name: "tls", Type: "kubernetes.io/tls", State: "encrypted", Provider: "aesgcm", KeyName: "key1", Revision: 9, Decryption: "ok"},
		{Key: "/registry/secrets/staging/api", Namespace: "staging", Name: "api", State: "encrypted", Provider: "aescbc", KeyName: "old", Revision: 3, KeyStatus: "stale"},
	}
	return f
}

func (f *fakeReader) Info() (*index.Info, error) {
	first, last := f.rows[0].Time, f.rows[len(f.rows)-1].Time
	return &index.Info{Version: 2, Events: len(f.rows), Findings: len(f.finds), First: &first, Last: &last, Complete: true}, nil
}

func rowField(r *index.Row, field string) string {
	switch field {
	case "user":
		return r.User
	case "sourceIP":
		return r.SourceIP
	case "namespace":
		return r.Namespace
	case "name":
		return r.Name
	case "userAgent":
		return r.UserAgent
	case "verb":
		return r.Verb
	case "resource":
		return r.Resource
	case "stage":
		return r.Stage
	case "auditID":
		return r.AuditID
	}
	return ""
}

func (f *fakeReader) Search(ctx context.Context, q index.Query) (*index.Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	q, err := index.ApplyTime(q) // the time: clauses, as every store does
	if err != nil {
		return nil, err
	}
	cs, err := index.ParseClauses(q.Text)
	if err != nil {
		return nil, err
	}
	var match []index.Row
	for i := range f.rows {
		r := &f.rows[i]
		if (!q.From.IsZero() && r.Time.Before(q.From)) || (!q.To.IsZero() && !r.Time.Before(q.To)) {
			continue
		}
		ok := true
		for _, c := range cs {
			if c.Field == "" && c.Value == "*" {
				continue
			}
			v := rowField(r, c.Field)
			hit := v == c.Value
			if pre, isPrefix := strings.CutSuffix(c.Value, "*"); isPrefix {
				hit = strings.HasPrefix(v, pre)
			}
			if hit == c.Not {
				ok = false
			}
		}
		if ok {
			match = append(match, *r)
		}
	}
	res := &index.Result{Total: len(match), Took: time.Millisecond}
	for _, f := range q.Facets {
		count := map[string]int{}
		for i := range match {
			count[rowField(&match[i], f)]++
		}
		if res.Facets == nil {
			res.Facets = map[string][]index.FacetCount{}
		}
		for v, n := range count {
			res.Facets[f] = append(res.Facets[f], index.FacetCount{Value: v, Count: n})
		}
		sort.Slice(res.Facets[f], func(i, j int) bool {
			a, b := res.Facets[f][i], res.Facets[f][j]
			return a.Count > b.Count || (a.Count == b.Count && a.Value < b.Value)
		})
	}
	if q.Histogram > 0 {
		from, to := q.From, q.To
		if len(match) > 0 && from.IsZero() {
			from = match[0].Time
		}
		from = from.Truncate(q.Histogram)
		for t := from; t.Before(to); t = t.Add(q.Histogram) {
			res.Histogram = append(res.Histogram, index.Bucket{Start: t})
		}
		for _, r := range match {
			if i := int(r.Time.Sub(from) / q.Histogram); i >= 0 && i < len(res.Histogram) {
				res.Histogram[i].Count++
			}
		}
	}
	if q.Newest {
		for i, j := 0, len(match)-1; i < j; i, j = i+1, j-1 {
			match[i], match[j] = match[j], match[i]
		}
	}
	limit := q.Limit
	if limit == 0 {
		limit = 50
	}
	if q.Offset < len(match) {
		match = match[q.Offset:]
	} else {
		match = nil
	}
	res.Events = match[:min(limit, len(match))]
	return res, nil
}

func (f *fakeReader) Event(id index.EventID) (json.RawMessage, error) {
	r, err := f.Row(id)
	if err != nil {
		return nil, err
	}
	ev := map[string]any{
		"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "auditID": r.AuditID, "stage": r.Stage,
		"requestURI": r.URI, "verb": r.Verb, "user": map[string]any{"username": r.User, "groups": []string{"system:authenticated"},
			// a bound token's credential id: the pivot T follows it (two tokens per user)
			"extra": map[string]any{"authentication.kubernetes.io/credential-id": []string{fmt.Sprintf("JTI=%s-%d", r.User, len(r.AuditID)%2+int(r.Time.Sub(fakeStart)/time.Hour))}}},
		"sourceIPs": []string{r.SourceIP}, "userAgent": r.UserAgent,
		"objectRef":                map[string]any{"resource": r.Resource, "namespace": r.Namespace, "name": r.Name, "apiVersion": "v1"},
		"responseStatus":           map[string]any{"metadata": map[string]any{}, "code": r.Code},
		"annotations":              map[string]any{"authorization.k8s.io/decision": "allow", "authorization.k8s.io/reason": "RBAC: allowed by ClusterRoleBinding"},
		"requestReceivedTimestamp": r.Time.Format(time.RFC3339Nano),
	}
	return json.Marshal(ev)
}

func (f *fakeReader) Row(id index.EventID) (index.Row, error) {
	for _, r := range f.rows {
		if r.ID == id {
			return r, nil
		}
	}
	return index.Row{}, fmt.Errorf("event %s: %w", id, index.ErrNotFound)
}

func (f *fakeReader) Around(ctx context.Context, id index.EventID, n int) ([]index.Row, error) {
	for i, r := range f.rows {
		if r.ID == id {
			return append([]index.Row(nil), f.rows[max(i-n, 0):min(i+n+1, len(f.rows))]...), nil
		}
	}
	return nil, fmt.Errorf("event %s: %w", id, index.ErrNotFound)
}

func (f *fakeReader) Findings() ([]analyzer.Finding, error) { return f.finds, nil }

func (f *fakeReader) ResolveEvidence(fi analyzer.Finding) ([]index.Row, error) {
	var out []index.Row
	for _, a := range fi.AuditIDs {
		for _, r := range f.rows {
			if r.AuditID == a {
				out = append(out, r)
			}
		}
	}
	return out, nil
}

func (f *fakeReader) SecretsAtRest() ([]index.SecretAtRest, error) {
	return append([]index.SecretAtRest(nil), f.secrets...), nil
}

func (f *fakeReader) Annotations() ([]index.Annotation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []index.Annotation
	for _, a := range f.notes {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Target.ID < out[j].Target.ID })
	return out, nil
}

func (f *fakeReader) Annotate(a index.Annotation) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !a.Bookmarked && strings.TrimSpace(a.Note) == "" {
		delete(f.notes, a.Target)
		return nil
	}
	f.notes[a.Target] = a
	return nil
}

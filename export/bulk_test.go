package export

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/kubesleuth/kubesleuth/analyzer/redact"
	"github.com/kubesleuth/kubesleuth/index"
	"github.com/kubesleuth/kubesleuth/internal/vlogstest"
)

const secretValue = "aHVudGVyMg=="

// secretEvent is a create of a Secret whose body holds a value the redactor replaces.
func secretEvent(i int) *auditv1.Event {
	t := time.Date(2025, 1, 2, 3, 4, 5, i*1000, time.UTC)
	return &auditv1.Event{
		Level: "RequestResponse", AuditID: types.UID(fmt.Sprintf("a0000000-0000-0000-0000-%012d", i)),
		Stage: "ResponseComplete", RequestURI: "/api/v1/namespaces/prod/secrets", Verb: "create",
		User:      authnv1.UserInfo{Username: "alice", Groups: []string{"devs", "system:authenticated"}},
		SourceIPs: []string{"10.1.2.3"}, UserAgent: "kubectl/v1.37 <&>",
		ObjectRef:                &auditv1.ObjectReference{Resource: "secrets", Namespace: "prod", Name: "db", APIVersion: "v1"},
		ResponseStatus:           &metav1.Status{Code: 201},
		RequestObject:            &runtime.Unknown{Raw: []byte(`{"kind":"Secret","metadata":{"name":"db"},"data":{"password":"` + secretValue + `"}}`)},
		RequestReceivedTimestamp: metav1.NewMicroTime(t), StageTimestamp: metav1.NewMicroTime(t.Add(12 * time.Millisecond)),
	}
}

func prepare(t *testing.T, ev *auditv1.Event) *index.Prepared {
	p, err := index.Prepare(ev)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestDocument: a document holds the audit fields under their names, the ECS aliases and
// the case's identity, and nothing the redactor would change (it is made of redacted
// parts only): the secret value is not in it.
func TestDocument(t *testing.T) {
	p := prepare(t, secretEvent(1))
	for _, k := range []Kind{Elasticsearch, VictoriaLogs} {
		doc := AppendDocument(nil, p, k, "case-1", "run-1")
		if bytes.Contains(doc, []byte(secretValue)) {
			t.Fatalf("kind %d: the document holds the secret value", k)
		}
		// the redactor re-encodes (sorted keys, HTML escapes): compare the values
		out, _ := redact.JSON(doc)
		var a, b any
		if json.Unmarshal(doc, &a) != nil || json.Unmarshal(out, &b) != nil || !reflect.DeepEqual(a, b) {
			t.Errorf("kind %d: the redactor still changes a value of the document", k)
		}
		var m map[string]any
		if err := json.Unmarshal(doc, &m); err != nil {
			t.Fatalf("kind %d: not JSON: %v", k, err)
		}
		want := map[string]any{"@timestamp": "2025-01-02T03:04:05.000001Z", "event.action": "create", "user.name": "alice",
			"source.ip": "10.1.2.3", "orchestrator.type": "kubernetes", "orchestrator.namespace": "prod",
			"orchestrator.resource.type": "secrets", "orchestrator.resource.name": "db", "http.response.status_code": 201.0,
			"kubesleuth.id": string(p.ID), "kubesleuth.latency_ms": 12.0, "kubesleuth.case": "case-1", "kubesleuth.run": "run-1",
			"verb": "create", "requestURI": "/api/v1/namespaces/prod/secrets", "user_agent.original": "kubectl/v1.37 <&>"}
		for f, v := range want {
			if m[f] != v {
				t.Errorf("kind %d: %s = %v, want %v", k, f, m[f], v)
			}
		}
		if u, _ := m["user"].(map[string]any); u["username"] != "alice" {
			t.Errorf("kind %d: the audit field user.username is %v", k, m["user"])
		}
		if _, ok := m["kubesleuth.event"]; ok != (k == VictoriaLogs) {
			t.Errorf("kind %d: kubesleuth.event present: %v", k, ok)
		}
	}
}

// esStandIn answers _bulk as Elasticsearch does (per-item statuses). A stand-in: no
// Elasticsearch or OpenSearch can run on this machine (neither is packaged for it).
type esStandIn struct {
	mu       sync.Mutex
	ids      map[string]bool
	requests int
	busy     int // answer this many requests' first item with 429
	refuse   bool
	auth     string
}

func (s *esStandIn) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	if u, p, _ := r.BasicAuth(); u+":"+p != s.auth && s.auth != "" {
		http.Error(w, "unauthorized", 401)
		return
	}
	if r.URL.Path != "/_bulk" || r.Header.Get("Content-Type") != "application/x-ndjson" {
		http.Error(w, "bad request", 400)
		return
	}
	sc := bufio.NewScanner(r.Body)
	sc.Buffer(nil, 1<<24)
	var items []map[string]any
	for i := 0; sc.Scan(); i++ {
		var action map[string]map[string]string
		if err := json.Unmarshal(sc.Bytes(), &action); err != nil || !sc.Scan() {
			http.Error(w, "bad action", 400)
			return
		}
		id := action["create"]["_id"]
		st := 201
		switch {
		case s.refuse:
			st = 400
		case s.busy > 0 && i == 0:
			st = 429
			s.busy--
		case s.ids[id]:
			st = 409
		default:
			s.ids[id] = true
		}
		it := map[string]any{"status": st}
		if st == 400 {
			it["error"] = map[string]string{"type": "mapper_parsing_exception", "reason": "failed to parse field [x] with value Bearer abcdefghijklmnopqrstuvwxyz0123456789"}
		}
		items = append(items, map[string]any{"create": it})
	}
	json.NewEncoder(w).Encode(map[string]any{"errors": true, "items": items})
}

// TestElasticsearchItems: batches are bounded; an item answered 429 is sent again alone;
// a second export of the same events creates nothing (409: already there); credentials go
// as basic auth and never into messages; a refused item fails the write with its reason
// redacted.
func TestElasticsearchItems(t *testing.T) {
	es := &esStandIn{ids: map[string]bool{}, busy: 1, auth: "elastic:s3cr3t-pw"}
	srv := httptest.NewServer(es)
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	u.User = url.UserPassword("elastic", "s3cr3t-pw")
	ctx := context.Background()
	for round := 0; round < 2; round++ {
		w, err := New(Options{URL: u.String(), MaxBatchDocs: 4, Backoff: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 10; i++ {
			if err := w.Add(ctx, prepare(t, secretEvent(i))); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if w.Sent() != 10 || (round == 1) != (w.Duplicates() == 10) {
			t.Errorf("round %d: sent %d, duplicates %d", round, w.Sent(), w.Duplicates())
		}
	}
	if len(es.ids) != 10 {
		t.Errorf("the index holds %d documents, want 10", len(es.ids))
	}
	// 3 batches of at most 4, one retried, twice over
	if es.requests != 7 {
		t.Errorf("%d requests, want 7", es.requests)
	}
	es.refuse = true
	w, _ := New(Options{URL: u.String(), Retries: -1})
	w.Add(ctx, prepare(t, secretEvent(1)))
	err := w.Flush(ctx)
	if err == nil || !strings.Contains(err.Error(), "status 400 mapper_parsing_exception") {
		t.Fatalf("a refused item: %v", err)
	}
	if strings.Contains(err.Error(), "abcdefghijklmnopqrstuvwxyz0123456789") || strings.Contains(err.Error(), "s3cr3t-pw") {
		t.Errorf("the error echoes a secret: %v", err)
	}
	t.Log(err)
}

// TestVictoriaLogsAccepts: a real VictoriaLogs takes the batches at
// /insert/elasticsearch/_bulk and holds every event, with the stored event as its message.
func TestVictoriaLogsAccepts(t *testing.T) {
	s := vlogstest.Start(t, vlogstest.Options{})
	w, err := New(Options{URL: s.URL, Kind: VictoriaLogs, Case: "c", Run: "r", MaxBatchBytes: 8 << 10})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var ps []*index.Prepared
	for i := 0; i < 50; i++ {
		p := prepare(t, secretEvent(i))
		ps = append(ps, p)
		if err := w.Add(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	http.Get(s.URL + "/internal/force_flush")
	resp, err := http.PostForm(s.URL+"/select/logsql/query", url.Values{"query": {`kubesleuth.case:="c" | fields _msg, kubesleuth.id`}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	got := map[string]string{}
	for _, l := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		var m map[string]string
		if err := json.Unmarshal(l, &m); err != nil {
			t.Fatalf("answer line: %v", err)
		}
		got[m["kubesleuth.id"]] = m["_msg"]
	}
	for _, p := range ps {
		if got[string(p.ID)] != string(p.JSON()) {
			t.Errorf("event %s: stored message differs from the case's bytes", p.ID)
		}
	}
	if bytes.Contains(b, []byte(secretValue)) {
		t.Error("VictoriaLogs holds the secret value")
	}
}

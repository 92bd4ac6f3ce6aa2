package main

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/kubesleuth/kubesleuth/analyzer/redact"
	"github.com/kubesleuth/kubesleuth/internal/testbin"
)

// bulkStandIn answers _bulk as Elasticsearch does (an item per document, 409 for an _id
// it holds) and keeps every document. A stand-in: no Elasticsearch or OpenSearch can run
// on this machine.
type bulkStandIn struct {
	mu   sync.Mutex
	docs map[string][]byte
	bad  []string
}

func (s *bulkStandIn) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sc := bufio.NewScanner(r.Body)
	sc.Buffer(nil, 64<<20)
	var items []any
	for sc.Scan() {
		var action struct {
			Create struct {
				ID    string `json:"_id"`
				Index string `json:"_index"`
			} `json:"create"`
		}
		if err := json.Unmarshal(sc.Bytes(), &action); err != nil || !sc.Scan() || action.Create.Index != "incident" {
			http.Error(w, "bad bulk body", 400)
			return
		}
		st := 201
		if _, ok := s.docs[action.Create.ID]; ok {
			st = 409
		} else {
			s.docs[action.Create.ID] = append([]byte(nil), sc.Bytes()...)
		}
		items = append(items, map[string]any{"create": map[string]int{"status": st}})
	}
	json.NewEncoder(w).Encode(map[string]any{"errors": false, "items": items})
}

// TestExportElasticsearch drives the binary: export sends every event of a case (with
// attacks whose bodies hold secrets) once, as the case stores it (every document is
// already what the redactor makes of it), and a second export creates nothing.
func TestExportElasticsearch(t *testing.T) {
	bin := testbin.Path(t)
	dir := t.TempDir()
	log, cs := filepath.Join(dir, "audit.log"), filepath.Join(dir, "case")
	if _, errs, code := runBin(t, bin, "generate", "--events", "3000", "--attacks", "-o", log); code != 0 {
		t.Fatalf("generate: %s", errs)
	}
	if _, errs, code := runBin(t, bin, "ingest", "--case", cs, log); code != 0 {
		t.Fatalf("ingest: %s", errs)
	}
	es := &bulkStandIn{docs: map[string][]byte{}}
	srv := httptest.NewServer(es)
	defer srv.Close()
	_, errs, code := runBin(t, bin, "export", "--case", cs, "--to", srv.URL, "--index", "incident", "--batch", "700")
	if code != 0 || !strings.Contains(errs, "Exported 3000 of 3000 events") {
		t.Fatalf("export: %d %s", code, errs)
	}
	_, errs, code = runBin(t, bin, "export", "--case", cs, "--to", srv.URL, "--index", "incident")
	if code != 0 || !strings.Contains(errs, "(3000 already there)") {
		t.Fatalf("second export: %d %s", code, errs)
	}
	if len(es.docs) != 3000 {
		t.Fatalf("the index holds %d documents, want 3000", len(es.docs))
	}
	secrets := 0
	for id, d := range es.docs {
		out, _ := redact.JSON(d)
		var a, b map[string]any
		if json.Unmarshal(d, &a) != nil || json.Unmarshal(out, &b) != nil || !reflect.DeepEqual(a, b) {
			t.Fatalf("document %s holds what the redactor changes", id)
		}
		if a["kubesleuth.id"] != id || a["@timestamp"] == nil || a["orchestrator.type"] != "kubernetes" {
			t.Fatalf("document %s lacks its aliases", id)
		}
		if strings.Contains(string(d), `"sha256:`) {
			secrets++
		}
	}
	if secrets == 0 {
		t.Error("no document carries a fingerprint: the case proves nothing about redaction")
	}
}

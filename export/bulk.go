// Package export sends a case's redacted events to a distributed log store through the
// Elasticsearch _bulk NDJSON protocol: Elasticsearch and OpenSearch (an index), or
// VictoriaLogs (/insert/elasticsearch/_bulk). The VictoriaLogs event store (vlstore)
// writes through it too.
//
// Every document is built from an *index.Prepared: the event after the case's one
// redaction (index.Prepare, analyzer/redact), and its row, whose fields passed the same
// redactor. Nothing else of an event is sent. The document keeps the audit field names
// (audit.k8s.io/v1, nested as the apiserver writes them) and adds ECS aliases: @timestamp,
// event.action, event.id, user.name, source.ip, user_agent.original,
// http.response.status_code, orchestrator.type, orchestrator.namespace,
// orchestrator.resource.type, orchestrator.resource.name; and kubesleuth.* (the case's
// event ID, latency, case name, run).
//
// Failure modes: a batch is retried (with backoff) on a network error, a 429 or a 5xx,
// and on the items an Elasticsearch answer marks 429 or 5xx; any other refusal (a 4xx, an
// item rejected for its mapping) fails the write with the status and a redacted, bounded
// preview of the reason, never a document's bytes. Memory is one batch (MaxBatchBytes).
package export

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kubesleuth/kubesleuth/analyzer/redact"
	"github.com/kubesleuth/kubesleuth/index"
)

// Kind is the protocol dialect of a target.
type Kind int

const (
	// Elasticsearch (or OpenSearch): POST {URL}/_bulk into Options.Index, each document
	// with _id = the case's event ID, so that a second export of the same case creates
	// nothing twice (409 conflicts are events already there).
	Elasticsearch Kind = iota
	// VictoriaLogs: POST {URL}/insert/elasticsearch/_bulk with _time_field=@timestamp,
	// _msg_field=kubesleuth.event (the redacted event JSON, what the store reads back)
	// and _stream_fields=kubesleuth.case.
	VictoriaLogs
)

// Defaults of Options.
const (
	DefaultIndex      = "kubesleuth-audit"
	DefaultBatchBytes = 4 << 20
	DefaultBatchDocs  = 5000
	DefaultRetries    = 5
)

// Options configure a Writer.
type Options struct {
	// URL is the target's base URL (http or https; user:password@ is sent as basic auth
	// and never printed).
	URL  string
	Kind Kind
	// Index is the Elasticsearch index (DefaultIndex when empty).
	Index string
	// Case names the case in every document (kubesleuth.case); Run names this write
	// (kubesleuth.run), so a count of the run's documents checks what the target kept.
	Case, Run string
	// MaxBatchBytes and MaxBatchDocs bound one request (defaults above).
	MaxBatchBytes, MaxBatchDocs int
	// Retries is how many times a failed batch is sent again (DefaultRetries; -1: none).
	Retries int
	// Backoff is the first wait before a retry (default 200 ms), doubled each time.
	Backoff time.Duration
	// Concurrency is how many batches are in flight at once (default 2).
	Concurrency int
	Client      *http.Client
}

// Writer batches documents and sends them, up to Options.Concurrency batches at once
// while the caller fills the next (memory: Concurrency+1 batches). Not safe for
// concurrent use.
type Writer struct {
	o        Options
	endpoint string
	user     *url.Userinfo
	cur      *batch
	free     chan *batch // batches not in flight
	inflight sync.WaitGroup
	mu       sync.Mutex // guards what the senders update: sent, dup, err
	sent     int
	dup      int
	err      error // the first send that failed for good
	doc      []byte
}

// batch is one request's NDJSON body.
type batch struct {
	buf  bytes.Buffer
	docs int
}

// New checks o and returns a Writer.
func New(o Options) (*Writer, error) {
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("export target %q: want http(s)://host[:port][/path]", SafeURL(o.URL))
	}
	if o.Index == "" {
		o.Index = DefaultIndex
	}
	if o.MaxBatchBytes <= 0 {
		o.MaxBatchBytes = DefaultBatchBytes
	}
	if o.MaxBatchDocs <= 0 {
		o.MaxBatchDocs = DefaultBatchDocs
	}
	if o.Retries == 0 {
		o.Retries = DefaultRetries
	}
	if o.Backoff <= 0 {
		o.Backoff = 200 * time.Millisecond
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 2 * time.Minute}
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 2
	}
	w := &Writer{o: o, user: u.User, cur: &batch{}, free: make(chan *batch, o.Concurrency)}
	for range o.Concurrency {
		w.free <- &batch{}
	}
	u.User = nil
	base := strings.TrimRight(u.String(), "/")
	switch o.Kind {
	case VictoriaLogs:
		q := url.Values{"_time_field": {"@timestamp"}, "_msg_field": {"kubesleuth.event"}, "_stream_fields": {"kubesleuth.case"}}
		w.endpoint = base + "/insert/elasticsearch/_bulk?" + q.Encode()
	default:
		w.endpoint = base + "/_bulk"
	}
	return w, nil
}

// SafeURL is u without its password, for messages.
func SafeURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return redact.Preview(u, 80)
	}
	if p.User != nil {
		p.User = url.User(p.User.Username())
	}
	return p.String()
}

// Sent is the number of documents the target accepted so far; Duplicates, of those, the
// Elasticsearch target already held (same _id).
// They count the batches whose answer came; Flush waits for every batch.
func (w *Writer) Sent() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.sent
}

func (w *Writer) Duplicates() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.dup
}

func (w *Writer) failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// Add queues p's document and sends the batch when it is full.
func (w *Writer) Add(ctx context.Context, p *index.Prepared) error {
	if err := w.failed(); err != nil {
		return err
	}
	w.doc = AppendDocument(w.doc[:0], p, w.o.Kind, w.o.Case, w.o.Run)
	b := w.cur
	if b.docs > 0 && (b.buf.Len()+len(w.doc)+128 > w.o.MaxBatchBytes || b.docs >= w.o.MaxBatchDocs) {
		w.dispatch(ctx)
		b = w.cur
	}
	switch w.o.Kind {
	case VictoriaLogs:
		b.buf.WriteString(`{"create":{}}`)
	default:
		b.buf.WriteString(`{"create":{"_index":`)
		writeJSONString(&b.buf, w.o.Index)
		b.buf.WriteString(`,"_id":`)
		writeJSONString(&b.buf, string(p.ID))
		b.buf.WriteString(`}}`)
	}
	b.buf.WriteByte('\n')
	b.buf.Write(w.doc)
	b.buf.WriteByte('\n')
	b.docs++
	return nil
}

// dispatch sends the current batch in the background and takes a free one (waiting
// while Concurrency batches are in flight).
func (w *Writer) dispatch(ctx context.Context) {
	b := w.cur
	w.inflight.Add(1)
	go func() {
		defer w.inflight.Done()
		if err := w.sendBatch(ctx, b); err != nil {
			w.mu.Lock()
			if w.err == nil {
				w.err = err
			}
			w.mu.Unlock()
		}
		b.buf.Reset()
		b.docs = 0
		w.free <- b
	}()
	w.cur = <-w.free
}

// Flush sends what is queued and waits for every batch in flight: its error is the first
// batch that failed for good.
func (w *Writer) Flush(ctx context.Context) error {
	if w.cur.docs > 0 && w.failed() == nil {
		w.dispatch(ctx)
	}
	w.inflight.Wait()
	return w.failed()
}

// sendBatch sends b, again while the failure may pass (see send).
func (w *Writer) sendBatch(ctx context.Context, b *batch) error {
	wait := w.o.Backoff
	for attempt := 0; ; attempt++ {
		// the batch, not a copy: a partial failure narrows it to the items to send again
		retry, err := w.send(ctx, b)
		if err == nil {
			break
		}
		if !retry || attempt >= w.o.Retries || w.o.Retries < 0 {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait *= 2
	}
	return nil
}

// bulkAnswer is the part of an Elasticsearch _bulk answer read: per-item status and error.
type bulkAnswer struct {
	Errors bool `json:"errors"`
	Items  []map[string]struct {
		Status int `json:"status"`
		Error  *struct {
			Type   string `json:"type"`
			Reason string `json:"reason"`
		} `json:"error"`
	} `json:"items"`
}

// send posts one batch: retry says whether the failure may pass on a second try. On a
// partial failure whose failed items may all pass later, the batch is narrowed to them.
func (w *Writer) send(ctx context.Context, b *batch) (retry bool, err error) {
	body := b.buf.Bytes()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.endpoint, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	if w.user != nil {
		pw, _ := w.user.Password()
		req.SetBasicAuth(w.user.Username(), pw)
	}
	resp, err := w.o.Client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		return true, fmt.Errorf("sending %d events to %s: %w", b.docs, SafeURL(w.o.URL), scrubURLError(err))
	}
	defer resp.Body.Close()
	ans, rerr := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
		return true, fmt.Errorf("sending %d events to %s: %s: %s", b.docs, SafeURL(w.o.URL), resp.Status, redact.Preview(string(ans), 200))
	}
	if resp.StatusCode/100 != 2 {
		return false, fmt.Errorf("sending %d events to %s: %s: %s", b.docs, SafeURL(w.o.URL), resp.Status, redact.Preview(string(ans), 200))
	}
	if rerr != nil {
		return true, fmt.Errorf("reading the answer of %s: %w", SafeURL(w.o.URL), rerr)
	}
	if w.o.Kind == VictoriaLogs {
		w.mu.Lock()
		w.sent += b.docs
		w.mu.Unlock()
		return false, nil
	}
	var a bulkAnswer
	if err := json.Unmarshal(ans, &a); err != nil {
		return false, fmt.Errorf("%s answered _bulk with %d bytes that are not a bulk answer (is it Elasticsearch or OpenSearch?)", SafeURL(w.o.URL), len(ans))
	}
	if len(a.Items) != b.docs {
		return false, fmt.Errorf("%s answered %d items for %d events sent", SafeURL(w.o.URL), len(a.Items), b.docs)
	}
	var again bytes.Buffer
	againDocs, sent, dup := 0, 0, 0
	defer func() {
		w.mu.Lock()
		w.sent += sent
		w.dup += dup
		w.mu.Unlock()
	}()
	lines := bytes.SplitAfter(body, []byte("\n"))
	for i, it := range a.Items {
		for _, r := range it {
			switch {
			case r.Status/100 == 2:
				sent++
			case r.Status == http.StatusConflict: // created by an earlier export
				sent++
				dup++
			case r.Status == http.StatusTooManyRequests || r.Status >= 500:
				again.Write(lines[2*i])
				again.Write(lines[2*i+1])
				againDocs++
			default:
				what := ""
				if r.Error != nil {
					what = r.Error.Type + ": " + redact.Preview(r.Error.Reason, 200)
				}
				return false, fmt.Errorf("%s refused event %d of a batch of %d: status %d %s", SafeURL(w.o.URL), i+1, b.docs, r.Status, what)
			}
		}
	}
	if againDocs > 0 {
		b.buf.Reset()
		b.buf.Write(again.Bytes())
		b.docs = againDocs
		return true, fmt.Errorf("%s asked to send %d events again (busy)", SafeURL(w.o.URL), againDocs)
	}
	return false, nil
}

// scrubURLError drops the URL (which may carry a password) from a client error.
func scrubURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

// AppendDocument appends p's document (one JSON object, no newline) to b. case and run
// pass the redactor like every string of an event.
func AppendDocument(b []byte, p *index.Prepared, k Kind, caseName, run string) []byte {
	r := &p.Row
	b = append(b, `{"@timestamp":"`...)
	b = r.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	str := func(name, v string) {
		if v == "" {
			return
		}
		b = append(b, ',', '"')
		b = append(b, name...)
		b = append(b, '"', ':')
		b = appendJSONString(b, v)
	}
	str("event.action", r.Verb)
	str("event.id", r.AuditID)
	str("user.name", r.User)
	str("source.ip", r.SourceIP)
	str("user_agent.original", r.UserAgent)
	if r.Code != 0 {
		b = append(b, `,"http.response.status_code":`...)
		b = strconv.AppendInt(b, int64(r.Code), 10)
	}
	b = append(b, `,"orchestrator.type":"kubernetes"`...)
	str("orchestrator.namespace", r.Namespace)
	str("orchestrator.resource.type", r.Resource)
	str("orchestrator.resource.name", r.Name)
	str("kubesleuth.id", string(r.ID))
	if k == VictoriaLogs {
		b = append(b, `,"kubesleuth.key":"`...)
		b = AppendSortKey(b, string(r.ID))
		b = append(b, '"')
	}
	if r.Latency >= 0 { // -1: unknown, and no latency range matches it
		b = append(b, `,"kubesleuth.latency_ms":`...)
		b = strconv.AppendInt(b, r.Latency, 10)
	}
	str("kubesleuth.case", redact.String(caseName))
	str("kubesleuth.run", redact.String(run))
	ev := p.JSON()
	if k == VictoriaLogs {
		// the event as stored, which the VictoriaLogs store returns for Event(id)
		b = append(b, `,"kubesleuth.event":`...)
		b = appendJSONString(b, string(ev))
	}
	// then the audit fields as the apiserver names them (the redacted event's members)
	if i := bytes.IndexByte(ev, '{'); i >= 0 {
		rest := bytes.TrimSpace(ev[i+1:])
		if len(rest) > 1 { // not "}"
			b = append(b, ',')
		}
		b = append(b, rest...)
	} else {
		b = append(b, '}')
	}
	return b
}

func appendJSONString(b []byte, s string) []byte {
	var buf bytes.Buffer
	writeJSONString(&buf, s)
	return append(b, buf.Bytes()...)
}

// writeJSONString writes s as a JSON string without HTML escaping (json.Marshal's
// escaping of <, > and & would make values differ from the stored event's).
func writeJSONString(buf *bytes.Buffer, s string) {
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	buf.Truncate(buf.Len() - 1) // Encode's newline
}

// AppendSortKey appends id spelt in the letters a to p, a nibble each: its order under
// VictoriaLogs' natural sort (which compares runs of digits as numbers) is the byte order
// of id, the order the bleve store pages in.
func AppendSortKey(b []byte, id string) []byte {
	for i := 0; i < len(id); i++ {
		b = append(b, 'a'+id[i]>>4, 'a'+id[i]&15)
	}
	return b
}

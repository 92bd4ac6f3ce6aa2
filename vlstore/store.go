// Package vlstore is the case's event store on VictoriaLogs (one node or a cluster), the
// second implementation of index.EventStore and index.EventSearcher beside the case
// folder's bbolt + bleve. The case folder keeps the case's metadata (custody, findings,
// notes, the engine's state) and records the store (index.Info.Store); the events go to
// VictoriaLogs through the Elasticsearch _bulk writer (export), redacted by index.Prepare,
// one log stream per case (kubesleuth.case).
//
// Queries in kubesleuth's search syntax become LogsQL (logsql.go); totals, facets and
// histograms are `stats` pipes computed by VictoriaLogs; pages are `sort by (_time,
// kubesleuth.id) offset limit`; an event is fetched by its case ID.
//
// Failure modes: every call fails with the HTTP error of VictoriaLogs (its status and a
// redacted preview of its answer) or the network's; Verify fails with a *DroppedError when
// VictoriaLogs kept fewer events of a run than it accepted (it answers 2xx to events older
// than its -retentionPeriod and drops them). Events are visible to queries about a second
// after they were sent (VictoriaLogs' in-memory buffer); Sync waits for them.
package vlstore

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/kubesleuth/kubesleuth/analyzer/redact"
	"github.com/kubesleuth/kubesleuth/export"
)

// Scheme is the --store URL scheme: victorialogs://host:port[/path] (http), or
// victorialogs+https://host:port.
const Scheme = "victorialogs"

// HTTPURL turns a --store URL into the HTTP base URL of VictoriaLogs.
func HTTPURL(store string) (string, error) {
	u, err := url.Parse(store)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("--store %q: want %s://host:port", export.SafeURL(store), Scheme)
	}
	switch u.Scheme {
	case Scheme:
		u.Scheme = "http"
	case Scheme + "+https":
		u.Scheme = "https"
	case "http", "https":
	default:
		return "", fmt.Errorf("--store %q: unknown store %q (known: %s://host:port)", export.SafeURL(store), u.Scheme, Scheme)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// Client talks to one VictoriaLogs (a single node or a cluster's select/insert node) for
// one case.
type Client struct {
	base   string
	user   *url.Userinfo
	Case   string
	http   *http.Client
	MaxRow int // bound on one answer line (default 16 MiB: an event's JSON)
}

// NewClient returns a client of the store URL (victorialogs://host:port or http(s)://)
// for the case named caseName.
func NewClient(store, caseName string) (*Client, error) {
	base, err := HTTPURL(store)
	if err != nil {
		return nil, err
	}
	if caseName == "" {
		return nil, fmt.Errorf("the case has no name in the store")
	}
	u, _ := url.Parse(base)
	c := &Client{user: u.User, Case: caseName, http: &http.Client{Timeout: 5 * time.Minute}, MaxRow: 16 << 20}
	u.User = nil
	c.base = u.String()
	return c, nil
}

// BaseURL is the HTTP URL of VictoriaLogs (with its credentials, for the writer).
func (c *Client) BaseURL() string {
	u, _ := url.Parse(c.base)
	u.User = c.user
	return u.String()
}

func (c *Client) do(ctx context.Context, path string, form url.Values) (*http.Response, error) {
	var body io.Reader
	method := http.MethodGet
	if form != nil {
		method, body = http.MethodPost, strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if c.user != nil {
		pw, _ := c.user.Password()
		req.SetBasicAuth(c.user.Username(), pw)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var ue *url.Error
		if ok := asURLError(err, &ue); ok {
			err = fmt.Errorf("%s %s: %w", ue.Op, path, ue.Err)
		}
		return nil, fmt.Errorf("VictoriaLogs at %s: %w", c.base, err)
	}
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		return nil, fmt.Errorf("VictoriaLogs at %s%s: %s: %s", c.base, path, resp.Status, redact.Preview(strings.TrimSpace(string(b)), 300))
	}
	return resp, nil
}

func asURLError(err error, ue **url.Error) bool {
	e, ok := err.(*url.Error)
	if ok {
		*ue = e
	}
	return ok
}

// Query runs a LogsQL query and calls fn with each answer row (a JSON object of strings).
func (c *Client) Query(ctx context.Context, q string, fn func(row map[string]string) error) error {
	resp, err := c.do(ctx, "/select/logsql/query", url.Values{"query": {q}})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), c.MaxRow)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		row := map[string]string{}
		if err := json.Unmarshal(line, &row); err != nil {
			return fmt.Errorf("VictoriaLogs at %s answered a row of %d bytes that is not a JSON object of strings", c.base, len(line))
		}
		if err := fn(row); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading the answer of VictoriaLogs at %s: %w", c.base, err)
	}
	return nil
}

// Count is the number of events the filter matches.
func (c *Client) Count(ctx context.Context, filter string) (int, error) {
	n := 0
	err := c.Query(ctx, filter+" | stats count() as n", func(r map[string]string) error {
		v, err := strconv.Atoi(r["n"])
		if err != nil {
			return fmt.Errorf("VictoriaLogs answered a count that is not a number (%d bytes)", len(r["n"]))
		}
		n = v
		return nil
	})
	return n, err
}

// RowsDropped is the sum of vl_rows_dropped_total{reason="too_small_timestamp"} and
// {reason="too_big_timestamp"} that the node at base exposes in /metrics: the events it
// answered 2xx to and did not store because they lie outside its retention. A cluster's
// insert/select node does not count them (its storage nodes do): -1, nil when the node
// exposes no such counter.
func (c *Client) RowsDropped(ctx context.Context) (int64, error) {
	resp, err := c.do(ctx, "/metrics", nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var n int64 = -1
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if !strings.HasPrefix(l, "vl_rows_dropped_total{") ||
			!(strings.Contains(l, `reason="too_small_timestamp"`) || strings.Contains(l, `reason="too_big_timestamp"`)) {
			continue
		}
		f := strings.Fields(l)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			continue
		}
		if n < 0 {
			n = 0
		}
		n += int64(v)
	}
	return n, sc.Err()
}

// Span counts the events the filter matches, with their oldest and newest times (nil
// when none).
func (c *Client) Span(ctx context.Context, filter string) (n int, first, last *time.Time, err error) {
	err = c.Query(ctx, filter+" | stats count() as n, min(_time) as tmin, max(_time) as tmax", func(r map[string]string) error {
		n, _ = strconv.Atoi(r["n"])
		if t, err := time.Parse(time.RFC3339Nano, r["tmin"]); err == nil && n > 0 {
			first = &t
		}
		if t, err := time.Parse(time.RFC3339Nano, r["tmax"]); err == nil && n > 0 {
			last = &t
		}
		return nil
	})
	return n, first, last, err
}

// ForceFlush asks VictoriaLogs to make what it accepted searchable now (on a cluster's
// insert/select node it passes the request to every storage node). Best effort: a node
// that protects /internal/force_flush (-forceFlushAuthKey) refuses, and its data shows
// within a second or two anyway. A run calls it once at its start, so that the previous
// run's last events are seen (a tail killed and restarted at once would store them
// twice), and once before it verifies its count.
func (c *Client) ForceFlush(ctx context.Context) {
	if resp, err := c.do(ctx, "/internal/force_flush", nil); err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

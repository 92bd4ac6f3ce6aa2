package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/kubesleuth/kubesleuth/export"
	"github.com/kubesleuth/kubesleuth/index"
	"github.com/kubesleuth/kubesleuth/vlstore"
)

func init() { register(newExportCmd) }

type exportOptions struct {
	caseDir   string
	to        string
	kind      string
	idx       string
	from, to2 string
	batch     int
}

func newExportCmd(io stdio) *cobra.Command {
	var o exportOptions
	cmd := &cobra.Command{
		Use:   "export --to URL [--case DIR] [QUERY]",
		Short: "Send a case's redacted events to Elasticsearch, OpenSearch or VictoriaLogs",
		Long: `export sends the events of a case (all, or those QUERY matches, in the search syntax)
to a log store through the Elasticsearch _bulk API, oldest first, in bounded batches,
retrying a busy target. Each event is sent as the case stores it: redacted, secret values
replaced by fingerprints. Documents keep the audit field names (verb, user.username,
objectRef.namespace, ...) and add ECS aliases: @timestamp, event.action, event.id,
user.name, source.ip, user_agent.original, http.response.status_code, orchestrator.type,
orchestrator.namespace, orchestrator.resource.type and orchestrator.resource.name, and
kubesleuth.id (auditID/stage), kubesleuth.case and kubesleuth.latency_ms.

  --to https://user:pass@es.example:9200     Elasticsearch or OpenSearch (index --index)
  --to victorialogs://vl.example:9428        VictoriaLogs (/insert/elasticsearch/_bulk)

Into Elasticsearch each event's _id is its kubesleuth.id: exporting again creates nothing
twice. VictoriaLogs keeps no IDs: export checks afterwards that it holds every event sent
(it answers 2xx to events older than its -retentionPeriod and drops them: export fails
then, saying how many).

Exit codes: 0 done; 2 usage error or an unreadable case; 1 the target refused or failed.`,
		Example: `  kubesleuth export --case ./incident-42 --to http://localhost:9200 --index incident-42
  kubesleuth export --case ./incident-42 --to victorialogs://localhost:9428 'user:ci-deployer'`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			q := ""
			if len(args) == 1 {
				q = args[0]
			}
			return runExport(cmd, io, o, q)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.caseDir, "case", defaultCase, "case folder")
	fs.StringVar(&o.to, "to", "", "target: http(s)://host:9200 (Elasticsearch, OpenSearch) or victorialogs://host:9428")
	fs.StringVar(&o.kind, "kind", "", "elasticsearch, opensearch or victorialogs (default: from --to's scheme)")
	fs.StringVar(&o.idx, "index", export.DefaultIndex, "Elasticsearch or OpenSearch index")
	fs.StringVar(&o.from, "from", "", "only events at or after this time (RFC 3339)")
	fs.StringVar(&o.to2, "until", "", "only events before this time (RFC 3339)")
	fs.IntVar(&o.batch, "batch", export.DefaultBatchDocs, "events per request (at most 4 MiB)")
	return cmd
}

func runExport(cmd *cobra.Command, io stdio, o exportOptions, text string) error {
	if o.to == "" {
		return usagef("--to is required: the target's URL")
	}
	if _, err := index.ParseClauses(text); err != nil && strings.TrimSpace(text) != "" && text != "*" {
		return usagef("query: %v", err)
	}
	from, err := parseTimeFlag("from", o.from)
	if err != nil {
		return err
	}
	until, err := parseTimeFlag("until", o.to2)
	if err != nil {
		return err
	}
	kind, base := export.Elasticsearch, o.to
	switch {
	case o.kind == "victorialogs" || (o.kind == "" && strings.HasPrefix(o.to, vlstore.Scheme)):
		kind = export.VictoriaLogs
		if base, err = vlstore.HTTPURL(o.to); err != nil {
			return usageError{err}
		}
	case o.kind == "" || o.kind == "elasticsearch" || o.kind == "opensearch":
	default:
		return usagef("--kind %q: elasticsearch, opensearch or victorialogs", o.kind)
	}
	c, err := openCase(o.caseDir, index.OpenOptions{})
	if err != nil {
		return usageError{err}
	}
	defer c.Close()
	if in, err := c.Info(); err == nil && !in.Complete {
		fmt.Fprintf(io.err, "warning: case %s is incomplete (an ingest was interrupted or is still running): the export may miss its newest events\n", o.caseDir)
	}
	// the copy's name: the folder's (a case kept in VictoriaLogs has its own name there,
	// with a random suffix, so an export never adds to it)
	abs, _ := filepath.Abs(o.caseDir)
	caseName := filepath.Base(abs)
	run := "export-" + time.Now().UTC().Format("20060102T150405Z") + "-" + randomHex(4)
	w, err := export.New(export.Options{URL: base, Kind: kind, Index: o.idx, Case: caseName, Run: run, MaxBatchDocs: o.batch})
	if err != nil {
		return usageError{err}
	}
	var cl *vlstore.Client
	var dropped0 int64
	if kind == export.VictoriaLogs {
		if cl, err = vlstore.NewClient(o.to, caseName); err != nil {
			return usageError{err}
		}
		if dropped0, err = cl.RowsDropped(cmd.Context()); err != nil {
			return err
		}
	}
	var oldest time.Time
	start := time.Now()
	n, err := eachEvent(cmd.Context(), c, index.Query{Text: text, From: from, To: until}, func(p *index.Prepared) error {
		if oldest.IsZero() {
			oldest = p.Row.Time
		}
		return w.Add(cmd.Context(), p)
	})
	if err == nil {
		err = w.Flush(cmd.Context())
	}
	if err != nil {
		return fmt.Errorf("export to %s after %d events: %w", export.SafeURL(o.to), w.Sent(), err)
	}
	if cl != nil {
		v := &vlstore.Verifier{Client: cl, Run: run, Sent: w.Sent(), Dropped0: dropped0, Oldest: oldest}
		if err := v.Verify(cmd.Context()); err != nil {
			return err
		}
	}
	dup := ""
	if w.Duplicates() > 0 {
		dup = fmt.Sprintf(" (%d already there)", w.Duplicates())
	}
	fmt.Fprintf(io.err, "Exported %d of %d events%s to %s in %s.\n", w.Sent(), n, dup, export.SafeURL(o.to), time.Since(start).Round(time.Millisecond))
	return nil
}

// messager fetches a page's events at once (vlstore.Case).
type messager interface {
	Messages(ctx context.Context, rows []index.Row) (map[index.EventID]json.RawMessage, error)
}

// eachEvent calls fn with every event q matches, oldest first, each prepared again from
// its stored (redacted) form by index.Prepare, the one redaction every event passes.
// Pages are by time (keyset), so the millionth event costs what the first does.
func eachEvent(ctx context.Context, r index.EventSearcher, q index.Query, fn func(*index.Prepared) error) (int, error) {
	const page = 1000
	var atLast []index.EventID // the events already seen at the last page's last time
	n := 0
	for {
		pq := q
		pq.Limit, pq.Offset = page, len(atLast)
		res, err := r.Search(ctx, pq)
		if err != nil {
			return n, err
		}
		var msgs map[index.EventID]json.RawMessage
		if m, ok := r.(messager); ok && len(res.Events) > 0 { // a store a round trip away
			if msgs, err = m.Messages(ctx, res.Events); err != nil {
				return n, err
			}
		}
		for _, row := range res.Events {
			raw, ok := msgs[row.ID]
			if msgs == nil {
				if raw, err = r.Event(row.ID); err != nil {
					return n, err
				}
			} else if !ok {
				return n, fmt.Errorf("event %s: %w", row.ID, index.ErrNotFound)
			}
			var ev auditv1.Event
			if err := json.Unmarshal(raw, &ev); err != nil {
				return n, fmt.Errorf("event %s of the case does not decode: %w", row.ID, index.ErrDamaged)
			}
			p, err := index.Prepare(&ev)
			if err != nil {
				return n, fmt.Errorf("event %s: %w", row.ID, err)
			}
			if err := fn(p); err != nil {
				return n, err
			}
			n++
		}
		if len(res.Events) < page {
			return n, nil
		}
		last := res.Events[len(res.Events)-1].Time
		if !last.Equal(q.From) {
			atLast = atLast[:0]
		}
		for i := len(res.Events) - 1; i >= 0 && res.Events[i].Time.Equal(last); i-- {
			atLast = append(atLast, res.Events[i].ID)
		}
		q.From = last
	}
}

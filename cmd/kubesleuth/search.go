package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/kubesleuth/kubesleuth/index"
)

func init() { register(newSearchCmd) }

type searchOptions struct {
	caseDir   string
	from, to  string
	limit     int
	offset    int
	newest    bool
	output    string
	facets    []string
	facetSize int
	histogram time.Duration
	bench     int
}

func newSearchCmd(io stdio) *cobra.Command {
	var o searchOptions
	cmd := &cobra.Command{
		Use:   "search [--case DIR] [QUERY]",
		Short: "Search the events of a case",
		Long: `search finds events in a case folder and prints them sorted by time. A query is clauses
separated by spaces, each field:value with the field names of the audit schema; every
clause must match, and a clause starting with - must not.

  user:ci-deployer verb:delete resource:secrets     all terms must match
  -verb:get  -user:system:*                         exclude (prefix with -)
  name:db-*  userAgent:kubectl*                     prefix
  code:>=400  latency:>1000                         numbers (latency in ms)
  requestURI:exec  reason:RBAC                      words in text fields
  alice@example.com                                 a bare value: user, namespace, name or resource
  time:>=2026-03-02T08:00  time:<2026-03-02T09      request time (UTC unless a zone is given)
  time:[2026-03-02T08:00 TO 2026-03-02T08:30]       a range (also FROM..TO); time:2026-03-02 a day

Fields: ` + strings.Join(index.Fields, ", ") + `
An empty query or * matches every event. Values are exact (keywords) except requestURI and
reason (words); quote values with spaces: reason:"allowed by". Values may hold colons:
user:system:node:worker-1.
Without --from/--to or time: clauses the whole case is searched; --from/--to are RFC 3339.
A time names the span it writes: time:<=2026-03-02T08:15 includes the whole of that minute.
auditID, requestURI and latency are checked event by event among the candidates the
other clauses leave: fast next to them, slower alone over a large case.

-o json prints {"total": N, "events": [...], "facets": {...}, "histogram": [...]}, where
total counts all matches, not just the page.`,
		Example: `  kubesleuth search --case ./incident-42 'user:ci-deployer verb:delete resource:secrets'
  kubesleuth search 'resource:secrets -verb:watch' --facet user --histogram 10m
  kubesleuth search -- '-verb:get -verb:watch'     # a query that starts with -
  kubesleuth search --from 2026-03-02T08:00:00Z --to 2026-03-02T09:00:00Z -o jsonl '*'`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			q := ""
			if len(args) == 1 {
				q = args[0]
			}
			return runSearch(cmd, io, o, q)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.caseDir, "case", defaultCase, "case folder")
	fs.StringVar(&o.from, "from", "", "only events at or after this time (RFC 3339)")
	fs.StringVar(&o.to, "to", "", "only events before this time (RFC 3339)")
	fs.IntVar(&o.limit, "limit", 50, "events to print")
	fs.IntVar(&o.offset, "offset", 0, "skip this many matches first")
	fs.BoolVar(&o.newest, "newest", false, "newest first")
	fs.StringVarP(&o.output, "output", "o", "table", "output format: table, json or jsonl")
	fs.StringArrayVar(&o.facets, "facet", nil, "top values of this field with counts (repeatable): "+strings.Join(index.FacetFields(), ", "))
	fs.IntVar(&o.facetSize, "facet-size", 10, "values per facet")
	fs.DurationVar(&o.histogram, "histogram", 0, "count matches per interval (e.g. 1m, 1h)")
	fs.IntVar(&o.bench, "bench", 0, "run the query this many times and print p50/p95 latency (for make bench)")
	_ = fs.MarkHidden("bench")
	return cmd
}

func parseTimeFlag(name, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return t, usagef("--%s: %v", name, err)
	}
	return t, nil
}

func runSearch(cmd *cobra.Command, io stdio, o searchOptions, text string) error {
	if err := checkOutput(o.output, "table", "json", "jsonl"); err != nil {
		return err
	}
	from, err := parseTimeFlag("from", o.from)
	if err != nil {
		return err
	}
	to, err := parseTimeFlag("to", o.to)
	if err != nil {
		return err
	}
	if o.limit < 0 {
		return usagef("--limit must be >= 0")
	}
	c, err := openCase(o.caseDir, index.OpenOptions{})
	if err != nil {
		return usageError{err}
	}
	defer c.Close()
	if in, err := c.Info(); err == nil && !in.Complete {
		fmt.Fprintf(io.err, "warning: case %s is incomplete (an ingest or tail is running, or was interrupted): results may miss its newest events; run the same ingest again to complete it\n", o.caseDir)
	}
	q := index.Query{Text: text, From: from, To: to, Limit: o.limit, Offset: o.offset, Newest: o.newest,
		Facets: o.facets, FacetSize: o.facetSize, Histogram: o.histogram}
	if o.limit == 0 {
		q.Limit = 1 // Search treats 0 as the default page; the page is dropped below
	}
	if o.bench > 0 {
		return benchSearch(cmd, io.out, c, q, o.bench)
	}
	res, err := c.Search(cmd.Context(), q)
	if err != nil {
		return usageError{err}
	}
	if o.limit == 0 {
		res.Events = []index.Row{}
	}
	switch o.output {
	case "json":
		enc := json.NewEncoder(io.out)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	case "jsonl":
		enc := json.NewEncoder(io.out)
		for _, r := range res.Events {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
	default:
		printRows(io.out, res.Events)
		printFacets(io.out, res.Facets)
		printHistogram(io.out, res.Histogram)
	}
	fmt.Fprintf(io.err, "%d match(es), %d shown, in %s.\n", res.Total, len(res.Events), res.Took.Round(time.Microsecond))
	return nil
}

func printRows(w io.Writer, rows []index.Row) {
	if len(rows) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tUSER\tVERB\tRESOURCE\tNAMESPACE/NAME\tCODE\tSOURCE IP")
	for _, r := range rows {
		res := r.Resource
		if r.Subresource != "" {
			res += "/" + r.Subresource
		}
		obj := r.Name
		if r.Namespace != "" {
			obj = r.Namespace + "/" + r.Name
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", r.Time.UTC().Format("2006-01-02T15:04:05.000Z"),
			clip(safeText(r.User), 40), safeText(r.Verb), clip(safeText(res), 32), clip(safeText(obj), 48), r.Code, safeText(r.SourceIP))
	}
	tw.Flush()
}

// safeText drops control characters so that data never moves the terminal's cursor.
func safeText(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return '?'
		}
		return r
	}, s)
}

func printFacets(w io.Writer, f map[string][]index.FacetCount) {
	names := make([]string, 0, len(f))
	for n := range f {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "\nFacet %s:\n", n)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, fc := range f[n] {
			fmt.Fprintf(tw, "  %d\t%s\n", fc.Count, safeText(fc.Value))
		}
		tw.Flush()
	}
}

func printHistogram(w io.Writer, h []index.Bucket) {
	if len(h) == 0 {
		return
	}
	max := 1
	for _, b := range h {
		if b.Count > max {
			max = b.Count
		}
	}
	fmt.Fprintln(w, "\nHistogram:")
	for _, b := range h {
		fmt.Fprintf(w, "  %s %8d %s\n", b.Start.UTC().Format(time.RFC3339), b.Count, strings.Repeat("#", b.Count*40/max))
	}
}

// benchSearch runs q n times and prints p50/p95 (the first run warms the caches and counts).
func benchSearch(cmd *cobra.Command, w io.Writer, c index.EventSearcher, q index.Query, n int) error {
	var took []time.Duration
	total := 0
	for i := 0; i < n; i++ {
		t := time.Now()
		res, err := c.Search(cmd.Context(), q)
		if err != nil {
			return usageError{err}
		}
		took = append(took, time.Since(t))
		total = res.Total
	}
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	p := func(f float64) time.Duration { return took[int(f*float64(len(took)-1)+0.5)] }
	fmt.Fprintf(w, "query %q facets %v: total %d, runs %d, p50 %s, p95 %s\n", q.Text, q.Facets, total, n,
		p(0.50).Round(10*time.Microsecond), p(0.95).Round(10*time.Microsecond))
	return nil
}

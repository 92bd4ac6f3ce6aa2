package main

import (
	"errors"
	"fmt"
	"os"

	tea "charm.land/bubbletea/v2"
	"github.com/spf13/cobra"

	"github.com/kubesleuth/kubesleuth/index"
	"github.com/kubesleuth/kubesleuth/tui"
)

func init() { register(newInvestigateCmd) }

type investigateOptions struct {
	caseDir   string
	query     string
	exportDir string
	follow    bool
}

func newInvestigateCmd(io stdio) *cobra.Command {
	var o investigateOptions
	cmd := &cobra.Command{
		Use:   "investigate [--case DIR] [--query QUERY]",
		Short: "Investigate a case in a terminal UI: findings, timeline, pivots, bookmarks",
		Long: `investigate opens a case folder (made by kubesleuth ingest) in a terminal UI: the findings,
a timeline of the events (newest first), the selected event as JSON or YAML, a histogram
of events and findings over time and a status bar.

  /            search, in the syntax of kubesleuth search (↑/↓: history, kept in the case);
               in the findings pane, filter the findings (sev:critical rule:KS-ETCD-* source:audit)
  u i n o a T  filter on the selection's user, source IP, namespace, object name, user agent, token
  esc  ]       back to the previous filter and cursor (esc first dismisses a message); forward
  @  g  G      jump to a time (08:15, 2026-03-02T08:15, -10m); the newest, the oldest event
  +  -         zoom in and out around the selection's time (a time: clause)
  =  H         every stage of a request / one row per request; hide system identities
  B            bookmarks and notes;  r s  findings grouped by rule, sorted by time
  C Y J v      copy the auditID or the event (OSC 52), save it to a file, open it in $PAGER
  R  f  w      the finding's rule source; the detail full screen; wrap long lines
  I S E c      identity timeline (bursts), secret view (who read it, from where),
               etcd secrets at rest by state, the events around the selected one
  enter        a finding's evidence; an event's detail (z fold, y YAML)
  b m          bookmark, note (saved in the case for reports)
  x X          export the view to JSONL or CSV (0600, in --export-dir)
  tab  ?  q    next pane (screen order), every key of the view, quit

The case is opened for writing (bookmarks and notes) while the UI runs; an ingest into the
same case waits for it. A case that kubesleuth tail --case is writing is read through tail
(start tail first); with --follow the UI shows what tail adds as it arrives: new events at
the top of the search timeline (the cursor stays on its row), the findings and the
histogram, about every second. investigate needs a terminal: for scripts use kubesleuth
search.

Exit codes: 0 done; 2 usage error (no case, no terminal).`,
		Example: `  kubesleuth ingest --case ./incident-42 /var/log/kubernetes/audit/
  kubesleuth investigate --case ./incident-42
  kubesleuth investigate --case ./incident-42 --query 'resource:secrets -verb:watch'
  kubesleuth tail /var/log/kubernetes/audit/audit.log --case ./live &
  kubesleuth investigate --case ./live --follow`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runInvestigate(cmd, io, o)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.caseDir, "case", defaultCase, "case folder")
	fs.StringVar(&o.query, "query", "", "initial filter of the timeline (search syntax)")
	fs.StringVar(&o.exportDir, "export-dir", "", "folder for exports (default: the case folder's exports/)")
	fs.BoolVar(&o.follow, "follow", false, "show new events and findings as a live writer (tail --case) adds them")
	return cmd
}

func runInvestigate(cmd *cobra.Command, io stdio, o investigateOptions) error {
	if !isTerminal(io.out) || !isTerminalReader(io.in) {
		return usagef("investigate needs a terminal on standard input and output; use kubesleuth search --case %s QUERY in scripts", o.caseDir)
	}
	if o.query != "" {
		if _, err := index.ParseClauses(o.query); err != nil {
			return usagef("--query: %v", err)
		}
	}
	c, err := openCase(o.caseDir, index.OpenOptions{Writable: true})
	if err != nil {
		return usageError{err}
	}
	defer c.Close()
	if o.exportDir == "" {
		o.exportDir = c.Dir() + string(os.PathSeparator) + "exports"
	}
	// the search history is kept in the case (a TUI file: not in the integrity record)
	m := tui.New(c, tui.Options{CaseName: o.caseDir, Query: o.query, ExportDir: o.exportDir,
		HistoryFile: c.Dir() + string(os.PathSeparator) + "search-history.jsonl", Follow: o.follow})
	// redact: the TUI draws what the case holds (redacted events and findings), every
	// string cleaned of control characters; a line-buffered stream would hold its frames
	p := tea.NewProgram(m, tea.WithContext(cmd.Context()), tea.WithInput(io.in), tea.WithOutput(terminalOf(io.out)))
	if _, err := p.Run(); err != nil && !errors.Is(err, tea.ErrProgramKilled) {
		if errors.Is(err, tea.ErrInterrupted) || cmd.Context().Err() != nil {
			return nil
		}
		return fmt.Errorf("investigate: %w", err)
	}
	// what the case holds, once the alternate screen is gone (the ingest summary before
	// it scrolled away behind the TUI)
	if in, err := c.Info(); err == nil {
		b, n := 0, 0
		if as, err := c.Annotations(); err == nil {
			for _, a := range as {
				if a.Bookmarked {
					b++
				}
				if a.Note != "" {
					n++
				}
			}
		}
		fmt.Fprintf(io.err, "case %s: %d events, %d findings, %d bookmarks, %d notes; exports in %s\n", o.caseDir, in.Events, in.Findings, b, n, o.exportDir)
	}
	return nil
}

// isTerminalReader reports whether r is a terminal (the UI reads keys from it).
func isTerminalReader(r any) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/kubesleuth/kubesleuth/index"
)

func init() { register(newCaseCmd) }

func newCaseCmd(io stdio) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "case",
		Short: "Inspect a case folder",
	}
	var caseDir, output string
	info := &cobra.Command{
		Use:   "info [--case DIR]",
		Short: "Show the chain of custody: every source ingested, with its SHA-256",
		Long: `case info prints case.json: the case's event and finding counts and time span, and
every source ingested into it with its path, size, SHA-256, events read and added, time
range, ingest time and the kubesleuth version that ingested it. "complete: false" means an
ingest is running or was killed; running it again completes the case.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output, "table", "json"); err != nil {
				return err
			}
			c, err := openCase(caseDir, index.OpenOptions{})
			if err != nil {
				return usageError{err}
			}
			defer c.Close()
			in, err := c.Info()
			if err != nil {
				return err
			}
			if output == "json" {
				enc := json.NewEncoder(io.out)
				enc.SetIndent("", "  ")
				return enc.Encode(in)
			}
			fmt.Fprintf(io.out, "Case %s (format %d, created %s, updated %s, complete: %v)\n", caseDir, in.Version,
				in.Created.Format("2006-01-02T15:04:05Z"), in.Updated.Format("2006-01-02T15:04:05Z"), in.Complete)
			fmt.Fprintf(io.out, "%d events, %d findings, from %s to %s\n", in.Events, in.Findings, fmtTime(in.First), fmtTime(in.Last))
			if in.Store != nil {
				fmt.Fprintf(io.out, "events kept in %s as case %s (counted there after the last ingest)\n", safeText(in.Store.URL), safeText(in.Store.Case))
			}
			if as, err := c.Annotations(); err == nil {
				b, n := 0, 0
				for _, a := range as {
					if a.Bookmarked {
						b++
					}
					if a.Note != "" {
						n++
					}
				}
				fmt.Fprintf(io.out, "%d bookmarks, %d notes (kubesleuth investigate: B lists them)\n", b, n)
			}
			fmt.Fprintln(io.out)
			tw := tabwriter.NewWriter(io.out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SOURCE\tKIND\tSIZE\tSHA-256\tREAD\tADDED\tFIRST\tLAST\tINGESTED\tVERSION\tABSOLUTE PATH")
			for _, s := range in.Sources {
				read := strconv.Itoa(s.Read)
				if s.SameAs != "" {
					read = "same as " + safeText(s.SameAs)
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", safeText(s.Path), s.Kind, s.Size, s.SHA256, read, s.Events,
					fmtTime(s.First), fmtTime(s.Last), s.IngestedAt.Format("2006-01-02T15:04:05Z"), s.ToolVersion, or(safeText(s.AbsPath), "-"))
			}
			return tw.Flush()
		},
	}
	info.Flags().StringVar(&caseDir, "case", defaultCase, "case folder")
	info.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	cmd.AddCommand(info, newCaseVerifyCmd(io))
	return cmd
}

func newCaseVerifyCmd(io stdio) *cobra.Command {
	var caseDir, output string
	cmd := &cobra.Command{
		Use:   "verify [--case DIR] [-o json]",
		Short: "Check every file of a case against the record its last ingest left",
		Long: `case verify checks a case folder in full: every file's SHA-256 and size against
integrity.json (which each ingest writes when it finishes), bbolt's own consistency check
of events.db, every row, ID index entry and index group of the store against each other,
every block of events.zst that a row points at, the per-minute counts, the index's
document count against the store's groups, and notes.json's checksum.

Every open of a case checks sizes and modification times only, so that a large case
opens in milliseconds; a file whose time changed but not its size (a copy that did not
keep times) is hashed when small and otherwise refused until verify has checked it.
When every SHA-256 matches and only times changed, verify records the new times.

Exit codes: 0 the case is intact; 2 a file is missing, damaged or changed (each named),
the case is incomplete (an ingest was interrupted: run it again), it has no record (an
older kubesleuth wrote it: the next ingest records one), or no case is there.`,
		Example: `  kubesleuth case verify --case ./incident-42
  kubesleuth case verify --case ./incident-42 -o json | jq .ok`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output, "table", "json"); err != nil {
				return err
			}
			rep, err := index.Verify(cmd.Context(), caseDir)
			if err != nil {
				return usageError{err}
			}
			if output == "json" {
				enc := json.NewEncoder(io.out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(rep); err != nil {
					return err
				}
			} else {
				printVerify(io.out, caseDir, rep)
			}
			if probs := rep.Problems(); len(probs) > 0 {
				return usageError{fmt.Errorf("case %s does not verify: %s", caseDir, strings.Join(probs, "; "))}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&caseDir, "case", defaultCase, "case folder")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	return cmd
}

func printVerify(w io.Writer, dir string, rep *index.VerifyReport) {
	sealed := ""
	if rep.SealedAt != nil {
		sealed = ", recorded " + rep.SealedAt.Format("2006-01-02T15:04:05Z")
	}
	fmt.Fprintf(w, "Case %s (%s%s)\n\n", dir, rep.State, sealed)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FILE\tSIZE\tSHA-256\tSTATUS")
	for _, f := range rep.Files {
		st := f.Status
		if f.Detail != "" {
			st += ": " + f.Detail
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", f.Path, f.Size, f.SHA256, st)
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tFILE\tRESULT")
	for _, c := range rep.Checks {
		res := "ok: "
		if !c.OK {
			res = "FAILED: "
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", c.Name, c.File, res+c.Detail)
	}
	tw.Flush()
	for _, f := range rep.Retimed {
		fmt.Fprintf(w, "%s: content matches the record under a new modification time: recorded the new time\n", f)
	}
	if rep.OK {
		fmt.Fprintln(w, "\nThe case is intact.")
	}
}

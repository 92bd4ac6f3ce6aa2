package main

import (
	"encoding/json"
	"fmt"
	"strconv"
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
			c, err := index.Open(caseDir, index.OpenOptions{})
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
			fmt.Fprintf(io.out, "%d events, %d findings, from %s to %s\n\n", in.Events, in.Findings, fmtTime(in.First), fmtTime(in.Last))
			tw := tabwriter.NewWriter(io.out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SOURCE\tKIND\tSIZE\tSHA-256\tREAD\tADDED\tFIRST\tLAST\tINGESTED\tVERSION")
			for _, s := range in.Sources {
				read := strconv.Itoa(s.Read)
				if s.SameAs != "" {
					read = "same as " + safeText(s.SameAs)
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", safeText(s.Path), s.Kind, s.Size, s.SHA256, read, s.Events,
					fmtTime(s.First), fmtTime(s.Last), s.IngestedAt.Format("2006-01-02T15:04:05Z"), s.ToolVersion)
			}
			return tw.Flush()
		},
	}
	info.Flags().StringVar(&caseDir, "case", defaultCase, "case folder")
	info.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	cmd.AddCommand(info)
	return cmd
}

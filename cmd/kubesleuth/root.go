package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kubesleuth/kubesleuth/analyzer/redact"
	"github.com/kubesleuth/kubesleuth/index"
)

// Exit codes, documented in the README.
const (
	exitOK       = 0 // nothing at or above --fail-on
	exitFindings = 1 // a finding at or above --fail-on
	exitUsage    = 2 // bad flags or arguments, unreadable input, a damaged case, bad input under --strict
	exitNoEvents = 3 // the input was read but held no audit event
	exitFailure  = 4 // kubesleuth could not finish: writing the case or an output failed
	// interrupted: 128 + the signal's number (130 for SIGINT, 143 for SIGTERM)
	exitInterrupted = 130
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// stdio is the process's standard streams; tests pass buffers.
type stdio struct {
	in       io.Reader
	out, err io.Writer
}

// exitError carries an exit code out of a command without printing anything more.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

// usageError marks errors that are the caller's to fix (exit 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// commands holds the constructors of the subcommands; each command's file registers
// itself in init() so that commands live in files of their own.
var commands []func(io stdio) *cobra.Command

func register(c func(io stdio) *cobra.Command) { commands = append(commands, c) }

func newRootCmd(io stdio) *cobra.Command {
	root := &cobra.Command{
		Use:   "kubesleuth",
		Short: "Forensics for Kubernetes: audit logs and etcd, findings and evidence",
		Long: `kubesleuth reads what a Kubernetes cluster recorded — kube-apiserver audit logs and
etcd data — and answers an investigator's questions: what happened, who did it, which
secrets were exposed, and what to fix.`,
		Example: `  # scan audit logs (files, rotated .gz, folders, globs or - for stdin)
  kubesleuth scan /var/log/kubernetes/audit/

  # machine-readable output, fail a CI job on high findings
  kubesleuth scan -o json --fail-on high audit.log > result.json

  # make a realistic sample log with injected attacks
  kubesleuth generate --events 100000 --attacks -o sample.log`,
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(io.in)
	root.SetOut(io.out)
	root.SetErr(io.err)
	root.SetVersionTemplate("kubesleuth {{.Version}}\n")
	for _, c := range commands {
		root.AddCommand(c(io))
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	addProfiling(root)
	return root
}

// run executes one command line and returns the process exit code. Standard output and
// error are wrapped in analyzer/redact's Writer here, once: every byte a command prints,
// its error messages included, passes through the redactor.
func run(ctx context.Context, args []string, io stdio) int {
	out, errw := redact.NewWriter(io.out), redact.NewWriter(io.err)
	defer out.Flush()
	defer errw.Flush()
	io = stdio{in: io.in, out: out, err: errw}
	root := newRootCmd(io)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var ee exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.Cause(ctx)) && ctx.Err() != nil {
		var sig interruptedError
		if errors.As(context.Cause(ctx), &sig) {
			fmt.Fprintf(io.err, "kubesleuth: interrupted (%s)\n", sig.name)
			return 128 + sig.number
		}
		fmt.Fprintln(io.err, "kubesleuth: interrupted")
		return exitInterrupted
	}
	fmt.Fprintf(io.err, "kubesleuth: %v\n", err)
	var ue usageError
	if errors.As(err, &ue) || isCobraUsage(err) || errors.Is(err, index.ErrDamaged) {
		return exitUsage // a damaged case is unreadable input
	}
	var ne noEventsError
	if errors.As(err, &ne) {
		return exitNoEvents
	}
	return exitFailure
}

// interruptedError is the cause of the context's cancellation when a signal stopped the
// run: the exit code is 128 + its number, as shells report it (SIGINT 130, SIGTERM 143).
type interruptedError struct {
	name   string
	number int
}

func (e interruptedError) Error() string { return "interrupted by " + e.name }

// noEventsError: the input was read and held no audit event at all.
type noEventsError struct{ err error }

func (e noEventsError) Error() string { return e.err.Error() }
func (e noEventsError) Unwrap() error { return e.err }

// isCobraUsage recognises cobra's own argument errors (unknown command, wrong arg count).
func isCobraUsage(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "accepts ", "requires at least", "invalid argument"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

// isTerminal reports whether f is a character device (a terminal), for progress output.
func isTerminal(w io.Writer) bool {
	f, ok := terminalOf(w).(*os.File) // redact: only asks whether it is a terminal
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// terminalOf returns the stream under a redacting writer, to ask whether it is a
// terminal (and for the TUI, which draws only what the case holds: redacted events and
// findings).
func terminalOf(w io.Writer) io.Writer {
	if rw, ok := w.(*redact.Writer); ok {
		return rw.Underlying()
	}
	return w
}

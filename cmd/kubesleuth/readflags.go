package main

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/kubesleuth/kubesleuth/ingest/audit"
)

// readFlags are the audit-reading flags shared by every command that reads audit logs.
type readFlags struct {
	strict    bool
	maxLine   sizeFlag
	maxErrors int
	quiet     bool
}

func (f *readFlags) register(fs *pflag.FlagSet) {
	f.maxLine = audit.DefaultMaxLineBytes
	fs.BoolVar(&f.strict, "strict", false, "stop at the first bad input (malformed line, missing auditID, truncated gzip...) with exit code 2")
	fs.Var(&f.maxLine, "max-line", "skip lines (or JSON values) longer than this (e.g. 4MiB, 512KiB, 1000000)")
	fs.IntVar(&f.maxErrors, "max-errors", 20, "print at most this many bad-input messages per file (0: all); all are counted in the summary")
	fs.BoolVarP(&f.quiet, "quiet", "q", false, "print no bad-input messages (they are still counted)")
}

// options builds reader options that print bad-input messages to w, FILE:LINE: what.
func (f *readFlags) options(w io.Writer, stdin io.Reader) audit.Options {
	shown := map[string]int{}
	return audit.Options{
		MaxLineBytes: int(f.maxLine),
		Strict:       f.strict,
		Stdin:        stdin,
		OnError: func(e *audit.InputError) {
			if f.quiet || f.strict {
				return // strict: the error is returned and printed once by run()
			}
			n := shown[e.File]
			shown[e.File] = n + 1
			switch {
			case f.maxErrors == 0 || n < f.maxErrors:
				fmt.Fprintln(w, e.Error())
			case n == f.maxErrors:
				fmt.Fprintf(w, "%s: more bad input not shown (--max-errors %d); the summary counts all of it\n", e.File, f.maxErrors)
			}
		},
	}
}

// sizeFlag is a byte count that accepts KiB/MiB/GiB (and K/M/G, KB/MB/GB) suffixes.
type sizeFlag int64

func (s *sizeFlag) String() string { return strconv.FormatInt(int64(*s), 10) }
func (s *sizeFlag) Type() string   { return "size" }

func (s *sizeFlag) Set(v string) error {
	n, err := parseSize(v)
	if err != nil {
		return err
	}
	*s = sizeFlag(n)
	return nil
}

func parseSize(v string) (int64, error) {
	t := strings.TrimSpace(strings.ToUpper(v))
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"GIB", 1 << 30}, {"MIB", 1 << 20}, {"KIB", 1 << 10}, {"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1}} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("invalid size %q (want e.g. 4MiB, 512KiB or a byte count)", v)
	}
	return n * mult, nil
}

// readError classifies an error that ended a read: bad input under --strict is the
// caller's to fix (exit 2); an interruption and a failure of kubesleuth's own (writing
// the case) pass through as they are (exit 130/143, 4).
func readError(err error) error {
	var ie *audit.InputError
	if errors.As(err, &ie) {
		return usageError{err}
	}
	return err
}

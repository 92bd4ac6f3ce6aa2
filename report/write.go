package report

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/kubesleuth/kubesleuth/analyzer/redact"
)

// Formats are the writers' names.
var Formats = []string{"html", "md", "json", "sarif", "csv"}

// CheckFormat fails on a format no writer has.
func CheckFormat(f string) error {
	for _, x := range Formats {
		if x == f {
			return nil
		}
	}
	return fmt.Errorf("unknown report format %q (want %s)", f, strings.Join(Formats, ", "))
}

// Write renders r in format to w, through a redacting writer (the choke point: the
// document was redacted when built, the bytes are checked again on their way out).
func Write(w io.Writer, r *Report, format string) error {
	rw := redact.NewWriter(w)
	bw := bufio.NewWriterSize(rw, 64<<10)
	var err error
	switch format {
	case "json":
		err = writeJSON(bw, r)
	case "md":
		err = writeMarkdown(bw, r)
	case "csv":
		err = writeCSV(bw, r)
	case "sarif":
		err = writeSARIF(bw, r)
	case "html":
		err = writeHTML(bw, r)
	default:
		err = CheckFormat(format)
	}
	if err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return rw.Flush()
}

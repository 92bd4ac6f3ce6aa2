// Package csvsafe writes CSV that a spreadsheet opens as data: a cell the spreadsheet
// would run as a formula (CSV injection from the data: a user agent "=HYPERLINK(…)")
// gets a leading quote. Every CSV kubesleuth writes (the TUI's exports, reports) goes
// through it.
package csvsafe

import (
	"encoding/csv"
	"strings"
)

// Cell returns s, with a leading ' when its first character would start a formula
// (= + - @) or be taken as a separator by some spreadsheets (tab, carriage return).
func Cell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// Put returns a function that writes one record of guarded cells to cw (the record's
// slice is changed in place). A write error stays in cw.Error().
func Put(cw *csv.Writer) func(rec ...string) {
	return func(rec ...string) {
		for i, c := range rec {
			rec[i] = Cell(c)
		}
		_ = cw.Write(rec)
	}
}

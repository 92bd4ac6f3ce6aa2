package csvsafe

import (
	"bytes"
	"encoding/csv"
	"testing"
)

func TestCellGuardsFormulas(t *testing.T) {
	for in, want := range map[string]string{
		"=HYPERLINK(\"x\")": "'=HYPERLINK(\"x\")", "+1": "'+1", "-2+3": "'-2+3", "@SUM(A1)": "'@SUM(A1)",
		"\tx": "'\tx", "\rx": "'\rx", "alice": "alice", "": "", "a=b": "a=b",
	} {
		if got := Cell(in); got != want {
			t.Errorf("Cell(%q) = %q, want %q", in, got, want)
		}
	}
	var b bytes.Buffer
	cw := csv.NewWriter(&b)
	Put(cw)("=cmd|' /C calc'!A0", "ok")
	cw.Flush()
	if got := b.String(); got != "'=cmd|' /C calc'!A0,ok\n" {
		t.Errorf("Put wrote %q", got)
	}
}

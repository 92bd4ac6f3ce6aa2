package audit

import (
	"strings"
	"testing"
)

// Hostile review (h-hostile) of the reader's bad-input reports: "a clear FILE:LINE error,
// counted" (README, Bad input). It failed on main at b4119e4. (A file of NUL bytes is
// read to its end as one too_long line, 33 s for a 3 GiB sparse file, in bounded memory:
// consistent with "NUL bytes cost the lines they are on", so not kept as a failure.)

// TestHostileMessagesSayWhatIsWrong: two valid JSON inputs get messages that say the
// opposite of what is wrong with them.
func TestHostileMessagesSayWhatIsWrong(t *testing.T) {
	dir := t.TempDir()
	// a number too large for the field: the message reads "want a number, found a number"
	big := strings.Replace(evLine("big-code"), `"verb":"list"`, `"verb":"list","responseStatus":{"code":1e999}`, 1)
	// valid JSON nested 20,000 deep in a body (a patch generator's bug, a hostile client):
	// reported as malformed, "unexpected '['", which it is not
	deep := strings.Replace(evLine("deep-body"), `"verb":"list"`, `"verb":"list","requestObject":`+strings.Repeat("[", 20000)+strings.Repeat("]", 20000), 1)
	p := writeFile(t, dir, "audit.log", []byte(big+"\n"+deep+"\n"+evLine("good")+"\n"))
	recs, msgs, _ := readAll(t, Options{}, p)
	if len(recs) != 1 || len(msgs) != 2 {
		t.Fatalf("%d events, messages %q; want 1 event and 2 messages", len(recs), msgs)
	}
	if m := msgs[0]; strings.Contains(m, "want a number, found a number") {
		t.Errorf("line 1 (responseStatus.code 1e999): %q does not say what is wrong (a number out of the field's range)", m)
	}
	if m := msgs[1]; !strings.Contains(m, "deep") && !strings.Contains(m, "nest") {
		t.Errorf("line 2 (a valid body nested 20,000 deep): %q calls valid JSON malformed; the limit it hit is the nesting depth", m)
	}
}

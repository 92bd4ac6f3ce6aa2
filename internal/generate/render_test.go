package generate

import (
	"encoding/json"
	"testing"
	"time"
)

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{
		"", "plain", `quote " backslash \ slash /`, "a&b<c>d", "tab\tnl\ncr\r", "\x00\x01\x1f\x7f",
		"héllo wörld ✓", "\u2028\u2029", "bad \xff utf8 \xc3", "/api/v1/pods?watch=true&timeout=5m",
	} {
		want, _ := json.Marshal(s)
		if got := appendString(nil, s); string(got) != string(want) {
			t.Errorf("appendString(%q) = %s, encoding/json gives %s", s, got, want)
		}
	}
}

func TestClockMatchesTimeFormat(t *testing.T) {
	var c clock
	for _, tm := range []time.Time{
		time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC),
		time.Date(2026, 3, 2, 8, 0, 0, 999999000, time.UTC),
		time.Date(1999, 12, 31, 23, 59, 59, 1000, time.UTC),
		time.Date(1969, 12, 31, 23, 59, 59, 500000000, time.UTC), // before the epoch
		time.Date(2024, 2, 29, 12, 30, 1, 123456000, time.UTC),
	} {
		m := tm.UnixMicro()
		if got, want := string(c.appendMicro(nil, m)), `"`+tm.Format("2006-01-02T15:04:05.000000Z07:00")+`"`; got != want {
			t.Errorf("appendMicro(%v) = %s, want %s", tm, got, want)
		}
		if got, want := string(c.appendSecond(nil, m)), `"`+tm.Truncate(time.Second).Format(time.RFC3339)+`"`; got != want {
			t.Errorf("appendSecond(%v) = %s, want %s", tm, got, want)
		}
	}
}

func TestAppendUUID(t *testing.T) {
	for _, w := range [][2]uint64{{0, 0}, {^uint64(0), ^uint64(0)}, {0x0123456789abcdef, 0xfedcba9876543210}} {
		u := string(appendUUID(nil, w[0], w[1]))
		if len(u) != 36 || u[8] != '-' || u[13] != '-' || u[14] != '4' || u[18] != '-' || u[23] != '-' || (u[19] != '8' && u[19] != '9' && u[19] != 'a' && u[19] != 'b') {
			t.Errorf("appendUUID(%x, %x) = %s, not a version 4 UUID", w[0], w[1], u)
		}
	}
}

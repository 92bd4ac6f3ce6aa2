package audit

import (
	"testing"
	"time"
)

func TestParseTime(t *testing.T) {
	for _, s := range []string{"2026-03-10T10:00:00.123456Z", "2026-03-10T10:00:00Z", "2026-03-10T10:00:00.1Z", "2026-03-10T10:00:00.123456789Z", "2026-03-10T12:00:00.5+02:00", "2026-02-29T10:00:00Z"} {
		want, werr := time.Parse(time.RFC3339Nano, s)
		got, ok := parseTime(s)
		if ok != (werr == nil) || !got.Equal(want) {
			t.Errorf("parseTime(%q) = %v %v, want %v %v", s, got, ok, want, werr)
		}
	}
	for _, s := range []string{"", "yesterday", "2026-13-10T10:00:00Z", "2026-03-10T10:00:00.Z", "2026-03-10T1a:00:00Z"} {
		if _, ok := parseTime(s); ok {
			t.Errorf("parseTime(%q) accepted", s)
		}
	}
}

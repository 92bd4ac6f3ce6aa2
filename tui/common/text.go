package common

import (
	"strings"
	"unicode/utf8"

	"github.com/charmbracelet/x/ansi"
)

// Clean makes a string from the data (event fields, user names, URIs, notes) safe to draw:
// every C0 control (including newline and tab), DEL, C1 control and invalid UTF-8 byte
// becomes '?' so that data can never move the cursor, change colors, set the window title
// or open a hyperlink (ESC [, ESC ], and their single-byte C1 forms CSI U+009B and OSC
// U+009D are all controls). Apply it before any styling: styles add their own sequences
// afterwards, and the result is the only text lipgloss sees.
func Clean(s string) string {
	clean := true
	for i, r := range s {
		if isControl(r) || (r == utf8.RuneError && !validAt(s, i)) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i, r := range s {
		if isControl(r) || (r == utf8.RuneError && !validAt(s, i)) {
			b.WriteByte('?')
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func validAt(s string, i int) bool {
	r, n := utf8.DecodeRuneInString(s[i:])
	return !(r == utf8.RuneError && n <= 1)
}

// isControl reports C0, DEL and C1 controls, the Unicode line/paragraph separators that
// some terminals treat as newlines, and the bidirectional overrides and isolates
// (U+202A-202E, U+2066-2069) that make a name read backwards ("Trojan Source").
func isControl(r rune) bool {
	return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0x2028 || r == 0x2029 ||
		(r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069)
}

// Fit truncates s (which may hold styling) to w display cells with an ellipsis and pads it
// with spaces to exactly w cells, so columns line up and panes never overflow.
func Fit(s string, w int) string {
	if w <= 0 {
		return ""
	}
	if ansi.StringWidth(s) > w {
		s = ansi.Truncate(s, w, "…")
	}
	if pad := w - ansi.StringWidth(s); pad > 0 {
		s += strings.Repeat(" ", pad)
	}
	return s
}

// Cut truncates s to w cells with an ellipsis without padding.
func Cut(s string, w int) string {
	if w <= 0 {
		return ""
	}
	if ansi.StringWidth(s) > w {
		return ansi.Truncate(s, w, "…")
	}
	return s
}

// Width is the display width of s, ignoring styling sequences.
func Width(s string) int { return ansi.StringWidth(s) }

// Block pads or cuts lines to exactly h lines of exactly w cells: every pane is a
// rectangle, so joining panes side by side never shifts a column.
func Block(lines []string, w, h int) string {
	out := make([]string, h)
	for i := range out {
		if i < len(lines) {
			out[i] = Fit(lines[i], w)
		} else {
			out[i] = strings.Repeat(" ", w)
		}
	}
	return strings.Join(out, "\n")
}

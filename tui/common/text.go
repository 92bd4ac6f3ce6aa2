package common

import (
	"github.com/kubesleuth/kubesleuth/analyzer"

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

// ShortUser is the well-known forms of Kubernetes identities shortened, so that the part
// that tells identities apart fits a column: system:serviceaccount:NS:NAME is
// sa:NS/NAME, system:node:NAME is node:NAME. Other names are returned as they are (the
// full name is in the detail pane and in exports).
func ShortUser(u string) string {
	if rest, ok := strings.CutPrefix(u, "system:serviceaccount:"); ok {
		if ns, name, ok := strings.Cut(rest, ":"); ok {
			return "sa:" + ns + "/" + name
		}
	}
	if rest, ok := strings.CutPrefix(u, "system:node:"); ok {
		return "node:" + rest
	}
	return u
}

// Wrap splits s (which may hold styling) into lines of at most w cells, at spaces and
// punctuation where it can, cutting words longer than a line; every continuation line
// starts with indent.
func Wrap(s string, w int, indent string) []string {
	if w <= 0 || ansi.StringWidth(s) <= w {
		return []string{s}
	}
	iw := ansi.StringWidth(indent)
	if iw >= w/2 {
		indent, iw = "", 0
	}
	// every line is wrapped at the width a continuation leaves, so each fits with its indent
	lines := strings.Split(ansi.Wrap(s, w-iw, " ,/"), "\n")
	for i := 1; i < len(lines); i++ {
		lines[i] = indent + lines[i]
	}
	return lines
}

// Subject is a finding's subject as analyzer.Subject.String writes it, with the
// identities shortened (ShortUser).
func Subject(s analyzer.Subject) string {
	s.User, s.Impersonated = ShortUser(s.User), ShortUser(s.Impersonated)
	return s.String()
}

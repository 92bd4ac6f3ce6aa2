package common

import (
	"charm.land/lipgloss/v2"

	"github.com/kubesleuth/kubesleuth/analyzer"
)

// Styles is the one style sheet. Colors are ANSI-256 indexes so that the renderer's
// downsampling (colorprofile) maps them well to 16 colors, and every meaning carried by a
// color is also carried by text or an attribute (severity names, reverse video for the
// cursor), so that a terminal without color (NO_COLOR, TERM=dumb) loses nothing.
type Styles struct {
	Title, Header, Dim, Cursor, CursorBlurred, Focused, Blurred lipgloss.Style
	Status, StatusKey, Busy, Error, Message                     lipgloss.Style
	Key, String, Number, Bool, Null, Punct, Folded              lipgloss.Style
	Severity                                                    map[analyzer.Severity]lipgloss.Style
	Code2xx, Code4xx, Code5xx                                   lipgloss.Style
	Bar, FindingBar, Mark, BurstHeader, HelpKey, HelpDesc       lipgloss.Style
}

// DefaultStyles returns the style sheet.
func DefaultStyles() *Styles {
	c := lipgloss.Color
	s := lipgloss.NewStyle
	return &Styles{
		Title:         s().Bold(true),
		Header:        s().Bold(true), // not underlined: lipgloss underlines rune by rune, bloating every frame
		Dim:           s().Foreground(c("245")),
		Cursor:        s().Reverse(true),
		CursorBlurred: s().Reverse(true).Faint(true),
		Focused:       s().Bold(true).Foreground(c("39")),
		Blurred:       s().Foreground(c("245")),
		Status:        s().Reverse(true),
		StatusKey:     s().Reverse(true).Bold(true),
		Busy:          s().Reverse(true).Bold(true).Foreground(c("214")),
		Error:         s().Bold(true).Foreground(c("196")),
		Message:       s().Foreground(c("114")),
		Key:           s().Foreground(c("75")),
		String:        s().Foreground(c("150")),
		Number:        s().Foreground(c("215")),
		Bool:          s().Foreground(c("176")),
		Null:          s().Foreground(c("245")),
		Punct:         s().Foreground(c("245")),
		Folded:        s().Foreground(c("245")).Italic(true),
		Severity: map[analyzer.Severity]lipgloss.Style{
			analyzer.Critical: s().Bold(true).Foreground(c("196")),
			analyzer.High:     s().Foreground(c("202")),
			analyzer.Medium:   s().Foreground(c("220")),
			analyzer.Low:      s().Foreground(c("75")),
			analyzer.Info:     s().Foreground(c("245")),
		},
		Code2xx:     s(),
		Code4xx:     s().Foreground(c("220")),
		Code5xx:     s().Foreground(c("196")),
		Bar:         s().Foreground(c("39")),
		FindingBar:  s().Foreground(c("202")),
		Mark:        s().Foreground(c("220")).Bold(true),
		BurstHeader: s().Bold(true).Foreground(c("39")),
		HelpKey:     s().Bold(true).Foreground(c("75")),
		HelpDesc:    s(),
	}
}

// SeverityLabel is the fixed-width text of a severity: the text alone tells severities
// apart when there is no color.
func SeverityLabel(sev analyzer.Severity) string {
	switch sev {
	case analyzer.Critical:
		return "CRIT"
	case analyzer.High:
		return "HIGH"
	case analyzer.Medium:
		return "MED "
	case analyzer.Low:
		return "LOW "
	}
	return "INFO"
}

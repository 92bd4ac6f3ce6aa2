package common

import "time"

// Context is what components need besides their own state: styles, keys and the time zone
// times are shown in. It is built once per program and shared by pointer; nothing in it
// changes after start, so components may read it from View without locking.
type Context struct {
	Styles *Styles
	Keys   *KeyMap
	// Loc is the time zone of every time shown (UTC in tests and by default: audit logs
	// are UTC and responders compare times across tools).
	Loc *time.Location
}

// NewContext returns a Context with the default styles and keys, times in UTC.
func NewContext() *Context {
	return &Context{Styles: DefaultStyles(), Keys: DefaultKeyMap(), Loc: time.UTC}
}

// Time formats t for lists: date and time to the millisecond, in the context's zone.
func (c *Context) Time(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.In(c.Loc).Format("2006-01-02 15:04:05.000")
}

// ShortTime formats t for narrow columns (time of day only).
func (c *Context) ShortTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.In(c.Loc).Format("15:04:05")
}

// Zone is the name of the time zone times are shown in ("UTC"), said next to times so a
// responder comparing with another tool knows which clock they read.
func (c *Context) Zone() string {
	if c.Loc == nil || c.Loc == time.UTC {
		return "UTC"
	}
	return c.Loc.String()
}

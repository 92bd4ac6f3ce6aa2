package components

import (
	"fmt"
	"strconv"

	"github.com/kubesleuth/kubesleuth/analyzer"
	"github.com/kubesleuth/kubesleuth/index"
	"github.com/kubesleuth/kubesleuth/tui/common"
)

// Item is one line of the timeline: an event, a header (a burst of the identity
// timeline, a state of the etcd view) or a secret at rest.
type Item struct {
	Row    *index.Row
	Header string
	Secret *index.SecretAtRest
	// Finding is a finding listed among events (the bookmarks and notes view); Note is
	// the annotation shown with the row there.
	Finding *analyzer.Finding
	Note    string
	// Pos is the row's place among the query's matches (1-based; 0: count the entries),
	// which stays right when some matches are not shown (a request's stages in one row).
	Pos int
}

// IsEntry reports whether the item is something to select (not a header).
func (it Item) IsEntry() bool { return it.Row != nil || it.Secret != nil || it.Finding != nil }

// Timeline is the event list of the current view. It shows what it is given; paging is
// the app's job (it asks Timeline.NearEnd after each move).
type Timeline struct {
	ctx    *common.Context
	Title  string
	Items  []Item
	Total  int // matches of the query (Items may hold only the first pages)
	Scroll Scroll
	// Loading says a query for this view is running; Empty is the text shown when it
	// found nothing.
	Loading bool
	Empty   string
	// Anchor marks one event (the centre of the context view).
	Anchor index.EventID
	// Mark returns the annotation marker of an event ("★", "✎", …), MarkFinding of a
	// finding listed among them.
	Mark        func(id index.EventID) string
	MarkFinding func(f analyzer.Finding) string
	// IPColumn shows the source IP instead of the resource (the secret view: from where).
	IPColumn bool
	// NoteColumn gives the notes of the items a column (the bookmarks and notes view).
	NoteColumn bool
	// Skipped is how many matches come before the first loaded item (after a jump in
	// time), so that the position reads "n of N" in the whole result.
	Skipped int
	h       int
}

// NewTimeline returns an empty timeline.
func NewTimeline(ctx *common.Context) *Timeline { return &Timeline{ctx: ctx, Empty: "no events"} }

// Selected returns the item under the cursor.
func (t *Timeline) Selected() (Item, bool) {
	if t.Scroll.Cursor < 0 || t.Scroll.Cursor >= len(t.Items) {
		return Item{}, false
	}
	return t.Items[t.Scroll.Cursor], true
}

// Move moves the cursor by d.
func (t *Timeline) Move(d int) { t.Scroll.Move(d, len(t.Items), t.h) }

// Wheel scrolls the window by d lines.
func (t *Timeline) Wheel(d int) { t.Scroll.ScrollBy(d, len(t.Items), t.h) }

// PageSize is how many lines one screen shows.
func (t *Timeline) PageSize() int { return max(t.h, 1) }

// SetItems replaces the items, keeping the cursor in range.
func (t *Timeline) SetItems(items []Item) {
	t.Items = items
	t.Scroll.Clamp(len(items), t.h)
}

// position is the cursor's place among the events and secrets ("n of N"), and how many
// are loaded: the headers (bursts, states, "only the first …") are not counted. On a
// header it is the place of the first event after it, which the header introduces.
func (t *Timeline) position() (n, total int) {
	for i, it := range t.Items {
		if !it.IsEntry() {
			continue
		}
		total++
		if i <= t.Scroll.Cursor {
			n++
		}
	}
	if c, ok := t.Selected(); ok && !c.IsEntry() && n < total {
		n++
	}
	if c, ok := t.Selected(); ok && c.Pos > 0 {
		return c.Pos, total + t.Skipped
	}
	return n + t.Skipped, total + t.Skipped
}

// NearTop reports whether the cursor is within two screens of the first loaded item
// (the app fetches newer rows when some were skipped).
func (t *Timeline) NearTop() bool { return t.Scroll.Cursor < 2*max(t.h, 10) }

// NearEnd reports whether the cursor is within two screens of the last loaded item, when
// the app should fetch the next page.
func (t *Timeline) NearEnd() bool { return t.Scroll.Cursor >= len(t.Items)-2*max(t.h, 10) }

// View renders the timeline in w×h cells.
func (t *Timeline) View(w, h int, focused bool) string {
	if h <= 0 || w <= 0 {
		return ""
	}
	t.h = max(h-2, 0)
	t.Scroll.Clamp(len(t.Items), t.h)
	st := t.ctx.Styles
	title := t.Title
	if t.Total > 0 || len(t.Items) > 0 {
		n, total := t.position()
		title += fmt.Sprintf(" — %d of %d", n, max(t.Total, total))
	}
	if t.Loading {
		title += " — searching…"
	}
	lines := []string{titleLine(t.ctx, common.Clean(title), focused, w)}
	cols := t.layout(w)
	lines = append(lines, st.Header.Render(common.Fit(cols.header(), w)))
	if len(t.Items) == 0 && !t.Loading {
		lines = append(lines, st.Dim.Render(common.Fit(t.Empty, w)))
	}
	for i := t.Scroll.Offset; i < len(t.Items) && i < t.Scroll.Offset+t.h; i++ {
		it := t.Items[i]
		var line string
		switch {
		case it.Row != nil:
			line = t.rowLine(cols, it.Row)
		case it.Secret != nil:
			line = secretLine(cols, it.Secret)
		case it.Finding != nil:
			line = t.findingLine(cols, it.Finding)
		default:
			line = st.BurstHeader.Render(common.Clean(it.Header))
		}
		if t.NoteColumn && it.IsEntry() {
			line = common.Fit(line, cols.width) + " " + st.Mark.Render(common.Clean(it.Note))
		}
		lines = append(lines, row(t.ctx, line, i == t.Scroll.Cursor, focused, w))
	}
	return common.Block(lines, w, h)
}

// findingLine is a finding among events: severity, rule and subject in the event columns.
func (t *Timeline) findingLine(c cols, f *analyzer.Finding) string {
	st := t.ctx.Styles
	mark := "  "
	if t.MarkFinding != nil {
		if m := t.MarkFinding(*f); m != "" {
			mark = st.Mark.Render(common.Fit(m, 2))
		}
	}
	sev := st.Severity[f.Severity].Render(common.SeverityLabel(f.Severity))
	return columns(mark, common.Fit(t.ctx.ShortTime(f.FirstSeen), c.time), sev+" "+common.Fit(common.Clean(f.RuleID), 14)+
		common.Fit(common.Clean(common.Subject(f.Subject)), max(c.width-c.time-2-5-14-2, 6)))
}

// cols are the widths of the timeline's columns at one pane width.
type cols struct {
	time, user, verb, res, obj, code int
	width                            int // of the event columns (the note column follows)
	long                             bool
	secrets, ip                      bool
}

func (t *Timeline) layout(w int) cols {
	c := cols{time: 8, verb: 7, code: 3, ip: t.IPColumn}
	for _, it := range t.Items {
		if it.Secret != nil {
			c.secrets = true
			break
		}
	}
	if t.NoteColumn {
		w = w * 3 / 5 // the note takes the rest
	}
	c.width = w
	if w >= 110 {
		c.time, c.long = 23, true
	}
	rest := w - 2 - c.time - c.verb - c.code - 6
	c.res = min(16, max(rest/5, 6))
	rest -= c.res
	// the user and object columns get the width their content needs, as far as it goes:
	// identities are what a responder reads first
	needU, needO := 4, 14
	for _, it := range t.Items {
		if r := it.Row; r != nil {
			needU = max(needU, common.Width(common.ShortUser(r.User)))
			o := len(r.Name)
			if r.Namespace != "" {
				o += len(r.Namespace) + 1
			}
			needO = max(needO, o)
		}
	}
	c.user = max(rest*4/10, 6)
	switch {
	case needU+needO <= rest:
		c.user = needU + (rest-needU-needO)/2
	case needU <= rest*6/10:
		c.user = needU
	default:
		c.user = max(rest*6/10, 6)
	}
	c.obj = max(rest-c.user, 6)
	return c
}

func (c cols) header() string {
	if c.secrets {
		return columns("  ", "SECRET / STATE …")
	}
	res := "RESOURCE"
	if c.ip {
		res = "SOURCE IP"
	}
	return columns("  ", common.Fit("TIME", c.time), common.Fit("USER", c.user), common.Fit("VERB", c.verb),
		common.Fit(res, c.res), common.Fit("NAMESPACE/NAME", c.obj), "COD")
}

func (t *Timeline) rowLine(c cols, r *index.Row) string {
	st := t.ctx.Styles
	mark := "  "
	if r.ID == t.Anchor && t.Anchor != "" {
		mark = "▸ "
	}
	if t.Mark != nil {
		if m := t.Mark(r.ID); m != "" {
			mark = st.Mark.Render(common.Fit(m, 2))
		}
	}
	tm := t.ctx.ShortTime(r.Time)
	if c.long {
		tm = t.ctx.Time(r.Time)
	}
	res := r.Resource
	if r.Subresource != "" {
		res += "/" + r.Subresource
	}
	if c.ip {
		res = r.SourceIP
	}
	user := common.ShortUser(r.User)
	if user == "" {
		user = "-"
	}
	obj := r.Name
	if r.Namespace != "" {
		obj = r.Namespace + "/" + r.Name
	}
	if obj == "" {
		obj = r.URI
	}
	code := "  -"
	if r.Code != 0 {
		code = fmt.Sprintf("%3d", r.Code)
	}
	codeSt := st.Code2xx
	switch {
	case r.Code >= 500:
		codeSt = st.Code5xx
	case r.Code >= 400:
		codeSt = st.Code4xx
	}
	return columns(mark, common.Fit(tm, c.time), common.Fit(common.Clean(user), c.user), common.Fit(common.Clean(r.Verb), c.verb),
		common.Fit(common.Clean(res), c.res), common.Fit(common.Clean(obj), c.obj), codeSt.Render(code))
}

func secretLine(c cols, s *index.SecretAtRest) string {
	name := s.Namespace + "/" + s.Name
	prov := s.Provider
	if s.KeyName != "" {
		prov += ":" + s.KeyName
	}
	old := ""
	if s.OldPlaintextRevisions > 0 {
		old = strconv.Itoa(s.OldPlaintextRevisions) + " old plaintext rev"
	}
	dec := s.Decryption
	if s.KeyStatus != "" {
		dec = s.KeyStatus + " " + dec
	}
	return columns("  ", common.Fit(common.Clean(name), 40), common.Fit(common.Clean(s.State), 11), common.Fit(common.Clean(prov), 22),
		common.Fit(common.Clean(s.Type), 26), common.Fit(common.Clean(dec), 18), common.Clean(old))
}

// Position is the cursor's place and the count the title shows ("n of N").
func (t *Timeline) Position() (n, total int) {
	n, total = t.position()
	return n, max(t.Total, total)
}

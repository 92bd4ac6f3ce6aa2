package components

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/kubesleuth/kubesleuth/tui/common"
)

// Detail shows one thing in full: an event as folded, highlighted JSON or YAML, or the
// text of a finding or secret. Long lines are cut at the pane's width (the export keeps
// everything).
type Detail struct {
	ctx    *common.Context
	Title  string
	tree   *node
	text   []string // pre-rendered lines (findings, secrets, errors)
	marks  []string // the event's bookmark and note, above its JSON
	lines  []string // what View shows
	Offset int
	// YAML renders events as YAML instead of JSON; Unfold shows every level (by default
	// objects deeper than FoldDepth are shown as {…N}).
	YAML, Unfold bool
	FoldDepth    int
	// NoWrap cuts long lines at the pane's width instead of wrapping them (w).
	NoWrap bool
	shown  []string // lines as drawn at the last width (wrapped)
	h      int
}

// NewDetail returns an empty detail pane.
func NewDetail(ctx *common.Context) *Detail {
	return &Detail{ctx: ctx, FoldDepth: 3, text: []string{ctx.Styles.Dim.Render("select an event or finding (enter)")}}
}

// SetEvent shows raw event JSON; invalid JSON is shown as a cleaned error, never raw.
func (d *Detail) SetEvent(title string, raw []byte) {
	d.Title, d.Offset, d.marks = title, 0, nil
	t, err := parseTree(raw)
	if err != nil {
		d.tree, d.text = nil, []string{d.ctx.Styles.Error.Render(common.Clean(err.Error()))}
	} else {
		d.tree, d.text = t, nil
	}
	d.render()
}

// SetText shows pre-rendered lines (the caller cleans data in them with common.Clean).
func (d *Detail) SetText(title string, lines []string) {
	d.Title, d.Offset, d.tree, d.text, d.marks = title, 0, nil, lines, nil
	d.render()
}

// SetMarks shows lines (the bookmark and note of the event shown, cleaned by the caller)
// above the event; nil removes them.
func (d *Detail) SetMarks(lines []string) {
	d.marks = lines
	d.render()
}

// IsEvent reports whether the pane shows an event (fold and YAML apply to events only).
func (d *Detail) IsEvent() bool { return d.tree != nil }

// ToggleFold switches between folded and unfolded.
func (d *Detail) ToggleFold() { d.Unfold = !d.Unfold; d.render() }

// ToggleYAML switches between JSON and YAML.
func (d *Detail) ToggleYAML() { d.YAML = !d.YAML; d.render() }

// ToggleWrap switches between wrapping and cutting long lines.
func (d *Detail) ToggleWrap() { d.NoWrap = !d.NoWrap; d.shown = nil }

// Move scrolls by n lines.
func (d *Detail) Move(n int) {
	d.Offset += n
	if max := len(d.shown) - d.h; d.Offset > max {
		d.Offset = max
	}
	if d.Offset < 0 {
		d.Offset = 0
	}
}

// PageSize is how many lines one screen shows.
func (d *Detail) PageSize() int { return max(d.h, 1) }

// Lines returns the rendered lines (for tests and export).
func (d *Detail) Lines() []string { return d.lines }

func (d *Detail) render() {
	if d.tree == nil {
		d.lines = d.text
		return
	}
	depth := d.FoldDepth
	if d.Unfold {
		depth = 1 << 30
	}
	r := &renderer{st: d.ctx.Styles, fold: depth, lines: append([]string(nil), d.marks...)}
	if d.YAML {
		r.yaml(d.tree, 0, "")
	} else {
		r.json(d.tree, 0, "", "", false)
	}
	d.lines = r.lines
}

// View renders the pane in w×h cells.
func (d *Detail) View(w, h int, focused bool) string {
	if h <= 0 || w <= 0 {
		return ""
	}
	d.h = max(h-1, 0)
	d.shown = d.lines
	if !d.NoWrap {
		d.shown = nil
		for _, l := range d.lines {
			// a continuation starts under the value, past the key's indent
			ind := min(len(ansiStrip(l))-len(strings.TrimLeft(ansiStrip(l), " "))+2, w/3)
			d.shown = append(d.shown, common.Wrap(l, w-1, strings.Repeat(" ", max(ind, 0)))...)
		}
	}
	d.Move(0)
	title := d.Title
	if d.tree != nil {
		mode := "JSON"
		if d.YAML {
			mode = "YAML"
		}
		fold := "folded"
		if d.Unfold {
			fold = "unfolded"
		}
		title += fmt.Sprintf(" — %s, %s", mode, fold)
	}
	if n := len(d.shown); n > d.h {
		title += fmt.Sprintf(" — lines %d-%d of %d", d.Offset+1, min(d.Offset+d.h, n), n)
	}
	lines := []string{titleLine(d.ctx, "Detail: "+common.Clean(title), focused, w)}
	for i := d.Offset; i < len(d.shown) && i < d.Offset+d.h; i++ {
		lines = append(lines, " "+d.shown[i])
	}
	return common.Block(lines, w, h)
}

func ansiStrip(s string) string { return stripStyles(s) }

// renderer turns a node tree into highlighted lines.
type renderer struct {
	st    *common.Styles
	fold  int
	lines []string
}

func (r *renderer) scalar(n *node) string {
	switch n.kind {
	case kString:
		return r.st.String.Render(quote(n.scalar))
	case kNumber:
		return r.st.Number.Render(common.Clean(n.scalar))
	case kBool:
		return r.st.Bool.Render(n.scalar)
	}
	return r.st.Null.Render("null")
}

func (r *renderer) folded(n *node) string {
	if n.kind == kObject {
		return r.st.Folded.Render(fmt.Sprintf("{…%d}", len(n.children)))
	}
	return r.st.Folded.Render(fmt.Sprintf("[…%d]", len(n.children)))
}

// json appends n at depth; prefix is `"key": ` or empty, comma is "," or "".
func (r *renderer) json(n *node, depth int, indent, prefix string, comma bool) {
	c := ""
	if comma {
		c = r.st.Punct.Render(",")
	}
	open, close := "{", "}"
	if n.kind == kArray {
		open, close = "[", "]"
	}
	switch {
	case n.kind != kObject && n.kind != kArray:
		r.lines = append(r.lines, indent+prefix+r.scalar(n)+c)
	case len(n.children) == 0:
		r.lines = append(r.lines, indent+prefix+r.st.Punct.Render(open+close)+c)
	case depth >= r.fold:
		r.lines = append(r.lines, indent+prefix+r.folded(n)+c)
	default:
		r.lines = append(r.lines, indent+prefix+r.st.Punct.Render(open))
		for i, ch := range n.children {
			p := ""
			if n.kind == kObject {
				p = r.st.Key.Render(quote(ch.key)) + r.st.Punct.Render(": ")
			}
			r.json(ch, depth+1, indent+"  ", p, i < len(n.children)-1)
		}
		r.lines = append(r.lines, indent+r.st.Punct.Render(close)+c)
	}
}

var plainYAML = regexp.MustCompile(`^[A-Za-z_/.][A-Za-z0-9 _./@-]*$`)

func (r *renderer) yamlScalar(n *node) string {
	if n.kind == kString && plainYAML.MatchString(n.scalar) && !strings.HasSuffix(n.scalar, " ") {
		switch strings.ToLower(n.scalar) {
		case "true", "false", "null", "yes", "no", "on", "off", "y", "n", "~":
		default:
			return r.st.String.Render(n.scalar)
		}
	}
	return r.scalar(n)
}

func (r *renderer) yamlKey(k string) string {
	if plainYAML.MatchString(k) && !strings.Contains(k, " ") {
		return r.st.Key.Render(k)
	}
	return r.st.Key.Render(quote(k))
}

// yaml appends the children of a container (or a scalar line) at depth.
func (r *renderer) yaml(n *node, depth int, indent string) {
	if n.kind != kObject && n.kind != kArray {
		r.lines = append(r.lines, indent+r.yamlScalar(n))
		return
	}
	for _, ch := range n.children {
		lead := indent
		if n.kind == kObject {
			lead += r.yamlKey(ch.key) + r.st.Punct.Render(":")
		} else {
			lead += r.st.Punct.Render("-")
		}
		switch {
		case ch.kind != kObject && ch.kind != kArray:
			r.lines = append(r.lines, lead+" "+r.yamlScalar(ch))
		case len(ch.children) == 0 && ch.kind == kObject:
			r.lines = append(r.lines, lead+" "+r.st.Punct.Render("{}"))
		case len(ch.children) == 0:
			r.lines = append(r.lines, lead+" "+r.st.Punct.Render("[]"))
		case depth+1 >= r.fold:
			r.lines = append(r.lines, lead+" "+r.folded(ch))
		case n.kind == kArray && ch.kind == kObject:
			// "- first: x" then the other keys under it
			start := len(r.lines)
			r.yaml(ch, depth+1, indent+"  ")
			r.lines[start] = lead + " " + strings.TrimPrefix(r.lines[start], indent+"  ")
		default:
			r.lines = append(r.lines, lead)
			r.yaml(ch, depth+1, indent+"  ")
		}
	}
}

package tui

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/kubesleuth/kubesleuth/analyzer"
	"github.com/kubesleuth/kubesleuth/index"
	"github.com/kubesleuth/kubesleuth/tui/common"
	"github.com/kubesleuth/kubesleuth/tui/components"
)

// The commands below are the only place the TUI calls the case. Each runs on a
// goroutine of bubbletea's; none touches the model.

// PageSize is how many timeline rows one query fetches: a few screens, so that the
// first screen costs one small query and scrolling fetches ahead (Timeline.NearEnd).
const PageSize = 200

// identityLimit and secretLimit bound the whole-view queries; the view's title says when
// the case holds more.
const (
	identityLimit = 5000
	secretLimit   = 2000
	// IdleGap splits an identity's activity into bursts.
	IdleGap = 10 * time.Minute
	// ContextEvents is how many events before and after the selected one the context
	// view shows.
	ContextEvents = 25
)

func loadInfo(r index.Reader) tea.Cmd {
	return func() tea.Msg {
		info, err := r.Info()
		return infoMsg{info, err}
	}
}

func loadFindings(r index.Reader) tea.Cmd {
	return func() tea.Msg {
		fs, err := r.Findings()
		return findingsMsg{fs, err}
	}
}

func loadAnnotations(r index.Reader) tea.Cmd {
	return func() tea.Msg {
		as, err := r.Annotations()
		return annotationsMsg{as, err}
	}
}

// searchPage fetches the newest page of text, or with after set the page older than the
// rows already loaded. Paging is by time (keyset): To is the oldest loaded time + 1 ns
// and Offset skips the rows already loaded at exactly that time, so a page costs the
// same at the end of a million events as at the start.
func searchPage(ctx context.Context, r index.Reader, gen int, text string, after []index.Row, collapse bool) tea.Cmd {
	return func() tea.Msg {
		q := index.Query{Text: text, Limit: PageSize, Newest: true}
		if n := len(after); n > 0 {
			last := after[n-1].Time
			q.To = last.Add(time.Nanosecond)
			for i := n - 1; i >= 0 && after[i].Time.Equal(last); i-- {
				q.Offset++
			}
		}
		res, err := r.Search(ctx, q)
		if err != nil {
			return pageMsg{gen: gen, more: len(after) > 0, err: fmt.Errorf("search %q: %w", text, err)}
		}
		if len(after) > 0 {
			seen := make(map[index.EventID]bool)
			for i := len(after) - 1; i >= 0 && i >= len(after)-q.Offset; i-- {
				seen[after[i].ID] = true
			}
			kept := res.Events[:0]
			for _, e := range res.Events {
				if !seen[e.ID] {
					kept = append(kept, e)
				}
			}
			res.Events = kept
		}
		msg := pageMsg{gen: gen, res: res, more: len(after) > 0, raw: len(res.Events)}
		if n := len(res.Events); n > 0 {
			last := res.Events[n-1].Time
			for i := n - 1; i >= 0 && res.Events[i].Time.Equal(last); i-- {
				msg.tail = append([]index.Row{res.Events[i]}, msg.tail...)
			}
		}
		if collapse {
			res.Events, msg.pos = hideAnswered(r, res.Events)
		}
		return msg
	}
}

// laterStages are the stages that follow RequestReceived.
var laterStages = []string{"ResponseComplete", "ResponseStarted", "Panic"}

// hideAnswered drops the RequestReceived row of each request that has a later stage in
// rows or in the case, so that a request is one row: its response (code, latency). A
// request whose response was never logged keeps its only row. pos is each kept row's
// place in rows (1-based).
func hideAnswered(r index.Reader, rows []index.Row) (kept []index.Row, pos []int) {
	later := map[string]bool{}
	for _, e := range rows {
		if e.Stage != "RequestReceived" {
			later[e.AuditID] = true
		}
	}
	kept = rows[:0:0]
	for i, e := range rows {
		if e.Stage == "RequestReceived" {
			answered := later[e.AuditID]
			for _, st := range laterStages {
				if answered {
					break
				}
				if _, err := r.Row(index.EventID(e.AuditID + "/" + st)); err == nil {
					answered = true
				}
			}
			if answered {
				continue
			}
		}
		kept = append(kept, e)
		pos = append(pos, i+1)
	}
	return kept, pos
}

// histogram counts the matches of text per bucket over [from, to), with about cols
// buckets (the histogram's width).
func histogram(ctx context.Context, r index.Reader, gen int, key, text string, from, to time.Time, cols int) tea.Cmd {
	return func() tea.Msg {
		iv := histInterval(from, to, cols)
		res, err := r.Search(ctx, index.Query{Text: text, From: from, To: to, Limit: 1, Histogram: iv})
		if err != nil {
			return histMsg{gen: gen, key: key, err: fmt.Errorf("histogram of %q: %w", text, err)}
		}
		m := histMsg{gen: gen, key: key, buckets: res.Histogram, interval: iv, from: from.Truncate(iv)}
		if len(res.Histogram) > 0 {
			m.from = res.Histogram[0].Start
		}
		return m
	}
}

// histInterval is the bucket length that spreads [from, to) over about cols columns.
func histInterval(from, to time.Time, cols int) time.Duration {
	iv := (to.Sub(from) + time.Duration(cols) - 1) / time.Duration(max(cols, 1))
	return max(iv.Round(time.Second), time.Second)
}

// rowsHistogram counts the events among items over [from, to) as histogram does (no
// case access: the rows are loaded).
func rowsHistogram(items []components.Item, key string, from, to time.Time, cols int) histMsg {
	iv := histInterval(from, to, cols)
	h := histMsg{key: key, interval: iv, from: from.Truncate(iv)}
	counts := make([]int, int(to.Sub(h.from)/iv)+1)
	n := 0
	for _, it := range items {
		if it.Row == nil {
			continue
		}
		if i := int(it.Row.Time.Sub(h.from) / iv); i >= 0 && i < len(counts) {
			counts[i]++
			n++
		}
	}
	if n == 0 {
		return h // no buckets: "none match"
	}
	for i, c := range counts {
		h.buckets = append(h.buckets, index.Bucket{Start: h.from.Add(time.Duration(i) * iv), Count: c})
	}
	return h
}

// identityView is everything one identity did, oldest first, split into bursts wherever
// consecutive events are more than IdleGap apart.
func identityView(ctx context.Context, r index.Reader, gen int, user, text string, collapse bool, c *common.Context) tea.Cmd {
	return func() tea.Msg {
		res, err := r.Search(ctx, index.Query{Text: text, Limit: identityLimit})
		if err == nil && collapse {
			res.Events, _ = hideAnswered(r, res.Events)
		}
		if err != nil {
			return viewMsg{gen: gen, err: fmt.Errorf("identity %s: %w", common.Clean(user), err)}
		}
		items := bursts(res.Events, IdleGap, c)
		if res.Total > len(res.Events) {
			// say so rather than let the view pass for everything the identity did
			items = append([]components.Item{{Header: fmt.Sprintf("── only the first %d of %d events are shown: / %s pages through all of them",
				len(res.Events), res.Total, clause("user", user))}}, items...)
		}
		return viewMsg{gen: gen, items: items, total: res.Total}
	}
}

// bursts groups rows (oldest first) into bursts with a header line each: start,
// duration, events, verbs by count.
func bursts(rows []index.Row, gap time.Duration, c *common.Context) []components.Item {
	var out []components.Item
	for start, n := 0, 1; start < len(rows); n++ {
		end := start + 1
		for end < len(rows) && rows[end].Time.Sub(rows[end-1].Time) <= gap {
			end++
		}
		b := rows[start:end]
		verbs := map[string]int{}
		for _, r := range b {
			verbs[r.Verb]++
		}
		vs := make([]string, 0, len(verbs))
		for v := range verbs {
			vs = append(vs, v)
		}
		sort.Slice(vs, func(i, j int) bool {
			if verbs[vs[i]] != verbs[vs[j]] {
				return verbs[vs[i]] > verbs[vs[j]]
			}
			return vs[i] < vs[j]
		})
		for i, v := range vs {
			vs[i] = fmt.Sprintf("%s %d", v, verbs[v])
		}
		dur := b[len(b)-1].Time.Sub(b[0].Time).Round(time.Second)
		out = append(out, components.Item{Header: fmt.Sprintf("── burst %d: %s, %s, %d events: %s", n, c.Time(b[0].Time), dur, len(b), strings.Join(vs, ", "))})
		for i := range b {
			out = append(out, components.Item{Row: &b[i]})
		}
		start = end
	}
	return out
}

// secretView is who read, listed or changed one secret: the requests naming it, and the
// lists and watches of secrets in its namespace or cluster-wide, in time order.
func secretView(ctx context.Context, r index.Reader, gen int, ns, name, extra string, collapse bool) tea.Cmd {
	return func() tea.Msg {
		named := "resource:secrets " + clause("name", name)
		if ns != "" {
			named += " " + clause("namespace", ns)
		}
		with := func(q string) string {
			if extra == "" {
				return q
			}
			return q + " " + extra
		}
		seen := map[index.EventID]bool{}
		var rows []index.Row
		var cut []string
		for _, q := range []string{named, "resource:secrets verb:list", "resource:secrets verb:watch"} {
			res, err := r.Search(ctx, index.Query{Text: with(q), Limit: secretLimit})
			if err != nil {
				return viewMsg{gen: gen, err: fmt.Errorf("secret %s/%s: %w", common.Clean(ns), common.Clean(name), err)}
			}
			if res.Total > len(res.Events) {
				cut = append(cut, fmt.Sprintf("%d of %d matches of %s", len(res.Events), res.Total, q))
			}
			for _, e := range res.Events {
				if q != named && e.Namespace != "" && e.Namespace != ns {
					continue // a list in another namespace does not reveal this secret
				}
				if !seen[e.ID] {
					seen[e.ID] = true
					rows = append(rows, e)
				}
			}
		}
		sort.SliceStable(rows, func(i, j int) bool { return rows[i].Time.Before(rows[j].Time) })
		if collapse {
			rows, _ = hideAnswered(r, rows)
		}
		var items []components.Item
		if len(cut) > 0 {
			// the oldest requests only: the view must not pass for every read
			items = append(items, components.Item{Header: "── only the first " + strings.Join(cut, ", ") + " are shown"})
		}
		for i := range rows {
			items = append(items, components.Item{Row: &rows[i]})
		}
		return viewMsg{gen: gen, items: items, total: len(rows)}
	}
}

// etcdView lists the secrets at rest grouped by state, the exposed states first.
func etcdView(r index.Reader, gen int) tea.Cmd {
	return func() tea.Msg {
		ss, err := r.SecretsAtRest()
		if err != nil {
			return viewMsg{gen: gen, err: fmt.Errorf("secrets at rest: %w", err)}
		}
		order := map[string]int{"plaintext": 0, "deleted": 1, "undecodable": 2, "encrypted": 3}
		sort.SliceStable(ss, func(i, j int) bool {
			oi, oj := order[ss[i].State], order[ss[j].State]
			if oi != oj {
				return oi < oj
			}
			return ss[i].Key < ss[j].Key
		})
		var items []components.Item
		for i := 0; i < len(ss); {
			j := i
			for j < len(ss) && ss[j].State == ss[i].State {
				j++
			}
			items = append(items, components.Item{Header: fmt.Sprintf("── %s: %d secret(s)", ss[i].State, j-i)})
			for k := i; k < j; k++ {
				items = append(items, components.Item{Secret: &ss[k]})
			}
			i = j
		}
		return viewMsg{gen: gen, items: items, total: len(ss)}
	}
}

// contextView is the events around id, with the cursor on id. With the timeline's
// added clauses (extra: one row per request, system hidden) it is the events around it
// that they leave, so that lease renewals do not fill it.
func contextView(ctx context.Context, r index.Reader, gen int, id index.EventID, extra string, collapse bool) tea.Cmd {
	return func() tea.Msg {
		var rows []index.Row
		var err error
		if unfilteredQuery(extra) {
			rows, err = r.Around(ctx, id, ContextEvents)
		} else {
			rows, err = aroundFiltered(ctx, r, id, extra)
		}
		if err != nil {
			return viewMsg{gen: gen, err: fmt.Errorf("events around %s: %w", common.Clean(string(id)), err)}
		}
		if collapse {
			var kept []index.Row
			for _, e := range rows {
				if e.ID == id { // the anchor stays, whatever its stage
					kept = append(kept, e)
					continue
				}
				if k, _ := hideAnswered(r, []index.Row{e}); len(k) == 1 {
					kept = append(kept, e)
				}
			}
			rows = kept
		}
		m := viewMsg{gen: gen, total: len(rows)}
		for i := range rows {
			if rows[i].ID == id {
				m.cursor = i
			}
			m.items = append(m.items, components.Item{Row: &rows[i]})
		}
		return m
	}
}

// aroundFiltered is ContextEvents matches of text before the event id and as many at
// and after it, oldest first, the event itself included.
func aroundFiltered(ctx context.Context, r index.Reader, id index.EventID, text string) ([]index.Row, error) {
	at, err := r.Row(id)
	if err != nil {
		return nil, err
	}
	before, err := r.Search(ctx, index.Query{Text: text, To: at.Time, Newest: true, Limit: ContextEvents})
	if err != nil {
		return nil, err
	}
	after, err := r.Search(ctx, index.Query{Text: text, From: at.Time, Limit: ContextEvents + 1})
	if err != nil {
		return nil, err
	}
	var rows []index.Row
	for i := len(before.Events) - 1; i >= 0; i-- {
		rows = append(rows, before.Events[i])
	}
	seen := false
	for _, e := range after.Events {
		if e.ID == id {
			seen = true
		}
		if !seen && e.Time.After(at.Time) {
			rows, seen = append(rows, at), true // hidden by the filter: shown as the anchor
		}
		rows = append(rows, e)
	}
	if !seen {
		rows = append(rows, at)
	}
	return rows, nil
}

// collapseStages drops the RequestReceived row of each request whose later stage is
// among rows: the evidence of a finding is then one row per request too.
func collapseStages(rows []index.Row) []index.Row {
	later := map[string]bool{}
	for _, r := range rows {
		if r.Stage != "RequestReceived" {
			later[r.AuditID] = true
		}
	}
	out := rows[:0:0]
	for _, r := range rows {
		if r.Stage == "RequestReceived" && later[r.AuditID] {
			continue
		}
		out = append(out, r)
	}
	return out
}

// evidenceView is the events a finding cites.
func evidenceView(r index.Reader, gen int, f analyzer.Finding, collapse bool) tea.Cmd {
	return func() tea.Msg {
		rows, err := r.ResolveEvidence(f)
		if err != nil {
			return viewMsg{gen: gen, err: fmt.Errorf("evidence of %s: %w", common.Clean(f.RuleID), err)}
		}
		if collapse {
			rows = collapseStages(rows)
		}
		m := viewMsg{gen: gen, total: len(rows)}
		for i := range rows {
			m.items = append(m.items, components.Item{Row: &rows[i]})
		}
		return m
	}
}

// eventDetail fetches one event's stored JSON.
func eventDetail(r index.Reader, gen int, row index.Row) tea.Cmd {
	return func() tea.Msg {
		raw, err := r.Event(row.ID)
		title := fmt.Sprintf("%s %s %s", row.Verb, row.Resource, row.ID)
		if err != nil {
			return detailMsg{gen: gen, title: title, err: fmt.Errorf("event %s: %w", row.ID, err)}
		}
		return detailMsg{gen: gen, title: title, raw: raw}
	}
}

// findingDetail renders a finding's explanation, remediation and evidence.
func findingDetail(r index.Reader, gen int, f analyzer.Finding, c *common.Context, note string) tea.Cmd {
	return func() tea.Msg {
		rows, err := r.ResolveEvidence(f)
		return detailMsg{gen: gen, title: f.RuleID + " " + f.Title, lines: findingLines(f, rows, err, c, note)}
	}
}

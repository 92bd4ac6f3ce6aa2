package sigma

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	yaml "go.yaml.in/yaml/v3"

	"github.com/kubesleuth/kubesleuth/analyzer"
)

// Options tune Load.
type Options struct {
	// Allowlists give the values of the expand modifier's placeholders: %registries%,
	// %images%, %system_identities%, %operators%. Pass the engine's (defaults plus
	// --allowlist).
	Allowlists analyzer.Allowlists
}

// Set is what Load found.
type Set struct {
	// Rules are ready for analyzer.NewEngine, in file order; their IDs are the Sigma ids.
	Rules []*analyzer.Rule
	// Unsupported lists every document that did not become a rule, with the reason.
	Unsupported []Unsupported
	// Notes say how rules were read where it is not plain (for `rules lint`).
	Notes []Note
}

// Unsupported is a document that did not become a rule: another log source, a modifier
// or correlation the engine cannot run, a malformed rule.
type Unsupported struct {
	File   string `json:"file"`
	Line   int    `json:"line"`
	RuleID string `json:"rule_id,omitempty"`
	Title  string `json:"title,omitempty"`
	Reason string `json:"reason"`
}

func (u Unsupported) String() string {
	id := u.RuleID
	if id == "" {
		id = "-"
	}
	return fmt.Sprintf("%s:%d: %s (%s): %s", u.File, u.Line, id, u.Title, u.Reason)
}

// Note is something lint shows about a loaded rule.
type Note struct {
	File   string `json:"file"`
	Line   int    `json:"line"`
	RuleID string `json:"rule_id"`
	Text   string `json:"text"`
}

func (n Note) String() string { return fmt.Sprintf("%s:%d: %s: %s", n.File, n.Line, n.RuleID, n.Text) }

// Load reads Sigma files, or every *.yml/*.yaml below a folder (sorted, hidden entries
// skipped), and translates what it can. The error is for a path that cannot be read;
// everything wrong inside a file is an Unsupported entry and the other rules still load.
func Load(opts Options, paths ...string) (*Set, error) {
	l := newLoader(opts)
	for _, p := range paths {
		files, err := sigmaFiles(p)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				return nil, err
			}
			l.add(b, f)
		}
	}
	return l.finish(), nil
}

// Parse is Load for one file's content.
func Parse(opts Options, b []byte, file string) *Set {
	l := newLoader(opts)
	l.add(b, file)
	return l.finish()
}

func sigmaFiles(p string) ([]string, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return []string{p}, nil
	}
	var files []string
	err = filepath.WalkDir(p, func(f string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if f != p && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.IsDir() && (strings.HasSuffix(f, ".yml") || strings.HasSuffix(f, ".yaml")) {
			files = append(files, f)
		}
		return nil
	})
	sort.Strings(files)
	return files, err
}

// IsSigma reports whether a YAML file holds Sigma documents (a title with a detection,
// correlation or filter) rather than a kubesleuth rule file (a list under "rules:").
func IsSigma(b []byte) bool {
	docs, _ := splitDocuments(b, "")
	for _, d := range docs {
		if get(d.root, "rules") != nil && get(d.root, "title") == nil {
			return false
		}
		if get(d.root, "detection") != nil || get(d.root, "correlation") != nil || get(d.root, "filter") != nil {
			return true
		}
	}
	return false
}

// doc is one Sigma document, read.
type doc struct {
	document
	kind                                     string // rule, correlation, filter
	title, id, name, status, level, taxonomy string
	description, author                      string
	references, falsepositives, tags         []string
	logsource                                map[string]string
	body                                     *yaml.Node // detection, correlation or filter
	generate                                 bool
	// ruleID is the engine's ID: the id, else the name, else the file and line
	ruleID string
}

type loader struct {
	opts  Options
	docs  []*doc
	unsup []Unsupported
	notes []Note
	byRef map[string]*doc // id and name -> document
}

func newLoader(opts Options) *loader { return &loader{opts: opts, byRef: map[string]*doc{}} }

func (l *loader) reject(d *doc, line int, reason string) {
	u := Unsupported{File: d.file, Line: line, RuleID: d.ruleID, Title: d.title, Reason: reason}
	if u.Line == 0 {
		u.Line = d.line
	}
	l.unsup = append(l.unsup, u)
}

// rejectErr files an error from a rule's parts, at its own line when it has one.
func (l *loader) rejectErr(d *doc, err error) {
	line, msg := splitErr(err)
	l.reject(d, line, msg)
}

// splitErr is an error's line (0: none) and message without it.
func splitErr(err error) (int, string) {
	if e, ok := err.(unsupportedErr); ok {
		err = e.error
	}
	if e, ok := err.(*lineErr); ok {
		return e.line, e.msg
	}
	return 0, err.Error()
}

func (l *loader) add(b []byte, file string) {
	docs, errs := splitDocuments(b, file)
	for _, err := range errs {
		file, line, msg := splitPos(err.Error())
		l.unsup = append(l.unsup, Unsupported{File: file, Line: line, Reason: msg})
	}
	for _, dd := range docs {
		d := &doc{document: dd}
		if err := l.read(d); err != nil {
			l.rejectErr(d, err)
			continue
		}
		if prev, ok := l.byRef[d.ruleID]; ok {
			l.reject(d, d.line, fmt.Sprintf("id %s is also used at %s:%d", d.ruleID, prev.file, prev.line))
			continue
		}
		l.byRef[d.ruleID] = d
		if d.name != "" && d.name != d.ruleID {
			if _, taken := l.byRef[d.name]; !taken {
				l.byRef[d.name] = d
			}
		}
		l.docs = append(l.docs, d)
	}
}

var posRe = regexp.MustCompile(`^(.*):(\d+): (.*)$`)

func splitPos(s string) (string, int, string) {
	m := posRe.FindStringSubmatch(s)
	if m == nil {
		return "", 0, s
	}
	n := 0
	fmt.Sscan(m[2], &n)
	return m[1], n, m[3]
}

// read takes a document's metadata and kind.
func (l *loader) read(d *doc) error {
	if deref(d.root).Kind != yaml.MappingNode {
		return errAt(d.root, "a Sigma document is a map, not %s", kindName(deref(d.root)))
	}
	var err error
	field := func(dst *string, key string) {
		if err == nil {
			*dst, err = str(get(d.root, key))
		}
	}
	list := func(dst *[]string, key string) {
		if err == nil {
			*dst, err = strList(get(d.root, key))
		}
	}
	field(&d.title, "title")
	field(&d.id, "id")
	field(&d.name, "name")
	field(&d.status, "status")
	field(&d.level, "level")
	field(&d.taxonomy, "taxonomy")
	field(&d.description, "description")
	field(&d.author, "author")
	list(&d.references, "references")
	list(&d.falsepositives, "falsepositives")
	list(&d.tags, "tags")
	if err != nil {
		return err
	}
	switch {
	case d.id != "":
		d.ruleID = d.id
	case d.name != "":
		d.ruleID = d.name
	default:
		d.ruleID = fmt.Sprintf("sigma:%s:%d", filepath.Base(d.file), d.line)
	}
	d.logsource = map[string]string{}
	if ls := get(d.root, "logsource"); ls != nil {
		if ls.Kind != yaml.MappingNode {
			return errAt(ls, "logsource is a map (category, product, service)")
		}
		for _, p := range pairs(ls) {
			if p.v.Kind == yaml.ScalarNode {
				d.logsource[p.key] = p.v.Value
			}
		}
	}
	det, corr, filt := get(d.root, "detection"), get(d.root, "correlation"), get(d.root, "filter")
	switch {
	case corr != nil:
		d.kind, d.body = "correlation", corr
		if g := get(d.root, "generate"); g != nil {
			d.generate = g.Value == "true"
		}
	case det != nil:
		d.kind, d.body = "rule", det
	case filt != nil:
		d.kind, d.body = "filter", filt
	default:
		return errAt(d.root, "not a Sigma rule: no detection, correlation or filter")
	}
	if d.title == "" {
		return errAt(d.root, "title is required")
	}
	if d.body.Kind != yaml.MappingNode {
		return errAt(d.body, "%s is a map, not %s", d.kind, kindName(d.body))
	}
	return nil
}

// logsourceProblem says why a log source is not kubesleuth's, or "".
func logsourceProblem(ls map[string]string) string {
	product, service, category := ls["product"], ls["service"], ls["category"]
	switch {
	case product != "kubernetes":
		return fmt.Sprintf("logsource %s: kubesleuth reads Kubernetes audit logs (product: kubernetes, service: audit)", describeLogsource(ls))
	case service != "" && service != "audit":
		return fmt.Sprintf("logsource %s: kubesleuth reads the Kubernetes audit log (service: audit), not %q", describeLogsource(ls), service)
	case category != "" && category != "application":
		return fmt.Sprintf("logsource %s: category %q is not the audit log's (application or none)", describeLogsource(ls), category)
	}
	return ""
}

func describeLogsource(ls map[string]string) string {
	var parts []string
	for _, k := range []string{"category", "product", "service"} {
		if v := ls[k]; v != "" {
			parts = append(parts, k+": "+v)
		}
	}
	if len(parts) == 0 {
		return "{}"
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// finish resolves filters and correlations and translates every rule.
func (l *loader) finish() *Set {
	filters := l.filters()
	used := map[*doc]bool{} // detection rules a correlation consumes
	var corrs []*doc
	for _, d := range l.docs {
		if d.kind == "correlation" {
			corrs = append(corrs, d)
		}
	}
	compiled := map[*doc]*compiledRule{}
	compile := func(d *doc) (*compiledRule, error) {
		if c, ok := compiled[d]; ok {
			return c, c.err
		}
		c := l.compileRule(d, filters[d])
		compiled[d] = c
		return c, c.err
	}
	var out []*analyzer.Rule
	corrRules := map[*doc]*analyzer.Rule{}
	for _, d := range corrs {
		r, refs, err := l.correlation(d, compile)
		for _, ref := range refs {
			if !d.generate {
				used[ref] = true
			}
		}
		if err != nil {
			l.rejectErr(d, err)
			continue
		}
		corrRules[d] = r
	}
	for _, d := range l.docs {
		switch d.kind {
		case "rule":
			if used[d] {
				continue // a correlation's part: only the correlation fires (generate: false)
			}
			c, err := compile(d)
			if err != nil {
				l.rejectErr(d, err)
				continue
			}
			out = append(out, l.matchRule(d, c))
			l.addNotes(d, c.notes)
		case "correlation":
			if r := corrRules[d]; r != nil {
				out = append(out, r)
			}
		}
	}
	// every translation must compile: a rule that does not would fail the whole engine
	// (catalog included), so it is reported instead, as a fault of this translator
	if len(out) == 0 {
		return &Set{Unsupported: l.unsup, Notes: l.notes}
	}
	if _, err := analyzer.NewEngine(out, analyzer.Config{Allowlists: l.opts.Allowlists}); err == nil {
		return &Set{Rules: out, Unsupported: l.unsup, Notes: l.notes}
	}
	kept := out[:0]
	for _, r := range out { // find the culprits
		if _, err := analyzer.NewEngine([]*analyzer.Rule{r}, analyzer.Config{Allowlists: l.opts.Allowlists}); err != nil {
			file, line := r.Source, 0
			if i := strings.LastIndexByte(file, ':'); i > 0 {
				fmt.Sscan(file[i+1:], &line)
				file = file[:i]
			}
			l.unsup = append(l.unsup, Unsupported{File: file, Line: line, RuleID: r.ID, Title: r.Title,
				Reason: fmt.Sprintf("kubesleuth's translation of it does not compile (a bug, please report it): %v", err)})
			continue
		}
		kept = append(kept, r)
	}
	return &Set{Rules: kept, Unsupported: l.unsup, Notes: l.notes}
}

func (l *loader) addNotes(d *doc, notes []noteAt) {
	for _, n := range notes {
		line := n.line
		if line == 0 {
			line = d.line
		}
		l.notes = append(l.notes, Note{File: d.file, Line: line, RuleID: d.ruleID, Text: n.text})
	}
}

// compiledRule is a detection rule's tree and what the engine needs from it.
type compiledRule struct {
	tree   node
	match  cx
	lean   cx // match without what the prefilter tests (see lean)
	on     *analyzer.Prefilter
	needs  string
	notes  []noteAt
	filter []string // filters applied, for the description
	err    error
}

func (l *loader) compileRule(d *doc, filters []*filter) *compiledRule {
	c := &compiledRule{}
	if p := logsourceProblem(d.logsource); p != "" {
		c.err = errAt(get(d.root, "logsource"), "%s", p)
		return c
	}
	if d.status == "unsupported" {
		c.err = errAt(get(d.root, "status"), "its status is unsupported: the author says it cannot be used as it is")
		return c
	}
	if d.taxonomy != "" && d.taxonomy != "sigma" {
		c.err = errAt(get(d.root, "taxonomy"), "taxonomy %q: kubesleuth reads the default taxonomy (sigma), where fields are the audit event's own paths", d.taxonomy)
		return c
	}
	ctx := &buildCtx{file: d.file, al: l.opts.Allowlists}
	tree, err := ctx.detection(d.body, "detection")
	if err != nil {
		c.err = err
		return c
	}
	for _, f := range filters {
		tree = nAnd{[]node{tree, nNot{f.tree}}}
		ctx.notes = append(ctx.notes, f.notes...)
		c.filter = append(c.filter, fmt.Sprintf("%s (%s, %s:%d)", f.d.title, f.d.ruleID, f.d.file, f.d.line))
	}
	if d.status == "deprecated" {
		ctx.note(lineOf(d.root, "status"), "its status is deprecated")
	}
	c.tree = tree
	c.match = gen{ctx}.node(tree)
	if c.match.c == -1 {
		ctx.note(d.body.Line, "the detection can never match an audit event: the rule never fires")
	}
	c.on = prefilterOf(tree)
	c.lean = gen{&buildCtx{al: l.opts.Allowlists}}.node(lean(tree))
	if c.match.c == -1 {
		c.on.Verbs = []string{} // no verb passes: the rule is never evaluated
	}
	reads(tree, func(a accessor) {
		switch {
		case a.needs == "response" || (a.needs == "request" && c.needs == "response"):
			c.needs = "response"
		case a.needs == "request":
			c.needs = "request"
		}
	})
	if c.needs != "" {
		c.on.Body = needles(tree, c.needs)
	}
	if c.needs == "response" {
		// RequestResponse records both bodies; one level covers a rule reading both
		ctx.note(d.body.Line, "the rule reads responseObject: events below RequestResponse level are counted not evaluable")
	}
	c.notes = ctx.notes
	return c
}

// detection reads the search identifiers and the condition of a detection (or filter)
// map into one tree.
func (c *buildCtx) detection(body *yaml.Node, what string) (node, error) {
	idents := map[string]node{}
	var order []string
	var condNode *yaml.Node
	for _, p := range pairs(body) {
		switch p.key {
		case "condition":
			condNode = p.v
			continue
		case "timeframe":
			return nil, unsupported(p.k, "timeframe was replaced by correlation rules (timespan)")
		case "rules":
			if what == "filter" {
				continue
			}
		}
		n, err := c.parseIdentifier(p.key, p.v)
		if err != nil {
			return nil, err
		}
		if _, dup := idents[p.key]; dup {
			return nil, errAt(p.k, "search identifier %q defined twice", p.key)
		}
		idents[p.key] = n
		order = append(order, p.key)
	}
	if condNode == nil {
		return nil, errAt(body, "%s has no condition", what)
	}
	var conds []string
	switch condNode.Kind {
	case yaml.ScalarNode:
		conds = []string{condNode.Value}
	case yaml.SequenceNode:
		for _, e := range condNode.Content {
			s, err := str(e)
			if err != nil {
				return nil, err
			}
			conds = append(conds, s)
		}
	default:
		return nil, errAt(condNode, "condition is a string or a list of strings")
	}
	var xs []node
	for _, s := range conds {
		n, err := parseCondition(s, idents, order)
		if err != nil {
			if strings.Contains(err.Error(), "replaced") {
				return nil, unsupported(condNode, "%v", err)
			}
			return nil, errAt(condNode, "%v", err)
		}
		xs = append(xs, n)
	}
	if len(xs) == 1 {
		return xs[0], nil
	}
	return nOr{xs}, nil // a list of conditions: any of them
}

// filter is a Sigma filter, compiled.
type filter struct {
	d     *doc
	tree  node
	notes []noteAt
}

// filters maps each rule to the Sigma filters that name it. A filter that cannot run is
// reported and applies to nothing: the rules it names still run, unfiltered (noisier,
// rather than blind because of a tuning file).
func (l *loader) filters() map[*doc][]*filter {
	out := map[*doc][]*filter{}
	for _, f := range l.docs {
		if f.kind != "filter" {
			continue
		}
		if p := logsourceProblem(f.logsource); p != "" {
			l.reject(f, lineOf(f.root, "logsource"), p+"; the rules it names run unfiltered")
			continue
		}
		names, err := strList(get(f.body, "rules"))
		if err != nil || len(names) == 0 {
			l.reject(f, lineOf(f.root, "filter"), "filter: rules is a list of the rule ids or names it applies to")
			continue
		}
		ctx := &buildCtx{file: f.file, al: l.opts.Allowlists}
		tree, err := ctx.detection(f.body, "filter")
		if err != nil {
			line, msg := splitErr(err)
			l.reject(f, line, msg+"; the rules it names run unfiltered")
			continue
		}
		flt := &filter{d: f, tree: tree, notes: ctx.notes}
		for _, n := range names {
			target, ok := l.byRef[n]
			switch {
			case !ok:
				l.reject(f, lineOf(f.body, "rules"), fmt.Sprintf("filter names rule %q, which is not loaded: it applies to nothing there", n))
			case target.kind == "filter":
				l.reject(f, lineOf(f.body, "rules"), fmt.Sprintf("filter names %q, another filter", n))
			case target.kind == "correlation":
				// filter the events the correlation counts: its rules
				refs, _ := strList(get(target.body, "rules"))
				for _, r := range refs {
					if t, ok := l.byRef[r]; ok && t.kind == "rule" {
						out[t] = append(out[t], flt)
					}
				}
			default:
				out[target] = append(out[target], flt)
			}
		}
	}
	return out
}

var severities = map[string]analyzer.Severity{"informational": analyzer.Info, "low": analyzer.Low,
	"medium": analyzer.Medium, "high": analyzer.High, "critical": analyzer.Critical}

var techniqueRe = regexp.MustCompile(`^attack\.t(\d{4})(\.\d{3})?$`)

// base fills what every rule from a document carries: identity, severity, MITRE,
// texts, and the attribution the Detection Rule License asks to keep visible.
func (l *loader) base(d *doc) *analyzer.Rule {
	r := &analyzer.Rule{ID: d.ruleID, Title: d.title, Description: strings.TrimSpace(d.description),
		References: d.references, Author: d.author, FalsePositives: d.falsepositives,
		Source: fmt.Sprintf("%s:%d", d.file, d.line), Fold: analyzer.Duration(3600e9), MaxKeys: 10000}
	r.Severity = analyzer.Medium
	if d.level != "" {
		if s, ok := severities[strings.ToLower(d.level)]; ok {
			r.Severity = s
		} else {
			l.notes = append(l.notes, Note{File: d.file, Line: d.line, RuleID: d.ruleID,
				Text: fmt.Sprintf("level %q is not one of informational, low, medium, high, critical: medium", d.level)})
		}
	}
	seen := map[string]bool{}
	for _, t := range d.tags {
		if m := techniqueRe.FindStringSubmatch(strings.ToLower(t)); m != nil {
			id := "T" + m[1] + m[2]
			if !seen[id] {
				seen[id] = true
				r.MITRE = append(r.MITRE, id)
			}
		}
	}
	r.Message = q(attribution(d))
	return r
}

// attribution is the finding's message: the title, and who wrote the rule and from
// what (DRL 1.1 asks that the author and references stay visible wherever a finding
// of the rule is shown; the message is the one text every view shows).
func attribution(d *doc) string {
	var b strings.Builder
	b.WriteString(d.title)
	b.WriteString(" (Sigma rule")
	if d.author != "" {
		b.WriteString(" by " + d.author)
	}
	if len(d.references) > 0 {
		b.WriteString("; references: " + strings.Join(d.references, " "))
	}
	b.WriteString(")")
	return b.String()
}

// matchRule is the engine rule of a detection rule.
func (l *loader) matchRule(d *doc, c *compiledRule) *analyzer.Rule {
	r := l.base(d)
	r.Kind = analyzer.KindMatch
	r.On = c.on
	r.Needs = c.needs
	r.Match = c.lean.s
	r.Subject = []string{"user", "object"}
	if len(c.filter) > 0 {
		r.Description = strings.TrimSpace(r.Description + "\n\nFiltered by Sigma filter " + strings.Join(c.filter, "; "))
	}
	return r
}

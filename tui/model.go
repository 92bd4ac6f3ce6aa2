package tui

import (
	"context"
	"strings"
	"time"

	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

	"github.com/kubesleuth/kubesleuth/analyzer"
	"github.com/kubesleuth/kubesleuth/index"
	"github.com/kubesleuth/kubesleuth/tui/common"
	"github.com/kubesleuth/kubesleuth/tui/components"
)

// Options configure a Model.
type Options struct {
	// CaseName is shown in the status bar (the case folder).
	CaseName string
	// Query is the initial filter of the timeline ("" is every event).
	Query string
	// ExportDir is where x/X write exports (created 0700 when missing).
	ExportDir string
	// Now is the clock for annotation times and export names (tests pin it).
	Now func() time.Time
	// Context overrides the styles, keys and time zone (tests pin them).
	Context *common.Context
	// HistoryFile keeps the search history from one run to the next (investigate puts
	// it in the case folder); "" keeps it in memory only.
	HistoryFile string
	// Pager is the command that v opens the raw event in ($PAGER, else less); tests set
	// it to a program that records what it read.
	Pager []string
	// Follow looks at the case every FollowEvery (default DefaultFollowEvery) and shows
	// what a live writer added: new events, findings, the histogram (follow.go).
	Follow      bool
	FollowEvery time.Duration
}

// Pane is what has the keyboard focus.
type Pane int

const (
	PaneTimeline Pane = iota
	PaneFindings
	PaneDetail
)

// paneOrder is the order tab walks the panes in: the screen's, findings (top or left),
// timeline, detail (bottom).
var paneOrder = []Pane{PaneFindings, PaneTimeline, PaneDetail}

// ViewKind is what the timeline shows.
type ViewKind int

const (
	ViewSearch ViewKind = iota
	ViewIdentity
	ViewSecret
	ViewEtcd
	ViewContext
	ViewEvidence
	ViewNotes
	ViewCredential
)

var viewNames = map[ViewKind]string{ViewSearch: "search", ViewIdentity: "identity", ViewSecret: "secret",
	ViewEtcd: "etcd", ViewContext: "context", ViewEvidence: "evidence", ViewNotes: "notes", ViewCredential: "credential"}

func (v ViewKind) String() string { return viewNames[v] }

// Frame is one state of the timeline: a view with its query, loaded items and cursor. The
// back stack holds frames, so going back restores rows and cursor without a query.
type Frame struct {
	Kind   ViewKind
	Query  string // the search text (for the search view) or the query the view ran
	Title  string
	Items  []components.Item
	Total  int
	Scroll components.Scroll
	Anchor index.EventID
	// Subject is what the view is about: the identity, the secret's namespace and name, or
	// the finding whose evidence it lists.
	Subject         string
	Namespace, Name string
	Finding         *analyzer.Finding
	// Done says every match is loaded (search view paging); Loaded says the view's first
	// results arrived (a frame left before that is queried again on back).
	Done, Loaded bool
	// Newer is how many matches are newer than the first loaded row (after a jump in
	// time: scrolling up fetches them).
	Newer int
	// JumpTo opens a search at a time instead of at its newest match; JumpLast at its
	// oldest (G).
	JumpTo   time.Time
	JumpLast bool
	// RawEnd is the place of the oldest loaded match among all of them (hidden stages
	// count: positions are among the query's matches); tail the loaded matches at the
	// oldest time, hidden ones too, where the next page starts.
	RawEnd int
	tail   []index.Row
	// Focus is the pane that had the keyboard when the frame was left (back restores it).
	Focus Pane
	// Hist is the histogram of this frame's query, kept so back restores it too.
	Hist     []int
	HistFrom time.Time
	HistIv   time.Duration
	histKey  string
}

// Model is the investigation TUI. Create it with New and run it with tea.NewProgram.
type Model struct {
	r    index.Reader
	opts Options
	ctx  *common.Context

	root      context.Context
	stop      context.CancelFunc
	cancel    context.CancelFunc // the running view's queries
	gen       int                // the current view generation
	paging    bool               // a next-page query is running
	busy      bool               // the view's query is running (status bar "searching…")
	exporting bool               // an export is being written
	histCache map[string]histMsg
	// histWant is the key of the histogram the screen wants (query, width, case span):
	// an answer for another key (an older width, a view left since) is cached, not shown.
	histWant string

	width, height int
	focus         Pane
	showHelp      bool

	cur   Frame
	stack []Frame
	// forward holds the frames left by going back, newest last (] returns to them); a
	// new view clears it, as a browser does.
	forward []Frame
	// fullDetail gives the detail pane the whole screen (f).
	fullDetail bool
	// collapse shows a request as one row: its RequestReceived stage is hidden when the
	// request has a later one (=). hideSystem hides the control plane's identities (H):
	// systemUsers are the clauses that do it, made when H is first pressed.
	collapse, hideSystem bool
	systemUsers          []string
	// findQuery is the findings filter (/ in the findings pane).
	findQuery string
	findKeep  func(analyzer.Finding) bool
	// followKeep is the timeline filter as a test of findings (followFilter).
	followKeep func(analyzer.Finding) bool

	info        *index.Info
	findings    *components.Findings
	timeline    *components.Timeline
	detail      *components.Detail
	status      *components.StatusBar
	hist        *components.Histogram
	help        *components.Help
	findingHist []analyzer.Finding

	detailGen  int
	detailKey  string // what the detail pane shows ("e:"+ID or "f:"+FindingID)
	detailFrom Pane   // the list whose selection it shows

	annotations map[index.Target]index.Annotation

	prompt     textinput.Model
	promptKind promptKind
	noteTarget index.Target
	history    []string
	histPos    int

	message, errText string
	// navMessage says the message only reports a back or forward: esc does not stop
	// to dismiss it
	navMessage bool
	quitting   bool
	// Annotation writes run one at a time, in the order they were made: two commands in
	// flight could reach the case in either order (bubbletea runs each on its own
	// goroutine), and b b would then leave the bookmark set while the screen shows it
	// removed. writing is the one in flight, pending those waiting. Quitting waits for
	// both so that a bookmark made just before q is in the case, and for a running
	// export so that its file is whole (quitOnWrite: q was pressed, "saving…").
	writing     *index.Annotation
	pending     []index.Annotation
	quitOnWrite bool

	// followStale: the case changed and the search view has not asked for its new rows
	// yet (a query of the view was running)
	followStale bool
}

type promptKind int

const (
	promptNone promptKind = iota
	promptSearch
	promptNote
	promptFindings
	promptJump
)

// New returns the model over r. r is used from command goroutines only; the caller
// closes it after the program ends.
func New(r index.Reader, o Options) *Model {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Context == nil {
		o.Context = common.NewContext()
	}
	ctx := o.Context
	root, stop := context.WithCancel(context.Background())
	m := &Model{
		r: r, opts: o, ctx: ctx, root: root, stop: stop,
		findings:    components.NewFindings(ctx),
		timeline:    components.NewTimeline(ctx),
		detail:      components.NewDetail(ctx),
		status:      components.NewStatusBar(ctx),
		hist:        components.NewHistogram(ctx),
		help:        components.NewHelp(ctx),
		annotations: map[index.Target]index.Annotation{},
		histCache:   map[string]histMsg{},
		width:       80, height: 24,
		collapse: true,
	}
	m.findings.Mark = func(f analyzer.Finding) string { return m.mark(index.Target{Kind: "finding", ID: FindingID(f)}) }
	m.timeline.Mark = func(id index.EventID) string { return m.mark(index.Target{Kind: "event", ID: string(id)}) }
	m.timeline.MarkFinding = m.findings.Mark
	m.findings.Keep = m.keepFinding
	m.prompt = textinput.New()
	m.prompt.Prompt = "/"
	st := m.prompt.Styles()
	st.Cursor.Blink = false // a blinking cursor is a timer: it would keep tests and idle CPU busy
	m.prompt.SetStyles(st)
	m.cur = Frame{Kind: ViewSearch, Query: o.Query, Title: searchTitle(o.Query)}
	if !unfilteredQuery(o.Query) {
		// --query: esc returns to every event, as after a search typed at the prompt
		m.stack = []Frame{{Kind: ViewSearch, Title: searchTitle("")}}
	}
	m.history = loadHistory(o.HistoryFile)
	return m
}

func unfilteredQuery(q string) bool { q = strings.TrimSpace(q); return q == "" || q == "*" }

func searchTitle(q string) string {
	if q == "" || q == "*" {
		return "Timeline: all events, newest first"
	}
	return "Timeline: " + q + " (newest first)"
}

// Init loads the case: info, findings, annotations and the first page of the timeline,
// all at once and off the update loop.
func (m *Model) Init() tea.Cmd {
	return tea.Batch(loadInfo(m.r), loadFindings(m.r), loadAnnotations(m.r), m.startView(), m.followTick())
}

// Stack returns the back stack (oldest first) and the current frame, for tests.
func (m *Model) Stack() ([]Frame, Frame) { return m.stack, m.cur }

// Focus returns the focused pane.
func (m *Model) Focus() Pane { return m.focus }

// Busy reports whether a view query is running.
func (m *Model) Busy() bool { return m.busy || m.paging }

// Annotation returns the annotation of t known to the model.
func (m *Model) Annotation(t index.Target) (index.Annotation, bool) {
	a, ok := m.annotations[t]
	return a, ok
}

func (m *Model) mark(t index.Target) string {
	a, ok := m.annotations[t]
	if !ok {
		return ""
	}
	s := ""
	if a.Bookmarked {
		s += "★"
	}
	if a.Note != "" {
		s += "✎"
	}
	return s
}

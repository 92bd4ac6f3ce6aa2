package common

import "charm.land/bubbles/v2/key"

// KeyMap is every key of the TUI, in one place so that the help screen (?) always shows
// what the code does.
type KeyMap struct {
	Up, Down, PageUp, PageDown, Top, Bottom key.Binding
	Focus, FocusBack, Open                  key.Binding
	Search, Back, Forward, Quit, Help       key.Binding

	// Time: jump to a time, zoom the histogram around the selection.
	Jump, ZoomIn, ZoomOut key.Binding

	// Findings pane: group by rule, sort, (/ filters the findings when they have focus).
	GroupRules, SortFindings key.Binding

	// Timeline filters: a request's stages in one row, system identities hidden.
	Stages, HideSystem key.Binding

	// Moves: copy the auditID or the event, save it, open it in $PAGER, pivot on the
	// token's credential, the finding's rule source, the bookmarks and notes view.
	CopyID, CopyEvent, SaveEvent, Pager, PivotCredential, RuleSource, Notes key.Binding

	// Detail pane: full screen and line wrapping.
	FullScreen, Wrap key.Binding

	PivotUser, PivotIP, PivotNamespace, PivotName, PivotAgent key.Binding

	Identity, Secret, Etcd, Context key.Binding

	Bookmark, Note, ExportJSONL, ExportCSV key.Binding

	Fold, YAML key.Binding

	// Wheel is the mouse wheel: no key, listed so that the help mentions the mouse.
	Wheel key.Binding

	// Prompt keys (search and note input).
	Accept, Cancel, HistoryPrev, HistoryNext key.Binding
}

// DefaultKeyMap returns the key map.
func DefaultKeyMap() *KeyMap {
	b := func(keys []string, help, desc string) key.Binding {
		return key.NewBinding(key.WithKeys(keys...), key.WithHelp(help, desc))
	}
	return &KeyMap{
		Up:        b([]string{"up", "k"}, "↑/k", "up"),
		Down:      b([]string{"down", "j"}, "↓/j", "down"),
		PageUp:    b([]string{"pgup", "ctrl+b"}, "pgup", "page up"),
		PageDown:  b([]string{"pgdown", "ctrl+f", "space"}, "pgdn", "page down"),
		Top:       b([]string{"home", "g"}, "g", "newest event"),
		Bottom:    b([]string{"end", "G"}, "G", "oldest event"),
		Focus:     b([]string{"tab"}, "tab", "next pane"),
		FocusBack: b([]string{"shift+tab"}, "shift+tab", "previous pane"),
		Open:      b([]string{"enter"}, "enter", "open in detail"),
		Wheel:     key.NewBinding(key.WithHelp("wheel", "scroll focused pane")),
		Search:    b([]string{"/"}, "/", "search"),
		Back:      b([]string{"esc", "backspace", "alt+left", "["}, "esc/[", "back"),
		Forward:   b([]string{"]", "alt+right"}, "]", "forward"),
		Quit:      b([]string{"q", "ctrl+c"}, "q", "quit"),
		Help:      b([]string{"?"}, "?", "help"),

		PivotUser:      b([]string{"u"}, "u", "filter on user"),
		PivotIP:        b([]string{"i"}, "i", "filter on source IP"),
		PivotNamespace: b([]string{"n"}, "n", "filter on namespace"),
		PivotName:      b([]string{"o"}, "o", "filter on object name"),
		PivotAgent:     b([]string{"a"}, "a", "filter on user agent"),

		Identity: b([]string{"I"}, "I", "identity timeline"),
		Secret:   b([]string{"S"}, "S", "secret view"),
		Etcd:     b([]string{"E"}, "E", "etcd: secrets at rest"),
		Context:  b([]string{"c"}, "c", "events around"),

		Bookmark:    b([]string{"b"}, "b", "bookmark"),
		Note:        b([]string{"m"}, "m", "note"),
		ExportJSONL: b([]string{"x"}, "x", "export view (JSONL)"),
		ExportCSV:   b([]string{"X"}, "X", "export view (CSV)"),

		Jump:    b([]string{"@"}, "@", "jump to a time"),
		ZoomIn:  b([]string{"+"}, "+", "zoom in on its time"),
		ZoomOut: b([]string{"-"}, "-", "zoom out"),

		GroupRules:   b([]string{"r"}, "r", "group by rule"),
		SortFindings: b([]string{"s"}, "s", "sort: severity/time"),

		Stages:     b([]string{"="}, "=", "stages: one row/all"),
		HideSystem: b([]string{"H"}, "H", "hide system identities"),

		CopyID:          b([]string{"C"}, "C", "copy auditID"),
		CopyEvent:       b([]string{"Y"}, "Y", "copy event as JSON"),
		SaveEvent:       b([]string{"J"}, "J", "save event to a file"),
		Pager:           b([]string{"v"}, "v", "raw event in $PAGER"),
		PivotCredential: b([]string{"T"}, "T", "filter on its token"),
		RuleSource:      b([]string{"R"}, "R", "rule source (CEL)"),
		Notes:           b([]string{"B"}, "B", "bookmarks and notes"),

		FullScreen: b([]string{"f"}, "f", "detail full screen"),
		Wrap:       b([]string{"w"}, "w", "wrap long lines"),

		Fold: b([]string{"z"}, "z", "fold/unfold"),
		YAML: b([]string{"y"}, "y", "JSON/YAML"),

		Accept:      b([]string{"enter"}, "enter", "run"),
		Cancel:      b([]string{"esc", "ctrl+c"}, "esc", "cancel"),
		HistoryPrev: b([]string{"up"}, "↑", "previous query"),
		HistoryNext: b([]string{"down"}, "↓", "next query"),
	}
}

// Navigation is the movement keys, shown in every view's help.
func (k *KeyMap) Navigation() []key.Binding {
	return []key.Binding{k.Up, k.Down, k.PageUp, k.PageDown, k.Top, k.Bottom, k.Focus, k.FocusBack, k.Open, k.Wheel}
}

// Time is the keys that move in time.
func (k *KeyMap) Time() []key.Binding {
	return []key.Binding{k.Jump, k.ZoomIn, k.ZoomOut, k.Stages, k.HideSystem}
}

// FindingKeys is the keys of the findings pane.
func (k *KeyMap) FindingKeys() []key.Binding {
	fl := key.NewBinding(key.WithKeys("/"), key.WithHelp("/", "filter the findings"))
	return []key.Binding{fl, k.GroupRules, k.SortFindings, k.RuleSource}
}

// Moves is the keys that copy, save or open the selection elsewhere.
func (k *KeyMap) Moves() []key.Binding {
	return []key.Binding{k.CopyID, k.CopyEvent, k.SaveEvent, k.Pager}
}

// Pivots are the one-key filters.
func (k *KeyMap) Pivots() []key.Binding {
	return []key.Binding{k.PivotUser, k.PivotIP, k.PivotNamespace, k.PivotName, k.PivotAgent, k.PivotCredential, k.Back, k.Forward}
}

// Views are the keys that open a view.
func (k *KeyMap) Views() []key.Binding {
	return []key.Binding{k.Identity, k.Secret, k.Etcd, k.Context, k.Notes, k.Search}
}

// Case is the keys that write to the case or files.
func (k *KeyMap) Case() []key.Binding {
	return []key.Binding{k.Bookmark, k.Note, k.ExportJSONL, k.ExportCSV, k.Help, k.Quit}
}

// Detail is the keys of the detail pane besides the movement keys (which scroll it).
func (k *KeyMap) Detail() []key.Binding {
	return []key.Binding{k.Fold, k.YAML, k.FullScreen, k.Wrap}
}

// Prompt is the keys of the search and note prompt.
func (k *KeyMap) Prompt() []key.Binding {
	return []key.Binding{k.Accept, k.Cancel, k.HistoryPrev, k.HistoryNext}
}

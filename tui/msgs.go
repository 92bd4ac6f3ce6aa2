package tui

import (
	"time"

	"github.com/kubesleuth/kubesleuth/analyzer"
	"github.com/kubesleuth/kubesleuth/index"
	"github.com/kubesleuth/kubesleuth/tui/components"
)

// Messages from the commands in fetch.go back to Update. gen is the view generation the
// command was started for (stale results are dropped).
type (
	infoMsg struct {
		info *index.Info
		err  error
	}
	findingsMsg struct {
		items []analyzer.Finding
		err   error
	}
	annotationsMsg struct {
		items []index.Annotation
		err   error
	}
	// pageMsg is one page of the search view's timeline; more says whether it extends
	// the loaded rows (true) or starts them.
	pageMsg struct {
		gen  int
		res  *index.Result // res.Events are the rows shown (answered RequestReceived rows hidden)
		more bool
		err  error
		// pos is each shown row's place among the page's rows (1-based), raw how many
		// the page had, tail the page's rows (hidden ones too) at its oldest time: the
		// next page starts after them.
		pos  []int
		raw  int
		tail []index.Row
	}
	histMsg struct {
		gen      int
		key      string
		buckets  []index.Bucket
		from     time.Time
		interval time.Duration
		err      error
	}
	// viewMsg carries the items of a whole non-paged view (identity, secret, etcd,
	// context, evidence).
	viewMsg struct {
		gen    int
		items  []components.Item
		total  int
		cursor int
		err    error
	}
	detailMsg struct {
		gen   int
		title string
		raw   []byte
		lines []string
		err   error
	}
	annotatedMsg struct {
		a   index.Annotation
		err error
	}
	exportedMsg struct {
		path string
		n    int
		err  error
	}
)

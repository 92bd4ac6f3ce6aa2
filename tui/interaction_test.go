package tui

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/exp/teatest/v2"

	"github.com/kubesleuth/kubesleuth/index"
)

// TestTUIInteraction drives the program as a user would, on a case the real binary
// ingested: search, pivot on the user, identity timeline, bookmark, quit. It checks the
// back stack, the bookmark saved in the case and the final screen.
func TestTUIInteraction(t *testing.T) {
	dir := generatedCase(t)
	c, err := index.Open(dir, index.OpenOptions{Writable: true})
	if err != nil {
		t.Fatal(err)
	}
	m := New(c, Options{CaseName: "case", Now: func() time.Time { return fixedNow }, ExportDir: t.TempDir()})
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(160, 48))
	// everything the program wrote, in order (WaitFor consumes what it reads)
	var screen bytes.Buffer
	wait := func(what string) {
		t.Helper()
		teatest.WaitFor(t, io.TeeReader(tm.Output(), &screen), func(b []byte) bool { return bytes.Contains(b, []byte(what)) },
			teatest.WithDuration(90*time.Second), teatest.WithCheckInterval(20*time.Millisecond))
	}
	wait("all events")
	tm.Type("/")
	tm.Type("resource:secrets verb:list")
	tm.Send(keyMsg("enter"))
	wait("verb:list (newest")
	tm.Type("u")
	wait(`user:"`)
	tm.Type("I")
	wait("burst 1")
	tm.Type("j") // the header → the first event of the burst
	tm.Type("b")
	wait("bookmarked")
	tm.Type("q")
	fm := tm.FinalModel(t, teatest.WithFinalTimeout(60*time.Second)).(*Model)

	stack, cur := fm.Stack()
	if len(stack) != 3 || stack[0].Query != "" || stack[1].Query != "resource:secrets verb:list" ||
		!strings.HasPrefix(stack[2].Query, `user:"`) || cur.Kind != ViewIdentity {
		t.Fatalf("back stack = %+v, current %v %q; want all events, the search, the pivot, then the identity view", queries(stack), cur.Kind, cur.Query)
	}
	if h := fm.History(); len(h) != 1 || h[0] != "resource:secrets verb:list" {
		t.Errorf("search history = %q", h)
	}
	it, ok := fm.timeline.Selected()
	if !ok || it.Row == nil {
		t.Fatal("no event selected in the identity view")
	}
	if "user:"+`"`+it.Row.User+`"` != cur.Query {
		t.Errorf("identity view of %q shows an event of %q", cur.Query, it.Row.User)
	}

	// the bookmark is in the case: reopen it as a report would
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c2, err := index.Open(dir, index.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	as, err := c2.Annotations()
	if err != nil {
		t.Fatal(err)
	}
	if len(as) != 1 || !as[0].Bookmarked || as[0].Target != (index.Target{Kind: "event", ID: string(it.Row.ID)}) {
		t.Errorf("annotations in the case = %+v, want a bookmark on %s", as, it.Row.ID)
	}
	rest, err := io.ReadAll(tm.FinalOutput(t))
	if err != nil {
		t.Fatal(err)
	}
	screen.Write(rest)
	for _, want := range []string{"Identity", "everything it did", "bookmarked"} {
		if !bytes.Contains(screen.Bytes(), []byte(want)) {
			t.Errorf("the output never showed %q", want)
		}
	}
	// the program leaves the alternate screen on quit
	if !bytes.Contains(rest, []byte("\x1b[?1049l")) {
		t.Errorf("the final output does not leave the alternate screen: %q", rest)
	}
}

func queries(fs []Frame) []string {
	var q []string
	for _, f := range fs {
		q = append(q, f.Kind.String()+":"+f.Query)
	}
	return q
}

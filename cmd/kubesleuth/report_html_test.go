package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// TestReportHTMLInChromium opens the HTML report in headless Chromium (Debian's
// chromium, driven over the DevTools protocol with chromedp: the page's console, its
// exceptions, the browser's log (CSP violations) and every network request are
// observed, and the table is clicked and typed into as a person would):
//   - no console error, no exception, no log error;
//   - no request but the report's own file: the page loads nothing;
//   - the finding table shows as many findings as the JSON report holds;
//   - a click on a column sorts it (descending, then ascending), the filter box and the
//     severity and tactic selects show exactly the findings that match;
//   - a 1280x800 screenshot is kept in testdata/artifacts (ignored by git).
func TestReportHTMLInChromium(t *testing.T) {
	chrome := toolOrSkip(t, "chromium", "chromium-browser")
	f := newReportFixture(t)
	page := filepath.Join(f.dir, "report.html")
	f.mustRun(t, "report", "--case", f.caseDir, "--format", "html", "-o", page)
	var doc struct {
		Findings []struct {
			RuleID   string `json:"rule_id"`
			Severity string `json:"severity"`
			Tactic   string `json:"tactic"`
		} `json:"findings"`
	}
	if err := json.Unmarshal(f.mustRun(t, "report", "--case", f.caseDir, "--format", "json"), &doc); err != nil {
		t.Fatal(err)
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chrome), chromedp.WindowSize(1280, 800),
		chromedp.NoSandbox, // root in CI has no user namespace sandbox
		chromedp.Flag("disable-gpu", true))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()

	var mu sync.Mutex
	var problems, requests []string
	err := chromedp.Listen(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeWarning {
				var args []string
				for _, a := range e.Args {
					args = append(args, string(a.Value)+a.Description)
				}
				problems = append(problems, "console "+string(e.Type)+": "+strings.Join(args, " "))
			}
		case *runtime.EventExceptionThrown:
			problems = append(problems, "exception: "+e.ExceptionDetails.Text+" "+exceptionText(e.ExceptionDetails))
		case *cdplog.EventEntryAdded:
			if e.Entry.Level == cdplog.EntryLevelError || e.Entry.Level == cdplog.EntryLevelWarning {
				problems = append(problems, "log "+string(e.Entry.Level)+": "+e.Entry.Text+" "+e.Entry.URL)
			}
		case *network.EventRequestWillBeSent:
			requests = append(requests, e.Request.URL)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	url := "file://" + page
	do := func(steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatal(err)
		}
	}
	evalInt := func(js string) int {
		t.Helper()
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](js))
		if err != nil {
			t.Fatalf("%s: %v", js, err)
		}
		return n
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	for _, enable := range []func() error{
		func() error { _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); return err },
		func() error { _, err := chromedp.Call(ctx, cdplog.Enable, cdp.Empty{}); return err },
		func() error { _, err := chromedp.Call(ctx, runtime.Enable, cdp.Empty{}); return err },
	} {
		if err := enable(); err != nil {
			t.Fatal(err)
		}
	}
	do(chromedp.EmulateViewport(1280, 800), chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS("#findings")))
	visible := func() int {
		return evalInt(`document.querySelectorAll("#findings tbody tr.finding:not([hidden])").length`)
	}
	if n, shown, total := visible(), text("#shown"), text("#total-findings"); n != len(doc.Findings) || shown != itoa(len(doc.Findings)) || total != itoa(len(doc.Findings)) {
		t.Errorf("the page shows %d rows (counter %q, summary %q); the JSON report has %d findings", n, shown, total, len(doc.Findings))
	}

	// screenshots at 1280x800 of the first screen and of the summary with the timeline,
	// kept for a person to look at
	art := filepath.Join("testdata", "artifacts")
	if err := os.MkdirAll(art, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, shot := range []struct{ name, at string }{{"report-1280x800.png", ""}, {"report-summary-1280x800.png", "#summary"}, {"report-timeline-1280x800.png", "#timeline"}} {
		if shot.at != "" {
			evalInt(`(document.querySelector("` + shot.at + `").scrollIntoView(), 1)`)
		}
		png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatal(err)
		}
		if w, h := pngSize(png); w != 1280 || h != 800 {
			t.Errorf("screenshot %s is %dx%d", shot.name, w, h)
		}
		path := filepath.Join(art, shot.name)
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", path)
	}
	evalInt(`(window.scrollTo(0, 0), 1)`)

	// sorting: a click on a column sorts it descending, a second click ascending
	column := func(col int) []float64 {
		t.Helper()
		vs, err := chromedp.Run(ctx, chromedp.Evaluate[[]float64](`Array.from(document.querySelectorAll("#findings tbody tr.finding")).map(r => +r.cells[`+itoa(col)+`].dataset.v)`))
		if err != nil {
			t.Fatal(err)
		}
		return vs
	}
	for _, c := range []struct {
		col  int
		name string
	}{{6, "count"}, {1, "severity"}, {7, "first seen"}} {
		sel := chromedp.CSS(`#findings thead th:nth-child(` + itoa(c.col+1) + `)`)
		for _, dir := range []string{"desc", "asc"} {
			do(chromedp.Click(sel))
			vs := column(c.col)
			if len(vs) != len(doc.Findings) {
				t.Fatalf("after sorting by %s: %d rows", c.name, len(vs))
			}
			for i := 1; i < len(vs); i++ {
				if (dir == "desc" && vs[i] > vs[i-1]) || (dir == "asc" && vs[i] < vs[i-1]) {
					t.Errorf("sorted by %s %s: row %d (%v) after row %d (%v)", c.name, dir, i, vs[i], i-1, vs[i-1])
					break
				}
			}
		}
	}
	if vs := column(6); vs[0] == vs[len(vs)-1] {
		t.Errorf("every finding has count %v: the sort test proves nothing", vs[0])
	}

	// filtering: by text (a rule ID, typed), by severity, by tactic
	want := func(keep func(rule, sev, tactic string) bool) int {
		n := 0
		for _, x := range doc.Findings {
			if keep(x.RuleID, x.Severity, x.Tactic) {
				n++
			}
		}
		return n
	}
	rule := doc.Findings[len(doc.Findings)/2].RuleID
	do(chromedp.SendKeys(chromedp.CSS("#filter"), strings.ToLower(rule)))
	if n, w := visible(), want(func(r, _, _ string) bool { return r == rule }); n != w || n == 0 {
		t.Errorf("filter %q: %d rows shown, want %d", rule, n, w)
	}
	change := func(sel, value string) {
		t.Helper()
		// a select's option chosen as the browser does it: value set, change fired
		evalInt(`(e => { e.value = ` + strconv.Quote(value) + `; return e.dispatchEvent(new Event("change")) ? 1 : 0 })(document.querySelector("` + sel + `"))`)
	}
	change("#filter", "")
	change("#minsev", "3")
	if n, w := visible(), want(func(_, s, _ string) bool { return s == "high" || s == "critical" }); n != w || n == 0 || n == len(doc.Findings) {
		t.Errorf("high and above: %d rows shown, want %d of %d", n, w, len(doc.Findings))
	}
	change("#minsev", "0")
	tactic := doc.Findings[0].Tactic
	change("#tactic", tactic)
	if n, w := visible(), want(func(_, _, tc string) bool { return tc == tactic }); n != w || n == 0 {
		t.Errorf("tactic %q: %d rows shown, want %d", tactic, n, w)
	}
	if counter := text("#shown"); counter != itoa(visible()) {
		t.Errorf("the counter says %q, %d rows are shown", counter, visible())
	}
	if n := evalInt(`document.querySelectorAll("svg rect.hist").length`); n == 0 {
		t.Error("the timeline has no bar")
	}

	mu.Lock()
	defer mu.Unlock()
	for _, p := range problems {
		t.Errorf("page: %s", p)
	}
	for _, r := range requests {
		if r != url {
			t.Errorf("the page requested %s", r)
		}
	}
	if len(requests) == 0 {
		t.Error("no request seen at all: the network observation proves nothing")
	}
}

func exceptionText(d *runtime.ExceptionDetails) string {
	if d.Exception != nil {
		return d.Exception.Description
	}
	return ""
}

// pngSize reads a PNG's width and height from its IHDR chunk.
func pngSize(b []byte) (int, int) {
	if len(b) < 24 {
		return 0, 0
	}
	return int(binary.BigEndian.Uint32(b[16:20])), int(binary.BigEndian.Uint32(b[20:24]))
}

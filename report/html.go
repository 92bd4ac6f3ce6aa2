package report

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"strings"
	"time"

	"github.com/kubesleuth/kubesleuth/analyzer"
)

//go:embed html.tmpl
var htmlSource string

var htmlTmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"t":       fmtT,
	"tv":      fmtTv,
	"upper":   strings.ToUpper,
	"join":    strings.Join,
	"dash":    dash,
	"nsname":  nsName,
	"object":  evObject,
	"sevrank": func(s analyzer.Severity) int { return int(s) },
	"unix":    func(t time.Time) int64 { return t.Unix() },
	"finding": func(r *Report, i int) Finding { return r.Findings[i] },
	"rule":    func(v *htmlView, id string) RuleText { return v.rules[id] },
	"inc":     func(i int) int { return i + 1 },
	"sub":     func(a, b int) int { return a - b },
	"https":   func(s string) bool { return strings.HasPrefix(s, "https://") },
}).Parse(htmlSource))

// htmlView is the document with the drawing's geometry (presentation only: positions
// and widths of what the document already holds).
type htmlView struct {
	R       *Report
	rules   map[string]RuleText
	Bars    []svgBar
	Marks   []svgMark
	SevBars []sevBar
	Axis    []svgTick
	Tactics []string
}

type svgBar struct {
	X, Y, W, H float64
	Title      string
}

type svgMark struct {
	X, Y  float64
	Sev   string
	Title string
	ID    int
}

type svgTick struct {
	X     float64
	Label string
}

type sevBar struct {
	Name  string
	Count int
	Width float64
}

const (
	svgW     = 1000.0
	svgH     = 200.0
	barTop   = 60.0 // the marks' lanes are above
	barSpace = svgH - barTop - 20
)

func writeHTML(w io.Writer, r *Report) error {
	v := &htmlView{R: r, rules: map[string]RuleText{}}
	for _, t := range r.Rules {
		v.rules[t.ID] = t
	}
	for _, t := range r.Tactics {
		v.Tactics = append(v.Tactics, t.Name)
	}
	most := 0
	for _, c := range r.Summary.BySeverity {
		most = max(most, c.Count)
	}
	for _, c := range r.Summary.BySeverity {
		wd := 0.0
		if most > 0 {
			wd = 100 * float64(c.Count) / float64(most)
		}
		v.SevBars = append(v.SevBars, sevBar{c.Name, c.Count, wd})
	}
	tl := r.Timeline
	iv, _ := time.ParseDuration(tl.Interval)
	if n := len(tl.Counts); n > 0 && tl.Start != nil && iv > 0 {
		bw := svgW / float64(n)
		for i, c := range tl.Counts {
			if c == 0 {
				continue
			}
			h := barSpace * float64(c) / float64(max(1, tl.Max))
			at := tl.Start.Add(time.Duration(i) * iv)
			v.Bars = append(v.Bars, svgBar{X: float64(i) * bw, Y: svgH - 20 - h, W: max(bw*0.9, 0.5), H: h, Title: fmt.Sprintf("%s: %d events", fmtTv(at), c)})
		}
		span := iv * time.Duration(n)
		layout := "01-02 15:04"
		if span < 10*time.Minute {
			layout = "15:04:05"
		}
		for k := 0; k <= 4; k++ {
			at := tl.Start.Add(span * time.Duration(k) / 4)
			v.Axis = append(v.Axis, svgTick{X: svgW * float64(k) / 4, Label: at.UTC().Format(layout)})
		}
		for _, i := range tl.Findings {
			f := r.Findings[i]
			x := svgW * float64(f.FirstSeen.Sub(*tl.Start)) / float64(span)
			lane := float64(analyzer.Critical - f.Severity) // critical on top
			v.Marks = append(v.Marks, svgMark{X: min(max(x, 3), svgW-3), Y: 8 + lane*11, Sev: f.Severity.String(), ID: i,
				Title: fmt.Sprintf("%s %s %s: %s", fmtTv(f.FirstSeen), strings.ToUpper(f.Severity.String()), f.RuleID, f.Subject.String())})
		}
	}
	return htmlTmpl.Execute(w, v)
}

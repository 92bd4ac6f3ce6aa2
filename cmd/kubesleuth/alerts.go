package main

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/kubesleuth/kubesleuth/analyzer"
	"github.com/kubesleuth/kubesleuth/pipeline"
)

// alertHelp documents --alert for tail and serve (one syntax, one set of sinks).
const alertHelp = `  line            one human line per finding (time, severity, rule, subject, message)
  jsonl           the finding's JSON (audit_ids included) with "alert": "new"|"repeat"
  falco           Falco's JSON output (uuid, output, priority, rule, time, output_fields
                  with subject and audit_ids, source, tags, hostname), for falcosidekick
  KIND=FILE       to FILE (appended, 0600, cut back to its checkpoint on restart)
  webhook=URL     POST each alert to URL (JSON; format=falco for falcosidekick's
                  endpoint), from a bounded queue, retried with backoff; alerts dropped
                  when the queue is full or the endpoint stays down are counted and
                  reported on standard error, never silently; like standard output, it
                  may get the alerts of the last second again after a kill (a falco
                  alert keeps its uuid)
  min=SEVERITY    only findings at or above it (info, low, medium, high, critical)
  format=F        webhook only: jsonl (default) or falco
Without an --alert to standard output, human lines go to standard output.`

// alertSpec is one parsed --alert.
type alertSpec struct {
	kind, target string
	format       pipeline.AlertFormat
	min          analyzer.Severity
}

// parseAlert parses KIND[=TARGET][,key=value]...
func parseAlert(s string) (alertSpec, error) {
	parts := strings.Split(s, ",")
	var a alertSpec
	a.kind, a.target, _ = strings.Cut(parts[0], "=")
	switch a.kind {
	case "line", "jsonl", "falco":
		a.format, _ = pipeline.ParseFormat(a.kind)
	case "webhook":
		a.format = pipeline.FormatJSONL
		u, err := url.Parse(a.target)
		if a.target == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return a, usagef("--alert webhook=URL: want an http:// or https:// URL")
		}
	default:
		return a, usagef("--alert %q: unknown kind (want line, jsonl, falco or webhook=URL, optionally =FILE and ,min=SEVERITY)", parts[0])
	}
	for _, p := range parts[1:] {
		k, v, _ := strings.Cut(p, "=")
		switch k {
		case "min":
			sev, err := analyzer.ParseSeverity(v)
			if err != nil {
				return a, usagef("--alert %s: %v", a.kind, err)
			}
			a.min = sev
		case "format":
			f, ok := pipeline.ParseFormat(v)
			if a.kind != "webhook" || !ok || f == pipeline.FormatLine {
				return a, usagef("--alert %s: format=%q (webhook only: jsonl or falco)", a.kind, v)
			}
			a.format = f
		default:
			return a, usagef("--alert %s: unknown option %q (want min=SEVERITY, or format= for webhook)", a.kind, k)
		}
	}
	return a, nil
}

// openAlertSinks builds the --alert sinks of a live command (tail, serve). Without an
// alert to standard output, human lines go there. close flushes and closes them (a
// webhook's queue gets 5 s to drain; what is left is counted and reported).
func openAlertSinks(io stdio, specs []string, groupEvery time.Duration, cmdName string) (sinks []pipeline.NamedSink, close func(), err error) {
	var parsed []alertSpec
	toStdout := false
	for _, s := range specs {
		a, err := parseAlert(s)
		if err != nil {
			return nil, nil, err
		}
		parsed = append(parsed, a)
		toStdout = toStdout || (a.target == "" && a.kind != "webhook")
	}
	if !toStdout {
		parsed = append([]alertSpec{{kind: "line", format: pipeline.FormatLine}}, parsed...)
	}
	var files []*pipeline.Alerts
	var posters []*pipeline.Poster
	close = func() {
		for _, a := range files {
			a.Close()
		}
		for _, p := range posters {
			p.Close(5 * time.Second)
		}
	}
	for i, a := range parsed {
		var s *pipeline.Alerts
		switch {
		case a.kind == "webhook":
			p := &pipeline.Poster{URL: a.target, OnDrop: func(msg string) { fmt.Fprintf(io.err, "kubesleuth %s: %s\n", cmdName, msg) }}
			posters = append(posters, p)
			s = pipeline.NewPostAlerts(p, a.format, a.min)
		case a.target == "":
			s = pipeline.NewAlerts("stdout", io.out, a.format, a.min)
		default:
			if s, err = pipeline.OpenAlertFile(a.target, a.format, a.min); err != nil {
				close()
				return nil, nil, err
			}
			files = append(files, s)
		}
		s.GroupEvery = groupEvery
		sinks = append(sinks, pipeline.NamedSink{Name: fmt.Sprintf("alert%d:%s", i, a.kind+"="+a.target), Sink: s})
	}
	return sinks, close, nil
}

// posters are the webhook sinks' Posters, for their metrics.
func posters(sinks []pipeline.NamedSink) []*pipeline.Poster {
	var out []*pipeline.Poster
	for _, ns := range sinks {
		if a, ok := ns.Sink.(*pipeline.Alerts); ok {
			if p := a.Poster(); p != nil {
				out = append(out, p)
			}
		}
	}
	return out
}

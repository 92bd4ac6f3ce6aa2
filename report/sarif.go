package report

import (
	"encoding/json"
	"io"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/kubesleuth/kubesleuth/analyzer"
)

// SARIF 2.1.0 (OASIS), the subset code-scanning dashboards read.
type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool    sarifTool     `json:"tool"`
	Results []sarifResult `json:"results"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	Version        string      `json:"version,omitempty"`
	SemVer         string      `json:"semanticVersion,omitempty"`
	InformationURI string      `json:"informationUri"`
	Rules          []sarifRule `json:"rules"`
}

type sarifText struct {
	Text     string `json:"text"`
	Markdown string `json:"markdown,omitempty"`
}

type sarifRule struct {
	ID                   string         `json:"id"`
	Name                 string         `json:"name,omitempty"`
	ShortDescription     sarifText      `json:"shortDescription"`
	FullDescription      sarifText      `json:"fullDescription"`
	Help                 sarifText      `json:"help"`
	HelpURI              string         `json:"helpUri,omitempty"`
	DefaultConfiguration sarifConfig    `json:"defaultConfiguration"`
	Properties           map[string]any `json:"properties"`
}

type sarifConfig struct {
	Level string `json:"level"`
}

type sarifResult struct {
	RuleID              string            `json:"ruleId"`
	RuleIndex           int               `json:"ruleIndex"`
	Level               string            `json:"level"`
	Message             sarifText         `json:"message"`
	Locations           []sarifLocation   `json:"locations,omitempty"`
	PartialFingerprints map[string]string `json:"partialFingerprints"`
	Properties          map[string]any    `json:"properties"`
}

type sarifLocation struct {
	PhysicalLocation *sarifPhysical `json:"physicalLocation,omitempty"`
	LogicalLocations []sarifLogical `json:"logicalLocations,omitempty"`
}

type sarifPhysical struct {
	ArtifactLocation sarifArtifact `json:"artifactLocation"`
	Region           *sarifRegion  `json:"region,omitempty"`
}

type sarifArtifact struct {
	URI string `json:"uri"`
}

type sarifRegion struct {
	StartLine  int    `json:"startLine,omitempty"`
	ByteOffset *int64 `json:"byteOffset,omitempty"`
	ByteLength int64  `json:"byteLength,omitempty"`
}

type sarifLogical struct {
	FullyQualifiedName string `json:"fullyQualifiedName"`
	Kind               string `json:"kind,omitempty"`
}

func sarifLevel(s analyzer.Severity) string {
	switch {
	case s >= analyzer.High:
		return "error"
	case s == analyzer.Medium:
		return "warning"
	}
	return "note"
}

// securitySeverity is GitHub code scanning's 0-10 scale (critical ≥ 9, high ≥ 7, …).
var securitySeverity = map[analyzer.Severity]string{analyzer.Critical: "9.5", analyzer.High: "8.0", analyzer.Medium: "5.5", analyzer.Low: "3.0", analyzer.Info: "0.0"}

// fileURI is a location's file as a URI reference: file:///abs/path for an absolute
// path, a relative reference otherwise (percent-encoded either way).
func fileURI(p string) string {
	p = filepath.ToSlash(p)
	if strings.HasPrefix(p, "/") {
		return (&url.URL{Scheme: "file", Path: p}).String()
	}
	return (&url.URL{Path: p}).String()
}

func writeSARIF(w io.Writer, r *Report) error {
	// SARIF wants a version that starts with a number; a development build has none
	// (a pre-release of 0.0.0, in semver's terms)
	ver, semver := r.ToolVersion, ""
	if ver == "" || ver[0] < '0' || ver[0] > '9' {
		ver, semver = "", "0.0.0-"+strings.Map(func(r rune) rune {
			if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' {
				return r
			}
			return '-'
		}, dash(r.ToolVersion))
	}
	run := sarifRun{Tool: sarifTool{Driver: sarifDriver{Name: "kubesleuth", Version: ver, SemVer: semver,
		InformationURI: "https://github.com/kubesleuth/kubesleuth", Rules: []sarifRule{}}}, Results: []sarifResult{}}
	index := map[string]int{}
	for _, t := range r.Rules {
		index[t.ID] = len(run.Tool.Driver.Rules)
		help := strings.TrimSpace(t.Description + "\n\nRemediation: " + t.Remediation)
		helpMD := "**" + md(t.Title) + "**\n\n" + md(t.Description) + "\n\n**Remediation:** " + md(t.Remediation)
		if len(t.References) > 0 {
			help += "\n\nReferences: " + strings.Join(t.References, "; ")
			helpMD += "\n\n**References:**\n"
			for _, ref := range t.References {
				helpMD += "\n- " + md(ref)
			}
		}
		full := t.Description
		if full == "" {
			full = t.Title
		}
		sr := sarifRule{ID: t.ID, Name: ruleName(t), ShortDescription: sarifText{Text: t.Title}, FullDescription: sarifText{Text: full},
			Help: sarifText{Text: help, Markdown: helpMD}, DefaultConfiguration: sarifConfig{Level: sarifLevel(t.Severity)},
			Properties: map[string]any{"tags": append([]string{"security", t.Tactic}, t.MITRE...), "security-severity": securitySeverity[t.Severity], "source": t.Source}}
		for _, ref := range t.References {
			if strings.HasPrefix(ref, "https://") {
				sr.HelpURI = ref
				break
			}
		}
		run.Tool.Driver.Rules = append(run.Tool.Driver.Rules, sr)
	}
	for _, f := range r.Findings {
		res := sarifResult{RuleID: f.RuleID, RuleIndex: index[f.RuleID], Level: sarifLevel(f.Severity),
			Message:             sarifText{Text: f.Title + ": " + f.Message},
			PartialFingerprints: map[string]string{"kubesleuthFinding/v1": f.Fingerprint},
			Properties: map[string]any{"severity": f.Severity.String(), "subject": f.Subject.String(), "count": f.Count,
				"firstSeen": fmtTv(f.FirstSeen), "lastSeen": fmtTv(f.LastSeen), "auditIDs": f.AuditIDs, "tactic": f.Tactic}}
		loc := sarifLocation{}
		if f.Location != nil {
			loc.PhysicalLocation = &sarifPhysical{ArtifactLocation: sarifArtifact{URI: fileURI(f.Location.File)}}
			switch {
			case f.Location.Line > 0:
				loc.PhysicalLocation.Region = &sarifRegion{StartLine: f.Location.Line}
			case f.Location.Size > 0: // the whole file (a snapshot)
				zero := int64(0)
				loc.PhysicalLocation.Region = &sarifRegion{ByteOffset: &zero, ByteLength: f.Location.Size}
			}
		}
		if f.Subject.Key != "" {
			loc.LogicalLocations = []sarifLogical{{FullyQualifiedName: f.Subject.Key, Kind: "object"}}
		} else if s := f.Subject.String(); s != "-" {
			loc.LogicalLocations = []sarifLogical{{FullyQualifiedName: s, Kind: "object"}}
		}
		if loc.PhysicalLocation != nil || loc.LogicalLocations != nil {
			res.Locations = []sarifLocation{loc}
		}
		run.Results = append(run.Results, res)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(sarifLog{Schema: "https://json.schemastore.org/sarif-2.1.0.json", Version: "2.1.0", Runs: []sarifRun{run}})
}

// ruleName is the rule's title as one PascalCase word (SARIF's name: readable, not the
// opaque id).
func ruleName(t RuleText) string {
	var b strings.Builder
	for _, w := range strings.FieldsFunc(t.Title, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
	}) {
		b.WriteString(strings.ToUpper(w[:1]) + w[1:])
	}
	if b.Len() == 0 {
		return "Rule" + strings.ReplaceAll(t.ID, "-", "")
	}
	return b.String()
}

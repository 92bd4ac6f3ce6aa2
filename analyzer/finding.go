// Package analyzer holds the domain types every part of kubesleuth shares (Finding,
// Severity, Subject) and the detection Engine that turns audit events into findings.
//
// Sources (ingest/...) never import this package's Engine; views (index, report, tui)
// read Findings. The audit event itself is the upstream auditv1.Event, never a copy.
package analyzer

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/kubesleuth/kubesleuth/analyzer/redact"
)

// Severity orders how urgently a finding needs a human. The zero value is Info.
type Severity int

const (
	Info Severity = iota
	Low
	Medium
	High
	Critical
)

var severityNames = [...]string{"info", "low", "medium", "high", "critical"}

// Severities lists every severity from lowest to highest.
func Severities() []Severity { return []Severity{Info, Low, Medium, High, Critical} }

func (s Severity) String() string {
	if s < Info || s > Critical {
		return fmt.Sprintf("severity(%d)", int(s))
	}
	return severityNames[s]
}

// ParseSeverity accepts the lowercase names (any case) used in rule files and flags.
func ParseSeverity(s string) (Severity, error) {
	for i, n := range severityNames {
		if strings.EqualFold(strings.TrimSpace(s), n) {
			return Severity(i), nil
		}
	}
	return Info, fmt.Errorf("unknown severity %q (want one of %s)", s, strings.Join(severityNames[:], ", "))
}

func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// Subject is who or what a finding is about. Audit findings name an identity and/or an
// object; etcd findings name the etcd key. Empty fields are omitted from JSON.
type Subject struct {
	User string `json:"user,omitempty"`
	// Impersonated is the user User acted as (Impersonate-User), when it did.
	Impersonated string `json:"impersonated_user,omitempty"`
	SourceIP     string `json:"source_ip,omitempty"`
	UserAgent    string `json:"user_agent,omitempty"`
	Namespace    string `json:"namespace,omitempty"`
	Resource     string `json:"resource,omitempty"`
	Subresource  string `json:"subresource,omitempty"`
	Name         string `json:"name,omitempty"`
	// Key is the etcd key (e.g. /registry/secrets/ns/name) for at-rest findings.
	Key string `json:"key,omitempty"`
}

// Redacted returns the subject with every field passed through the redactor (a username
// or user agent that holds a token, an object named like a credential).
func (s Subject) Redacted() Subject {
	r := redact.String
	return Subject{User: r(s.User), Impersonated: r(s.Impersonated), SourceIP: r(s.SourceIP), UserAgent: r(s.UserAgent),
		Namespace: r(s.Namespace), Resource: r(s.Resource), Subresource: r(s.Subresource), Name: r(s.Name), Key: r(s.Key)}
}

// Redacted returns a copy of f whose every string passed through the redactor. The
// engine makes findings this way; stores and writers call it again on findings from
// elsewhere (a saved state, a JSON report read back).
func (f Finding) Redacted() Finding {
	f.Subject = f.Subject.Redacted()
	f.Message = redact.String(f.Message)
	f.Title = redact.String(f.Title)
	f.Author = redact.String(f.Author)
	if len(f.AuditIDs) > 0 {
		ids := make([]string, len(f.AuditIDs))
		for i, id := range f.AuditIDs {
			ids[i] = redact.String(id)
		}
		f.AuditIDs = ids
	}
	return f
}

// String renders the subject compactly for tables: "user → ns/resource/name".
func (s Subject) String() string {
	var obj []string
	for _, p := range []string{s.Namespace, s.Resource, s.Name} {
		if p != "" {
			obj = append(obj, p)
		}
	}
	o := strings.Join(obj, "/")
	if s.Subresource != "" {
		o += "/" + s.Subresource
	}
	if s.Key != "" {
		o = s.Key
	}
	u := s.User
	if u != "" && s.Impersonated != "" {
		u += " (as " + s.Impersonated + ")"
	}
	switch {
	case u != "" && o != "":
		return u + " → " + o
	case u != "":
		return u
	case o != "":
		return o
	case s.SourceIP != "":
		return s.SourceIP
	}
	return "-"
}

// Finding is one conclusion with its evidence. Repeats of one rule on one subject within
// the rule's window are folded into one Finding with Count > 1.
type Finding struct {
	RuleID    string    `json:"rule_id"`
	Title     string    `json:"title"`
	Severity  Severity  `json:"severity"`
	MITRE     []string  `json:"mitre"`
	Subject   Subject   `json:"subject"`
	AuditIDs  []string  `json:"audit_ids"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	Count     int       `json:"count"`
	Message   string    `json:"message"`

	// Author and References attribute the finding to the rule's author, for rules whose
	// license asks for it (Sigma's DRL 1.1); see Attribute.
	Author     string   `json:"author,omitempty"`
	References []string `json:"references,omitempty"`
}

// MarshalJSON keeps list fields as [] rather than null so consumers can iterate blindly.
func (f Finding) MarshalJSON() ([]byte, error) {
	type plain Finding
	p := plain(f)
	if p.MITRE == nil {
		p.MITRE = []string{}
	}
	if p.AuditIDs == nil {
		p.AuditIDs = []string{}
	}
	return json.Marshal(p)
}

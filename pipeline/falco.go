package pipeline

import (
	"crypto/sha256"
	"fmt"
	"strings"

	"github.com/kubesleuth/kubesleuth/analyzer"
	"github.com/kubesleuth/kubesleuth/index"
)

// FalcoPayload is an alert in Falco's JSON output format, the body falcosidekick's
// FalcoPayload decodes (and fans out to its outputs): exactly these fields and types.
type FalcoPayload struct {
	UUID         string         `json:"uuid"`
	Output       string         `json:"output"`
	Priority     string         `json:"priority"`
	Rule         string         `json:"rule"`
	Time         string         `json:"time"`
	OutputFields map[string]any `json:"output_fields"`
	Source       string         `json:"source"`
	Tags         []string       `json:"tags"`
	Hostname     string         `json:"hostname"`
}

// falcoTime is RFC 3339 with nanoseconds, all nine digits, as Falco writes it.
const falcoTime = "2006-01-02T15:04:05.000000000Z07:00"

// FalcoPriority maps a severity to Falco's priorities (Emergency, Alert, Critical,
// Error, Warning, Notice, Informational, Debug): critical → Critical, high → Error,
// medium → Warning, low → Notice, info → Informational.
func FalcoPriority(s analyzer.Severity) string {
	switch s {
	case analyzer.Critical:
		return "Critical"
	case analyzer.High:
		return "Error"
	case analyzer.Medium:
		return "Warning"
	case analyzer.Low:
		return "Notice"
	}
	return "Informational"
}

// NewFalcoPayload renders one alert (kind "new" or "repeat", the count it adds, the
// auditIDs it adds) as Falco does: the time is the finding's first event for "new", its
// last for "repeat"; output_fields carry the subject, the audit_ids and the fields
// falco's k8saudit rules name (ka.user.name, k8s.ns.name, ka.target.*); the uuid is
// derived from the finding and the alert, so that an alert written again after a
// restart has the same uuid. Source is "k8s_audit", as the k8saudit plugin's.
func NewFalcoPayload(kind string, f analyzer.Finding, added int, ids []string, hostname string) FalcoPayload {
	t := f.FirstSeen
	if kind == "repeat" {
		t = f.LastSeen
	}
	if ids == nil {
		ids = []string{}
	}
	prio := FalcoPriority(f.Severity)
	msg := f.Message
	if kind == "repeat" {
		msg = fmt.Sprintf("repeated %d more time(s), %d in all: %s", added, f.Count, f.Message)
	}
	out := fmt.Sprintf("%s: %s: %s (subject=%s rule_id=%s)", t.UTC().Format(falcoTime), prio, msg, f.Subject.String(), f.RuleID)
	fields := map[string]any{
		"subject":             f.Subject.String(),
		"audit_ids":           ids,
		"kubesleuth.rule_id":  f.RuleID,
		"kubesleuth.alert":    kind,
		"kubesleuth.count":    f.Count,
		"kubesleuth.added":    added,
		"kubesleuth.severity": f.Severity.String(),
	}
	for k, v := range map[string]string{"ka.user.name": f.Subject.User, "ka.impuser.name": f.Subject.Impersonated, "k8s.ns.name": f.Subject.Namespace,
		"ka.target.resource": f.Subject.Resource, "ka.target.name": f.Subject.Name, "ka.target.subresource": f.Subject.Subresource, "ka.sourceips": f.Subject.SourceIP} {
		if v != "" {
			fields[k] = v
		}
	}
	tags := []string{"k8s", "kubesleuth", f.Severity.String()}
	for _, m := range f.MITRE {
		tags = append(tags, strings.ToLower(m))
	}
	first := ""
	if len(ids) > 0 {
		first = ids[0]
	}
	h := sha256.Sum256([]byte(index.FindingID(f) + "\x00" + kind + "\x00" + first + "\x00" + fmt.Sprint(f.Count)))
	h[6] = h[6]&0x0f | 0x50 // version 5 (name-based, SHA)
	h[8] = h[8]&0x3f | 0x80 // RFC 4122 variant
	uuid := fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
	rule := f.Title
	if rule == "" {
		rule = f.RuleID
	}
	return FalcoPayload{UUID: uuid, Output: out, Priority: prio, Rule: rule, Time: t.UTC().Format(falcoTime),
		OutputFields: fields, Source: "k8s_audit", Tags: tags, Hostname: hostname}
}

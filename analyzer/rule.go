package analyzer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"

	"github.com/kubesleuth/kubesleuth/analyzer/rules"
)

// Rule kinds.
const (
	KindMatch     = "match"
	KindThreshold = "threshold"
	KindDistinct  = "distinct"
	KindFirstSeen = "first_seen"
	KindSequence  = "sequence"
	KindGap       = "gap"
)

// What a rule's body needs (Rule.Needs): the request body, the response body, or either
// (object: the object as stored, or what the request wrote when that is all the log has).
const (
	NeedsRequest  = "request"
	NeedsResponse = "response"
	NeedsObject   = "object"
)

// Rule is one detection, as written in a rule file (see analyzer/rules/README.md).
type Rule struct {
	ID          string     `json:"id"`
	Title       string     `json:"title"`
	Severity    Severity   `json:"severity"`
	MITRE       []string   `json:"mitre"`
	Description string     `json:"description"`
	Remediation string     `json:"remediation"`
	References  []string   `json:"references"`
	Kind        string     `json:"kind,omitempty"`
	On          *Prefilter `json:"on,omitempty"`
	Needs       string     `json:"needs,omitempty"`
	Match       string     `json:"match,omitempty"`
	Message     string     `json:"message,omitempty"`
	Subject     []string   `json:"subject,omitempty"`
	Fold        Duration   `json:"fold,omitempty"`
	Key         string     `json:"key,omitempty"`
	Field       string     `json:"field,omitempty"`
	Window      Duration   `json:"window,omitempty"`
	Threshold   int        `json:"threshold,omitempty"`
	Learning    Duration   `json:"learning,omitempty"`
	Within      Duration   `json:"within,omitempty"`
	Steps       []Step     `json:"steps,omitempty"`
	MaxKeys     int        `json:"max_keys,omitempty"`
	// Where are checks against what the engine knows of the cluster (its networks, its
	// control-plane nodes), learned from the log and the configuration; they run in the
	// serial stage, after the match, at the time of the event.
	Where *Where `json:"where,omitempty"`

	// Author and FalsePositives come from rule formats that carry them (Sigma). A rule
	// whose license asks for attribution (Sigma's DRL 1.1) keeps its author and
	// references visible wherever its findings are shown.
	Author         string   `json:"author,omitempty"`
	FalsePositives []string `json:"falsepositives,omitempty"`

	// Source is the file the rule was read from ("builtin:exec.yaml" for the catalog).
	Source string `json:"-"`
}

// Prefilter is the cheap test before any CEL: each non-empty list must contain the
// event's value.
type Prefilter struct {
	Verbs     []string `json:"verbs,omitempty"`
	Resources []string `json:"resources,omitempty"`
	// ExcludeResources: resources the rule never applies to (high-volume ones).
	ExcludeResources []string `json:"exclude_resources,omitempty"`
	Subresources     []string `json:"subresources,omitempty"`
	Stages           []string `json:"stages,omitempty"`
	// Users are identities (exact, or a prefix ending in '*'); Codes response codes;
	// Levels audit levels.
	Users []string `json:"users,omitempty"`
	// Namespaces of the object; Impersonated: only requests made as another identity.
	Namespaces   []string `json:"namespaces,omitempty"`
	Impersonated bool     `json:"impersonated,omitempty"`
	Codes        []int    `json:"codes,omitempty"`
	Levels       []string `json:"levels,omitempty"`
	// Body lists byte strings of which the raw body the rule needs (request or
	// response) must contain one; bodies without any are not parsed at all.
	Body []string `json:"body,omitempty"`
	// BodySecrets: the body the rule needs must be one the redactor may change
	// (analyzer/redact.MayHold, a pass over its bytes): bodies that cannot hold secret
	// material are not parsed.
	BodySecrets bool `json:"body_secrets,omitempty"`
	// URI lists byte strings of which the requestURI must contain one (a token's "eyJ"):
	// other events are rejected before any CEL.
	URI []string `json:"uri,omitempty"`
	// Any lists alternatives: besides the fields above, the event must pass one of them
	// (secrets read or written, or any verb on pods/exec). Their stages are the rule's.
	Any []Prefilter `json:"any,omitempty"`
}

// Where holds a rule's checks against learned cluster facts.
type Where struct {
	// SourceOutsideCluster: the event's first source address must lie outside the
	// cluster's networks (Allowlists.ClusterNetworks, the addresses node identities use,
	// the nodes' pod CIDRs and addresses); without configured networks every non-public
	// address counts as inside.
	SourceOutsideCluster bool `json:"source_outside_cluster,omitempty"`
	// ControlPlaneNode is a CEL expression returning a node name: when it is not "", the
	// node must be a control-plane node (labelled node-role.kubernetes.io/control-plane or
	// master in a Node object of the log, or listed in Allowlists.ControlPlaneNodes).
	ControlPlaneNode string `json:"control_plane_node,omitempty"`
	// Grows is a CEL expression returning a list of strings the object holds (a
	// binding's subjects): the match counts only when the list holds an item the same
	// object (namespace, resource, name) did not hold when the engine last saw it, or
	// when it has not seen the object. It is evaluated on every event the rule's
	// prefilter passes, matched or not, so that creates and reads teach the engine the
	// object's items.
	Grows string `json:"grows,omitempty"`
}

// Step is one step of a sequence rule.
type Step struct {
	Name  string     `json:"name"`
	On    *Prefilter `json:"on,omitempty"`
	Match string     `json:"match"`
	Key   string     `json:"key,omitempty"`
	// Needs is the body the step reads (as Rule.Needs): where the log lacks it, the rule
	// is counted not evaluable on that event.
	Needs string `json:"needs,omitempty"`
	// After is the least time since the previous step (e.g. longer than a pod's grace
	// period, so that a token used while its pod shuts down is not a theft).
	After Duration `json:"after,omitempty"`
}

// Duration reads "10m", "1h30m" in rule files.
type Duration time.Duration

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string like \"10m\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// D is the duration as time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

type ruleFile struct {
	Rules []Rule `json:"rules"`
}

// RuleError names the file, the rule and what is wrong with it.
type RuleError struct {
	File, RuleID string
	Err          error
}

func (e *RuleError) Error() string {
	if e.RuleID == "" {
		return fmt.Sprintf("%s: %v", e.File, e.Err)
	}
	return fmt.Sprintf("%s: rule %s: %v", e.File, e.RuleID, e.Err)
}

func (e *RuleError) Unwrap() error { return e.Err }

// BuiltinRules returns the embedded catalog, sorted by ID.
func BuiltinRules() ([]*Rule, error) {
	var all []*Rule
	err := fs.WalkDir(rules.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".yaml") || p == "allowlist.yaml" {
			return err
		}
		b, err := rules.FS.ReadFile(p)
		if err != nil {
			return err
		}
		rs, err := ParseRules(b, "builtin:"+p)
		all = append(all, rs...)
		return err
	})
	if err != nil {
		return nil, err
	}
	return all, checkUnique(all)
}

// LoadRuleFiles reads rule files, or every *.yaml/*.yml file below a folder.
func LoadRuleFiles(paths ...string) ([]*Rule, error) {
	var all []*Rule
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		var files []string
		if st.IsDir() {
			err = filepath.WalkDir(p, func(f string, d fs.DirEntry, err error) error {
				if err == nil && !d.IsDir() && (strings.HasSuffix(f, ".yaml") || strings.HasSuffix(f, ".yml")) {
					files = append(files, f)
				}
				return err
			})
			if err != nil {
				return nil, err
			}
			sort.Strings(files)
		} else {
			files = []string{p}
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				return nil, err
			}
			rs, err := ParseRules(b, f)
			if err != nil {
				return nil, err
			}
			all = append(all, rs...)
		}
	}
	return all, checkUnique(all)
}

var idRe = regexp.MustCompile(`^[A-Z][A-Z0-9]*(-[A-Z0-9]+)+$`)

// ParseRules reads one rule file and checks each rule's fields (not its CEL: NewEngine
// compiles that, and names file, rule and CEL error when it fails).
func ParseRules(b []byte, file string) ([]*Rule, error) {
	var rf ruleFile
	if err := strictYAML(b, &rf); err != nil {
		return nil, &RuleError{File: file, Err: err}
	}
	if len(bytes.TrimSpace(b)) > 0 && rf.Rules == nil {
		return nil, &RuleError{File: file, Err: fmt.Errorf("no rules: a rule file is a list under \"rules:\"")}
	}
	out := make([]*Rule, 0, len(rf.Rules))
	for i := range rf.Rules {
		r := &rf.Rules[i]
		r.Source = file
		if err := r.validate(); err != nil {
			return nil, &RuleError{File: file, RuleID: r.ID, Err: err}
		}
		out = append(out, r)
	}
	return out, nil
}

func (r *Rule) validate() error {
	if !idRe.MatchString(r.ID) {
		return fmt.Errorf("id %q must look like KS-AREA-001", r.ID)
	}
	if r.Title == "" {
		return fmt.Errorf("title is required")
	}
	if r.Kind == "" {
		r.Kind = KindMatch
	}
	switch r.Needs {
	case "", "none":
		r.Needs = ""
	case NeedsRequest, NeedsResponse, NeedsObject:
	default:
		return fmt.Errorf("needs: %q (want none, request, response or object)", r.Needs)
	}
	if r.Where != nil && r.Kind != KindMatch {
		return fmt.Errorf("where: only match rules take it")
	}
	for _, s := range r.Subject {
		switch s {
		case "user", "source_ip", "user_agent", "object":
		default:
			return fmt.Errorf("subject: unknown part %q (want user, source_ip, user_agent, object)", s)
		}
	}
	if len(r.Subject) == 0 {
		r.Subject = []string{"user", "object"}
	}
	if r.Fold == 0 {
		r.Fold = Duration(time.Hour)
	}
	if r.MaxKeys == 0 {
		r.MaxKeys = 10000
	}
	need := func(ok bool, what string) error {
		if !ok {
			return fmt.Errorf("kind %s needs %s", r.Kind, what)
		}
		return nil
	}
	var err error
	switch r.Kind {
	case KindMatch:
		err = need(r.Match != "", "match")
	case KindThreshold:
		err = firstErr(need(r.Match != "", "match"), need(r.Key != "", "key"), need(r.Window > 0, "window"), need(r.Threshold > 0, "threshold"))
	case KindDistinct:
		err = firstErr(need(r.Match != "", "match"), need(r.Key != "", "key"), need(r.Field != "", "field"), need(r.Window > 0, "window"), need(r.Threshold > 0, "threshold"))
	case KindFirstSeen:
		err = firstErr(need(r.Match != "", "match"), need(r.Key != "", "key"))
	case KindGap:
		err = firstErr(need(r.Match != "", "match"), need(r.Key != "", "key"), need(r.Window > 0, "window"))
	case KindSequence:
		err = firstErr(need(len(r.Steps) >= 2, "at least two steps"), need(len(r.Steps) <= maxSteps, "at most 8 steps"), need(r.Within > 0, "within"))
		for i, s := range r.Steps {
			if s.Match == "" {
				err = firstErr(err, fmt.Errorf("step %d (%s) needs match", i+1, s.Name))
			}
			if s.Key == "" && r.Key == "" {
				err = firstErr(err, fmt.Errorf("step %d (%s) needs a key (or the rule one)", i+1, s.Name))
			}
			switch s.Needs {
			case "", NeedsRequest, NeedsResponse, NeedsObject:
			default:
				err = firstErr(err, fmt.Errorf("step %d (%s): needs: %q (want request, response or object)", i+1, s.Name, s.Needs))
			}
		}
	default:
		err = fmt.Errorf("unknown kind %q (want match, threshold, distinct, first_seen, sequence, gap)", r.Kind)
	}
	return err
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

func checkUnique(rs []*Rule) error {
	seen := map[string]string{}
	for _, r := range rs {
		if prev, ok := seen[r.ID]; ok {
			return &RuleError{File: r.Source, RuleID: r.ID, Err: fmt.Errorf("id also used in %s", prev)}
		}
		seen[r.ID] = r.Source
	}
	return nil
}

// strictYAML decodes YAML 1.2 (where the key "on" is a string, not YAML 1.1's boolean)
// through JSON, so that the json tags apply and unknown fields are errors.
func strictYAML(b []byte, v any) error {
	var doc any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return err
	}
	j, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

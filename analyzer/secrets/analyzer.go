// Package secrets judges encryption at rest from the records ingest/etcd reads: which
// secrets anyone holding the etcd data can read, which sit under a stale or missing key,
// which plaintext history survives encryption, and what else in the store looks like a
// credential. With an EncryptionConfiguration it also decrypts each value with the
// apiserver's own transformers, to prove the configured keys really open it.
//
// It never keeps, prints or returns a value: only names, types, data key names (on
// request) and fingerprints (the first 12 hex digits of a SHA-256) for equality.
package secrets

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kubesleuth/kubesleuth/analyzer"
	"github.com/kubesleuth/kubesleuth/analyzer/redact"
	"github.com/kubesleuth/kubesleuth/ingest/etcd"
)

// States of a stored value.
const (
	StatePlaintext   = "plaintext"
	StateEncrypted   = "encrypted"
	StateUndecodable = "undecodable"
	// StateDeleted marks a secret whose latest revision is a deletion (snapshots only):
	// listed because its older revisions are still in the file.
	StateDeleted = "deleted"
)

// Decryption outcomes (with --encryption-config).
const (
	DecryptOK        = "ok"
	DecryptFailed    = "failed"
	DecryptNoKey     = "no-key"
	DecryptNeedsKMS  = "needs-kms-plugin"
	DecryptPlaintext = ""
)

// Options configure an Analyzer.
type Options struct {
	// Config, when set, is the apiserver's EncryptionConfiguration to judge against.
	Config *Config
	// ShowKeys lists each secret's data key names (never values).
	ShowKeys bool
}

// Secret is one secret's latest state. Encrypted secrets have an empty Type unless the
// configuration's keys opened them.
type Secret struct {
	Key                   string   `json:"key"`
	Namespace             string   `json:"namespace"`
	Name                  string   `json:"name"`
	Type                  string   `json:"type"`
	Revision              int64    `json:"revision"`
	State                 string   `json:"state"`
	Provider              string   `json:"provider"`
	KeyName               string   `json:"key_name"`
	OldPlaintextRevisions int      `json:"old_plaintext_revisions"`
	OldRevisions          int      `json:"old_revisions"`
	Deleted               bool     `json:"deleted,omitempty"`
	KMSKeyID              string   `json:"kms_key_id,omitempty"`
	KeyStatus             string   `json:"key_status,omitempty"`
	Decryption            string   `json:"decryption,omitempty"`
	Fingerprint           string   `json:"fingerprint,omitempty"`
	CurrentValueExposed   bool     `json:"current_value_exposed,omitempty"`
	DataKeys              []string `json:"data_keys,omitempty"`
	Error                 string   `json:"error,omitempty"`
}

// Remnant is a secret revision carved from freed pages of a snapshot.
type Remnant struct {
	Key         string   `json:"key"`
	Namespace   string   `json:"namespace"`
	Name        string   `json:"name"`
	Type        string   `json:"type"`
	Revision    int64    `json:"revision"`
	State       string   `json:"state"`
	Provider    string   `json:"provider"`
	KeyName     string   `json:"key_name"`
	Fingerprint string   `json:"fingerprint,omitempty"`
	DataKeys    []string `json:"data_keys,omitempty"`
}

// StateCounts counts values by state.
type StateCounts struct {
	Total       int `json:"total"`
	Plaintext   int `json:"plaintext"`
	Encrypted   int `json:"encrypted"`
	Undecodable int `json:"undecodable,omitempty"`
}

func (c *StateCounts) add(state string) {
	c.Total++
	switch state {
	case StatePlaintext:
		c.Plaintext++
	case StateEncrypted:
		c.Encrypted++
	default:
		c.Undecodable++
	}
}

// UndecodableValue names a value that could not be decoded, by key and revision.
type UndecodableValue struct {
	Key      string `json:"key"`
	Revision int64  `json:"revision"`
	Error    string `json:"error"`
}

// Summary is the totals of one analysis. Source, SnapshotSHA256 and Carve are filled by
// the caller, which knows where the records came from.
type Summary struct {
	Source                string                  `json:"source"`
	SnapshotSHA256        string                  `json:"snapshot_sha256,omitempty"`
	EncryptionConfig      string                  `json:"encryption_config,omitempty"`
	Revisions             int                     `json:"revisions"`
	Secrets               int                     `json:"secrets"`
	DeletedSecrets        int                     `json:"deleted_secrets"`
	ByState               map[string]int          `json:"by_state"`
	ByNamespace           map[string]*StateCounts `json:"by_namespace"`
	ByType                map[string]*StateCounts `json:"by_type"`
	ByProvider            map[string]int          `json:"by_provider"`
	ByKeyStatus           map[string]int          `json:"by_key_status,omitempty"`
	OldPlaintextRevisions int                     `json:"old_plaintext_revisions"`
	// Resources counts values by resource: the latest value of each key for secrets,
	// configmaps and what the config encrypts (followed key by key), every stored
	// revision for the rest (only counted, to keep memory flat on large stores).
	Resources         map[string]*StateCounts `json:"resources"`
	Remnants          int                     `json:"remnants"`
	Carve             *etcd.CarveStats        `json:"carve,omitempty"`
	Undecodable       int                     `json:"undecodable"`
	UndecodableValues []UndecodableValue      `json:"undecodable_values"`
	Elapsed           string                  `json:"elapsed,omitempty"`
}

// Report is the analysis result: the -o json document of `kubesleuth etcd`.
type Report struct {
	Summary  Summary            `json:"summary"`
	Secrets  []Secret           `json:"secrets"`
	Remnants []Remnant          `json:"remnants"`
	Findings []analyzer.Finding `json:"findings"`
}

// version is what is kept of one revision: no value, only what describes it.
type version struct {
	mod        int64
	deleted    bool
	state      string
	provider   string
	keyName    string
	kmsKeyID   string
	typ        string
	fp         string
	keyStatus  string
	decryption string
	err        string
	dataKeys   []string
	cmHits     []cmHit
}

type cmHit struct{ key, pattern, fp string }

type oldRev struct {
	mod       int64
	plaintext bool
	fp        string
}

type entry struct {
	rk    etcd.ResourceKey
	cur   *version
	older []oldRev
}

// Analyzer accumulates records (in any order) and produces a Report. It is not safe for
// concurrent use.
type Analyzer struct {
	opts      Options
	ctx       context.Context
	entries   map[string]*entry
	other     map[string]*StateCounts
	revisions int
	undec     []UndecodableValue
	remnants  []Remnant
	hash      string
	strs      map[string]string
}

// intern returns one shared copy of s: provider, key and type names repeat across
// every secret, and a large snapshot holds hundreds of thousands of them.
func (a *Analyzer) intern(s string) string {
	if s == "" {
		return ""
	}
	if v, ok := a.strs[s]; ok {
		return v
	}
	if len(a.strs) < 4096 {
		a.strs[s] = s
	}
	return s
}

// New returns an Analyzer. ctx bounds decryption calls.
func New(ctx context.Context, o Options) *Analyzer {
	return &Analyzer{opts: o, ctx: ctx, entries: map[string]*entry{}, other: map[string]*StateCounts{}, strs: map[string]string{}}
}

var (
	grSecrets    = schema.GroupResource{Resource: "secrets"}
	grConfigMaps = schema.GroupResource{Resource: "configmaps"}
)

// tracked says whether a resource's keys are followed one by one (secrets, configmaps,
// and whatever the configuration encrypts); other resources are only counted.
func (a *Analyzer) tracked(gr schema.GroupResource) bool {
	if gr == grSecrets || gr == grConfigMaps {
		return true
	}
	if a.opts.Config != nil {
		_, ok := a.opts.Config.ProvidersFor(gr)
		return ok
	}
	return false
}

// SetSnapshotHash records the snapshot's checksum state (etcd.HashOK, HashMismatch,
// HashAbsent) so that a mismatch becomes a finding.
func (a *Analyzer) SetSnapshotHash(state string) { a.hash = state }

// Observe takes one revision from a snapshot or a live etcd.
// maxKeyLen: no apiserver key is longer (names are at most 253 bytes); a longer key is
// shown as a preview with its length and fingerprint, never whole (a hostile snapshot
// could make every output line megabytes long).
const maxKeyLen = 1024

func clipKey(rec *etcd.Record) {
	if len(rec.Key) > maxKeyLen {
		rec.Key = redact.Preview(rec.Key, 200)
	}
}

func (a *Analyzer) Observe(rec etcd.Record) {
	clipKey(&rec)
	a.revisions++
	if rec.Err != nil {
		a.undec = append(a.undec, UndecodableValue{Key: keyOrRev(rec), Revision: rec.ModRevision, Error: rec.Err.Error()})
		return
	}
	rk, ok := etcd.ParseResourceKey(rec.Key)
	if !ok {
		return
	}
	gr := schema.GroupResource{Group: rk.Group, Resource: rk.Resource}
	if !a.tracked(gr) {
		if !rec.Deleted {
			c := a.other[resourceName(gr)]
			if c == nil {
				c = &StateCounts{}
				a.other[resourceName(gr)] = c
			}
			env, err := etcd.ParseEnvelope(rec.Value)
			switch {
			case err != nil:
				c.add(StateUndecodable)
			case env.Encoding == etcd.EncEncrypted:
				c.add(StateEncrypted)
			default:
				c.add(StatePlaintext)
			}
		}
		return
	}
	v := a.examine(rec, gr)
	e := a.entries[rec.Key]
	if e == nil {
		e = &entry{rk: rk}
		a.entries[rec.Key] = e
	}
	switch {
	case e.cur == nil:
		e.cur = v
	case v.mod > e.cur.mod:
		e.older = append(e.older, e.cur.old())
		e.cur = v
	case v.mod < e.cur.mod:
		for _, o := range e.older {
			if o.mod == v.mod {
				return
			}
		}
		e.older = append(e.older, v.old())
	}
}

func (v *version) old() oldRev {
	return oldRev{mod: v.mod, plaintext: !v.deleted && v.state == StatePlaintext, fp: v.fp}
}

func keyOrRev(rec etcd.Record) string {
	if rec.Key != "" {
		return rec.Key
	}
	return fmt.Sprintf("(revision %d_%d)", rec.ModRevision, rec.SubRevision)
}

func resourceName(gr schema.GroupResource) string {
	if gr.Group == "" {
		return gr.Resource
	}
	return gr.Resource + "." + gr.Group
}

// examine classifies one revision, decrypting it when the configuration can.
func (a *Analyzer) examine(rec etcd.Record, gr schema.GroupResource) *version {
	v := &version{mod: rec.ModRevision, deleted: rec.Deleted}
	if rec.Deleted {
		return v
	}
	env, err := etcd.ParseEnvelope(rec.Value)
	if err != nil {
		v.state, v.err = StateUndecodable, err.Error()
		return v
	}
	cfg := a.opts.Config
	plain := rec.Value
	if env.Encoding == etcd.EncEncrypted {
		v.state, v.provider, v.keyName, v.kmsKeyID = StateEncrypted, a.intern(env.ProviderLabel()), a.intern(env.KeyName), a.intern(env.KMSKeyID)
		if cfg == nil {
			return v
		}
		v.keyStatus = cfg.KeyStatus(gr, v.provider, v.keyName)
		switch {
		case v.keyStatus == "absent":
			v.decryption = DecryptNoKey
			return v
		case env.Provider == "kms":
			v.decryption = DecryptNeedsKMS
			return v
		}
		out, err := cfg.Decrypt(a.ctx, gr, rec.Key, rec.Value)
		if err != nil {
			v.decryption, v.err = DecryptFailed, "decryption failed: "+err.Error()
			return v
		}
		if _, perr := etcd.ParseEnvelope(out); perr != nil {
			v.decryption, v.err = DecryptFailed, "decrypted to bytes that are not a Kubernetes object"
			return v
		}
		v.decryption, plain = DecryptOK, out
	} else {
		v.state, v.provider = StatePlaintext, "identity"
		if cfg != nil {
			if ps, ok := cfg.ProvidersFor(gr); ok {
				v.keyStatus = "absent"
				for i, p := range ps {
					if p.Kind == "identity" {
						v.keyStatus = map[bool]string{true: "current", false: "stale"}[i == 0]
						break
					}
				}
			}
		}
	}
	obj, err := etcd.DecodeObject(plain)
	if err != nil {
		if v.state == StateEncrypted {
			v.decryption, v.err = DecryptFailed, "decrypted value does not decode: "+err.Error()
		} else {
			v.state, v.err = StateUndecodable, err.Error()
		}
		return v
	}
	switch o := obj.(type) {
	case *corev1.Secret:
		v.typ = a.intern(string(o.Type))
		data := make(map[string][]byte, len(o.Data)+len(o.StringData))
		for k, b := range o.Data {
			data[k] = b
		}
		for k, s := range o.StringData {
			data[k] = []byte(s)
		}
		v.fp = fingerprintMap(data)
		if a.opts.ShowKeys {
			v.dataKeys = sortedKeys(data)
		}
	case *corev1.ConfigMap:
		for k, s := range o.Data {
			if p := secretLike(k, s); p != "" {
				v.cmHits = append(v.cmHits, cmHit{key: k, pattern: p, fp: Fingerprint([]byte(s))})
			}
		}
		for k, b := range o.BinaryData {
			if p := secretLike(k, string(b)); p != "" {
				v.cmHits = append(v.cmHits, cmHit{key: k, pattern: p, fp: Fingerprint(b)})
			}
		}
		sort.Slice(v.cmHits, func(i, j int) bool { return v.cmHits[i].key < v.cmHits[j].key })
	}
	return v
}

// WantsHistory selects the keys whose older revisions matter (etcd.LiveOptions.History):
// secrets, where plaintext history survives encryption.
func WantsHistory(key string) bool { return strings.HasPrefix(key, "/registry/secrets/") }

// ObserveRemnant takes a revision carved from free pages (etcd.Snapshot.Remnants).
func (a *Analyzer) ObserveRemnant(rec etcd.Record) {
	clipKey(&rec)
	rk, ok := etcd.ParseResourceKey(rec.Key)
	if !ok || rk.Resource != "secrets" || rk.Group != "" {
		return
	}
	v := a.examine(rec, grSecrets)
	r := Remnant{Key: rec.Key, Namespace: rk.Namespace, Name: rk.Name, Type: v.typ, Revision: rec.ModRevision,
		State: v.state, Provider: v.provider, KeyName: v.keyName, Fingerprint: v.fp, DataKeys: v.dataKeys}
	a.remnants = append(a.remnants, r)
}

// Fingerprint is the first 12 hex digits of the SHA-256 of b: enough to tell two values
// apart or equal, not enough to recover one.
func Fingerprint(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:6])
}

// fingerprintMap fingerprints a secret's whole data, independent of map order.
func fingerprintMap(m map[string][]byte) string {
	h := sha256.New()
	for _, k := range sortedKeys(m) {
		fmt.Fprintf(h, "%s\x00%d\x00", k, len(m[k]))
		h.Write(m[k])
	}
	return hex.EncodeToString(h.Sum(nil)[:6])
}

func sortedKeys(m map[string][]byte) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// Result builds the report: every secret's state, the remnants, the totals and the
// findings, most severe first. It releases what it has turned into the report as it
// goes (a large snapshot's peak memory is this moment), so call it once.
func (a *Analyzer) Result() Report {
	rep := Report{Secrets: make([]Secret, 0, len(a.entries)), Remnants: a.remnants, Findings: []analyzer.Finding{}}
	if rep.Remnants == nil {
		rep.Remnants = []Remnant{}
	}
	s := &rep.Summary
	s.Revisions = a.revisions
	s.ByState, s.ByProvider = map[string]int{}, map[string]int{}
	s.ByNamespace, s.ByType, s.Resources = map[string]*StateCounts{}, map[string]*StateCounts{}, map[string]*StateCounts{}
	for r, c := range a.other {
		s.Resources[r] = c
	}
	cfg := a.opts.Config
	if cfg != nil {
		s.EncryptionConfig = cfg.Path
	}
	undec := append([]UndecodableValue(nil), a.undec...)
	keys := make([]string, 0, len(a.entries))
	for k := range a.entries {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fs := make([]analyzer.Finding, 0, len(a.entries)/2)
	providerUse := map[string]int{}
	for _, k := range keys {
		e := a.entries[k]
		delete(a.entries, k)
		gr := schema.GroupResource{Group: e.rk.Group, Resource: e.rk.Resource}
		v := e.cur
		subj := analyzer.Subject{Key: k, Namespace: e.rk.Namespace, Resource: resourceName(gr), Name: e.rk.Name}
		if !v.deleted {
			rc := s.Resources[resourceName(gr)]
			if rc == nil {
				rc = &StateCounts{}
				s.Resources[resourceName(gr)] = rc
			}
			rc.add(v.state)
			if v.state == StateEncrypted {
				providerUse[v.provider]++
			}
			if v.state == StateUndecodable {
				undec = append(undec, UndecodableValue{Key: k, Revision: v.mod, Error: v.err})
				fs = append(fs, finding(RuleUndecodable, subj, fmt.Sprintf("revision %d of %s cannot be decoded: %s", v.mod, k, v.err)))
			}
		}
		if gr != grSecrets {
			fs = append(fs, a.otherFindings(e, gr, subj)...)
			continue
		}
		sec, f := a.secret(k, e, subj)
		fs = append(fs, f...)
		rep.Secrets = append(rep.Secrets, sec)
		s.OldPlaintextRevisions += sec.OldPlaintextRevisions
		if sec.Deleted {
			s.DeletedSecrets++
			continue
		}
		s.Secrets++
		s.ByState[sec.State]++
		ns := s.ByNamespace[sec.Namespace]
		if ns == nil {
			ns = &StateCounts{}
			s.ByNamespace[sec.Namespace] = ns
		}
		ns.add(sec.State)
		t := sec.Type
		if t == "" {
			t = "(unknown)"
		}
		ty := s.ByType[t]
		if ty == nil {
			ty = &StateCounts{}
			s.ByType[t] = ty
		}
		ty.add(sec.State)
		label := sec.Provider
		if sec.KeyName != "" {
			label += ":" + sec.KeyName
		}
		s.ByProvider[label]++
		if sec.KeyStatus != "" {
			if s.ByKeyStatus == nil {
				s.ByKeyStatus = map[string]int{}
			}
			s.ByKeyStatus[sec.KeyStatus]++
		}
	}
	for _, r := range rep.Remnants {
		subj := analyzer.Subject{Key: r.Key, Namespace: r.Namespace, Resource: "secrets", Name: r.Name}
		f := finding(RuleRemnant, subj, fmt.Sprintf("revision %d of secret %s/%s (%s%s) was carved from a freed page of the file: it is no longer in etcd's history, but anyone holding this file can read it%s",
			r.Revision, r.Namespace, r.Name, r.State, provNote(r.Provider, r.KeyName), fpNote(r.Fingerprint)))
		if r.State != StatePlaintext {
			f.Severity = analyzer.Low
		}
		fs = append(fs, f)
	}
	s.Remnants = len(rep.Remnants)
	fs = append(fs, a.configFindings(providerUse)...)
	if a.hash == etcd.HashMismatch {
		fs = append(fs, finding(RuleHashMismatch, analyzer.Subject{}, "the SHA-256 that etcd appended to the snapshot does not match the database: the file was changed after it was saved"))
	}
	s.Undecodable = len(undec)
	s.UndecodableValues = undec
	if s.UndecodableValues == nil {
		s.UndecodableValues = []UndecodableValue{}
	}
	sort.SliceStable(fs, func(i, j int) bool {
		if fs[i].Severity != fs[j].Severity {
			return fs[i].Severity > fs[j].Severity
		}
		if fs[i].RuleID != fs[j].RuleID {
			return fs[i].RuleID < fs[j].RuleID
		}
		return fs[i].Subject.Key < fs[j].Subject.Key
	})
	rep.Findings = fs
	return rep
}

func provNote(provider, key string) string {
	if provider == "" || provider == "identity" {
		return ""
	}
	if key == "" {
		return ", " + provider
	}
	return ", " + provider + " key " + key
}

func fpNote(fp string) string {
	if fp == "" {
		return ""
	}
	return " (value fingerprint " + fp + ")"
}

// secret builds one secret's entry and its findings.
func (a *Analyzer) secret(k string, e *entry, subj analyzer.Subject) (Secret, []analyzer.Finding) {
	v := e.cur
	sec := Secret{Key: k, Namespace: e.rk.Namespace, Name: e.rk.Name, Type: v.typ, Revision: v.mod, State: v.state,
		Provider: v.provider, KeyName: v.keyName, KMSKeyID: v.kmsKeyID, KeyStatus: v.keyStatus, Decryption: v.decryption,
		Fingerprint: v.fp, DataKeys: v.dataKeys, Error: v.err, Deleted: v.deleted, OldRevisions: len(e.older)}
	var oldFPs []string
	for _, o := range e.older {
		if o.plaintext {
			sec.OldPlaintextRevisions++
			if o.fp != "" && o.fp == v.fp {
				sec.CurrentValueExposed = true
			}
			oldFPs = append(oldFPs, o.fp)
		}
	}
	name := sec.Namespace + "/" + sec.Name
	var fs []analyzer.Finding
	if v.deleted {
		sec.State = StateDeleted
		if sec.OldPlaintextRevisions > 0 {
			fs = append(fs, finding(RuleDeletedPlaintext, subj, fmt.Sprintf("secret %s was deleted at revision %d, but %d plaintext revision(s) of it remain in etcd's history", name, v.mod, sec.OldPlaintextRevisions)))
		}
		return sec, fs
	}
	cfg := a.opts.Config
	switch v.state {
	case StatePlaintext:
		msg := fmt.Sprintf("secret %s (type %s, revision %d) is stored in plaintext: anyone holding this etcd data reads its value", name, orUnknown(v.typ), v.mod)
		if cfg != nil {
			if ps, ok := cfg.ProvidersFor(grSecrets); ok && ps[0].Kind != "identity" {
				msg += fmt.Sprintf("; the encryption config writes with %s, so this secret was written before encryption was enabled and never rewritten", ps[0].Label())
			}
		}
		fs = append(fs, finding(RulePlaintextSecret, subj, msg))
		if v.typ == string(corev1.SecretTypeDockerConfigJson) || v.typ == string(corev1.SecretTypeDockercfg) {
			fs = append(fs, finding(RuleRegistryCredentials, subj, fmt.Sprintf("docker-registry secret %s (%s) is stored in plaintext: the registry credentials in it are readable from etcd", name, v.typ)))
		}
	case StateEncrypted:
		switch v.keyStatus {
		case "stale":
			ps, _ := cfg.ProvidersFor(grSecrets)
			fs = append(fs, finding(RuleStaleKey, subj, fmt.Sprintf("secret %s is encrypted with %s key %q, but the config writes with %s: key rotation did not rewrite it", name, v.provider, v.keyName, describe(ps[:1]))))
		case "absent":
			ps, _ := cfg.ProvidersFor(grSecrets)
			fs = append(fs, finding(RuleAbsentKey, subj, fmt.Sprintf("secret %s is encrypted with %s key %q, which the config (%s) does not hold: the apiserver cannot read it", name, v.provider, v.keyName, describe(ps))))
		}
		if v.decryption == DecryptFailed {
			msg := fmt.Sprintf("secret %s: %s key %q is in the config but does not open the value (%s)", name, v.provider, v.keyName, v.err)
			if v.provider == "aesgcm" {
				msg += "; aesgcm values are bound to their etcd key, so a value copied or restored under another name fails too"
			}
			fs = append(fs, finding(RuleDecryptFailed, subj, msg))
		}
		if sec.OldPlaintextRevisions > 0 {
			msg := fmt.Sprintf("secret %s is now encrypted (%s key %q), but %d older plaintext revision(s) remain in etcd's history (fingerprints %s)", name, v.provider, v.keyName, sec.OldPlaintextRevisions, strings.Join(firstN(uniq(oldFPs), 5), ", "))
			if sec.CurrentValueExposed {
				msg += "; one of them holds the current value: rotate it"
			} else if v.fp != "" {
				msg += "; none holds the current value"
			}
			fs = append(fs, finding(RuleOldPlaintext, subj, msg))
		}
	}
	if v.typ == string(corev1.SecretTypeServiceAccountToken) {
		fs = append(fs, finding(RuleLegacySAToken, subj, fmt.Sprintf("secret %s is a legacy service-account token (never expires), stored %s", name, v.state)))
	}
	return sec, fs
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func firstN(ss []string, n int) []string {
	if len(ss) > n {
		return append(ss[:n:n], fmt.Sprintf("… %d more", len(ss)-n))
	}
	return ss
}

func uniq(ss []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range ss {
		if s == "" {
			s = "?"
		}
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// otherFindings covers configmaps and resources the configuration encrypts.
func (a *Analyzer) otherFindings(e *entry, gr schema.GroupResource, subj analyzer.Subject) []analyzer.Finding {
	v := e.cur
	if v.deleted {
		return nil
	}
	var fs []analyzer.Finding
	obj := resourceName(gr) + " " + strings.TrimPrefix(e.rk.Namespace+"/"+e.rk.Name, "/")
	for _, h := range v.cmHits {
		f := finding(RuleConfigMapSecret, subj, fmt.Sprintf("configmap %s, data key %q: looks like a credential (%s, fingerprint %s), stored %s", strings.TrimPrefix(obj, "configmaps "), h.key, h.pattern, h.fp, v.state))
		if v.state == StateEncrypted {
			f.Severity = analyzer.Low
		}
		fs = append(fs, f)
	}
	if cfg := a.opts.Config; cfg != nil && v.state == StatePlaintext {
		if ps, ok := cfg.ProvidersFor(gr); ok && ps[0].Kind != "identity" {
			fs = append(fs, finding(RuleResourcePlaintext, subj, fmt.Sprintf("%s (revision %d) is stored in plaintext, but the encryption config encrypts %s with %s", obj, v.mod, resourceName(gr), ps[0].Label())))
		}
	}
	return fs
}

// configFindings judges the configuration itself and the providers seen in values.
func (a *Analyzer) configFindings(providerUse map[string]int) []analyzer.Finding {
	var fs []analyzer.Finding
	cfg := a.opts.Config
	kmsV1, cbc := providerUse["kms-v1"], providerUse["aescbc"]
	staticKeys := map[string]bool{}
	if cfg != nil {
		for _, gr := range cfg.Order {
			ps := cfg.Resources[gr]
			subj := analyzer.Subject{Resource: resourceName(gr), Name: cfg.Path}
			if len(ps) > 0 && ps[0].Kind == "identity" {
				fs = append(fs, finding(RuleIdentityFirst, subj, fmt.Sprintf("%s lists identity first for %s (%s): new and updated objects are written in plaintext", cfg.Path, resourceName(gr), describe(ps))))
			}
			for _, p := range ps {
				switch p.Kind {
				case "aescbc", "aesgcm", "secretbox":
					staticKeys[p.Kind] = true
				}
				if p.Label() == "kms-v1" && kmsV1 == 0 {
					kmsV1 = -1 // configured, no value seen
				}
				if p.Kind == "aescbc" && cbc == 0 {
					cbc = -1
				}
			}
		}
		if len(staticKeys) > 0 {
			var kinds []string
			for k := range staticKeys {
				kinds = append(kinds, k)
			}
			sort.Strings(kinds)
			fs = append(fs, finding(RuleStaticKeys, analyzer.Subject{Name: cfg.Path}, fmt.Sprintf("%s holds %s key material in the clear", cfg.Path, strings.Join(kinds, ", "))))
		}
	}
	if kmsV1 != 0 {
		f := finding(RuleKMSv1, analyzer.Subject{Resource: "secrets"}, "kms v1 is deprecated (disabled by default since Kubernetes 1.29)")
		if kmsV1 > 0 {
			f.Count, f.Message = kmsV1, fmt.Sprintf("%d secret(s) are encrypted with the deprecated kms v1 provider", kmsV1)
		}
		fs = append(fs, f)
	}
	if cbc != 0 {
		f := finding(RuleAESCBC, analyzer.Subject{Resource: "secrets"}, "the encryption config uses aescbc")
		if cbc > 0 {
			f.Count, f.Message = cbc, fmt.Sprintf("%d secret(s) are encrypted with aescbc, which is weaker than aesgcm or kms v2", cbc)
		}
		fs = append(fs, f)
	}
	return fs
}

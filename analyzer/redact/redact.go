// Package redact is kubesleuth's one redaction choke point: secret values become
// fingerprints before anything is stored or shown.
//
// A fingerprint is "sha256:" + the first 12 hex digits of the SHA-256 of the value: it
// lets a responder match the same value across events without holding it.
//
// What is a secret (the same code answers for the rules, through Find, and for the
// redactor, so whatever a rule calls a credential is fingerprinted wherever it appears):
//   - the data and stringData values of a Secret at any depth: kind Secret, the items of a
//     SecretList or of any list or Table in an audit event about secrets (their items carry
//     no kind), patch bodies of secrets (merge, strategic, JSON patch operations), a body
//     the apiserver kept as text; and a Secret's annotations that copy it
//     (kubectl's last-applied-configuration, kapp's original, any JSON-valued annotation);
//   - values under credential-like keys anywhere (CredentialKey: password, token,
//     clientSecret, ...; ConfigMap data, TokenReview spec.token, CRD fields), and env
//     entries whose name is credential-like;
//   - inside any string (String): JWTs, PEM and PGP private keys, Authorization and bearer
//     values, key=value credentials, command-line passwords, user:password@ in URLs,
//     well-known token formats; URL-encoded strings are checked decoded;
//   - JSON held inside a string (an annotation, a mutating webhook's patch annotation) is
//     decoded and redacted by the same rules;
//   - any copy, in the same document, of a Secret value found above (raw or base64).
//
// Every output of kubesleuth passes through this package: events into the case (JSON),
// finding messages and subjects (String, in the engine), and every byte written to
// stdout, stderr, exports, reports and alerts (Writer). cmd/kubesleuth's run wraps the
// process's streams; the repository test TestOutputPathsAreRedacted fails when code
// writes to the process streams or creates a file without saying why it is safe.
//
// Failure modes: a document that is not valid JSON is redacted as a string (every text
// detector), never passed through untouched. A JSON document nested deeper than
// maxDepth, or a string holding JSON larger than maxNested, is fingerprinted whole.
package redact

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"unicode/utf8"

	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"go.yaml.in/yaml/v3"
	"sort"
	"strconv"
	"strings"
)

// Fingerprint is the stored stand-in of a value: "sha256:" + first 12 hex of SHA-256.
func Fingerprint(v []byte) string {
	s := sha256.Sum256(v)
	return "sha256:" + hex.EncodeToString(s[:])[:12]
}

// IsFingerprint reports whether s is a fingerprint as Fingerprint makes them.
func IsFingerprint(s string) bool {
	if len(s) != 19 || s[:7] != "sha256:" {
		return false
	}
	for i := 7; i < 19; i++ {
		if !isHex(s[i]) {
			return false
		}
	}
	return true
}

// Place is where secret material sits in a document: a path and what kind of material it
// is. It never holds the value.
type Place struct {
	Path string `json:"path"`
	// Kind: secret-data, secret-copy, password-like, jwt, private-key, credential
	Kind string `json:"kind"`
}

const (
	maxDepth  = 200     // deeper documents are fingerprinted whole
	maxNested = 4 << 20 // JSON inside a string larger than this is fingerprinted whole
	// plaintexts of secret values remembered per document for the copy check
	maxPlain = 512
	minPlain = 6
)

// Find lists the places in a decoded JSON value (maps, slices, strings, as
// encoding/json decodes them) that hold secret material. kind is the object's kind when
// the body carries none (a patch body), or "". Paths look like "items[3].data.password".
// Find stores the values it walks back into their maps unchanged: v must not be read by
// another goroutine meanwhile.
func Find(v any, kind string) []Place {
	w := &walker{find: true}
	w.value(v, "", kind, 0)
	sort.Slice(w.places, func(i, j int) bool { return w.places[i].Path < w.places[j].Path })
	return w.places
}

// Value redacts a decoded JSON value in place (see the package comment) and returns it;
// changed says whether anything was replaced.
func Value(v any, kind string) (any, bool) {
	w := &walker{}
	v = w.value(v, "", kind, 0)
	if len(w.plain) > 0 {
		v = w.copies(v, 0)
	}
	return v, w.changed
}

// JSON returns doc with every secret value replaced. changed says whether anything was
// replaced. The fast path (candidate: nothing in the raw bytes that the walker or a
// detector would start from) returns doc itself.
func JSON(doc []byte) (out []byte, changed bool) {
	if !candidate(doc) {
		return doc, false
	}
	return jsonSlow(doc)
}

// jsonSlow is JSON without the fast path: decode, walk, encode.
func jsonSlow(doc []byte) (out []byte, changed bool) {
	v, err := parse(doc)
	if err != nil {
		if mayHoldStructure(doc) {
			// not JSON, but it names a secret: nothing tells what to keep. Decided on
			// the input alone, so that redacting the output again changes nothing (a
			// partial redaction would still name the secret and be replaced next time)
			return []byte(strconv.Quote(Fingerprint(doc))), true
		}
		s, ch := stringKinds(string(doc), nil)
		return []byte(s), ch
	}
	v, c := Value(v, "")
	if !c {
		return doc, false
	}
	b, err := json.Marshal(v)
	if err != nil { // cannot happen for decoded JSON; never return the unredacted document
		return []byte(`{"redacted":"unencodable"}`), true
	}
	return b, true
}

// mayHoldStructure: text that names a Secret or a credential key.
func mayHoldStructure(doc []byte) bool {
	lower := bytes.ToLower(doc)
	for _, n := range []string{"secret", "password", "token", "\"data\""} {
		if bytes.Contains(lower, []byte(n)) {
			return true
		}
	}
	return false
}

// walker walks a decoded JSON value. In find mode it records places; otherwise it
// replaces values by fingerprints.
type walker struct {
	find    bool
	places  []Place
	changed bool
	// plain holds the plaintexts of the Secret values replaced, for the copy check
	plain map[string]struct{}
}

func (w *walker) hit(path, kind string, val any) any {
	if w.find {
		w.places = append(w.places, Place{Path: path, Kind: kind})
		return val
	}
	w.changed = true
	var raw []byte
	switch x := val.(type) {
	case string:
		if IsFingerprint(x) {
			return x
		}
		raw = []byte(x)
	default:
		raw, _ = json.Marshal(x)
	}
	return Fingerprint(raw)
}

// remember keeps a Secret value (and its base64 decoding) for the copy check.
func (w *walker) remember(val any, b64 bool) {
	s, ok := val.(string)
	if w.find || !ok || IsFingerprint(s) {
		return
	}
	if w.plain == nil {
		w.plain = map[string]struct{}{}
	}
	add := func(p string) {
		if len(p) >= minPlain && len(w.plain) < maxPlain {
			w.plain[p] = struct{}{}
		}
	}
	add(s)
	if b64 {
		if d, err := base64.StdEncoding.DecodeString(s); err == nil {
			add(string(d))
		}
	} else {
		add(base64.StdEncoding.EncodeToString([]byte(s)))
	}
}

func join(p, k string) string {
	if p == "" {
		return k
	}
	return p + "." + k
}

// value walks v; kind is the kind to assume for a map without one.
func (w *walker) value(v any, path, kind string, depth int) any {
	if depth > maxDepth {
		return w.hit(path, "secret-data", v)
	}
	switch x := v.(type) {
	case map[string]any:
		return w.object(x, path, kind, depth)
	case []any:
		if isJSONPatch(x) {
			return w.patch(x, path, kind, depth)
		}
		w.commandLine(x, path)
		for i, e := range x {
			x[i] = w.value(e, path+"["+strconv.Itoa(i)+"]", kind, depth+1)
		}
		return x
	case string:
		return w.str(x, path, kind, depth)
	}
	return v
}

func (w *walker) str(s, path, kind string, depth int) any {
	if t := strings.TrimSpace(s); len(t) >= 2 && (t[0] == '{' && t[len(t)-1] == '}' || t[0] == '[' && t[len(t)-1] == ']') {
		// JSON held in a string: an annotation with a copy of an object, a webhook's patch
		if len(t) > maxNested {
			return w.hit(path, "secret-copy", s)
		}
		if inner, err := parse([]byte(t)); err == nil {
			sub := &walker{find: w.find}
			inner = sub.value(inner, path, kind, depth+1)
			w.places = append(w.places, sub.places...)
			for p := range sub.plain {
				if w.plain == nil {
					w.plain = map[string]struct{}{}
				}
				if len(w.plain) < maxPlain {
					w.plain[p] = struct{}{}
				}
			}
			if sub.changed {
				w.changed = true
				b, err := json.Marshal(inner)
				if err != nil {
					return Fingerprint([]byte(s))
				}
				return string(b)
			}
			return s
		}
	}
	if r, ok := w.encoded(s, path, kind, depth); ok {
		return r
	}
	var kinds []string
	r, changed := stringKinds(s, &kinds)
	if !changed {
		return s
	}
	if w.find {
		seen := map[string]bool{}
		for _, k := range kinds {
			if !seen[k] {
				seen[k] = true
				w.places = append(w.places, Place{Path: path, Kind: k})
			}
		}
		return s
	}
	w.changed = true
	return r
}

// isEvent tells an audit event (any version, with or without apiVersion and kind) from
// the objects it carries.
func isEvent(m map[string]any) bool {
	if _, ok := m["auditID"]; !ok {
		return false
	}
	for _, k := range []string{"stage", "objectRef", "verb", "requestObject", "responseObject"} {
		if _, ok := m[k]; ok {
			return true
		}
	}
	return false
}

// itemKind is the kind of a list's items: "SecretList" holds Secrets, a kind-less list
// (or a Table) in a body of a known kind holds that kind.
func itemKind(listKind, kind string) string {
	if strings.HasSuffix(listKind, "List") && len(listKind) > 4 {
		return strings.TrimSuffix(listKind, "List")
	}
	return kind
}

func (w *walker) object(m map[string]any, path, kind string, depth int) any {
	if isEvent(m) {
		return w.event(m, path, depth)
	}
	own, _ := m["kind"].(string)
	if own == "" {
		own = kind
	}
	if own == "" && secretTyped(m) {
		own = "Secret" // a Secret without its kind: a SealedSecret's template, a chart's
	}
	// {name, value} pairs under any key (env, Helm extraEnvVars, Argo CD parameters,
	// Tekton params): a credential-like name makes the value a credential
	if name, ok := m["name"].(string); ok && CredentialKey(name) {
		if val, ok := m["value"]; ok && credentialValue(val) {
			m["value"] = w.hit(join(path, "value"), "password-like", val)
		}
	}
	switch {
	case own == "Secret":
		w.secret(m, path, depth)
	case own == "ConfigMap":
		w.configMap(m, path, depth)
	}
	// lists and tables: their items are objects of the list's kind
	ik := itemKind(own, kind)
	for k, val := range m {
		p := join(path, k)
		switch {
		case own == "Secret" && (k == "data" || k == "stringData" || k == "metadata"):
			continue // done by secret
		case own == "ConfigMap" && (k == "data" || k == "binaryData"):
			continue // done by configMap
		case k == "items" || k == "rows":
			m[k] = w.items(val, p, ik, depth+1)
		case k == "object" && kind != "" && own == "Table":
			m[k] = w.value(val, p, kind, depth+1)
		case CredentialKey(k):
			m[k] = w.credential(val, p, depth+1)
		case k == "env" || k == "envFrom":
			m[k] = w.env(val, p, depth+1)
		default:
			m[k] = w.value(val, p, "", depth+1)
		}
	}
	return m
}

// commandLine redacts a list of strings as the command line it may be (a container's
// command and args, one argument per string: "--password", "PW"): joined with spaces,
// the text detectors run over the line, and each element a secret overlaps is
// rewritten (its part of the secret becomes the fingerprint of the whole secret).
func (w *walker) commandLine(l []any, path string) {
	if len(l) < 2 || len(l) > 4096 {
		return
	}
	parts := make([]string, len(l))
	starts := make([]int, len(l))
	var line strings.Builder
	for i, e := range l {
		s, ok := e.(string)
		if !ok {
			return
		}
		if i > 0 {
			line.WriteByte(' ')
		}
		parts[i], starts[i] = s, line.Len()
		line.WriteString(s)
	}
	cl := line.String()
	sp := spans(cl, lowerASCII(cl))
	for _, x := range sp {
		first, last := -1, -1
		for i := range parts {
			if starts[i] < x.end && x.start < starts[i]+len(parts[i]) {
				if first < 0 {
					first = i
				}
				last = i
			}
		}
		if first < 0 {
			continue
		}
		if w.find {
			w.places = append(w.places, Place{Path: path, Kind: x.kind})
			continue
		}
		w.changed = true
		fp := Fingerprint([]byte(cl[x.start:x.end]))
		for i := first; i <= last; i++ {
			lo, hi := max(x.start, starts[i])-starts[i], min(x.end, starts[i]+len(parts[i]))-starts[i]
			rep := ""
			if i == first {
				rep = fp
			}
			parts[i] = parts[i][:lo] + rep + parts[i][hi:]
			l[i] = parts[i]
		}
	}
}

// credential redacts the value of a credential-like key: a string or a number whole;
// in a list, each element; in an object, every value that is not a reference to where a
// credential is kept (a Secret's name and key, a path), so that a pod's
// "secret": {"secretName": ...} volume keeps its names and "password": {"value": ...}
// does not keep its value.
func (w *walker) credential(v any, path string, depth int) any {
	switch x := v.(type) {
	case string, json.Number:
		if credentialValue(x) {
			return w.hit(path, "password-like", x)
		}
		return v
	case []any:
		for i, e := range x {
			x[i] = w.credential(e, path+"["+strconv.Itoa(i)+"]", depth+1)
		}
		return x
	case map[string]any:
		for k, e := range x {
			switch {
			case referenceKey(k):
				x[k] = w.value(e, join(path, k), "", depth+1)
			default:
				x[k] = w.credential(e, join(path, k), depth+1)
			}
		}
		return x
	}
	return v
}

// credentialValue: a value under a credential-like key that is the credential itself,
// not a placeholder, a reference or a flag.
func credentialValue(v any) bool {
	switch x := v.(type) {
	case string:
		if x == "" || IsFingerprint(x) || looksLikeReference(x) {
			return false
		}
		switch strings.ToLower(x) {
		case "true", "false", "null", "nil", "none", "yes", "no", "empty", "redacted", "<redacted>", "***", "xxx", "changeme-not-set":
			return false
		}
		return true
	case json.Number:
		return len(x) >= 4 // a port, a count or a flag is not a password
	}
	return false
}

// referenceKey names where a credential is kept rather than the credential: the keys
// of secretKeyRef, volumes and projections.
func referenceKey(k string) bool {
	switch strings.ToLower(k) {
	case "name", "secretname", "key", "namespace", "path", "file", "filename", "type", "kind", "mode", "defaultmode",
		"optional", "items", "expirationseconds", "audience", "apiversion", "secretref", "secretkeyref", "valuefrom",
		"mountpath", "readonly", "provider", "resourceversion", "uid", "labels", "annotations", "selector":
		return true
	}
	return false
}

// secretTyped: an object without a kind that is a Secret by its type and data (a
// SealedSecret's spec.template, a Secret template in a chart's values).
func secretTyped(m map[string]any) bool {
	t, _ := m["type"].(string)
	if t == "" {
		return false
	}
	if t != "Opaque" && !strings.HasPrefix(t, "kubernetes.io/") && !strings.HasPrefix(t, "bootstrap.kubernetes.io/") && !strings.HasPrefix(t, "helm.sh/") {
		return false
	}
	_, d := m["data"].(map[string]any)
	_, sd := m["stringData"].(map[string]any)
	return d || sd
}

// items walks a list's items (or a Table's rows, whose objects are the items).
func (w *walker) items(v any, path, kind string, depth int) any {
	l, ok := v.([]any)
	if !ok {
		return w.value(v, path, "", depth)
	}
	for i, e := range l {
		p := path + "[" + strconv.Itoa(i) + "]"
		if row, ok := e.(map[string]any); ok && row["object"] != nil && row["cells"] != nil {
			for k, val := range row {
				if k == "object" {
					row[k] = w.value(val, join(p, k), kind, depth+1)
				} else {
					row[k] = w.value(val, join(p, k), "", depth+1)
				}
			}
			continue
		}
		l[i] = w.value(e, p, kind, depth+1)
	}
	return l
}

// env redacts the value of env entries whose name is credential-like.
func (w *walker) env(v any, path string, depth int) any {
	l, ok := v.([]any)
	if !ok {
		return w.value(v, path, "", depth)
	}
	for i, e := range l {
		p := path + "[" + strconv.Itoa(i) + "]"
		if m, ok := e.(map[string]any); ok {
			name, _ := m["name"].(string)
			if val, ok := m["value"].(string); ok && CredentialKey(name) && val != "" && plausible(val) {
				m["value"] = w.hit(join(p, "value"), "password-like", val)
				for k, x := range m {
					if k != "value" {
						m[k] = w.value(x, join(p, k), "", depth+1)
					}
				}
				continue
			}
		}
		l[i] = w.value(e, p, "", depth+1)
	}
	return l
}

func (w *walker) secret(m map[string]any, path string, depth int) {
	for _, f := range []string{"data", "stringData"} {
		p := join(path, f)
		switch d := m[f].(type) {
		case map[string]any:
			for k, val := range d {
				if val == nil {
					continue
				}
				if s, ok := val.(string); ok && s == "" {
					continue
				}
				w.remember(val, f == "data")
				d[k] = w.hit(join(p, k), "secret-data", val)
			}
		case nil:
		default: // a malformed data field still holds the values
			w.remember(d, false)
			m[f] = w.hit(p, "secret-data", d)
		}
	}
	md, ok := m["metadata"].(map[string]any)
	if !ok {
		if m["metadata"] != nil {
			m["metadata"] = w.value(m["metadata"], join(path, "metadata"), "", depth+1)
		}
		return
	}
	mp := join(path, "metadata")
	for k, val := range md {
		if k != "annotations" {
			md[k] = w.value(val, join(mp, k), "", depth+1)
			continue
		}
		an, ok := val.(map[string]any)
		if !ok {
			md[k] = w.value(val, join(mp, k), "", depth+1)
			continue
		}
		// an annotation of a Secret that holds JSON is a copy of it (kubectl's
		// last-applied-configuration, kapp's original, other deploy tools'): the whole
		// value goes
		for ak, av := range an {
			ap := join(join(mp, "annotations"), ak)
			if s, ok := av.(string); ok {
				if t := strings.TrimSpace(s); strings.HasPrefix(t, "{") || strings.HasPrefix(t, "[") ||
					ak == "kubectl.kubernetes.io/last-applied-configuration" {
					an[ak] = w.hit(ap, "secret-copy", s)
					continue
				}
			}
			an[ak] = w.value(av, ap, "", depth+1)
		}
	}
}

func (w *walker) configMap(m map[string]any, path string, depth int) {
	for _, f := range []string{"data", "binaryData"} {
		p := join(path, f)
		d, ok := m[f].(map[string]any)
		if !ok {
			if m[f] != nil {
				m[f] = w.value(m[f], p, "", depth+1)
			}
			continue
		}
		for k, val := range d {
			if s, ok := val.(string); ok && s != "" && CredentialKey(k) && plausible(s) {
				d[k] = w.hit(join(p, k), "password-like", s)
				continue
			}
			d[k] = w.value(val, join(p, k), "", depth+1)
		}
	}
}

// isJSONPatch tells a JSON patch (a list of operations) from other lists.
func isJSONPatch(l []any) bool {
	if len(l) == 0 {
		return false
	}
	for _, e := range l {
		m, ok := e.(map[string]any)
		if !ok {
			return false
		}
		if _, ok := m["op"].(string); !ok {
			return false
		}
		if _, ok := m["path"].(string); !ok {
			return false
		}
	}
	return true
}

// patch walks a JSON patch. On a Secret every value is secret data; elsewhere a value
// is a credential when its path ends in a credential-like key or in a Secret's data, and
// otherwise is walked as the object or string it is.
func (w *walker) patch(l []any, path, kind string, depth int) any {
	for i, e := range l {
		op := e.(map[string]any)
		p := path + "[" + strconv.Itoa(i) + "]"
		// the operation's own strings (op, path, from) are text like any other
		for k, x := range op {
			if k != "value" {
				op[k] = w.value(x, join(p, k), "", depth+1)
			}
		}
		val, has := op["value"]
		if !has {
			continue
		}
		vp := join(p, "value")
		target, _ := op["path"].(string)
		segs := strings.Split(strings.Trim(target, "/"), "/")
		last := segs[len(segs)-1]
		switch {
		case kind == "Secret" && (target == "" || target == "/" || strings.HasPrefix(target, "/data") ||
			strings.HasPrefix(target, "/stringData") || strings.HasPrefix(target, "/metadata/annotations")):
			w.remember(val, strings.HasPrefix(target, "/data"))
			op["value"] = w.hit(vp, "secret-data", val)
		case kind == "Secret" && target != "" && !strings.HasPrefix(target, "/metadata"):
			op["value"] = w.hit(vp, "secret-data", val)
		case CredentialKey(unescapePointer(last)):
			if s, ok := val.(string); ok && plausible(s) {
				op["value"] = w.hit(vp, "password-like", s)
			} else {
				op["value"] = w.value(val, vp, "", depth+1)
			}
		case target == "" || target == "/":
			op["value"] = w.value(val, vp, kind, depth+1)
		case len(segs) >= 2 && segs[len(segs)-2] == "env":
			// a whole env entry added: {"name": ..., "value": ...}
			op["value"] = w.env([]any{val}, vp, depth+1).([]any)[0]
		default:
			op["value"] = w.value(val, vp, "", depth+1)
		}
	}
	return l
}

func unescapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~1", "/"), "~0", "~")
}

// resourceKind maps an audit event's objectRef.resource to the kind of its bodies.
func resourceKind(res string) string {
	switch res {
	case "secrets":
		return "Secret"
	case "configmaps":
		return "ConfigMap"
	}
	return ""
}

// event walks an audit event: its bodies are objects of its resource's kind even when
// they carry no kind (patches, partial objects), a body kept as text on secrets is
// fingerprinted whole, and JSON-valued annotations (a mutating webhook's patch) are
// patches of the same object.
func (w *walker) event(m map[string]any, path string, depth int) any {
	kind := ""
	if ref, ok := m["objectRef"].(map[string]any); ok {
		r, _ := ref["resource"].(string)
		kind = resourceKind(r)
	}
	for k, val := range m {
		p := join(path, k)
		switch k {
		case "requestObject", "responseObject":
			if s, ok := val.(string); ok && kind == "Secret" {
				m[k] = w.hit(p, "secret-data", s)
				continue
			}
			m[k] = w.value(val, p, kind, depth+1)
		case "annotations":
			an, ok := val.(map[string]any)
			if !ok {
				m[k] = w.value(val, p, "", depth+1)
				continue
			}
			for ak, av := range an {
				if s, ok := av.(string); ok && strings.HasPrefix(ak, "patch.webhook.admission.k8s.io/") {
					an[ak] = w.webhookPatch(s, join(p, ak), kind, depth+1)
					continue
				}
				an[ak] = w.value(av, join(p, ak), "", depth+1)
			}
		default:
			m[k] = w.value(val, p, "", depth+1)
		}
	}
	return m
}

// webhookPatch redacts a mutating webhook's patch annotation: {"configuration": ...,
// "webhook": ..., "patch": [operations], "patchType": "JSONPatch"}; the patch applies to
// the event's object.
func (w *walker) webhookPatch(s, path, kind string, depth int) any {
	pv, err := parse([]byte(s))
	v, isMap := pv.(map[string]any)
	if len(s) > maxNested || err != nil || !isMap {
		return w.str(s, path, kind, depth)
	}
	sub := &walker{find: w.find}
	for k, val := range v {
		if k == "patch" {
			v[k] = sub.value(val, join(path, k), kind, depth+1)
			continue
		}
		v[k] = sub.value(val, join(path, k), "", depth+1)
	}
	w.places = append(w.places, sub.places...)
	if !sub.changed {
		return s
	}
	w.changed = true
	b, err := json.Marshal(v)
	if err != nil {
		return Fingerprint([]byte(s))
	}
	return string(b)
}

// copies replaces, in every string of v, the Secret values the walk replaced elsewhere.
func (w *walker) copies(v any, depth int) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = w.copies(e, depth+1)
		}
	case []any:
		for i, e := range x {
			x[i] = w.copies(e, depth+1)
		}
	case string:
		if IsFingerprint(x) || len(x) < minPlain {
			return x
		}
		out := x
		for p := range w.plain {
			if strings.Contains(out, p) {
				out = strings.ReplaceAll(out, p, Fingerprint([]byte(p)))
			}
		}
		if out != x {
			w.changed = true
		}
		return out
	}
	return v
}

// Preview is what an error message or a display may quote of input: s itself when it is
// at most n bytes (redacted), otherwise its first n bytes (redacted, cut at a rune
// boundary) followed by its length and the fingerprint of the whole value. An echo of
// input never grows with the input, and two values that differ past the cut still differ.
func Preview(s string, n int) string {
	if len(s) <= n {
		return String(s)
	}
	cut := n
	for cut > 0 && cut < len(s) && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return String(s[:cut]) + "…[" + strconv.Itoa(len(s)) + " bytes, " + Fingerprint([]byte(s)) + "]"
}

// encoded looks inside a string that holds a document of another encoding: YAML
// manifests (a server-side apply body, a Secret manifest kept in a ConfigMap), and
// base64 of JSON, of gzip (a Helm release in a ConfigMap) or of a PEM private key. The
// inner document is walked by the same rules; when it holds a secret, a YAML document is
// returned re-encoded with the secret replaced, an encoded one is fingerprinted whole.
// ok is false when s is none of these (or holds nothing to redact).
func (w *walker) encoded(s, path, kind string, depth int) (any, bool) {
	if len(s) < 24 || len(s) > maxNested {
		return nil, false
	}
	if looksYAML(s) {
		var docs []any
		dec := yaml.NewDecoder(strings.NewReader(s))
		for {
			var d any
			if err := dec.Decode(&d); err != nil {
				if err != io.EOF {
					docs = nil
				}
				break
			}
			docs = append(docs, jsonish(d))
		}
		if len(docs) > 0 {
			sub := &walker{find: w.find}
			for i := range docs {
				docs[i] = sub.value(docs[i], path, kind, depth+1)
			}
			w.places = append(w.places, sub.places...)
			if sub.changed {
				w.changed = true
				var b strings.Builder
				for i, d := range docs {
					if i > 0 {
						b.WriteString("---\n")
					}
					y, err := yaml.Marshal(d)
					if err != nil {
						return w.hit(path, "secret-copy", s), true
					}
					b.Write(y)
				}
				return b.String(), true
			}
		}
		return nil, false
	}
	if !isBase64(s) {
		return nil, false
	}
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, false
	}
	if len(raw) > 2 && raw[0] == 0x1f && raw[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, false
		}
		raw, err = io.ReadAll(io.LimitReader(zr, maxNested))
		if err != nil && len(raw) == 0 {
			return nil, false
		}
	}
	held := false
	switch t := bytes.TrimSpace(raw); {
	case bytes.Contains(raw, []byte("PRIVATE KEY")):
		held = true
	case len(t) > 1 && (t[0] == '{' || t[0] == '['):
		if inner, err := parse(t); err == nil {
			sub := &walker{find: w.find}
			sub.value(inner, path, kind, depth+1)
			held = sub.changed || len(sub.places) > 0
		}
	case utf8.Valid(raw) && looksYAML(string(raw)):
		sub := &walker{find: w.find}
		if _, ok := sub.encoded(string(raw), path, kind, depth+1); ok || len(sub.places) > 0 {
			held = true
		}
	}
	if !held {
		return nil, false
	}
	return w.hit(path, "secret-copy", s), true
}

// looksYAML: a block of YAML lines that names an object or holds keys (a one-line string
// is never taken for YAML).
func looksYAML(s string) bool {
	if !strings.Contains(s, "\n") || strings.HasPrefix(strings.TrimSpace(s), "{") {
		return false
	}
	return strings.Contains(s, "kind:") || strings.Contains(s, "apiVersion:") || strings.Contains(s, "data:\n") ||
		strings.Contains(s, "stringData:\n") || strings.Contains(s, "env:\n")
}

// isBase64 tells standard base64 text (long enough to hold a document) from words.
func isBase64(s string) bool {
	if len(s)%4 != 0 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/' || c == '=' && i >= len(s)-2) {
			return false
		}
	}
	return true
}

// jsonish turns what the YAML decoder makes (maps keyed by any value, ints, floats) into
// what the JSON walker expects.
func jsonish(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = jsonish(e)
		}
		return x
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[fmt.Sprint(k)] = jsonish(e)
		}
		return m
	case []any:
		for i, e := range x {
			x[i] = jsonish(e)
		}
		return x
	case int, int64, uint64, float64:
		return json.Number(fmt.Sprint(x))
	}
	return v
}

package realcluster

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/kubesleuth/kubesleuth/analyzer/redact"
)

// Redactor replaces credentials in audit lines before they become fixtures, byte for byte
// so that everything else stays exactly as the apiserver wrote it:
//   - each known secret (the static tokens, every token a scenario minted or tried);
//   - every JSON Web Token (the controllers' tokens the controller-manager minted
//     through TokenRequest, tokens in TokenReviews), also when base64-encoded in a
//     Secret's data (a service-account-token Secret);
//
// each by redact.Fingerprint of the value ("sha256:" + 12 hex digits, what kubesleuth's
// own redactor writes), or, inside base64 data, by the base64 of that fingerprint. The
// one exception is Shape: that token keeps its header and claims and loses its signature
// (replaced by "fixture-signature-removed"), a JWT-shaped value for the tests that need
// one; without its signature it authenticates nowhere.
type Redactor struct {
	secrets [][]byte
	shape   string
}

// NewRedactor redacts secrets and keeps shape JWT-shaped ("" for none).
func NewRedactor(secrets []string, shape string) *Redactor {
	r := &Redactor{shape: shape}
	for _, s := range secrets {
		// Shorter strings are words ("password", a user name), not credentials: replacing
		// them would rewrite unrelated text.
		if len(s) >= 16 && s != shape {
			r.secrets = append(r.secrets, []byte(s))
		}
	}
	return r
}

var (
	jwtRe    = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*`)
	b64JWTRe = regexp.MustCompile(`ZXlK[A-Za-z0-9+/]{8,}={0,2}`) // base64 of "eyJ..."
)

// ShapeSignature replaces the signature of the one token a fixture keeps JWT-shaped.
const ShapeSignature = "fixture-signature-removed"

// Line returns line with every credential replaced (line itself when there is none).
func (r *Redactor) Line(line []byte) []byte {
	out := line
	for _, s := range r.secrets {
		if bytes.Contains(out, s) {
			out = bytes.ReplaceAll(out, s, []byte(redact.Fingerprint(s)))
		}
	}
	out = jwtRe.ReplaceAllFunc(out, func(m []byte) []byte { return r.jwt(m) })
	out = b64JWTRe.ReplaceAllFunc(out, func(m []byte) []byte {
		dec, err := base64.StdEncoding.DecodeString(string(m))
		if err != nil || !jwtRe.Match(dec) {
			return m
		}
		return []byte(base64.StdEncoding.EncodeToString(jwtRe.ReplaceAllFunc(dec, r.jwt)))
	})
	return out
}

func (r *Redactor) jwt(m []byte) []byte {
	if r.shape != "" && string(m) == r.shape {
		if i := bytes.LastIndexByte(m, '.'); i > 0 {
			return append(append([]byte(nil), m[:i+1]...), ShapeSignature...)
		}
	}
	return []byte(redact.Fingerprint(m))
}

// Leaks reports the known secrets still in line (none after Line), as fingerprints.
func (r *Redactor) Leaks(line []byte) []string {
	var out []string
	for _, s := range r.secrets {
		if bytes.Contains(line, s) {
			out = append(out, redact.Fingerprint(s))
		}
	}
	if r.shape != "" && bytes.Contains(line, []byte(r.shape)) {
		out = append(out, redact.Fingerprint([]byte(r.shape)))
	}
	return out
}

// Thinner keeps a sample of the traffic that is most of a quiet cluster's log and that no
// scenario is about: lease renewals, and status updates (update or patch of a */status
// subresource) by the control plane and the nodes. For each holder of a lease, and each
// system identity and resource, it keeps the first Keep requests, then one request per
// Every. All stages of a request share its fate (decided at its first event). Memory is
// one entry per request seen, so it is for fixture-sized logs.
type Thinner struct {
	Keep  int
	Every time.Duration
	seen  map[string]*thinKey
	keep  map[string]bool
}

type thinKey struct {
	n    int
	last time.Time
}

// NewThinner keeps the first keep requests of each kind and one per every.
func NewThinner(keep int, every time.Duration) *Thinner {
	return &Thinner{Keep: keep, Every: every, seen: map[string]*thinKey{}, keep: map[string]bool{}}
}

// key is what e is counted under, or "" when e is always kept.
func thinKeyOf(e *Event) string {
	o := e.ObjectRef
	if o == nil {
		return ""
	}
	u := e.User.Username
	if o.Resource == "leases" {
		return u + "|lease|" + o.Namespace + "/" + o.Name
	}
	if o.Subresource == "status" && (e.Verb == "update" || e.Verb == "patch") &&
		(strings.HasPrefix(u, "system:serviceaccount:kube-system:") || strings.HasPrefix(u, "system:node:") ||
			u == ControllerManager || u == Scheduler || u == "system:apiserver") {
		return u + "|status|" + o.Resource
	}
	return ""
}

// KeepEvent decides whether e goes into the fixture.
func (l *Thinner) KeepEvent(e *Event) bool {
	key := thinKeyOf(e)
	if key == "" {
		return true
	}
	id := string(e.AuditID)
	if k, ok := l.keep[id]; ok {
		return k
	}
	h := l.seen[key]
	if h == nil {
		h = &thinKey{}
		l.seen[key] = h
	}
	t := e.RequestReceivedTimestamp.Time
	k := h.n < l.Keep || t.Sub(h.last) >= l.Every
	if k {
		h.n++
		h.last = t
	}
	l.keep[id] = k
	return k
}

// FixtureStats describes a written fixture.
type FixtureStats struct {
	Path            string
	Events, Dropped int
	Bytes           int64
	Stages          map[string]int
}

// WriteFixture writes to path (0644) the events of the log files whose
// requestReceivedTimestamp is in [from, to), thinned by thin (nil keeps all), each line
// through red, and calls written (when not nil) with each event it writes, so that labels
// name only events the fixture holds. It fails if a known secret survives redaction,
// naming its fingerprint.
func WriteFixture(path string, files []string, from, to time.Time, red *Redactor, thin *Thinner, written func(*Event)) (FixtureStats, error) {
	st := FixtureStats{Path: path, Stages: map[string]int{}}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return st, err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for _, file := range files {
		err := EachEvent(file, func(e *Event) error {
			t := e.RequestReceivedTimestamp.Time
			if t.Before(from) || !t.Before(to) {
				return nil
			}
			if thin != nil && !thin.KeepEvent(e) {
				st.Dropped++
				return nil
			}
			line := red.Line(e.Raw)
			if l := red.Leaks(line); len(l) > 0 {
				return fmt.Errorf("%s: auditID %s: secrets %v survived redaction", file, e.AuditID, l)
			}
			if written != nil {
				written(e)
			}
			st.Events++
			st.Stages[string(e.Stage)]++
			st.Bytes += int64(len(line) + 1)
			w.Write(line)
			return w.WriteByte('\n')
		})
		if err != nil {
			f.Close()
			return st, err
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return st, err
	}
	return st, f.Close()
}

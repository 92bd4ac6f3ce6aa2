package audit

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	gojson "github.com/goccy/go-json"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

// The JSON decoder is goccy/go-json: it fills the upstream auditv1.Event (custom
// unmarshalers of MicroTime and runtime.Unknown included) about 5x faster than
// encoding/json on this schema; see BenchmarkDecodeLine for the comparison.

const (
	apiVersionV1      = "audit.k8s.io/v1"
	apiVersionV1beta1 = "audit.k8s.io/v1beta1"
	maxWrapperDepth   = 4
)

// decoded is the outcome of one JSON value: an event or a reason to skip it. A wrapper
// (EventList, Event Hubs batch) yields several.
type decoded struct {
	ev     *auditv1.Event
	prep   any // Options.Prepare's result
	reason Reason
	msg    string
}

// decodeValue decodes one JSON value (a line, an array element, a whole document) into
// the audit events it holds, appending to out.
func decodeValue(raw []byte, out []decoded) []decoded {
	return decodeDepth(raw, out, 0)
}

func decodeDepth(raw []byte, out []decoded, depth int) []decoded {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return out
	}
	if depth > maxWrapperDepth {
		return append(out, decoded{reason: NotAnEvent, msg: "wrappers nested too deep"})
	}
	switch raw[0] {
	case '{':
	case '[':
		var elems []gojson.RawMessage
		if err := gojson.Unmarshal(raw, &elems); err != nil {
			return append(out, malformed(err))
		}
		for _, e := range elems {
			out = decodeDepth(e, out, depth+1)
		}
		return out
	default:
		if !gojson.Valid(raw) {
			return append(out, decoded{reason: Malformed, msg: "malformed JSON: " + describeStart(raw)})
		}
		return append(out, decoded{reason: NotAnEvent, msg: "not an audit event (a JSON " + jsonKind(raw[0]) + ")"})
	}

	// The common case first: an audit event, decoded straight into the upstream type
	// (its two timestamps through a fast path, see wireEvent).
	var w wireEvent
	ev := &w.Event
	if err := gojson.Unmarshal(raw, &w); err != nil {
		// A valid object that does not fit the Event schema (e.g. a wrapper whose "user"
		// is a string) is tried as a wrapper before calling it malformed.
		if !gojson.Valid(raw) {
			return append(out, malformed(err))
		}
		ev = nil
	}
	if ev != nil && ev.AuditID != "" {
		if err := w.times(); err != nil {
			return append(out, decoded{reason: Malformed, msg: err.Error()})
		}
		if ev.APIVersion == apiVersionV1beta1 || ev.RequestReceivedTimestamp.IsZero() {
			if d := fromV1beta1(raw, ev); d.reason != "" {
				return append(out, d)
			}
		}
		return append(out, accept(ev))
	}
	return decodeEnvelope(raw, ev, out, depth)
}

// accept returns ev as decoded, unless it has no time at all: an event that cannot be
// placed on a timeline is reported (no_timestamp), not stored at a made-up time.
func accept(ev *auditv1.Event) decoded {
	if ev.RequestReceivedTimestamp.IsZero() && ev.StageTimestamp.IsZero() {
		return decoded{reason: NoTimestamp, msg: fmt.Sprintf("audit event %s without requestReceivedTimestamp or stageTimestamp", ev.AuditID)}
	}
	return decoded{ev: ev}
}

// envelope holds every field by which a non-event object can be recognised.
type envelope struct {
	Kind       string              `json:"kind"`
	Items      []gojson.RawMessage `json:"items"`
	Records    []gojson.RawMessage `json:"records"`
	Category   string              `json:"category"`
	Properties *struct {
		Log gojson.RawMessage `json:"log"`
	} `json:"properties"`
	ProtoPayload *gkePayload `json:"protoPayload"`
	gkeEntry
}

func decodeEnvelope(raw []byte, ev *auditv1.Event, out []decoded, depth int) []decoded {
	var env envelope
	if err := gojson.Unmarshal(raw, &env); err != nil {
		return append(out, decoded{reason: NotAnEvent, msg: "not an audit event: " + shortErr(err)})
	}
	switch {
	case env.Items != nil:
		for _, it := range env.Items {
			out = decodeDepth(it, out, depth+1)
		}
		return out
	case env.Records != nil:
		for _, r := range env.Records {
			out = decodeDepth(r, out, depth+1)
		}
		return out
	case env.Properties != nil && env.Properties.Log != nil:
		return decodeAKS(env.Category, env.Properties.Log, out, depth)
	case env.ProtoPayload != nil:
		return append(out, fromGKE(env.ProtoPayload, &env.gkeEntry))
	case ev != nil && (env.Kind == "Event" || ev.Verb != "" || ev.Stage != "" || ev.RequestURI != ""):
		return append(out, decoded{reason: NoAuditID, msg: "audit event without auditID"})
	}
	return append(out, decoded{reason: NotAnEvent, msg: "not an audit event (no auditID, and no known wrapper: EventList, records, properties.log, protoPayload)"})
}

// decodeAKS unwraps an AKS diagnostic record: properties.log holds the event as a JSON
// string or as an object. Records of other categories (kube-apiserver logs, autoscaler)
// are not audit events.
func decodeAKS(category string, log gojson.RawMessage, out []decoded, depth int) []decoded {
	if category != "" && !strings.HasPrefix(category, "kube-audit") {
		return append(out, decoded{reason: OtherService, msg: fmt.Sprintf("AKS record of category %q, not kube-audit", category)})
	}
	log = bytes.TrimSpace(log)
	if len(log) > 0 && log[0] == '"' {
		var s string
		if err := gojson.Unmarshal(log, &s); err != nil {
			return append(out, malformed(err))
		}
		return decodeDepth([]byte(s), out, depth+1)
	}
	return decodeDepth(log, out, depth+1)
}

// fromV1beta1 fills what v1 has and v1beta1 named differently: v1beta1 events carry
// "timestamp" and metadata.creationTimestamp, and older ones lack the v1 timestamps.
func fromV1beta1(raw []byte, ev *auditv1.Event) decoded {
	var b struct {
		Timestamp metav1.Time `json:"timestamp"`
		Metadata  struct {
			CreationTimestamp metav1.Time `json:"creationTimestamp"`
		} `json:"metadata"`
	}
	if err := gojson.Unmarshal(raw, &b); err != nil {
		return malformed(err)
	}
	t := b.Timestamp
	if t.IsZero() {
		t = b.Metadata.CreationTimestamp
	}
	if ev.RequestReceivedTimestamp.IsZero() && !t.IsZero() {
		ev.RequestReceivedTimestamp = metav1.NewMicroTime(t.Time)
	}
	if ev.StageTimestamp.IsZero() {
		ev.StageTimestamp = ev.RequestReceivedTimestamp
	}
	if ev.APIVersion == apiVersionV1beta1 {
		ev.APIVersion = apiVersionV1
	}
	return decoded{}
}

func malformed(err error) decoded {
	return decoded{reason: Malformed, msg: "malformed JSON: " + shortErr(err)}
}

// shortErr keeps decoder messages to one line of reasonable length.
func shortErr(err error) string {
	s := strings.ReplaceAll(err.Error(), "\n", " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

func describeStart(raw []byte) string {
	const n = 40
	s := raw
	if len(s) > n {
		s = s[:n]
	}
	return fmt.Sprintf("starts with %q", s)
}

func jsonKind(c byte) string {
	switch {
	case c == '"':
		return "string"
	case c == 't' || c == 'f':
		return "boolean"
	case c == 'n':
		return "null"
	}
	return "number"
}

func jsonValid(b []byte) bool { return gojson.Valid(b) }

// wireEvent decodes an Event with its timestamps as plain strings. metav1.MicroTime's own
// UnmarshalJSON goes through encoding/json and time.Parse and costs a third of the whole
// decode; the outer fields shadow the embedded ones, as in encoding/json.
type wireEvent struct {
	auditv1.Event
	RequestReceivedTimestamp string `json:"requestReceivedTimestamp"`
	StageTimestamp           string `json:"stageTimestamp"`
}

func (w *wireEvent) times() error {
	for _, f := range []struct {
		name string
		s    string
		dst  *metav1.MicroTime
	}{{"requestReceivedTimestamp", w.RequestReceivedTimestamp, &w.Event.RequestReceivedTimestamp}, {"stageTimestamp", w.StageTimestamp, &w.Event.StageTimestamp}} {
		if f.s == "" {
			continue
		}
		t, ok := parseTime(f.s)
		if !ok {
			return fmt.Errorf("bad %s %q", f.name, f.s)
		}
		*f.dst = metav1.NewMicroTime(t)
	}
	return nil
}

// parseTime reads the apiserver's RFC 3339 UTC timestamps ("2026-03-10T10:00:00.123456Z")
// without the generic layout machinery, and anything else RFC 3339 through time.Parse.
func parseTime(s string) (time.Time, bool) {
	if len(s) >= 20 && len(s) <= 30 && s[4] == '-' && s[7] == '-' && s[10] == 'T' && s[13] == ':' && s[16] == ':' && s[len(s)-1] == 'Z' {
		num := func(a, b int) (int, bool) {
			n := 0
			for i := a; i < b; i++ {
				c := s[i]
				if c < '0' || c > '9' {
					return 0, false
				}
				n = n*10 + int(c-'0')
			}
			return n, true
		}
		y, ok1 := num(0, 4)
		mo, ok2 := num(5, 7)
		d, ok3 := num(8, 10)
		h, ok4 := num(11, 13)
		mi, ok5 := num(14, 16)
		sec, ok6 := num(17, 19)
		ns := 0
		ok7 := true
		if len(s) > 20 {
			if s[19] != '.' || len(s) < 22 || len(s) > 30 {
				ok7 = false
			} else {
				digits := len(s) - 21
				ns, ok7 = num(20, len(s)-1)
				for ; digits < 9; digits++ {
					ns *= 10
				}
			}
		}
		if ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7 && mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h < 24 && mi < 60 && sec < 60 {
			t := time.Date(y, time.Month(mo), d, h, mi, sec, ns, time.UTC)
			if t.Day() == d { // not normalised from e.g. February 30th
				return t, true
			}
			return time.Time{}, false
		}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	return t, err == nil
}

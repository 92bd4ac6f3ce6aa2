package audit

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	gojson "github.com/goccy/go-json"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

// The JSON decoder is goccy/go-json: it fills the upstream auditv1.Event (custom
// unmarshalers of MicroTime and runtime.Unknown included) about 5x faster than
// encoding/json on this schema; see BenchmarkDecodeLine for the comparison.
//
// Its error messages are not shown: some quote the input (a string with invalid UTF-8
// whole, a number literal). Messages are built here from the error's type and offset.

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
	// inList marks an outcome of one element of a list (EventList items, records, an
	// array): a skipped one is a value, not the whole line.
	inList bool
}

// decodeValue decodes one JSON value (a line, an array element, a whole document) into
// the audit events it holds, appending to out.
func decodeValue(raw []byte, out []decoded) []decoded {
	return decodeDepth(raw, out, 0, false)
}

func decodeDepth(raw []byte, out []decoded, depth int, inList bool) []decoded {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return out
	}
	skip := func(r Reason, msg string) []decoded {
		return append(out, decoded{reason: r, msg: msg, inList: inList})
	}
	if depth > maxWrapperDepth {
		return skip(NotAnEvent, "wrappers nested too deep")
	}
	switch raw[0] {
	case '{':
	case '[':
		var elems []gojson.RawMessage
		if err := gojson.Unmarshal(raw, &elems); err != nil {
			return skip(Malformed, malformedMsg(raw, err))
		}
		for _, e := range elems {
			out = decodeDepth(e, out, depth+1, true)
		}
		return out
	default:
		if !gojson.Valid(raw) {
			return skip(Malformed, malformedMsg(raw, nil))
		}
		return skip(NotAnEvent, "not an audit event (a JSON "+jsonKind(raw[0])+")")
	}

	// The common case first: an audit event, decoded straight into the upstream type
	// (its two timestamps through a fast path, see wireEvent).
	var w wireEvent
	ev := &w.Event
	var typeErr error
	if err := gojson.Unmarshal(raw, &w); err != nil {
		// A valid object that does not fit the Event schema (e.g. a wrapper whose "user"
		// is a string) is tried as a wrapper before its type error is reported.
		var te *gojson.UnmarshalTypeError
		if !errors.As(err, &te) && !gojson.Valid(raw) {
			return skip(Malformed, malformedMsg(raw, err))
		}
		ev, typeErr = nil, err
	}
	if ev != nil && ev.AuditID != "" {
		if msg := w.times(); msg != "" {
			return skip(BadTimestamp, msg)
		}
		if ev.APIVersion == apiVersionV1beta1 || ev.RequestReceivedTimestamp.IsZero() {
			if d := fromV1beta1(raw, ev); d.reason != "" {
				d.inList = inList
				return append(out, d)
			}
		}
		d := accept(ev)
		d.inList = inList
		return append(out, d)
	}
	return decodeEnvelope(raw, ev, typeErr, out, depth, inList)
}

// accept returns ev as decoded, unless it has no time at all: an event that cannot be
// placed on a timeline is reported (no_timestamp), not stored at a made-up time.
func accept(ev *auditv1.Event) decoded {
	if ev.RequestReceivedTimestamp.IsZero() && ev.StageTimestamp.IsZero() {
		return decoded{reason: NoTimestamp, msg: "audit event without requestReceivedTimestamp or stageTimestamp"}
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

var (
	eventType    = reflect.TypeOf(wireEvent{})
	envelopeType = reflect.TypeOf(envelope{})
)

// decodeEnvelope recognises the wrappers. typeErr is the Event schema's complaint about
// the object, if it had one: when no wrapper matches, that is what is wrong with it.
func decodeEnvelope(raw []byte, ev *auditv1.Event, typeErr error, out []decoded, depth int, inList bool) []decoded {
	skip := func(r Reason, msg string) []decoded {
		return append(out, decoded{reason: r, msg: msg, inList: inList})
	}
	var env envelope
	if err := gojson.Unmarshal(raw, &env); err != nil {
		if msg, ok := typeMsg(err, envelopeType); ok {
			if typeErr == nil {
				return skip(WrongType, "wrapper "+msg)
			}
		} else {
			return skip(Malformed, malformedMsg(raw, err))
		}
		env = envelope{}
	}
	switch {
	case env.Items != nil:
		for _, it := range env.Items {
			out = decodeDepth(it, out, depth+1, true)
		}
		return out
	case env.Records != nil:
		for _, r := range env.Records {
			out = decodeDepth(r, out, depth+1, true)
		}
		return out
	case env.Properties != nil && env.Properties.Log != nil:
		return decodeAKS(env.Category, env.Properties.Log, out, depth, inList)
	case env.ProtoPayload != nil:
		d := fromGKE(env.ProtoPayload, &env.gkeEntry)
		d.inList = inList
		return append(out, d)
	case typeErr != nil:
		msg, _ := typeMsg(typeErr, eventType)
		return skip(WrongType, "audit event "+msg)
	case env.Kind == "Event" || ev.Verb != "" || ev.Stage != "" || ev.RequestURI != "":
		return skip(NoAuditID, "audit event without auditID")
	}
	return skip(NotAnEvent, "not an audit event (no auditID, and no known wrapper: EventList, records, properties.log, protoPayload)")
}

// decodeAKS unwraps an AKS diagnostic record: properties.log holds the event as a JSON
// string or as an object. Records of other categories (kube-apiserver logs, autoscaler)
// are not audit events.
func decodeAKS(category string, log gojson.RawMessage, out []decoded, depth int, inList bool) []decoded {
	if category != "" && !strings.HasPrefix(category, "kube-audit") {
		return append(out, decoded{reason: OtherService, msg: "AKS record of category " + preview(category) + ", not kube-audit", inList: inList})
	}
	log = bytes.TrimSpace(log)
	if len(log) > 0 && log[0] == '"' {
		var s string
		if err := gojson.Unmarshal(log, &s); err != nil {
			return append(out, decoded{reason: Malformed, msg: "properties.log: " + malformedMsg(log, err), inList: inList})
		}
		return decodeDepth([]byte(s), out, depth+1, inList)
	}
	return decodeDepth(log, out, depth+1, inList)
}

// fromV1beta1 fills what v1 has and v1beta1 named differently: v1beta1 events carry
// "timestamp" and metadata.creationTimestamp, and older ones lack the v1 timestamps.
func fromV1beta1(raw []byte, ev *auditv1.Event) decoded {
	var b struct {
		Timestamp string `json:"timestamp"`
		Metadata  struct {
			CreationTimestamp string `json:"creationTimestamp"`
		} `json:"metadata"`
	}
	if err := gojson.Unmarshal(raw, &b); err != nil {
		if msg, ok := typeMsg(err, reflect.TypeOf(b)); ok {
			return decoded{reason: WrongType, msg: "v1beta1 audit event " + msg}
		}
		return decoded{reason: Malformed, msg: malformedMsg(raw, err)}
	}
	var t time.Time
	for _, f := range []struct{ name, s string }{{"timestamp", b.Timestamp}, {"metadata.creationTimestamp", b.Metadata.CreationTimestamp}} {
		if f.s == "" || !t.IsZero() {
			continue
		}
		var msg string
		if t, msg = checkTime(f.name, f.s); msg != "" {
			return decoded{reason: BadTimestamp, msg: msg}
		}
	}
	if ev.RequestReceivedTimestamp.IsZero() && !t.IsZero() {
		ev.RequestReceivedTimestamp = metav1.NewMicroTime(t)
	}
	if ev.StageTimestamp.IsZero() {
		ev.StageTimestamp = ev.RequestReceivedTimestamp
	}
	if ev.APIVersion == apiVersionV1beta1 {
		ev.APIVersion = apiVersionV1
	}
	return decoded{}
}

// malformedMsg says where raw stops being JSON without quoting it: the byte that broke
// the syntax (one byte carries no secret), its position, the length and a fingerprint,
// and whether NUL bytes or invalid UTF-8 are what broke it. err may be nil.
func malformedMsg(raw []byte, err error) string {
	if err == nil {
		err = gojson.Unmarshal(raw, new(any))
	}
	var b strings.Builder
	b.WriteString("malformed JSON: ")
	var se *gojson.SyntaxError
	switch {
	case nestedTooDeep(raw):
		// valid JSON, deeper than the decoder goes: not malformed
		b.Reset()
		fmt.Fprintf(&b, "JSON nested deeper than %d levels (%s)", maxNesting, sized(raw))
		return b.String()
	case errors.As(err, &se) && strings.Contains(se.Error(), "end of JSON"):
		fmt.Fprintf(&b, "ends early, after byte %d", len(raw))
	case se != nil && se.Offset > 0 && se.Offset <= int64(len(raw)):
		fmt.Fprintf(&b, "unexpected %s near byte %d", byteDesc(raw[se.Offset-1]), se.Offset)
	default:
		b.WriteString("not valid JSON")
	}
	fmt.Fprintf(&b, " (%s)", sized(raw))
	if i := bytes.IndexByte(raw, 0); i >= 0 {
		fmt.Fprintf(&b, "; a NUL byte at byte %d", i+1)
	}
	if !utf8.Valid(raw) {
		fmt.Fprintf(&b, "; invalid UTF-8 at byte %d", invalidUTF8At(raw)+1)
	}
	return b.String()
}

// maxNesting is how deep the JSON decoder goes (goccy/go-json stops at 10,000).
const maxNesting = 10000

// nestedTooDeep reports JSON whose brackets nest deeper than the decoder goes, counting
// outside strings only.
func nestedTooDeep(raw []byte) bool {
	depth, inStr := 0, false
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case inStr:
			if c == '\\' {
				i++
			} else if c == '"' {
				inStr = false
			}
		case c == '"':
			inStr = true
		case c == '[' || c == '{':
			if depth++; depth > maxNesting {
				return true
			}
		case c == ']' || c == '}':
			depth--
		}
	}
	return false
}

func invalidUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return -1
}

// typeMsg turns a decoder type error into `field "verb": want a string, found a number`,
// the field named by the schema (root), never by the input: a map key becomes […].
func typeMsg(err error, root reflect.Type) (string, bool) {
	var te *gojson.UnmarshalTypeError
	if !errors.As(err, &te) {
		return "", false
	}
	found := "another type"
	switch v, _, _ := strings.Cut(te.Value, " "); v {
	case "number":
		found = "a number"
	case "string":
		found = "a string"
	case "bool":
		found = "a boolean"
	case "array", "slice":
		found = "an array"
	case "object", "map":
		found = "an object"
	case "null":
		found = "null"
	}
	want := "another type"
	if te.Type != nil {
		want = typeWant(te.Type)
	}
	if want == found || (found == "a number" && strings.Contains(want, "number")) {
		// the right type, out of range (1e999 in an integer field) or not an integer
		return fmt.Sprintf("field %q: a number out of the field's range, or not an integer (want %s)", schemaPath(root, te.Field), want), true
	}
	return fmt.Sprintf("field %q: want %s, found %s", schemaPath(root, te.Field), want, found), true
}

func typeWant(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return "a base64 string"
		}
		return "an array"
	case reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "another type"
}

// schemaPath renders the decoder's field path ("user.groups.0", "annotations.<key>")
// from the Go types, so that only names of the schema appear: "user.groups[0]",
// "annotations[…]".
func schemaPath(root reflect.Type, path string) string {
	if path == "" {
		return "(the value itself)"
	}
	var b strings.Builder
	t := root
	for _, seg := range strings.Split(path, ".") {
		for t != nil && t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch {
		case t == nil:
			b.WriteString(".…")
			return b.String()
		case t.Kind() == reflect.Struct:
			f, ok := jsonField(t, seg)
			if !ok {
				b.WriteString(".…")
				return strings.TrimPrefix(b.String(), ".")
			}
			b.WriteString("." + seg)
			t = f.Type
		case t.Kind() == reflect.Slice || t.Kind() == reflect.Array:
			if _, err := strconv.Atoi(seg); err != nil || len(seg) > 9 {
				seg = "…"
			}
			b.WriteString("[" + seg + "]")
			t = t.Elem()
		case t.Kind() == reflect.Map:
			b.WriteString("[…]")
			t = t.Elem()
		default:
			b.WriteString(".…")
			return strings.TrimPrefix(b.String(), ".")
		}
	}
	return strings.TrimPrefix(b.String(), ".")
}

// jsonField finds the field of struct t that JSON name refers to, through embedded
// structs (the outer one first, as encoding/json does).
func jsonField(t reflect.Type, name string) (reflect.StructField, bool) {
	var embedded []reflect.StructField
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if tag == "-" {
			continue
		}
		if f.Anonymous && (tag == "" || strings.Contains(opts, "inline")) {
			embedded = append(embedded, f)
			continue
		}
		if tag == "" {
			tag = f.Name
		}
		if tag == name || (f.Tag.Get("json") == "" && strings.EqualFold(f.Name, name)) {
			return f, true
		}
	}
	for _, f := range embedded {
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct {
			if g, ok := jsonField(ft, name); ok {
				return g, true
			}
		}
	}
	return reflect.StructField{}, false
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

// times parses the two timestamps; it returns what is wrong with one, or "".
func (w *wireEvent) times() string {
	if w.RequestReceivedTimestamp != "" {
		t, msg := checkTime("requestReceivedTimestamp", w.RequestReceivedTimestamp)
		if msg != "" {
			return msg
		}
		w.Event.RequestReceivedTimestamp = metav1.NewMicroTime(t)
	}
	if w.StageTimestamp != "" {
		t, msg := checkTime("stageTimestamp", w.StageTimestamp)
		if msg != "" {
			return msg
		}
		w.Event.StageTimestamp = metav1.NewMicroTime(t)
	}
	return ""
}

// The timeline (the case index, the detectors' windows) keeps times as nanoseconds since
// 1970 in an int64: a time outside these bounds would be stored at a wrapped-around time
// (9999-12-31 as 1816-03-30), so it is refused instead.
var (
	minTime = time.Unix(0, math.MinInt64).UTC()
	maxTime = time.Unix(0, math.MaxInt64).UTC()
)

// checkTime parses the timestamp s of field name; msg says what is wrong with it.
func checkTime(name, s string) (t time.Time, msg string) {
	t, ok := parseTime(s)
	switch {
	case !ok:
		return t, fmt.Sprintf("field %q: %s is not a timestamp (RFC 3339, or \"2006-01-02 15:04:05\" in UTC)", name, preview(s))
	case t.Before(minTime) || t.After(maxTime):
		return t, fmt.Sprintf("field %q: %s lies outside the years 1678-2262 that the timeline can hold", name, preview(s))
	}
	return t, ""
}

// parseTime reads the apiserver's RFC 3339 UTC timestamps ("2026-03-10T10:00:00.123456Z")
// without the generic layout machinery, anything else RFC 3339 through time.Parse, and
// the zone-less "2024-02-13 12:45:06.073905" of BigQuery and SIEM exports (optionally
// with a T, a Z, " UTC" or a numeric offset), read as UTC when no zone is given.
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
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, true
	}
	return parseExport(s)
}

// exportLayouts are the zone-less and spaced forms of exports; Go's .999999999 takes any
// number of fraction digits, or none.
var exportLayouts = []string{
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999 Z07:00",
	"2006-01-02 15:04:05.999999999Z",
}

func parseExport(s string) (time.Time, bool) {
	if len(s) < 19 || len(s) > 40 || (s[10] != ' ' && s[10] != 'T') {
		return time.Time{}, false
	}
	s = strings.TrimSuffix(s, " UTC")
	for _, l := range exportLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

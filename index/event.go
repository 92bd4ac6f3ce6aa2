package index

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"time"

	gojson "github.com/goccy/go-json"
	"github.com/golang/snappy"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/kubesleuth/kubesleuth/analyzer/redact"
)

// Prepared is an event made ready for the case: redacted, compressed, summarised and
// turned into an index document. Prepare is safe to call from many goroutines (the audit
// reader's decoding workers), so this work runs on all cores.
type Prepared struct {
	ID      EventID
	Row     Row
	timeKey []byte
	rowJSON []byte
	blob    []byte
	// sig is the event's group signature (every indexed field but auditID, time, latency
	// and requestURI): events sharing it in one time slice are one index document.
	sig []byte
	// reindexOnly: already stored by a killed ingest; only its group membership is written.
	reindexOnly bool
}

// eventID is auditID/stage.
func eventID(ev *auditv1.Event) EventID {
	return EventID(string(ev.AuditID) + "/" + string(ev.Stage))
}

// IDOf returns the case identity of ev (auditID/stage).
func IDOf(ev *auditv1.Event) EventID { return eventID(ev) }

// timeKey orders by request time then ID; the sign bit is flipped so that times before
// 1970 still sort first.
func timeKey(t time.Time, id EventID) []byte {
	k := make([]byte, 8, 8+len(id))
	binary.BigEndian.PutUint64(k, uint64(t.UnixNano())^(1<<63))
	return append(k, id...)
}

func keyTime(k []byte) time.Time {
	return time.Unix(0, int64(binary.BigEndian.Uint64(k[:8])^(1<<63))).UTC()
}

func eventTime(ev *auditv1.Event) time.Time {
	if !ev.RequestReceivedTimestamp.IsZero() {
		return ev.RequestReceivedTimestamp.Time.UTC()
	}
	return ev.StageTimestamp.Time.UTC()
}

// Prepare redacts ev into its stored form. ev itself is not modified.
func Prepare(ev *auditv1.Event) (*Prepared, error) {
	raw, err := gojson.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("encoding event %s: %w", ev.AuditID, err)
	}
	raw, _ = redact.JSON(raw)
	id := eventID(ev)
	t := eventTime(ev)
	r := Row{
		ID: id, AuditID: string(ev.AuditID), Stage: string(ev.Stage), Time: t,
		User: redact.String(ev.User.Username), Verb: ev.Verb, UserAgent: redact.String(ev.UserAgent),
		URI: redact.String(ev.RequestURI),
	}
	if ev.ImpersonatedUser != nil {
		r.Impersonate = ev.ImpersonatedUser.Username
	}
	if len(ev.SourceIPs) > 0 {
		r.SourceIP = ev.SourceIPs[0]
	}
	if o := ev.ObjectRef; o != nil {
		r.APIGroup, r.Resource, r.Subresource, r.Namespace, r.Name = o.APIGroup, o.Resource, o.Subresource, o.Namespace, o.Name
	}
	if ev.ResponseStatus != nil {
		r.Code = int(ev.ResponseStatus.Code)
	}
	r.Decision = ev.Annotations["authorization.k8s.io/decision"]
	r.Level = string(ev.Level)
	r.Groups = ev.User.Groups
	r.SourceIPs = ev.SourceIPs
	r.Reason = redact.String(ev.Annotations["authorization.k8s.io/reason"])
	r.Latency = -1
	if !ev.StageTimestamp.IsZero() && !ev.RequestReceivedTimestamp.IsZero() {
		r.Latency = ev.StageTimestamp.Sub(ev.RequestReceivedTimestamp.Time).Milliseconds()
	}
	rowJSON, err := gojson.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encoding row %s: %w", id, err)
	}
	tk := timeKey(t, id)
	blob := snappy.Encode(nil, raw)
	return &Prepared{ID: id, Row: r, timeKey: tk, rowJSON: rowJSON, blob: blob, sig: signatureOf(&r)}, nil
}

func decodeBlob(b []byte) ([]byte, error) {
	if b == nil {
		return nil, fmt.Errorf("stored event body: %w", ErrNotFound)
	}
	return snappy.Decode(nil, b)
}

func itoa(n int) string { return strconv.Itoa(n) }

// minuteKey is the per-minute count key of a time key (same order as time keys).
func minuteKey(tk []byte) []byte {
	t := keyTime(tk)
	return timeKey(t.Truncate(time.Minute), "")[:8]
}

package index

import (
	"encoding/binary"
	"fmt"
	bolt "go.etcd.io/bbolt"
	"strconv"
	"sync"
	"time"

	gojson "github.com/goccy/go-json"
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
	sigNo   uint64  // the signature's number in the case (set by the writer)
	blob    []byte  // the redacted event (JSON); compressed into the blob log by a flush
	ref     blobRef // where the flush put it
	// sig is the event's group signature (every indexed field but auditID, time, latency
	// and requestURI): events sharing it in one time slice are one index document.
	sig []byte
	// reindexOnly: already stored by a killed ingest; only its group membership is written.
	reindexOnly bool
}

// eventID is auditID/stage.
// The auditID passes the redactor like every stored string (an auditID is a UUID; one
// that holds a token is fingerprinted the same way wherever it appears).
func eventID(ev *auditv1.Event) EventID {
	return EventID(redact.String(string(ev.AuditID)) + "/" + string(ev.Stage))
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

// MaxAuditID is the longest auditID a case stores, in bytes. The apiserver writes UUIDs
// (36 bytes); an event's ID is a key of the store, and bbolt refuses keys over 32 KiB,
// which aborted the whole ingest on one such event.
const MaxAuditID = 256

// maxStage bounds the stage, the other part of an event's ID (the apiserver's are at
// most 16 bytes).
const maxStage = 64

// BadEventError is an event the case cannot store. The ingest reports it at the event's
// place (FILE:LINE), counts it under Reason and goes on. Msg holds lengths and
// fingerprints, never the value (an oversized field may hold anything).
type BadEventError struct {
	Reason string // a stable reason for summaries: "bad_audit_id"
	Msg    string
}

func (e *BadEventError) Error() string { return e.Msg }

// ReasonBadAuditID is BadEventError.Reason for an auditID or stage the case cannot store.
const ReasonBadAuditID = "bad_audit_id"

// checkID refuses IDs that cannot be keys of the store (see MaxAuditID).
func checkID(ev *auditv1.Event) error {
	what, v, limit := "auditID", string(ev.AuditID), MaxAuditID
	if len(v) <= limit {
		what, v, limit = "stage", string(ev.Stage), maxStage
		if len(v) <= limit {
			return nil
		}
	}
	return &BadEventError{Reason: ReasonBadAuditID, Msg: fmt.Sprintf("%s of %d bytes (fingerprint %s) is longer than %d bytes (an apiserver writes UUIDs and short stage names): event skipped",
		what, len(v), redact.Fingerprint([]byte(v)), limit)}
}

// Prepare redacts ev into its stored form. ev itself is not modified. An event the case
// cannot store (an auditID over MaxAuditID bytes) fails with a *BadEventError.
func Prepare(ev *auditv1.Event) (*Prepared, error) {
	if err := checkID(ev); err != nil {
		return nil, err
	}
	raw, err := gojson.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("encoding event %s: %w", ev.AuditID, err)
	}
	raw, _ = redact.JSON(raw)
	// every field of the row is indexed or stored: each passes the redactor (the same
	// replacement the stored event got, so a row and its event agree)
	rs := redact.String
	id := eventID(ev)
	t := eventTime(ev)
	r := Row{
		ID: id, AuditID: rs(string(ev.AuditID)), Stage: string(ev.Stage), Time: t,
		User: rs(ev.User.Username), Verb: rs(ev.Verb), UserAgent: rs(ev.UserAgent),
		URI: rs(ev.RequestURI),
	}
	if ev.ImpersonatedUser != nil {
		r.Impersonate = rs(ev.ImpersonatedUser.Username)
	}
	if len(ev.SourceIPs) > 0 {
		r.SourceIP = rs(ev.SourceIPs[0])
	}
	if o := ev.ObjectRef; o != nil {
		r.APIGroup, r.Resource, r.Subresource, r.Namespace, r.Name = rs(o.APIGroup), rs(o.Resource), rs(o.Subresource), rs(o.Namespace), rs(o.Name)
	}
	if ev.ResponseStatus != nil {
		r.Code = int(ev.ResponseStatus.Code)
	}
	r.Decision = rs(ev.Annotations["authorization.k8s.io/decision"])
	r.Level = string(ev.Level)
	r.Groups = redactAll(ev.User.Groups)
	r.SourceIPs = redactAll(ev.SourceIPs)
	r.Reason = rs(ev.Annotations["authorization.k8s.io/reason"])
	r.Latency = -1
	if !ev.StageTimestamp.IsZero() && !ev.RequestReceivedTimestamp.IsZero() {
		r.Latency = ev.StageTimestamp.Sub(ev.RequestReceivedTimestamp.Time).Milliseconds()
	}
	tk := timeKey(t, id)
	return &Prepared{ID: id, Row: r, timeKey: tk, blob: raw, sig: signatureOf(&r)}, nil
}

// redactAll redacts each string of l, copying l only when one changes.
func redactAll(l []string) []string {
	for i, s := range l {
		if r := redact.String(s); r != s {
			out := append([]string(nil), l...)
			for j := i; j < len(out); j++ {
				out[j] = redact.String(out[j])
			}
			return out
		}
	}
	return l
}

// rowValue is a time bucket value: the event's blob reference, the ingest that stored it,
// its signature's number, and what the signature does not hold (auditID, requestURI,
// latency). Time and stage are in the key and the signature. ~100 bytes where the Row as
// JSON took ~650: the store stays small and mostly out of memory.
func (p *Prepared) rowValue(gen uint64) []byte {
	v := make([]byte, refLen, refLen+24+len(p.Row.AuditID)+len(p.Row.URI))
	p.ref.put(v)
	v = binary.AppendUvarint(v, gen)
	v = binary.AppendUvarint(v, p.sigNo)
	v = appendStr(v, p.Row.AuditID)
	v = appendStr(v, p.Row.URI)
	return binary.AppendVarint(v, p.Row.Latency)
}

// rowGen returns the ingest generation that stored a row.
func rowGen(v []byte) (uint64, error) {
	if len(v) < refLen {
		return 0, damaged(storeFile, "a row of %d bytes does not decode", len(v))
	}
	d := &sigReader{b: v[refLen:]}
	g := d.uvarint()
	return g, d.err
}

// sigCache holds a case's decoded signatures (few in most logs: tens of thousands in a
// million events), at most maxReadSigs of them.
const maxReadSigs = 100_000

type sigCache struct {
	mu sync.Mutex
	m  map[uint64]*signature
}

func (c *sigCache) get(tx *bolt.Tx, n uint64) (*signature, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.m[n]; ok {
		return s, nil
	}
	v := tx.Bucket(bSigs).Get(gidKey(n))
	if v == nil {
		return nil, damaged(storeFile, "signature %d, which a row names, is missing", n)
	}
	s, err := decodeSignature(v)
	if err != nil {
		return nil, fmt.Errorf("signature %d: %w", n, err)
	}
	if c.m == nil {
		c.m = map[uint64]*signature{}
	}
	if len(c.m) >= maxReadSigs { // a case of many identities has a signature per event
		clear(c.m)
	}
	c.m[n] = &s
	return &s, nil
}

// decodeRow decodes the time bucket entry (k, v) into r.
func (c *sigCache) decodeRow(tx *bolt.Tx, k, v []byte, r *Row) error {
	if len(v) < refLen || len(k) < 8 {
		return damaged(storeFile, "a row of %d bytes does not decode", len(v))
	}
	d := &sigReader{b: v[refLen:]}
	d.uvarint() // generation
	n := d.uvarint()
	auditID, uri := d.str(), d.str()
	lat, m := binary.Varint(d.b)
	if d.err != nil || m <= 0 {
		return damaged(storeFile, "the row at %s does not decode", keyTime(k).Format(time.RFC3339Nano))
	}
	s, err := c.get(tx, n)
	if err != nil {
		return err
	}
	*r = Row{
		ID: EventID(k[8:]), AuditID: auditID, Stage: s.Stage, Time: keyTime(k), User: s.User,
		Impersonate: s.Impersonate, UserAgent: s.UserAgent, Verb: s.Verb, APIGroup: s.APIGroup,
		Resource: s.Resource, Subresource: s.Subresource, Namespace: s.Namespace, Name: s.Name,
		Code: s.Code, Decision: s.Decision, URI: uri, Level: s.Level, Groups: s.Groups,
		SourceIPs: s.SourceIPs, Reason: s.Reason, Latency: lat,
	}
	if len(s.SourceIPs) > 0 {
		r.SourceIP = s.SourceIPs[0]
	}
	return nil
}

func itoa(n int) string { return strconv.Itoa(n) }

// minuteKey is the per-minute count key of a time key (same order as time keys).
func minuteKey(tk []byte) []byte {
	t := keyTime(tk)
	return timeKey(t.Truncate(time.Minute), "")[:8]
}

package index

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/bits"
	"slices"
	"strconv"
	"time"
)

// Groups: the unit of the search index.
//
// Most of an audit log is control-plane noise that repeats one signature: a kubelet
// renewing its lease every ten seconds is the same user, verb, resource, name, source IP
// and user agent 360 times an hour. Indexing each event costs ~0.45 ms of CPU in bleve;
// indexing each (signature, hour) once costs the same per group, and a generated 1M-event
// log has ~8 events per group. So the bleve index holds one document per group, and the
// event store holds each group's members (time keys, in time order).
//
// A group's signature is every searchable field except those that differ between
// repeats: auditID, time, latency and requestURI (a watch's URI carries its
// resourceVersion). A clause on a signature field is answered exactly by the group
// document, negations included. The others are "loose": the group document carries the
// union of its members' URIs and the min/max latency, which finds every group that may
// hold a match, and the members are then checked one by one (verify.go). Searches stay
// exact: a brute-force scan agrees with them (index_test.go).

// sliceLen is a group's time slice. Longer means fewer documents and more members to
// check at the edges of a time-range query.
var sliceLen = time.Hour // a var for tests

// maxMembers splits a busy signature's slice into several groups, bounding what one page
// of results has to read.
var maxMembers = 4096 // a var for tests

// sigFieldOrder is the order of the signature's fields in its encoding.
//
//	stage level verb user groups* impersonatedUser namespace resource subresource name
//	apiGroup sourceIPs* userAgent decision reason code
//
// (* a list: count, then the strings)
type signature struct {
	Stage, Level, Verb, User         string
	Groups                           []string
	Impersonate, Namespace, Resource string
	Subresource, Name, APIGroup      string
	SourceIPs                        []string
	UserAgent, Decision, Reason      string
	Code                             int
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendList(b []byte, l []string) []byte {
	b = binary.AppendUvarint(b, uint64(len(l)))
	for _, s := range l {
		b = appendStr(b, s)
	}
	return b
}

// signatureOf encodes r's signature; equal encodings mean equal signatures.
func signatureOf(r *Row) []byte {
	b := make([]byte, 0, 256)
	b = appendStr(b, r.Stage)
	b = appendStr(b, r.Level)
	b = appendStr(b, r.Verb)
	b = appendStr(b, r.User)
	b = appendList(b, r.Groups)
	b = appendStr(b, r.Impersonate)
	b = appendStr(b, r.Namespace)
	b = appendStr(b, r.Resource)
	b = appendStr(b, r.Subresource)
	b = appendStr(b, r.Name)
	b = appendStr(b, r.APIGroup)
	b = appendList(b, r.SourceIPs)
	b = appendStr(b, r.UserAgent)
	b = appendStr(b, r.Decision)
	b = appendStr(b, r.Reason)
	b = binary.AppendUvarint(b, uint64(r.Code))
	return b
}

// sigReader decodes an encoding; a corrupt one sets err instead of panicking.
type sigReader struct {
	b   []byte
	err error
}

func (d *sigReader) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = damaged(storeFile, "a record does not decode")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *sigReader) str() string {
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.b)) {
		if d.err == nil {
			d.err = damaged(storeFile, "a record does not decode")
		}
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

// bytes is str without a copy (a sub-slice of the input).
func (d *sigReader) bytes() []byte {
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.b)) {
		if d.err == nil {
			d.err = damaged(storeFile, "a record does not decode")
		}
		return nil
	}
	s := d.b[:n]
	d.b = d.b[n:]
	return s
}

func (d *sigReader) list() []string {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		if d.err == nil {
			d.err = damaged(storeFile, "a record does not decode")
		}
		return nil
	}
	var out []string
	for i := uint64(0); i < n && d.err == nil; i++ {
		out = append(out, d.str())
	}
	return out
}

func decodeSignature(b []byte) (signature, error) {
	d := &sigReader{b: b}
	var s signature
	s.Stage, s.Level, s.Verb, s.User = d.str(), d.str(), d.str(), d.str()
	s.Groups = d.list()
	s.Impersonate, s.Namespace, s.Resource = d.str(), d.str(), d.str()
	s.Subresource, s.Name, s.APIGroup = d.str(), d.str(), d.str()
	s.SourceIPs = d.list()
	s.UserAgent, s.Decision, s.Reason = d.str(), d.str(), d.str()
	s.Code = int(d.uvarint())
	return s, d.err
}

// facetValues appends the values of a facet field (as bleve would have indexed them:
// empty values are not indexed).
func (s *signature) facetValues(field string, out []string) []string {
	add := func(v string) {
		if v != "" {
			out = append(out, v)
		}
	}
	switch field {
	case "verb":
		add(s.Verb)
	case "user":
		add(s.User)
	case "namespace":
		add(s.Namespace)
	case "resource":
		add(s.Resource)
	case "name":
		add(s.Name)
	case "userAgent":
		add(s.UserAgent)
	case "sourceIP":
		for _, ip := range s.SourceIPs {
			add(ip)
		}
	case "code":
		if s.Code != 0 {
			add(strconv.Itoa(s.Code))
		}
	}
	return out
}

// groupHeader is what a search needs of a group without reading its members.
//
// Encoding: count, tmin, tmax (uvarint of the 8-byte time prefix), then the signature.
type groupHeader struct {
	Count      int
	Tmin, Tmax uint64 // time prefixes (timeKey's first 8 bytes)
	sig        []byte
}

func (h *groupHeader) encode() []byte {
	b := make([]byte, 0, 32+len(h.sig))
	b = binary.AppendUvarint(b, uint64(h.Count))
	b = binary.AppendUvarint(b, h.Tmin)
	b = binary.AppendUvarint(b, h.Tmax)
	return append(b, h.sig...)
}

func decodeHeader(b []byte) (groupHeader, error) {
	d := &sigReader{b: b}
	h := groupHeader{Count: int(d.uvarint()), Tmin: d.uvarint(), Tmax: d.uvarint()}
	h.sig = d.b
	return h, d.err
}

// members are a group's time keys in order, each length-prefixed.
func encodeMembers(keys [][]byte) []byte {
	n := 0
	for _, k := range keys {
		n += len(k) + 2
	}
	b := make([]byte, 0, n)
	for _, k := range keys {
		b = appendStr(b, string(k))
	}
	return b
}

// eachMember calls fn with each member key (sub-slices of b: valid while b is).
func eachMember(b []byte, fn func(k []byte) bool) error {
	for len(b) > 0 {
		n, m := binary.Uvarint(b)
		if m <= 0 || n > uint64(len(b)-m) || n < 8 {
			return damaged(storeFile, "a group's member list does not decode")
		}
		if !fn(b[m : m+int(n)]) {
			return nil
		}
		b = b[m+int(n):]
	}
	return nil
}

func prefixOf(k []byte) uint64 { return binary.BigEndian.Uint64(k[:8]) }

func prefixTime(p uint64) time.Time { return time.Unix(0, int64(p^(1<<63))).UTC() }

func timePrefix(t time.Time) uint64 { return uint64(t.UnixNano()) ^ (1 << 63) }

// openGroup collects one group's members during an ingest.
type openGroup struct {
	sig        []byte
	slice      int64
	keys       [][]byte
	uris       map[string]struct{}
	latMin     int64
	latMax     int64
	tmin, tmax uint64
}

func newOpenGroup(p *Prepared, slice int64) *openGroup {
	return &openGroup{sig: p.sig, slice: slice, uris: map[string]struct{}{}, latMin: -1, latMax: -1, tmin: ^uint64(0)}
}

func (g *openGroup) add(p *Prepared) {
	g.keys = append(g.keys, p.timeKey)
	if p.Row.URI != "" {
		g.uris[p.Row.URI] = struct{}{}
	}
	if l := p.Row.Latency; l >= 0 {
		if g.latMin < 0 || l < g.latMin {
			g.latMin = l
		}
		if l > g.latMax {
			g.latMax = l
		}
	}
	tp := prefixOf(p.timeKey)
	g.tmin, g.tmax = min(g.tmin, tp), max(g.tmax, tp)
}

// doc is the group's bleve document.
func (g *openGroup) doc(s *signature) map[string]any {
	doc := map[string]any{
		"stage": s.Stage, "level": s.Level, "verb": s.Verb, "user": s.User,
		"hour": hourTerm(time.Unix(g.slice, 0)),
	}
	put := func(k, v string) {
		if v != "" {
			doc[k] = v
		}
	}
	put("impersonatedUser", s.Impersonate)
	put("namespace", s.Namespace)
	put("resource", s.Resource)
	put("subresource", s.Subresource)
	put("name", s.Name)
	put("apiGroup", s.APIGroup)
	put("userAgent", s.UserAgent)
	put("decision", s.Decision)
	put("reason", s.Reason)
	if len(s.Groups) > 0 {
		doc["group"] = s.Groups
	}
	if len(s.SourceIPs) > 0 {
		doc["sourceIP"] = s.SourceIPs
	}
	if s.Code != 0 {
		doc["code"] = codeTerm(int64(s.Code))
	}
	if len(g.uris) > 0 {
		uris := make([]string, 0, len(g.uris))
		for u := range g.uris {
			uris = append(uris, u)
		}
		doc["requestURI"] = uris
	}
	if g.latMin >= 0 {
		var bs []string
		for b := latencyBucket(g.latMin); b <= latencyBucket(g.latMax); b++ {
			bs = append(bs, latencyTerm(b))
		}
		doc["latency"] = bs
	}
	return doc
}

// hourTerm is a group's hour as a term that sorts as time does ("2026-03-10T10").
func hourTerm(t time.Time) string { return t.UTC().Format("2006-01-02T15") }

// codeTerm is a response code as a term that sorts as the number does, for 0..999999;
// other values get a term no range reaches ("x-5"), found by equality only.
func codeTerm(c int64) string {
	if c < 0 || c > 999999 {
		return "x" + strconv.FormatInt(c, 10)
	}
	return fmt.Sprintf("%06d", c)
}

// latencyBucket is the power-of-two bucket of a latency in milliseconds (0: 0 ms, 1:
// 1 ms, 2: 2-3 ms, 3: 4-7 ms...): a group indexes every bucket between its members'
// fastest and slowest, a latency clause finds the groups whose buckets reach its bound,
// and the members are then checked exactly.
func latencyBucket(ms int64) int {
	if ms <= 0 {
		return 0
	}
	return bits.Len64(uint64(ms))
}

func latencyTerm(b int) string { return fmt.Sprintf("%02d", b) }

// sortMembers orders keys by time key (an ingest's input is mostly in time order).
func sortMembers(keys [][]byte) {
	sorted := true
	for i := 1; i < len(keys); i++ {
		if string(keys[i-1]) > string(keys[i]) {
			sorted = false
			break
		}
	}
	if !sorted {
		slices.SortFunc(keys, bytes.Compare)
	}
}

// gidKey is a group's store key: 8-byte big-endian sequence number.
func gidKey(n uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], n)
	return k[:]
}

// gidDoc is a group's bleve document ID.
func gidDoc(n uint64) string { return strconv.FormatUint(n, 36) }

func docGid(id string) (uint64, error) { return strconv.ParseUint(id, 36, 64) }

package index

import (
	"testing"
	"time"
)

// FuzzStoreRecords feeds arbitrary bytes to every decoder of the case's own records (a
// damaged events.db or events.zst): they return errors, never panic.
func FuzzStoreRecords(f *testing.F) {
	r := Row{Stage: "ResponseComplete", Verb: "get", User: "alice", Groups: []string{"a", "b"}, SourceIPs: []string{"10.0.0.1"}, Code: 200}
	sig := signatureOf(&r)
	h := groupHeader{Count: 3, Tmin: 1, Tmax: 2, sig: sig}
	f.Add(sig)
	f.Add(h.encode())
	f.Add(encodeMembers([][]byte{timeKey(time.Unix(1, 0), "x/y"), timeKey(time.Unix(2, 0), "z/w")}))
	f.Add(append(make([]byte, refLen), 1, 0, 3, 'a', 'b', 'c', 0, 2))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = decodeSignature(b)
		_, _ = decodeHeader(b)
		_ = eachMember(b, func([]byte) bool { return true })
		_, _ = getRef(b)
		_, _ = rowGen(b)
		_, _ = readBlob(byteReaderAt(b), blobRef{n: uint32(len(b))})
		_, _ = ParseClauses(string(b))
	})
}

type byteReaderAt []byte

func (b byteReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(b)) {
		return 0, errShort
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, errShort
	}
	return n, nil
}

var errShort = errorString("short read")

type errorString string

func (e errorString) Error() string { return string(e) }

package index

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// sigNumbers numbers an ingest's signatures. The numbers live in the store (bSigs:
// number → signature, bSigHash: signature hash → number); memory holds a bounded cache
// of them and the signatures numbered since the last flush. A log where every event has
// its own identity has as many signatures as events: none of that is kept in memory.
type sigNumbers struct {
	next    uint64              // the number the next new signature gets
	cache   map[[16]byte]uint64 // recently used, cleared when full
	pending map[[16]byte]uint64 // numbered since the last flush (not in the store yet)
	order   [][]byte            // pending signatures in number order
	looked  int                 // store lookups (for tests)
}

// maxSigCache bounds the cache (~70 B an entry).
const maxSigCache = 200_000

func sigHash(sig []byte) [16]byte {
	h := sha256.Sum256(sig)
	var k [16]byte
	copy(k[:], h[:16])
	return k
}

// open reads the next number from the store and indexes the hashes of a case written
// before bSigHash existed (once).
func (s *sigNumbers) open(tx *bolt.Tx) error {
	s.cache, s.pending = map[[16]byte]uint64{}, map[[16]byte]uint64{}
	sb, hb := tx.Bucket(bSigs), tx.Bucket(bSigHash)
	if k, _ := sb.Cursor().Last(); k != nil {
		s.next = binary.BigEndian.Uint64(k) + 1
	}
	if k, _ := hb.Cursor().First(); k == nil && s.next > 0 {
		return sb.ForEach(func(k, v []byte) error {
			h := sigHash(v)
			return hb.Put(h[:], k)
		})
	}
	return nil
}

// number returns sig's number, giving it the next one when the case has never seen it.
func (s *sigNumbers) number(db *bolt.DB, sig []byte) (uint64, error) {
	h := sigHash(sig)
	if n, ok := s.pending[h]; ok {
		return n, nil
	}
	if n, ok := s.cache[h]; ok {
		return n, nil
	}
	var n uint64
	found := false
	s.looked++
	err := db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bSigHash).Get(h[:]); len(v) == 8 {
			n, found = binary.BigEndian.Uint64(v), true
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("reading the signature index: %w", err)
	}
	if !found {
		n = s.next
		s.next++
		s.pending[h] = n
		s.order = append(s.order, sig)
		return n, nil
	}
	if len(s.cache) >= maxSigCache {
		clear(s.cache)
	}
	s.cache[h] = n
	return n, nil
}

// write stores the pending signatures (inside the flush's transaction).
func (s *sigNumbers) write(sb, hb *bolt.Bucket) error {
	first := s.next - uint64(len(s.order))
	for i, sig := range s.order {
		k := gidKey(first + uint64(i))
		if err := sb.Put(k, sig); err != nil {
			return err
		}
		h := sigHash(sig)
		if err := hb.Put(h[:], k); err != nil {
			return err
		}
	}
	return nil
}

// written moves the pending signatures to the cache once their transaction committed.
func (s *sigNumbers) written() {
	for h, n := range s.pending {
		if len(s.cache) >= maxSigCache {
			clear(s.cache)
		}
		s.cache[h] = n
	}
	clear(s.pending)
	s.order = s.order[:0]
}

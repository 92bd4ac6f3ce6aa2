package etcd

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// lockTimeout bounds the wait for bbolt's file lock: a running etcd holds its db file
// locked exclusively, and waiting longer would not change that.
var lockTimeout = 2 * time.Second

// keyBucket is etcd's bucket of revisions (go.etcd.io/etcd/server/v3/storage/schema).
var keyBucket = []byte("key")

// Hash states of a snapshot file: etcd appends the SHA-256 of the database to a snapshot
// it sends (etcdctl snapshot save keeps it); a member's own db file has none.
const (
	HashOK       = "ok"
	HashMismatch = "mismatch"
	HashAbsent   = "absent"
)

// Snapshot is an etcd snapshot (or a member's db file) opened read-only.
type Snapshot struct {
	Path     string
	Size     int64
	PageSize int
	// Pages is the database's high-water mark in pages.
	Pages uint64

	meta boltMeta
	db   *bolt.DB
	f    *os.File

	hashOnce sync.Once
	hash     string
	hashErr  error
}

// OpenSnapshot checks that path is a whole bbolt file and opens it read-only. The checks
// come first because bbolt maps the file: reading a page past the end of a truncated
// file would crash the process instead of returning an error.
func OpenSnapshot(path string) (*Snapshot, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening snapshot: %w", err)
	}
	s, err := checkSnapshot(f, path)
	if err != nil {
		f.Close()
		return nil, err
	}
	db, err := bolt.Open(path, 0o400, &bolt.Options{ReadOnly: true, Timeout: lockTimeout})
	if err != nil {
		f.Close()
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("opening snapshot %s: the file is locked, probably by a running etcd: take a snapshot with `etcdctl snapshot save` or use --endpoints", path)
		}
		return nil, fmt.Errorf("opening snapshot %s as bbolt: %w", path, err)
	}
	s.db = db
	if err := s.view(func(tx *bolt.Tx) error {
		if tx.Bucket(keyBucket) == nil {
			var names []string
			_ = tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
				if len(names) < 10 {
					names = append(names, QuoteKey(string(name)))
				}
				return nil
			})
			return fmt.Errorf("snapshot %s is a bbolt file without etcd's %q bucket (buckets: %s): not an etcd snapshot", path, keyBucket, strings.Join(names, ", "))
		}
		return nil
	}); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// view runs fn in a read transaction and turns bbolt's panics on corrupt pages (it
// panics rather than returning errors for those) into an error naming the file.
func (s *Snapshot) view(fn func(tx *bolt.Tx) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("reading snapshot %s: corrupt database page: %v", s.Path, r)
		}
	}()
	return s.db.View(fn)
}

func checkSnapshot(f *os.File, path string) (*Snapshot, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("opening snapshot: %w", err)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("snapshot %s is a directory (give the .db file, e.g. member/snap/db)", path)
	}
	head := make([]byte, 4096)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("snapshot %s is empty", path)
		}
		return nil, fmt.Errorf("reading snapshot %s: %w", path, err)
	}
	meta, err := pickMeta(head[:n], f.ReadAt)
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", path, err)
	}
	need := int64(meta.hwm) * int64(meta.pageSize)
	if st.Size() < need {
		return nil, fmt.Errorf("snapshot %s is truncated: %d bytes, but the database needs %d (%d pages of %d bytes): the copy was cut short", path, st.Size(), need, meta.hwm, meta.pageSize)
	}
	return &Snapshot{Path: path, Size: st.Size(), PageSize: int(meta.pageSize), Pages: meta.hwm, meta: meta, f: f}, nil
}

// Close releases the file.
func (s *Snapshot) Close() error {
	var err error
	if s.db != nil {
		err = s.db.Close()
		s.db = nil
	}
	if s.f != nil {
		s.f.Close()
		s.f = nil
	}
	return err
}

// HashState verifies the trailing SHA-256 that etcd appends to a snapshot, the way
// etcdctl's restore does (a file whose size is 32 more than a multiple of 512 has one).
// It reads the whole file once and is safe to call from another goroutine during a scan.
func (s *Snapshot) HashState() (string, error) {
	s.hashOnce.Do(func() {
		if s.Size%512 != sha256.Size {
			s.hash = HashAbsent
			return
		}
		f, err := os.Open(s.Path)
		if err != nil {
			s.hashErr = err
			return
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.CopyN(h, f, s.Size-sha256.Size); err != nil {
			s.hashErr = fmt.Errorf("hashing %s: %w", s.Path, err)
			return
		}
		want := make([]byte, sha256.Size)
		if _, err := io.ReadFull(f, want); err != nil {
			s.hashErr = fmt.Errorf("hashing %s: %w", s.Path, err)
			return
		}
		if bytes.Equal(h.Sum(nil), want) {
			s.hash = HashOK
		} else {
			s.hash = HashMismatch
		}
	})
	return s.hash, s.hashErr
}

// Each calls fn for every revision in the key bucket, oldest first: each key's latest
// value, its older revisions not yet compacted, and deletions (Deleted, Value nil). A
// revision whose stored record cannot be decoded is passed with Err set and Key as far as
// known. A corrupt page in the file ends the walk with an error, never a panic.
func (s *Snapshot) Each(ctx context.Context, fn func(Record) error) error {
	return s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(keyBucket).Cursor()
		var kv mvccpb.KeyValue
		n := 0
		mapped := s.db.Info().Data
		size := s.Size / int64(s.PageSize) * int64(s.PageSize)
		defer releaseMapped(mapped, size)
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if n++; n%4096 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
				releaseMapped(mapped, size)
			}
			rec := Record{Source: FromSnapshot}
			main, sub, tomb, perr := ParseRevisionKey(k)
			rec.ModRevision, rec.SubRevision, rec.Deleted = main, sub, tomb
			if perr != nil {
				rec.Err = fmt.Errorf("%w (key %s)", perr, sized(k))
			} else if uerr := proto.Unmarshal(v, &kv); uerr != nil {
				rec.Err = fmt.Errorf("revision %d_%d: decoding mvccpb.KeyValue: %w", main, sub, uerr)
			} else {
				rec.Key = string(kv.Key)
				rec.CreateRevision, rec.Version = kv.CreateRevision, kv.Version
				if !tomb {
					rec.Value = kv.Value
				}
			}
			if err := fn(rec); err != nil {
				return err
			}
		}
		return nil
	})
}

// Carving reads free runs in chunks of carveChunk bytes overlapping by carveOverlap, so
// memory stays bounded however large the free space is; a record longer than the overlap
// that straddles a chunk boundary is missed. Variables so tests can shrink them.
var (
	carveChunk   = 8 << 20
	carveOverlap = 1 << 20
)

// CarveStats says how much of the file was carved.
type CarveStats struct {
	FreePages int `json:"free_pages"`
	// Candidates counts KeyValue records found in free pages, before dropping those still
	// present in the live tree.
	Candidates int `json:"candidates"`
	Remnants   int `json:"remnants"`
}

// Remnants carves the pages the current tree does not reach (freed by compaction,
// deletion or copy-on-write and not yet reused or defragmented away) for etcd KeyValue
// records under prefix, and calls fn for each one whose revision is no longer in the
// live tree: data a defragmentation would erase, but which anyone holding this file can
// still read. Copies of live revisions (the usual content of free pages) are skipped.
func (s *Snapshot) Remnants(ctx context.Context, prefix string, fn func(Record) error) (st CarveStats, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("carving snapshot %s: %v", s.Path, r)
		}
	}()
	used := usedPages(s.f.ReadAt, s.meta)
	ps := int64(s.meta.pageSize)
	seen := map[string]bool{}
	tx, err := s.db.Begin(false)
	if err != nil {
		return st, fmt.Errorf("carving snapshot %s: %w", s.Path, err)
	}
	defer tx.Rollback()
	live := tx.Bucket(keyBucket)
	buf := make([]byte, carveChunk)
	for p := uint64(2); p < s.meta.hwm; {
		if used.has(p) {
			p++
			continue
		}
		// A run of consecutive free pages: a value spilling over several pages stays whole.
		start := p
		for p < s.meta.hwm && !used.has(p) {
			p++
		}
		st.FreePages += int(p - start)
		if err := ctx.Err(); err != nil {
			return st, err
		}
		// Read the run in chunks that overlap, so a record crossing a chunk boundary
		// is whole in the next chunk (records are deduplicated below).
		for off, end := int64(start)*ps, int64(p)*ps; off < end; off += int64(carveChunk - carveOverlap) {
			n := min(int64(carveChunk), end-off)
			got, rerr := s.f.ReadAt(buf[:n], off)
			if rerr != nil && got == 0 {
				return st, fmt.Errorf("carving snapshot %s at offset %d: %w", s.Path, off, rerr)
			}
			for _, kv := range carveKeyValues(buf[:got], []byte(prefix)) {
				st.Candidates++
				id := fmt.Sprintf("%d\x00%s", kv.ModRevision, kv.Key)
				if seen[id] {
					continue
				}
				seen[id] = true
				if inLiveTree(live, kv) {
					continue
				}
				st.Remnants++
				if err := fn(Record{Key: string(kv.Key), Value: kv.Value, CreateRevision: kv.CreateRevision,
					ModRevision: kv.ModRevision, Version: kv.Version, Source: FromRemnant}); err != nil {
					return st, err
				}
			}
			if off+n >= end {
				break
			}
		}
	}
	return st, nil
}

// inLiveTree reports whether the live key bucket still holds kv's revision of kv's key.
func inLiveTree(b *bolt.Bucket, kv *mvccpb.KeyValue) bool {
	c := b.Cursor()
	var got mvccpb.KeyValue
	for k, v := c.Seek(RevisionKey(kv.ModRevision, 0, false)); k != nil; k, v = c.Next() {
		main, _, _, err := ParseRevisionKey(k)
		if err != nil || main != kv.ModRevision {
			return false
		}
		if proto.Unmarshal(v, &got) == nil && bytes.Equal(got.Key, kv.Key) {
			return true
		}
	}
	return false
}

// carveKeyValues finds serialized mvccpb.KeyValue records in raw bytes: field 1 (the key,
// starting with prefix) followed by the fields a KeyValue has, in order, read with
// protowire until a byte sequence stops being one. Only records with a value are kept.
func carveKeyValues(region, prefix []byte) []*mvccpb.KeyValue {
	var out []*mvccpb.KeyValue
	for i := 0; i < len(region); {
		j := bytes.Index(region[i:], prefix)
		if j < 0 {
			break
		}
		at := i + j
		i = at + 1
		// The key's length varint and the field-1 tag come right before it.
		for lenBytes := 1; lenBytes <= 2; lenBytes++ {
			start := at - lenBytes - 1
			if start < 0 || region[start] != 0x0a {
				continue
			}
			klen, n := protowire.ConsumeVarint(region[start+1 : at])
			if n != lenBytes || klen < uint64(len(prefix)) || at+int(klen) > len(region) {
				continue
			}
			if kv := parseKeyValue(region[start:]); kv != nil {
				out = append(out, kv)
				i = at + int(klen)
			}
			break
		}
	}
	return out
}

// parseKeyValue reads KeyValue fields 1..6 in increasing order from the start of b.
func parseKeyValue(b []byte) *mvccpb.KeyValue {
	kv := &mvccpb.KeyValue{}
	last := protowire.Number(0)
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || num <= last || num > 6 {
			break
		}
		var m int
		switch {
		case typ == protowire.BytesType && (num == 1 || num == 5):
			v, k := protowire.ConsumeBytes(b[n:])
			if k < 0 {
				return nil
			}
			if num == 1 {
				kv.Key = append([]byte(nil), v...)
			} else {
				kv.Value = append([]byte(nil), v...)
			}
			m = k
		case typ == protowire.VarintType && num >= 2 && num != 5:
			v, k := protowire.ConsumeVarint(b[n:])
			if k < 0 {
				return nil
			}
			switch num {
			case 2:
				kv.CreateRevision = int64(v)
			case 3:
				kv.ModRevision = int64(v)
			case 4:
				kv.Version = int64(v)
			case 6:
				kv.Lease = int64(v)
			}
			m = k
		default:
			return finishKV(kv)
		}
		last = num
		b = b[n+m:]
	}
	return finishKV(kv)
}

func finishKV(kv *mvccpb.KeyValue) *mvccpb.KeyValue {
	if len(kv.Key) == 0 || len(kv.Value) == 0 || kv.ModRevision <= 0 {
		return nil
	}
	return kv
}

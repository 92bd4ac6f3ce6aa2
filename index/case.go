package index

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/blevesearch/bleve/v2"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/kubesleuth/kubesleuth/analyzer"
)

// Case is an open case folder. It implements Reader.
type Case struct {
	dir      string
	db       *bolt.DB
	idx      bleve.Index
	blobs    *os.File // the blob log (nil in a case without events)
	sigs     sigCache
	writable bool
	rec      *record // integrity.json as this open found it (nil: none)
	// borrowed: db and idx are a live writer's (ServeReads), which closes them
	borrowed bool
}

var _ Reader = (*Case)(nil)

const (
	storeFile = "events.db"
	indexDir  = "bleve"
	infoFile  = "case.json"
	// formatVersion is Info.Version; bump it when the folder's layout changes.
	formatVersion = 3 // 3: code, time and latency indexed as keyword terms; signature hash index
)

var (
	bEvents        = []byte("events")         // ID → 8-byte time prefix (the rest of its time key is the ID) + uvarint generation; written in sorted chunks
	bGroups        = []byte("groups")         // group number (8 bytes) → groupHeader (group.go)
	bMembers       = []byte("members")        // group number → its members' time keys
	bPendingGroups = []byte("pending-groups") // groups written by an ingest that has not finished
	bTime          = []byte("time")           // time key (time, ID) → blobRef + Row JSON
	bMinutes       = []byte("minutes")        // minute (8 bytes) → events in it (8 bytes): counts without walks
	bSigs          = []byte("signatures")     // signature number (8 bytes) → encoded signature
	bSigHash       = []byte("signature-ids")  // SHA-256 of an encoded signature (16 bytes) → its number
	bMeta          = []byte("meta")           // info, engine state, findings, secrets at rest
	kInfo          = []byte("info")           // Info JSON
	kNextGid       = []byte("next-group")     // the next group number
	kState         = []byte("engine")         // analyzer.Engine.SaveState
	kFindings      = []byte("findings")       // []analyzer.Finding JSON
	kSecrets       = []byte("secrets")        // []SecretAtRest JSON
	kEtcdFindings  = []byte("etcd-findings")  // []analyzer.Finding JSON of the last snapshot
	kSealed        = []byte("sealed")         // set by the first ingest that wrote integrity.json: from then on it must exist
	kUncommitted   = []byte("uncommitted")    // the time-key range of rows stored since the last Commit (Writer.DropUncommitted)
)

var allBuckets = [][]byte{bEvents, bTime, bMinutes, bSigs, bSigHash, bMeta, bGroups, bMembers, bPendingGroups}

// Open opens the case in dir for reading (and annotating when o.Writable). It fails with
// ErrNoCase when dir holds no case, times out when an ingest holds the store, and fails
// with a *DamagedError (errors.Is ErrDamaged) naming the file when a file is missing,
// truncated or changed since the last ingest recorded it (integrity.go: the checks are
// a few stats, the store's and the index's counts; no file is read whole).
func Open(dir string, o OpenOptions) (c *Case, err error) {
	defer guard(dir, storeFile, &err)()
	sp := filepath.Join(dir, storeFile)
	fi, err := os.Stat(sp)
	if err != nil {
		if ev := caseEvidence(dir); ev != "" {
			return nil, &DamagedError{Dir: dir, File: storeFile, What: fmt.Sprintf("missing, while the folder holds %s of a case", ev)}
		}
		return nil, fmt.Errorf("opening case %s: %w", dir, ErrNoCase)
	}
	rec, err := readRecord(dir)
	if err != nil {
		return nil, err
	}
	if rec != nil {
		if err := checkFiles(dir, rec); err != nil {
			// an ingest may have started since the record was read: it marks the record
			// before it changes a file
			again, rerr := readRecord(dir)
			if rerr != nil || again == nil || again.SHA256 == rec.SHA256 {
				return nil, err
			}
			if rec = again; checkFiles(dir, rec) != nil {
				return nil, err
			}
		}
	}
	if fi.Size() == 0 {
		if ev := caseEvidence(dir); ev != "" {
			return nil, &DamagedError{Dir: dir, File: storeFile, What: fmt.Sprintf("empty (0 bytes), while the folder holds %s of a case", ev)}
		}
		// an ingest killed as it created the store
		return nil, fmt.Errorf("opening case %s (its store is empty: the first ingest was interrupted): %w", dir, ErrNoCase)
	}
	if o.Timeout == 0 {
		o.Timeout = time.Second
	}
	// always read-only (a shared lock): annotations live in notes.json (notes.go), so an
	// open TUI never locks out searches, reports or another TUI
	db, err := bolt.Open(sp, 0o600, &bolt.Options{ReadOnly: true, Timeout: o.Timeout})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("opening case %s event store (is an ingest running?): %w", dir, err)
	}
	if err != nil {
		return nil, &DamagedError{Dir: dir, File: storeFile, What: "not a readable store: " + err.Error()}
	}
	opened := &Case{dir: dir, db: db, writable: o.Writable, rec: rec}
	c = opened
	defer func() {
		if r := recover(); r != nil {
			opened.Close()
			panic(r) // for guard, which names the file
		}
		if err != nil {
			opened.Close()
		}
	}()
	var info Info
	if err := c.checkStore(fi.Size(), &info); err != nil {
		return nil, err
	}
	if c.idx, err = openIndex(dir); err != nil {
		if errors.Is(err, bleve.ErrorIndexPathDoesNotExist) && info.Ingests == 0 && (rec == nil || rec.Ingests == 0) {
			// an ingest killed before it made the index: nothing was indexed yet
			return nil, fmt.Errorf("opening case %s (its first ingest was interrupted before it indexed anything): %w", dir, ErrNoCase)
		}
		if errors.Is(err, bleve.ErrorIndexPathDoesNotExist) {
			return nil, &DamagedError{Dir: dir, File: indexDir + "/", What: "missing"}
		}
		return nil, err
	}
	if rec == nil {
		// an older kubesleuth's case: at least an index that lost every document shows
		if err := c.checkIndexNotEmpty(); err != nil {
			return nil, err
		}
	}
	if rec != nil {
		n, err := docCount(dir, c.idx)
		if err != nil {
			return nil, err
		}
		if rec.State == stateSealed && n != rec.IndexDocs {
			return nil, &DamagedError{Dir: dir, File: indexDir + "/", What: fmt.Sprintf("holds %d documents, recorded %d when the last ingest finished (a segment did not load)", n, rec.IndexDocs)}
		}
		if n < rec.IndexDocs {
			return nil, &DamagedError{Dir: dir, File: indexDir + "/", What: fmt.Sprintf("holds %d documents, fewer than the %d recorded when the last ingest finished (a segment did not load)", n, rec.IndexDocs)}
		}
	}
	if f, err := os.Open(filepath.Join(dir, blobFile)); err == nil {
		c.blobs = f
	} else if !os.IsNotExist(err) {
		return nil, fmt.Errorf("opening case %s: %w", dir, err)
	} else if rec != nil && rec.file(blobFile) != nil {
		return nil, &DamagedError{Dir: dir, File: blobFile, What: "missing"}
	}
	return c, nil
}

// openIndex opens bleve read-only; a panic or an error of bleve's is damage of bleve/.
func openIndex(dir string) (idx bleve.Index, err error) {
	defer guard(dir, indexDir+"/", &err)()
	idx, err = bleve.OpenUsing(filepath.Join(dir, indexDir), map[string]any{"read_only": true})
	if errors.Is(err, bleve.ErrorIndexPathDoesNotExist) {
		return nil, err
	}
	if err != nil {
		return nil, &DamagedError{Dir: dir, File: indexDir + "/", What: "unreadable: " + err.Error()}
	}
	return idx, nil
}

// docCount is the index's document count; a panic of bleve's is damage of bleve/.
func docCount(dir string, idx bleve.Index) (n uint64, err error) {
	defer guard(dir, indexDir+"/", &err)()
	n, err = idx.DocCount()
	if err != nil {
		return 0, damaged(indexDir+"/", "unreadable: %v", err)
	}
	return n, nil
}

// checkIndexNotEmpty fails when the index holds no document while the store holds a
// group of a finished ingest (one lookup: for cases without a record).
func (c *Case) checkIndexNotEmpty() error {
	n, err := docCount(c.dir, c.idx)
	if err != nil || n > 0 {
		return err
	}
	return c.db.View(func(tx *bolt.Tx) error {
		k, _ := tx.Bucket(bGroups).Cursor().First()
		if k != nil && tx.Bucket(bPendingGroups).Get(k) == nil {
			return damaged(indexDir+"/", "holds no document while the store holds groups (a segment did not load)")
		}
		return nil
	})
}

// checkStore checks what an open can check of the store without reading it: its pages
// lie within the file (bbolt would fault reading past a truncated end), its buckets
// exist, and its counts agree with the record.
func (c *Case) checkStore(size int64, info *Info) error {
	return c.db.View(func(tx *bolt.Tx) error {
		if tx.Size() > size {
			return damaged(storeFile, "truncated: %d bytes, its pages need %d", size, tx.Size())
		}
		if tx.Bucket(bMeta) != nil {
			var in Info
			if err := getJSON(tx, kInfo, &in); err == nil && in.Version != 0 && in.Version != formatVersion {
				return fmt.Errorf("case %s is in format version %d; this kubesleuth reads version %d: ingest the same logs into a new case folder", c.dir, in.Version, formatVersion)
			}
		}
		for _, b := range allBuckets {
			if tx.Bucket(b) == nil {
				if tx.Bucket(bMeta) == nil && (c.rec == nil || c.rec.Ingests == 0) && caseEvidence(c.dir) == "" {
					return fmt.Errorf("opening case %s (its store is empty: the first ingest was interrupted): %w", c.dir, ErrNoCase)
				}
				return damaged(storeFile, "bucket %s is missing", b)
			}
		}
		if err := getJSON(tx, kInfo, info); err != nil {
			return err
		}
		sealed := tx.Bucket(bMeta).Get(kSealed) != nil
		r := c.rec
		switch {
		case r == nil && sealed:
			return damaged(recordFile, "missing: the store says an ingest recorded the case's files")
		case r == nil:
		case r.State == stateSealed && (info.Ingests != r.Ingests || info.Events != r.Events):
			return damaged(storeFile, "holds %d events of %d ingests, recorded %d events of %d ingests when the last ingest finished", info.Events, info.Ingests, r.Events, r.Ingests)
		case info.Ingests < r.Ingests:
			return damaged(storeFile, "holds %d ingests, fewer than the %d recorded", info.Ingests, r.Ingests)
		}
		return nil
	})
}

// Close releases the case's files.
func (c *Case) Close() error {
	if c.borrowed {
		return nil
	}
	var err error
	if c.idx != nil {
		err = c.idx.Close()
	}
	if c.blobs != nil {
		c.blobs.Close()
	}
	if e := c.db.Close(); err == nil {
		err = e
	}
	return err
}

// Dir is the case folder.
func (c *Case) Dir() string { return c.dir }

// Info returns case.json as recorded in the event store (the file is a copy for people).
func (c *Case) Info() (_ *Info, err error) {
	defer guard(c.dir, storeFile, &err)()
	var info Info
	err = c.db.View(func(tx *bolt.Tx) error {
		return getJSON(tx, kInfo, &info)
	})
	return &info, err
}

func getJSON(tx *bolt.Tx, key []byte, v any) error {
	b := tx.Bucket(bMeta)
	if b == nil {
		return nil
	}
	raw := b.Get(key)
	if raw == nil {
		return nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return damaged(storeFile, "the case's %s record does not decode", key)
	}
	return nil
}

// Event returns one redacted event as stored.
func (c *Case) Event(id EventID) (_ json.RawMessage, err error) {
	defer guard(c.dir, storeFile, &err)()
	var ref blobRef
	err = c.db.View(func(tx *bolt.Tx) error {
		_, v, err := rowValueOf(tx, id)
		if err != nil {
			return err
		}
		ref, err = getRef(v)
		return err
	})
	if err != nil {
		return nil, err
	}
	if c.blobs == nil {
		return nil, damaged(blobFile, "missing, while the store holds event %s", id)
	}
	out, err := readBlob(c.blobs, ref)
	if err != nil {
		return nil, fmt.Errorf("event %s: %w", id, err)
	}
	return out, nil
}

// timeKeyOf builds an event's time-bucket key from its ID index entry (the 8-byte time
// prefix, then the ID); false when the entry is missing or too short.
func timeKeyOf(entry []byte, id []byte) ([]byte, bool) {
	if len(entry) < 8 {
		return nil, false
	}
	return append(append(make([]byte, 0, 8+len(id)), entry[:8]...), id...), true
}

// idTimeKey looks id up in the ID index: ErrNotFound when the case does not hold it.
func idTimeKey(tx *bolt.Tx, id EventID) ([]byte, error) {
	v := tx.Bucket(bEvents).Get([]byte(id))
	if v == nil {
		return nil, fmt.Errorf("event %s: %w", id, ErrNotFound)
	}
	k, ok := timeKeyOf(v, []byte(id))
	if !ok {
		return nil, damaged(storeFile, "an entry of the ID index does not decode")
	}
	return k, nil
}

// rowValueOf returns the time bucket key and value of id (the value is valid during tx).
func rowValueOf(tx *bolt.Tx, id EventID) (key, raw []byte, err error) {
	k, err := idTimeKey(tx, id)
	if err != nil {
		return nil, nil, err
	}
	raw = tx.Bucket(bTime).Get(k)
	if raw == nil {
		return nil, nil, damaged(storeFile, "an event of the ID index has no row")
	}
	return k, raw, nil
}

// Row returns the summary of one event.
func (c *Case) Row(id EventID) (_ Row, err error) {
	defer guard(c.dir, storeFile, &err)()
	var r Row
	err = c.db.View(func(tx *bolt.Tx) error {
		var err error
		r, err = c.rowOf(tx, id)
		return err
	})
	return r, err
}

func (c *Case) rowOf(tx *bolt.Tx, id EventID) (Row, error) {
	var r Row
	k, raw, err := rowValueOf(tx, id)
	if err != nil {
		return r, err
	}
	if err := c.sigs.decodeRow(tx, k, raw, &r); err != nil {
		return r, fmt.Errorf("event %s: %w", id, err)
	}
	return r, nil
}

// Around returns up to n events before and n after id (and id itself) in time order.
func (c *Case) Around(ctx context.Context, id EventID, n int) (_ []Row, err error) {
	defer guard(c.dir, storeFile, &err)()
	var out []Row
	err = c.db.View(func(tx *bolt.Tx) error {
		k, err := idTimeKey(tx, id)
		if err != nil {
			return err
		}
		cur := tx.Bucket(bTime).Cursor()
		var before []Row
		ck, cv := cur.Seek(k)
		for i := 0; i < n; i++ {
			ck, cv = cur.Prev()
			if ck == nil {
				break
			}
			var r Row
			if err := c.sigs.decodeRow(tx, ck, cv, &r); err != nil {
				return err
			}
			before = append(before, r)
		}
		for i := len(before) - 1; i >= 0; i-- {
			out = append(out, before[i])
		}
		ck, cv = cur.Seek(k)
		for i := 0; i <= n && ck != nil; i++ {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			var r Row
			if err := c.sigs.decodeRow(tx, ck, cv, &r); err != nil {
				return err
			}
			out = append(out, r)
			ck, cv = cur.Next()
		}
		return nil
	})
	return out, err
}

// Findings returns every finding in the case, most severe first, then by first seen
// (findings without a time, the etcd ones, last within their severity).
func (c *Case) Findings() (_ []analyzer.Finding, err error) {
	defer guard(c.dir, storeFile, &err)()
	var fs []analyzer.Finding
	err = c.db.View(func(tx *bolt.Tx) error {
		var ef []analyzer.Finding
		if err := getJSON(tx, kEtcdFindings, &ef); err != nil {
			return err
		}
		if err := getJSON(tx, kFindings, &fs); err != nil {
			return err
		}
		fs = append(fs, ef...)
		return nil
	})
	sort.SliceStable(fs, func(i, j int) bool {
		if fs[i].Severity != fs[j].Severity {
			return fs[i].Severity > fs[j].Severity
		}
		// findings without a time (secrets at rest: one per secret, hundreds in a
		// snapshot) after those of the same severity that happened at a time
		if zi, zj := fs[i].FirstSeen.IsZero(), fs[j].FirstSeen.IsZero(); zi != zj {
			return zj
		}
		return fs[i].FirstSeen.Before(fs[j].FirstSeen)
	})
	return fs, err
}

// ResolveEvidence maps f's evidence auditIDs to stored events, every stage of each, in
// time order. AuditIDs no longer in the case are skipped.
func (c *Case) ResolveEvidence(f analyzer.Finding) (_ []Row, err error) {
	defer guard(c.dir, storeFile, &err)()
	var out []Row
	err = c.db.View(func(tx *bolt.Tx) error {
		cur := tx.Bucket(bEvents).Cursor()
		for _, a := range f.AuditIDs {
			p := []byte(a + "/")
			for k, _ := cur.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = cur.Next() {
				r, err := c.rowOf(tx, EventID(k))
				if err != nil {
					return err
				}
				out = append(out, r)
			}
		}
		return nil
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out, err
}

// SecretsAtRest returns the etcd secrets-at-rest records.
func (c *Case) SecretsAtRest() (_ []SecretAtRest, err error) {
	defer guard(c.dir, storeFile, &err)()
	var s []SecretAtRest
	err = c.db.View(func(tx *bolt.Tx) error { return getJSON(tx, kSecrets, &s) })
	return s, err
}

// EngineState returns the detection engine's state the last finished ingest saved (nil
// when none did): reports read the rules' coverage counts from it.
func (c *Case) EngineState() (_ []byte, err error) {
	defer guard(c.dir, storeFile, &err)()
	var out []byte
	err = c.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bMeta).Get(kState); v != nil {
			out = append([]byte(nil), v...)
		}
		return nil
	})
	return out, err
}

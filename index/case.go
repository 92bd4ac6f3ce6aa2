package index

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/blevesearch/bleve/v2"
	bolt "go.etcd.io/bbolt"

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
}

var _ Reader = (*Case)(nil)

const (
	storeFile = "events.db"
	indexDir  = "bleve"
	infoFile  = "case.json"
	// formatVersion is Info.Version; bump it when the folder's layout changes.
	formatVersion = 2
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
)

var allBuckets = [][]byte{bEvents, bTime, bMinutes, bSigs, bSigHash, bMeta, bGroups, bMembers, bPendingGroups}

// Open opens the case in dir for reading (and annotating when o.Writable). It fails with
// ErrNoCase when dir holds no case, and times out when an ingest holds the store.
func Open(dir string, o OpenOptions) (*Case, error) {
	if _, err := os.Stat(filepath.Join(dir, storeFile)); err != nil {
		return nil, fmt.Errorf("opening case %s: %w", dir, ErrNoCase)
	}
	if o.Timeout == 0 {
		o.Timeout = time.Second
	}
	// always read-only (a shared lock): annotations live in notes.json (notes.go), so an
	// open TUI never locks out searches, reports or another TUI
	db, err := bolt.Open(filepath.Join(dir, storeFile), 0o600, &bolt.Options{ReadOnly: true, Timeout: o.Timeout})
	if err != nil {
		return nil, fmt.Errorf("opening case %s event store (is an ingest running?): %w", dir, err)
	}
	idx, err := bleve.OpenUsing(filepath.Join(dir, indexDir), map[string]any{"read_only": true})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("opening case %s index: %w", dir, err)
	}
	c := &Case{dir: dir, db: db, idx: idx, writable: o.Writable}
	if f, err := os.Open(filepath.Join(dir, blobFile)); err == nil {
		c.blobs = f
	} else if !os.IsNotExist(err) {
		c.Close()
		return nil, fmt.Errorf("opening case %s: %w", dir, err)
	}
	return c, nil
}

// Close releases the case's files.
func (c *Case) Close() error {
	err := c.idx.Close()
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
func (c *Case) Info() (*Info, error) {
	var info Info
	err := c.db.View(func(tx *bolt.Tx) error {
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
		return fmt.Errorf("decoding case %s: %w", key, err)
	}
	return nil
}

// Event returns one redacted event as stored.
func (c *Case) Event(id EventID) (json.RawMessage, error) {
	var ref blobRef
	err := c.db.View(func(tx *bolt.Tx) error {
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
		return nil, fmt.Errorf("event %s: the case has no event store file: %w", id, ErrNotFound)
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

// rowValueOf returns the time bucket key and value of id (the value is valid during tx).
func rowValueOf(tx *bolt.Tx, id EventID) (key, raw []byte, err error) {
	k, ok := timeKeyOf(tx.Bucket(bEvents).Get([]byte(id)), []byte(id))
	if !ok {
		return nil, nil, fmt.Errorf("event %s: %w", id, ErrNotFound)
	}
	raw = tx.Bucket(bTime).Get(k)
	if raw == nil {
		return nil, nil, fmt.Errorf("event %s time row: %w", id, ErrNotFound)
	}
	return k, raw, nil
}

// Row returns the summary of one event.
func (c *Case) Row(id EventID) (Row, error) {
	var r Row
	err := c.db.View(func(tx *bolt.Tx) error {
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
func (c *Case) Around(ctx context.Context, id EventID, n int) ([]Row, error) {
	var out []Row
	err := c.db.View(func(tx *bolt.Tx) error {
		k, ok := timeKeyOf(tx.Bucket(bEvents).Get([]byte(id)), []byte(id))
		if !ok {
			return fmt.Errorf("event %s: %w", id, ErrNotFound)
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
func (c *Case) Findings() ([]analyzer.Finding, error) {
	var fs []analyzer.Finding
	err := c.db.View(func(tx *bolt.Tx) error {
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
func (c *Case) ResolveEvidence(f analyzer.Finding) ([]Row, error) {
	var out []Row
	err := c.db.View(func(tx *bolt.Tx) error {
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
func (c *Case) SecretsAtRest() ([]SecretAtRest, error) {
	var s []SecretAtRest
	err := c.db.View(func(tx *bolt.Tx) error { return getJSON(tx, kSecrets, &s) })
	return s, err
}

package index

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/blevesearch/bleve/v2"
	bolt "go.etcd.io/bbolt"

	"github.com/kubesleuth/kubesleuth/analyzer"
)

// Status is what the case already knows of an event, for an ingest deciding what to do.
type Status int

const (
	// New: not in the case. Store it and let the engine observe it.
	New Status = iota
	// Pending: stored by an ingest that did not finish. The engine (restored to the state
	// of the last finished ingest) must observe it again; it is not stored again.
	Pending
	// Done: in the case and analysed. Skip it.
	Done
)

// Writer adds events to a case. Order of a flush: one bbolt transaction with the events,
// their time rows and their pending marks, then the bleve batch (scorch persists it before
// Batch returns). So every indexed document has its event in the store, and a kill at any
// moment leaves a case that opens; the re-run re-indexes the pending events. Finish
// stores findings and the engine state and clears the pending marks in one transaction.
type Writer struct {
	dir   string
	db    *bolt.DB
	idx   bleve.Index
	info  Info
	buf   []*Prepared
	added int
	first *time.Time
	last  *time.Time
}

// BatchSize is the number of events per flush.
const BatchSize = 2000

// Create opens the case in dir for an ingest, creating the folder (0700) when needed.
// toolVersion is recorded in case.json.
func Create(dir, toolVersion string) (*Writer, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating case %s: %w", dir, err)
	}
	db, err := bolt.Open(filepath.Join(dir, storeFile), 0o600, &bolt.Options{Timeout: 2 * time.Second, NoFreelistSync: true})
	if err != nil {
		return nil, fmt.Errorf("opening case %s event store (another ingest running?): %w", dir, err)
	}
	w := &Writer{dir: dir, db: db}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bEvents, bBlobs, bTime, bMinutes, bPending, bMeta, bNotes} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		if err := getJSON(tx, kInfo, &w.info); err != nil {
			return err
		}
		now := time.Now().UTC()
		if w.info.Version == 0 {
			w.info = Info{Version: formatVersion, Created: now}
		}
		if w.info.Version != formatVersion {
			return fmt.Errorf("case format version %d, this kubesleuth reads %d", w.info.Version, formatVersion)
		}
		w.info.Updated, w.info.ToolVersion, w.info.Complete = now, toolVersion, false
		return putJSON(tx, kInfo, w.info)
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("case %s: %w", dir, err)
	}
	ip := filepath.Join(dir, indexDir)
	idx, err := bleve.Open(ip)
	if errors.Is(err, bleve.ErrorIndexPathDoesNotExist) {
		idx, err = bleve.NewUsing(ip, newMapping(), bleve.Config.DefaultIndexType, bleve.Config.DefaultKVStore, nil)
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("case %s index: %w", dir, err)
	}
	w.idx = idx
	if err := writeInfoFile(dir, &w.info); err != nil {
		w.Close()
		return nil, err
	}
	return w, nil
}

func putJSON(tx *bolt.Tx, key []byte, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding %s: %w", key, err)
	}
	return tx.Bucket(bMeta).Put(key, b)
}

// writeInfoFile writes case.json atomically (temp file, fsync, rename).
func writeInfoFile(dir string, info *Info) error {
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, infoFile+".tmp")
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("writing %s: %w", tmp, err)
	}
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if e := f.Close(); err == nil {
		err = e
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", tmp, err)
	}
	return os.Rename(tmp, filepath.Join(dir, infoFile))
}

// Info is the case's record as this ingest found it (sources of earlier ingests).
func (w *Writer) Info() Info { return w.info }

// EngineState returns the detection engine's state saved by the last finished ingest (nil
// for a new case).
func (w *Writer) EngineState() ([]byte, error) {
	var out []byte
	err := w.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bMeta).Get(kState); v != nil {
			out = append([]byte(nil), v...)
		}
		return nil
	})
	return out, err
}

// Classify returns the status of each ID in one read transaction.
func (w *Writer) Classify(ids []EventID) ([]Status, error) {
	out := make([]Status, len(ids))
	err := w.db.View(func(tx *bolt.Tx) error {
		ev, pend := tx.Bucket(bEvents), tx.Bucket(bPending)
		for i, id := range ids {
			switch {
			case pend.Get([]byte(id)) != nil:
				out[i] = Pending
			case ev.Get([]byte(id)) != nil:
				out[i] = Done
			}
		}
		return nil
	})
	return out, err
}

// Add queues a new event; it is written by the next Flush (automatically every BatchSize).
func (w *Writer) Add(p *Prepared) error {
	w.buf = append(w.buf, p)
	if len(w.buf) >= BatchSize {
		return w.Flush()
	}
	return nil
}

// Added is the number of events this ingest added.
func (w *Writer) Added() int { return w.added }

// Flush writes the queued events: the store first, then the index. A kill between the
// two leaves stored events marked pending and missing from the index; the re-run sees
// them as Pending and indexes them again (Reindex), an update under the same ID.
func (w *Writer) Flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	err := w.db.Update(func(tx *bolt.Tx) error {
		ev, bl, tb, pend := tx.Bucket(bEvents), tx.Bucket(bBlobs), tx.Bucket(bTime), tx.Bucket(bPending)
		// time-keyed buckets are appended in (mostly) time order: fill their pages
		bl.FillPercent, tb.FillPercent = 0.95, 0.95
		for _, p := range w.buf {
			if p.reindexOnly {
				continue
			}
			if err := ev.Put([]byte(p.ID), p.timeKey[:8]); err != nil {
				return err
			}
			if err := bl.Put(p.timeKey, p.blob); err != nil {
				return err
			}
			if err := tb.Put(p.timeKey, p.rowJSON); err != nil {
				return err
			}
			if err := pend.Put([]byte(p.ID), nil); err != nil {
				return err
			}
		}
		return addMinutes(tx.Bucket(bMinutes), w.buf)
	})
	if err != nil {
		return fmt.Errorf("writing events: %w", err)
	}
	b := w.idx.NewBatch()
	for _, p := range w.buf {
		if err := b.Index(string(p.ID), p.doc); err != nil {
			return fmt.Errorf("indexing %s: %w", p.ID, err)
		}
	}
	if err := w.idx.Batch(b); err != nil {
		return fmt.Errorf("writing index batch: %w", err)
	}
	for _, p := range w.buf {
		if p.reindexOnly {
			continue
		}
		w.added++
		t := p.Row.Time
		if w.first == nil || t.Before(*w.first) {
			w.first = &t
		}
		if w.last == nil || t.After(*w.last) {
			w.last = &t
		}
	}
	w.buf = w.buf[:0]
	return nil
}

// Reindex queues a Pending event for the index only (it is already stored).
func (w *Writer) Reindex(p *Prepared) error {
	p.reindexOnly = true
	return w.Add(p)
}

// Finish flushes, then records in one transaction the findings (replacing the previous
// ones: a restored engine reports them all), the engine state, the secrets-at-rest records
// (when non-nil), the new sources, and clears the pending marks; case.json follows.
//
// Etcd findings are kept apart from the engine's (a later audit-only ingest replaces the
// engine's findings, not the etcd ones); a new snapshot replaces the previous etcd result.
func (w *Writer) Finish(findings []analyzer.Finding, engineState []byte, etcd *EtcdResult, sources []SourceInfo) error {
	if err := w.Flush(); err != nil {
		return err
	}
	err := w.db.Update(func(tx *bolt.Tx) error {
		if findings == nil {
			findings = []analyzer.Finding{}
		}
		if err := putJSON(tx, kFindings, findings); err != nil {
			return err
		}
		if engineState != nil {
			if err := tx.Bucket(bMeta).Put(kState, engineState); err != nil {
				return err
			}
		}
		if etcd != nil {
			if etcd.Secrets == nil {
				etcd.Secrets = []SecretAtRest{}
			}
			if etcd.Findings == nil {
				etcd.Findings = []analyzer.Finding{}
			}
			if err := putJSON(tx, kSecrets, etcd.Secrets); err != nil {
				return err
			}
			if err := putJSON(tx, kEtcdFindings, etcd.Findings); err != nil {
				return err
			}
		}
		var ef []analyzer.Finding
		if err := getJSON(tx, kEtcdFindings, &ef); err != nil {
			return err
		}
		if err := tx.DeleteBucket(bPending); err != nil {
			return err
		}
		if _, err := tx.CreateBucket(bPending); err != nil {
			return err
		}
		w.info.Sources = append(w.info.Sources, sources...)
		w.info.Events = tx.Bucket(bEvents).Stats().KeyN
		w.info.Findings = len(findings) + len(ef)
		tc := tx.Bucket(bTime).Cursor()
		if k, _ := tc.First(); k != nil {
			t := keyTime(k)
			w.info.First = &t
		}
		if k, _ := tc.Last(); k != nil {
			t := keyTime(k)
			w.info.Last = &t
		}
		w.info.Updated = time.Now().UTC()
		w.info.Complete = true
		return putJSON(tx, kInfo, w.info)
	})
	if err != nil {
		return fmt.Errorf("finishing ingest: %w", err)
	}
	return writeInfoFile(w.dir, &w.info)
}

// Close releases the case without finishing (the case stays incomplete: a re-run completes it).
func (w *Writer) Close() error {
	err := w.idx.Close()
	if e := w.db.Close(); err == nil {
		err = e
	}
	return err
}

// addMinutes adds the batch's events to the per-minute counts.
func addMinutes(b *bolt.Bucket, ps []*Prepared) error {
	counts := map[string]uint64{}
	for _, p := range ps {
		if !p.reindexOnly {
			counts[string(minuteKey(p.timeKey))]++
		}
	}
	for k, n := range counts {
		if v := b.Get([]byte(k)); len(v) == 8 {
			n += binary.BigEndian.Uint64(v)
		}
		var v [8]byte
		binary.BigEndian.PutUint64(v[:], n)
		if err := b.Put([]byte(k), v[:]); err != nil {
			return err
		}
	}
	return nil
}

// EtcdResult is what an etcd snapshot adds to a case: the secrets-at-rest records and
// their findings.
type EtcdResult struct {
	Secrets  []SecretAtRest
	Findings []analyzer.Finding
}

package index

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/blevesearch/bleve/v2"
	bolt "go.etcd.io/bbolt"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/kubesleuth/kubesleuth/analyzer"
	"github.com/kubesleuth/kubesleuth/analyzer/redact"
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

// Writer adds events to a case.
//
// Events are stored as they come (bbolt, appended in time order: cheap), marked pending
// until Finish. Index documents are groups (group.go), built in memory and written when
// their hour has passed (events arrive in rough time order), when too many members are
// open, and at Finish. One flush is one bbolt transaction (events, then the groups that
// close, marked pending) followed by one bleve batch of those groups: every indexed group
// has its members stored.
//
// A kill at any moment leaves a case that opens. The next ingest deletes the pending
// groups (from bleve and the store); the re-run of the same command classifies the
// stored-but-pending events as Pending and groups them again.
//
// The ID index (auditID/stage → time) is written sorted, in large chunks: inserting
// random IDs a batch at a time rewrote most of the B+tree per batch. Until Finish it may
// miss the newest events; dedup does not need it (an event's time key is known from the
// event itself).
type Writer struct {
	dir   string
	db    *bolt.DB
	idx   bleve.Index
	info  Info
	buf   []*Prepared
	added int
	first *time.Time
	last  *time.Time

	open        map[string]*openGroup // signature + slice → group being filled
	full        []*openGroup          // groups that reached maxMembers
	openMembers int
	maxPrefix   uint64 // newest event time seen (time prefix)
	nextGid     uint64
	blobs       *blobWriter
	gen         uint64     // this ingest's generation: Info.Ingests + 1
	sigs        sigNumbers // signature → its number (bounded cache over the store)
	stored      int        // events stored or completed by this ingest (for Info.Events)

	// ids collects (ID, time prefix) of this ingest's events for the ID index, in one
	// arena: written sorted at Finish (or when it grows past idArena), so that each
	// transaction appends to the B+tree instead of rewriting it.
	ids    []byte
	idOffs []uint32

	// ctx interrupts a long flush (the index phase of Finish) between batches
	ctx context.Context

	// ucMin, ucMax bound the time keys of the rows stored since the last Commit (or since
	// Create): recorded in the store with them, so that DropUncommitted finds them.
	ucMin, ucMax []byte

	// progress holds the findings staged for the next Commit (Progress); nil: none
	progress []analyzer.Finding

	// live serves reads to other processes (ServeReads; live.go)
	live *liveServer
}

// SetContext makes the writer's flushes stop between batches once ctx is done, returning
// its error: an interrupted Finish leaves the case incomplete (kill-safe, as after a
// SIGKILL), and the same ingest run again completes it.
func (w *Writer) SetContext(ctx context.Context) { w.ctx = ctx }

func (w *Writer) interrupted() error {
	if w.ctx == nil {
		return nil
	}
	return w.ctx.Err()
}

const (
	// BatchSize is the number of events per flush.
	BatchSize = 4000
	// indexBatch is the most group documents per bleve batch: one batch of tens of
	// thousands of documents (a log where every event has its own signature) held them all
	// and their analysis in memory at once.
	indexBatch = 2000
	// maxOpenMembers bounds the memory of open groups (~60 B a member).
	maxOpenMembers = 400_000
	// maxOpenGroups bounds their number (~1 KB each with their signature and URIs)
	maxOpenGroups = 50_000
	// idArena bounds the IDs kept for the ID index (~55 B each) before a sorted write.
	idArena = 96 << 20
	// idTx is the number of IDs per ID index transaction.
	idTx = 100_000
	// sliceGrace keeps an hour's groups open this long after the hour, for late events.
	sliceGrace = 10 * time.Minute
)

// Create opens the case in dir for an ingest, creating the folder (0700) when needed.
// toolVersion is recorded in case.json. Groups left pending by a killed ingest are
// deleted first (their events are regrouped when the re-run reads them again).
//
// A case whose files are damaged is refused before anything is written (a
// *DamagedError naming the file): the checks of Open, then, when the last ingest
// finished, every recorded file's SHA-256, so that an ingest never seals damage it did
// not see. Then integrity.json is marked "ingesting" until Finish records the files anew.
func Create(dir, toolVersion string) (w *Writer, err error) {
	defer guard(dir, storeFile, &err)()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating case %s: %w", dir, err)
	}
	rec, err := checkForWrite(dir)
	if err != nil {
		return nil, err
	}
	// The freelist is synced (bbolt's default): without it, every later writable open
	// (the TUI's annotations, the next ingest) rebuilds it by reading every page, which
	// made a 1M-event case's whole store resident in the TUI.
	db, err := bolt.Open(filepath.Join(dir, storeFile), 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("opening case %s event store (is another ingest, or an investigate or search, using it? close it first): %w", dir, err)
	}
	w = &Writer{dir: dir, db: db, open: map[string]*openGroup{}}
	opened := w
	defer func() {
		if r := recover(); r != nil {
			opened.Close() // the store's lock, before guard names the damage
			panic(r)
		}
	}()
	if rec == nil {
		rec = &record{}
	}
	rec.State = stateIngesting
	if err := writeRecord(dir, rec); err != nil {
		db.Close()
		return nil, err
	}
	var stale []uint64
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		if err := getJSON(tx, kInfo, &w.info); err != nil {
			return err
		}
		now := time.Now().UTC()
		if w.info.Version == 0 {
			w.info = Info{Version: formatVersion, Created: now, CreatedBy: creator()}
		}
		if w.info.Version != formatVersion {
			return fmt.Errorf("case format version %d, this kubesleuth reads %d (ingest into a new case folder)", w.info.Version, formatVersion)
		}
		if v := tx.Bucket(bMeta).Get(kNextGid); len(v) == 8 {
			w.nextGid = binary.BigEndian.Uint64(v)
		}
		w.gen = uint64(w.info.Ingests) + 1
		if err := w.sigs.open(tx); err != nil {
			return err
		}
		if err := tx.Bucket(bPendingGroups).ForEach(func(k, _ []byte) error {
			stale = append(stale, binary.BigEndian.Uint64(k))
			return nil
		}); err != nil {
			return err
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
		if err == nil {
			// bleve writes its metadata 0644 (its own store files are 0600)
			err = os.Chmod(filepath.Join(ip, "index_meta.json"), 0o600)
		}
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("case %s index: %w", dir, err)
	}
	w.idx = idx
	if w.blobs, err = openBlobWriter(filepath.Join(dir, blobFile)); err != nil {
		w.Close()
		return nil, err
	}
	if len(stale) > 0 {
		if err := w.dropGroups(stale); err != nil {
			w.Close()
			return nil, err
		}
	}
	if err := writeInfoFile(dir, &w.info); err != nil {
		w.Close()
		return nil, err
	}
	return w, nil
}

// dropGroups deletes groups of a killed ingest: bleve first, then the store (a kill in
// between deletes them again next time).
func (w *Writer) dropGroups(gids []uint64) error {
	b := w.idx.NewBatch()
	for _, g := range gids {
		b.Delete(gidDoc(g))
	}
	if err := w.idx.Batch(b); err != nil {
		return fmt.Errorf("removing an unfinished ingest's index documents: %w", err)
	}
	return w.db.Update(func(tx *bolt.Tx) error {
		for _, g := range gids {
			k := gidKey(g)
			for _, bk := range [][]byte{bGroups, bMembers, bPendingGroups} {
				if err := tx.Bucket(bk).Delete(k); err != nil {
					return err
				}
			}
		}
		return nil
	})
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
	return writeFileAtomic(filepath.Join(dir, infoFile), append(b, '\n'))
}

// Info is the case's record as this ingest found it (sources of earlier ingests).
func (w *Writer) Info() Info { return w.info }

// EngineState returns the detection engine's state saved by the last finished ingest (nil
// for a new case).
func (w *Writer) EngineState() (_ []byte, err error) {
	defer guard(w.dir, storeFile, &err)()
	var out []byte
	err = w.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bMeta).Get(kState); v != nil {
			out = append([]byte(nil), v...)
		}
		return nil
	})
	return out, err
}

// Findings returns the engine's findings the last finished run recorded (not the etcd
// ones): a live run that forgets closed findings starts its list from them, since Finish
// replaces them.
func (w *Writer) Findings() (_ []analyzer.Finding, err error) {
	defer guard(w.dir, storeFile, &err)()
	var fs []analyzer.Finding
	err = w.db.View(func(tx *bolt.Tx) error { return getJSON(tx, kFindings, &fs) })
	return fs, err
}

// Classify returns the status of each event in one read transaction: a row stored by
// this generation (an ingest that did not finish) is Pending. Events queued by Add but
// not yet flushed are New (the audit reader already drops repeats within a run).
func (w *Writer) Classify(ps []*Prepared) (_ []Status, err error) {
	defer guard(w.dir, storeFile, &err)()
	out := make([]Status, len(ps))
	err = w.db.View(func(tx *bolt.Tx) error {
		tb := tx.Bucket(bTime)
		for i, p := range ps {
			v := tb.Get(p.timeKey)
			if v == nil {
				continue
			}
			g, err := rowGen(v)
			if err != nil {
				return fmt.Errorf("event %s: %w", p.ID, err)
			}
			out[i] = w.statusOfGen(g)
		}
		return nil
	})
	return out, err
}

// statusOfGen is the status of a stored event written by generation g: Pending when the
// ingest that wrote it did not finish, Done otherwise.
func (w *Writer) statusOfGen(g uint64) Status {
	if g > uint64(w.info.Ingests) {
		return Pending
	}
	return Done
}

// StatusOf is Classify for one decoded event, safe from many goroutines (the decoding
// workers use it to skip what the case holds before doing any work on it). It reads the
// ID index, whose entries carry the generation that wrote them: a third of the pages of
// the time-ordered rows, which matters to a re-ingest's resident memory. An event not in
// the ID index may still have a row (an ingest killed before it wrote its IDs): it is
// reported New, and Classify, which reads the rows, has the last word.
func (w *Writer) StatusOf(ev *auditv1.Event) (_ Status, err error) {
	defer guard(w.dir, storeFile, &err)()
	st := New
	err = w.db.View(func(tx *bolt.Tx) error {
		id := []byte(eventID(ev))
		v := tx.Bucket(bEvents).Get(id)
		if len(v) < 8 {
			return nil
		}
		var g uint64
		if len(v) > 8 {
			d := &sigReader{b: v[8:]}
			if g = d.uvarint(); d.err != nil {
				return fmt.Errorf("event %s: corrupt ID index entry: %w", id, d.err)
			}
		} else {
			// a case written before the ID index held generations: read the row
			k, _ := timeKeyOf(v, id)
			raw := tx.Bucket(bTime).Get(k)
			if raw == nil {
				return nil
			}
			var err error
			if g, err = rowGen(raw); err != nil {
				return err
			}
		}
		st = w.statusOfGen(g)
		return nil
	})
	return st, err
}

// Add queues a new event; it is written by the next Flush (automatically every BatchSize).
func (w *Writer) Add(p *Prepared) (err error) {
	defer guard(w.dir, storeFile, &err)()
	w.buf = append(w.buf, p)
	if err := w.group(p); err != nil {
		return err
	}
	if len(w.buf) >= BatchSize {
		return w.Flush()
	}
	return nil
}

// Reindex queues a Pending event for grouping only (it is already stored).
func (w *Writer) Reindex(p *Prepared) error {
	p.reindexOnly = true
	return w.Add(p)
}

// group puts p into its open group.
func (w *Writer) group(p *Prepared) error {
	n, err := w.sigs.number(w.db, p.sig)
	if err != nil {
		return err
	}
	p.sigNo = n
	tp := prefixOf(p.timeKey)
	slice := prefixTime(tp).Truncate(sliceLen).Unix()
	k := string(p.sig) + "\x00" + strconv.FormatInt(slice, 10)
	g := w.open[k]
	if g == nil {
		g = newOpenGroup(p, slice)
		w.open[k] = g
	}
	g.add(p)
	w.openMembers++
	w.maxPrefix = max(w.maxPrefix, tp)
	w.idOffs = append(w.idOffs, uint32(len(w.ids)))
	w.ids = append(w.ids, p.timeKey[:8]...)
	w.ids = append(w.ids, p.ID...)
	w.idOffs = append(w.idOffs, uint32(len(w.ids)))
	if len(g.keys) >= maxMembers {
		// full: it closes at the next flush; the next event of its kind opens a new one
		delete(w.open, k)
		w.full = append(w.full, g)
	}
	return nil
}

// Added is the number of events this ingest added.
func (w *Writer) Added() int { return w.added }

// Flush writes the queued events and the groups that are done.
func (w *Writer) Flush() (err error) {
	defer guard(w.dir, storeFile, &err)()
	return w.flush(false)
}

func (w *Writer) flush(all bool) error {
	closing := w.full
	w.full = nil
	for _, g := range closing {
		w.openMembers -= len(g.keys)
	}
	horizon := prefixTime(w.maxPrefix).Add(-sliceLen - sliceGrace).Unix()
	// a log whose events share few signatures keeps few groups of many members; one
	// where every event has its own identity keeps a group per event: both are bounded
	all = all || w.openMembers > maxOpenMembers || len(w.open) > maxOpenGroups
	for k, g := range w.open {
		if all || g.slice < horizon {
			closing = append(closing, g)
			delete(w.open, k)
			w.openMembers -= len(g.keys)
		}
	}
	if len(w.buf) == 0 && len(closing) == 0 {
		return nil
	}
	if err := w.interrupted(); err != nil {
		return err
	}
	sort.Slice(closing, func(i, j int) bool { return closing[i].tmin < closing[j].tmin })
	docs := make([]map[string]any, len(closing))
	gids := make([]uint64, len(closing))
	var store []*Prepared
	for _, p := range w.buf {
		if !p.reindexOnly {
			store = append(store, p)
		}
	}
	// the bodies first: a committed row always points at a body on disk
	if err := w.blobs.write(store); err != nil {
		return err
	}
	if len(store) > 0 {
		if err := w.blobs.sync(); err != nil {
			return fmt.Errorf("writing the event store: %w", err)
		}
	}
	err := w.db.Update(func(tx *bolt.Tx) error {
		tb, sb := tx.Bucket(bTime), tx.Bucket(bSigs)
		// time-keyed buckets are appended in (mostly) time order: fill their pages
		tb.FillPercent, sb.FillPercent = 0.95, 0.95
		if err := w.sigs.write(sb, tx.Bucket(bSigHash)); err != nil {
			return err
		}
		for _, p := range store {
			if err := tb.Put(p.timeKey, p.rowValue(w.gen)); err != nil {
				return err
			}
			if w.ucMin == nil || bytes.Compare(p.timeKey, w.ucMin) < 0 {
				w.ucMin = append(w.ucMin[:0], p.timeKey...)
			}
			if w.ucMax == nil || bytes.Compare(p.timeKey, w.ucMax) > 0 {
				w.ucMax = append(w.ucMax[:0], p.timeKey...)
			}
		}
		if len(store) > 0 {
			if err := tx.Bucket(bMeta).Put(kUncommitted, encodeRange(w.ucMin, w.ucMax)); err != nil {
				return err
			}
		}
		if err := addMinutes(tx.Bucket(bMinutes), w.buf); err != nil {
			return err
		}
		gb, mb, pg := tx.Bucket(bGroups), tx.Bucket(bMembers), tx.Bucket(bPendingGroups)
		gb.FillPercent, mb.FillPercent, pg.FillPercent = 0.95, 0.95, 0.95
		for i, g := range closing {
			sig, err := decodeSignature(g.sig)
			if err != nil {
				return err
			}
			sortMembers(g.keys)
			gid := w.nextGid
			w.nextGid++
			h := groupHeader{Count: len(g.keys), Tmin: g.tmin, Tmax: g.tmax, sig: g.sig}
			k := gidKey(gid)
			if err := gb.Put(k, h.encode()); err != nil {
				return err
			}
			if err := mb.Put(k, encodeMembers(g.keys)); err != nil {
				return err
			}
			if err := pg.Put(k, nil); err != nil {
				return err
			}
			docs[i], gids[i] = g.doc(&sig), gid
		}
		return tx.Bucket(bMeta).Put(kNextGid, gidKey(w.nextGid))
	})
	if err != nil {
		return fmt.Errorf("writing events: %w", err)
	}
	w.sigs.written()
	for start := 0; start < len(docs); start += indexBatch {
		if err := w.interrupted(); err != nil {
			return err
		}
		b := w.idx.NewBatch()
		for i := start; i < len(docs) && i < start+indexBatch; i++ {
			if err := b.Index(gidDoc(gids[i]), docs[i]); err != nil {
				return fmt.Errorf("indexing group %d: %w", gids[i], err)
			}
		}
		if err := w.idx.Batch(b); err != nil {
			return fmt.Errorf("writing index batch: %w", err)
		}
	}
	w.stored += len(w.buf)
	for _, p := range store {
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
	if all || len(w.ids) > idArena {
		return w.writeIDs()
	}
	return nil
}

// Commit makes everything added so far part of the case, as a finished ingest would,
// without sealing it: the open groups are closed and indexed, the ID index written, the
// pending marks cleared, case.json updated, and the generation advanced, so that the rows
// stored so far are Done. A live run (tail) commits before each checkpoint: a kill after
// a Commit loses nothing committed, and the restart reads again only what came after its
// checkpoint (stored again as Pending, or New). integrity.json stays "ingesting" until
// Finish seals the case.
//
// Each Commit closes the groups then open: a live case has a group document per
// signature per commit interval, not per hour (more index documents, same answers).
//
// Failure modes: as Flush; a failed Commit leaves the case as a kill would.
func (w *Writer) Commit() (err error) {
	defer guard(w.dir, storeFile, &err)()
	if err := w.flush(true); err != nil {
		return err
	}
	// flush writes the ID index only when it had something to write: rows an automatic
	// flush stored since need their IDs before they are Done
	if len(w.idOffs) > 0 {
		if err := w.writeIDs(); err != nil {
			return err
		}
	}
	err = w.db.Update(func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket(bPendingGroups); err != nil {
			return err
		}
		if _, err := tx.CreateBucket(bPendingGroups); err != nil {
			return err
		}
		w.info.Events += w.stored
		tc := tx.Bucket(bTime).Cursor()
		if k, _ := tc.First(); k != nil {
			t := keyTime(k)
			w.info.First = &t
		}
		if k, _ := tc.Last(); k != nil {
			t := keyTime(k)
			w.info.Last = &t
		}
		if w.progress != nil {
			if err := putJSON(tx, kFindings, redactFindings(w.progress)); err != nil {
				return err
			}
			var ef []analyzer.Finding
			if err := getJSON(tx, kEtcdFindings, &ef); err != nil {
				return err
			}
			w.info.Findings = len(w.progress) + len(ef)
		}
		w.info.Updated = time.Now().UTC()
		w.info.Ingests++
		if err := tx.Bucket(bMeta).Delete(kUncommitted); err != nil {
			return err
		}
		return putJSON(tx, kInfo, w.info)
	})
	if err != nil {
		return fmt.Errorf("committing: %w", err)
	}
	w.ucMin, w.ucMax = nil, nil
	w.progress = nil
	w.stored = 0
	w.gen = uint64(w.info.Ingests) + 1
	return writeInfoFile(w.dir, &w.info)
}

// Progress stages the findings a live run holds so far (replacing the case's, as Finish
// does); the next Commit records them in its transaction, with the events they stand
// on. Readers of the live case (ServeReads) see them from then on, and a killed run's
// restart starts its list from them (Findings), not from the last finished run's.
// Nothing is written until that Commit.
func (w *Writer) Progress(findings []analyzer.Finding) {
	if findings == nil {
		findings = []analyzer.Finding{}
	}
	w.progress = findings
}

// DropUncommitted deletes the rows a killed live run stored after its last Commit (and
// their ID index entries and minute counts): the run's checkpoint stands at that Commit,
// so its restart reads those events again and stores them anew. Without this, the
// restart's first Commit would mark them Done before it had read (and grouped) them
// all. Call it right after Create, before anything is added; it returns the number of
// rows deleted. A batch ingest does not call it: its re-run reads every file again and
// completes the rows a kill left (Pending), which this would throw away.
//
// Failure modes: a row or ID entry that does not decode is a *DamagedError.
func (w *Writer) DropUncommitted() (n int, err error) {
	defer guard(w.dir, storeFile, &err)()
	err = w.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bMeta)
		lo, hi, ok := decodeRange(meta.Get(kUncommitted))
		if !ok {
			return nil
		}
		tb, eb, mb := tx.Bucket(bTime), tx.Bucket(bEvents), tx.Bucket(bMinutes)
		var del [][]byte
		c := tb.Cursor()
		for k, v := c.Seek(lo); k != nil && bytes.Compare(k, hi) <= 0; k, v = c.Next() {
			g, err := rowGen(v)
			if err != nil {
				return err
			}
			if g > uint64(w.info.Ingests) {
				del = append(del, append([]byte(nil), k...))
			}
		}
		minutes := map[string]uint64{}
		for _, k := range del {
			if err := tb.Delete(k); err != nil {
				return err
			}
			minutes[string(minuteKey(k))]++
			id := k[8:]
			if v := eb.Get(id); len(v) >= 8 && bytes.Equal(v[:8], k[:8]) {
				if err := eb.Delete(id); err != nil {
					return err
				}
			}
		}
		for mk, d := range minutes {
			if v := mb.Get([]byte(mk)); len(v) == 8 {
				n := binary.BigEndian.Uint64(v)
				var out [8]byte
				binary.BigEndian.PutUint64(out[:], n-min(n, d))
				if err := mb.Put([]byte(mk), out[:]); err != nil {
					return err
				}
			}
		}
		n = len(del)
		return meta.Delete(kUncommitted)
	})
	return n, err
}

func encodeRange(lo, hi []byte) []byte {
	out := binary.AppendUvarint(nil, uint64(len(lo)))
	return append(append(out, lo...), hi...)
}

func decodeRange(v []byte) (lo, hi []byte, ok bool) {
	n, k := binary.Uvarint(v)
	if k <= 0 || uint64(len(v)-k) < n {
		return nil, nil, false
	}
	return v[k : k+int(n)], v[k+int(n):], true
}

// writeIDs adds the collected IDs to the ID index in sorted order, idTx per transaction:
// into a new case each transaction appends at the right edge of the tree.
func (w *Writer) writeIDs() error {
	n := len(w.idOffs) / 2
	order := make([]int32, n)
	for i := range order {
		order[i] = int32(i)
	}
	id := func(i int32) []byte { return w.ids[w.idOffs[2*i]+8 : w.idOffs[2*i+1]] }
	sort.Slice(order, func(a, b int) bool { return string(id(order[a])) < string(id(order[b])) })
	for lo := 0; lo < n; lo += idTx {
		err := w.db.Update(func(tx *bolt.Tx) error {
			eb := tx.Bucket(bEvents)
			eb.FillPercent = 0.95
			chunk := order[lo:min(n, lo+idTx)]
			// values stay valid for the transaction (bbolt keeps references until commit)
			arena := make([]byte, 0, len(chunk)*(8+binary.MaxVarintLen64))
			for _, i := range chunk {
				off := w.idOffs[2*i]
				// the time prefix, then the generation (see StatusOf)
				start := len(arena)
				arena = binary.AppendUvarint(append(arena, w.ids[off:off+8]...), w.gen)
				if err := eb.Put(id(i), arena[start:len(arena):len(arena)]); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("writing the ID index: %w", err)
		}
	}
	w.ids, w.idOffs = w.ids[:0], w.idOffs[:0]
	return nil
}

// Finish flushes (every open group included), then records in one transaction the
// findings (replacing the previous ones: a restored engine reports them all), the engine
// state, the secrets-at-rest records (when non-nil), the new sources, and clears the
// pending marks; case.json follows. Then the index, the blob log and the store are
// closed and integrity.json records every file (size, time, SHA-256; integrity.go): the
// Writer is done, Close after Finish does nothing.
//
// Etcd findings are kept apart from the engine's (a later audit-only ingest replaces the
// engine's findings, not the etcd ones); a new snapshot replaces the previous etcd result.
func (w *Writer) Finish(findings []analyzer.Finding, engineState []byte, etcd *EtcdResult, sources []SourceInfo) (err error) {
	defer guard(w.dir, storeFile, &err)()
	if err := w.flush(true); err != nil {
		return err
	}
	// a file's name can hold a token (wget names a download after its presigned URL):
	// the custody record names it as the redactor leaves it (its SHA-256 identifies it)
	for i := range sources {
		sources[i].Path, sources[i].SameAs = redact.String(sources[i].Path), redact.String(sources[i].SameAs)
		sources[i].AbsPath = redact.String(sources[i].AbsPath)
	}
	err = w.db.Update(func(tx *bolt.Tx) error {
		if findings == nil {
			findings = []analyzer.Finding{}
		}
		findings = redactFindings(findings)
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
			if err := putJSON(tx, kEtcdFindings, redactFindings(etcd.Findings)); err != nil {
				return err
			}
		}
		var ef []analyzer.Finding
		if err := getJSON(tx, kEtcdFindings, &ef); err != nil {
			return err
		}
		for _, b := range [][]byte{bPendingGroups} {
			if err := tx.DeleteBucket(b); err != nil {
				return err
			}
			if _, err := tx.CreateBucket(b); err != nil {
				return err
			}
		}
		w.info.Sources = append(w.info.Sources, sources...)
		// counted, not walked: Stats reads every page of the store
		w.info.Events += w.stored
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
		w.info.Ingests++ // this generation's rows are now Done
		if err := tx.Bucket(bMeta).Put(kSealed, []byte{1}); err != nil {
			return err
		}
		if err := tx.Bucket(bMeta).Delete(kUncommitted); err != nil {
			return err
		}
		return putJSON(tx, kInfo, w.info)
	})
	if err != nil {
		return fmt.Errorf("finishing ingest: %w", err)
	}
	if err := writeInfoFile(w.dir, &w.info); err != nil {
		return err
	}
	return w.seal()
}

// seal closes the index and the blob log, records every file while the store's lock is
// still held (no other ingest can change them in between), and closes the store.
func (w *Writer) seal() error {
	// readers open the files once the store's lock is released (after the seal)
	w.stopServing()
	docs, err := w.idx.DocCount()
	if err != nil {
		return fmt.Errorf("case %s index: %w", w.dir, err)
	}
	err = w.idx.Close()
	w.idx = nil
	if w.blobs != nil {
		if e := w.blobs.close(); err == nil {
			err = e
		}
		w.blobs = nil
	}
	if err != nil {
		return fmt.Errorf("case %s: closing: %w", w.dir, err)
	}
	files, err := recordFiles(w.dir)
	if err != nil {
		return err
	}
	rec := &record{State: stateSealed, Ingests: w.info.Ingests, Events: w.info.Events, IndexDocs: docs,
		SealedAt: time.Now().UTC(), ToolVersion: w.info.ToolVersion, Files: files}
	if err := writeRecord(w.dir, rec); err != nil {
		return err
	}
	err = w.db.Close()
	w.db = nil
	return err
}

// Close releases the case without finishing (the case stays incomplete: a re-run
// completes it). After Finish it does nothing.
func (w *Writer) Close() error {
	w.stopServing()
	var err error
	if w.idx != nil {
		err = w.idx.Close()
		w.idx = nil
	}
	if w.blobs != nil {
		w.blobs.close()
		w.blobs = nil
	}
	if w.db != nil {
		if e := w.db.Close(); err == nil {
			err = e
		}
		w.db = nil
	}
	return err
}

// indexMatchesGroups checks that the index holds every group of a finished ingest and
// none the store does not hold (a segment that did not load shows as missing documents).
func (c *Case) indexMatchesGroups() (err error) {
	defer guard(c.dir, storeFile, &err)()
	var groups, pending int
	err = c.db.View(func(tx *bolt.Tx) error {
		cur := tx.Bucket(bGroups).Cursor()
		for k, _ := cur.First(); k != nil; k, _ = cur.Next() {
			groups++
		}
		pc := tx.Bucket(bPendingGroups).Cursor()
		for k, _ := pc.First(); k != nil; k, _ = pc.Next() {
			pending++
		}
		return nil
	})
	if err != nil {
		return err
	}
	docs, err := docCount(c.dir, c.idx)
	if err != nil {
		return err
	}
	if docs+uint64(pending) < uint64(groups) || docs > uint64(groups) {
		return damaged(indexDir+"/", "holds %d documents, the store %d groups of which %d pending (a segment did not load)", docs, groups, pending)
	}
	return nil
}

// checkForWrite checks a case before an ingest writes to it and returns its record (nil
// for a new case, or one an older kubesleuth wrote): Open's checks, then, when the last
// ingest finished, every recorded file's SHA-256.
func checkForWrite(dir string) (*record, error) {
	// the hashes first, before any page is read: a page damaged under the same size and
	// time could make a read loop (a cycle in a tree) where the hash just differs
	hashed := ""
	if rec, err := readRecord(dir); err != nil {
		return nil, err
	} else if rec != nil && rec.State == stateSealed {
		hashed = rec.SHA256
		if err := verifyFiles(dir, rec); err != nil {
			// unless an ingest started meanwhile (it marks the record first): Open waits
			// for it, and fails
			if again, _ := readRecord(dir); again == nil || again.SHA256 == rec.SHA256 {
				return nil, err
			}
		}
	}
	c, err := Open(dir, OpenOptions{Timeout: 2 * time.Second})
	if errors.Is(err, ErrNoCase) {
		return readRecord(dir)
	}
	if err != nil {
		return nil, err
	}
	rec := c.rec
	if rec == nil {
		// an older kubesleuth's case: no record to hold the index to, so the store's
		// groups (a walk of their headers: this once, before the case is first sealed)
		err = c.indexMatchesGroups()
	}
	c.Close()
	if err != nil {
		return nil, err
	}
	if rec != nil && rec.State == stateSealed && rec.SHA256 != hashed {
		// Open found a newer record than the one hashed above
		if err := verifyFiles(dir, rec); err != nil {
			return nil, err
		}
	}
	return rec, nil
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

// redactFindings passes every finding stored in the case through the redactor again:
// the engine makes them redacted, but the store does not rely on its callers.
func redactFindings(fs []analyzer.Finding) []analyzer.Finding {
	out := make([]analyzer.Finding, len(fs))
	for i, f := range fs {
		out[i] = f.Redacted()
	}
	return out
}

// creator is user@host of this process, for case.json's chain of custody ("" parts
// when the system does not say).
func creator() string {
	name := ""
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, _ := os.Hostname()
	return redact.String(name + "@" + host)
}

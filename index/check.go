package index

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// VerifyReport is what Verify found: every file against the record, and the checks of
// the store, the index and the blob log against each other.
type VerifyReport struct {
	Case string `json:"case"`
	// State is "sealed" (the last ingest finished and recorded the files), "ingesting"
	// (an ingest runs or was killed: the record vouches only for what it left) or
	// "unrecorded" (no integrity.json: an older kubesleuth wrote the case).
	State    string      `json:"state"`
	SealedAt *time.Time  `json:"sealed_at,omitempty"`
	Files    []FileCheck `json:"files"`
	Checks   []Check     `json:"checks"`
	// Retimed lists the files whose content matched the record under a new modification
	// time (a copy that did not keep times): their new times are now recorded.
	Retimed []string `json:"retimed,omitempty"`
	OK      bool     `json:"ok"`
}

// FileCheck is one file of the case against the record.
type FileCheck struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256,omitempty"`
	// Status: "ok", "retimed" (content matches, new time recorded), "missing", "size",
	// "content" (SHA-256 differs), "not_recorded" (a file the record does not list),
	// "unreadable", or "unchecked" (no record to compare with).
	Status string `json:"status"`
	Detail string `json:"detail,omitempty"`
}

// Check is one consistency check.
type Check struct {
	Name   string `json:"name"`
	File   string `json:"file"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// Problems lists what failed, each naming its file.
func (r *VerifyReport) Problems() []string {
	var out []string
	for _, f := range r.Files {
		switch f.Status {
		case "ok", "retimed", "unchecked":
		default:
			out = append(out, f.Path+": "+f.Detail)
		}
	}
	for _, c := range r.Checks {
		if !c.OK {
			out = append(out, c.File+": "+c.Name+": "+c.Detail)
		}
	}
	return out
}

// Verify checks the case in dir in full: every file's SHA-256 against integrity.json,
// bbolt's consistency check of events.db, every row, ID index entry and group member
// against each other and every row's block in events.zst, the per-minute counts, the
// index's document count against the store's groups, and notes.json's checksum. It
// holds the store's shared lock throughout (no ingest runs meanwhile). When everything
// matches and only modification times changed, it records the new times.
//
// Damage goes into the report (OK false), never into the error: the error is for a
// folder that holds no case or a store another process holds.
func Verify(ctx context.Context, dir string) (rep *VerifyReport, err error) {
	rep = &VerifyReport{Case: dir, State: "unrecorded"}
	sp := filepath.Join(dir, storeFile)
	fi, serr := os.Stat(sp)
	if serr != nil && caseEvidence(dir) == "" {
		return nil, fmt.Errorf("verifying case %s: %w", dir, ErrNoCase)
	}
	rec, rerr := readRecord(dir)
	check := func(name, file string, err error, okDetail string) bool {
		c := Check{Name: name, File: file, OK: err == nil, Detail: okDetail}
		if err != nil {
			c.Detail = err.Error()
			var de *DamagedError
			if errors.As(err, &de) {
				c.File, c.Detail = de.File, de.What
			}
		}
		rep.Checks = append(rep.Checks, c)
		return err == nil
	}
	switch {
	case rerr != nil:
		check("record", recordFile, rerr, "")
	case rec == nil:
		check("record", recordFile, errors.New("none: an older kubesleuth wrote this case, or the record was removed; the next ingest records the files"), "")
	default:
		rep.State = rec.State
		t := rec.SealedAt
		rep.SealedAt = &t
		if rec.State == stateIngesting {
			check("record", recordFile, errors.New("an ingest is running or was interrupted: the files are no longer those recorded; run the same ingest again to complete the case, then verify"), "")
		} else {
			check("record", recordFile, nil, fmt.Sprintf("sealed %s by kubesleuth %s: %d files, %d events of %d ingests, %d index documents", rec.SealedAt.Format(time.RFC3339), rec.ToolVersion, len(rec.Files), rec.Events, rec.Ingests, rec.IndexDocs))
		}
	}

	// the store's shared lock first: no ingest changes the files while they are hashed
	var db *bolt.DB
	if serr == nil && fi.Size() > 0 {
		var oerr error
		db, oerr = bolt.Open(sp, 0o600, &bolt.Options{ReadOnly: true, Timeout: 2 * time.Second})
		if errors.Is(oerr, berrors.ErrTimeout) {
			return nil, fmt.Errorf("verifying case %s: its store is held by another process (is an ingest running?): %w", dir, oerr)
		}
		if oerr != nil {
			check("store", storeFile, fmt.Errorf("not a readable store: %v", oerr), "")
			db = nil
		}
	} else if serr != nil {
		check("store", storeFile, fmt.Errorf("missing"), "")
	} else {
		check("store", storeFile, fmt.Errorf("empty (0 bytes)"), "")
	}
	if db != nil {
		defer db.Close()
	}

	retimed := verifyRecordedFiles(dir, rec, rep)
	if db != nil {
		c := &Case{dir: dir, db: db, rec: rec}
		c.verifyStore(ctx, fi.Size(), rep, check)
	}
	if _, err := readNotes(dir); err != nil {
		check("notes", notesFile, err, "")
	} else {
		check("notes", notesFile, nil, "absent or its checksum matches")
	}
	rep.OK = len(rep.Problems()) == 0
	if rep.OK && len(retimed) > 0 {
		for _, i := range retimed {
			rec.Files[i].MTime = rep.fileMTime(dir, rec.Files[i].Path)
			rep.Retimed = append(rep.Retimed, rec.Files[i].Path)
		}
		if err := writeRecord(dir, rec); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

func (r *VerifyReport) fileMTime(dir, path string) int64 {
	fi, err := os.Stat(filepath.Join(dir, filepath.FromSlash(path)))
	if err != nil {
		return 0
	}
	return fi.ModTime().UnixNano()
}

// verifyRecordedFiles hashes every file of the case against rec and returns the indexes
// (in rec.Files) of the files whose content matched under a new modification time.
func verifyRecordedFiles(dir string, rec *record, rep *VerifyReport) (retimed []int) {
	paths, err := recordedPaths(dir)
	if err != nil {
		rep.Checks = append(rep.Checks, Check{Name: "files", File: ".", Detail: "listing the case's files: " + err.Error()})
		return nil
	}
	var all []FileRecord
	seen := map[string]bool{}
	for _, p := range paths {
		all = append(all, FileRecord{Path: p})
		seen[p] = true
	}
	if rec != nil {
		for _, f := range rec.Files {
			if !seen[f.Path] {
				all = append(all, FileRecord{Path: f.Path})
			}
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Path < all[j].Path })
	for i := range all {
		if fi, err := os.Stat(filepath.Join(dir, filepath.FromSlash(all[i].Path))); err == nil {
			all[i].Size = fi.Size()
			all[i].MTime = fi.ModTime().UnixNano()
		}
	}
	sums := hashAll(dir, all)
	for i, f := range all {
		fc := FileCheck{Path: f.Path, Size: f.Size, SHA256: sums[i].sum}
		var want *FileRecord
		wi := -1
		if rec != nil {
			for j := range rec.Files {
				if rec.Files[j].Path == f.Path {
					want, wi = &rec.Files[j], j
				}
			}
		}
		switch {
		case rec != nil && rec.State == stateIngesting:
			fc.Status = "unchecked"
			if want != nil && (want.Size != sums[i].size || want.SHA256 != sums[i].sum) {
				fc.Detail = "changed or removed by the unfinished ingest"
			}
		case sums[i].err != nil && os.IsNotExist(sums[i].err) && want != nil:
			fc.Status, fc.Detail = "missing", fmt.Sprintf("missing (recorded with %d bytes)", want.Size)
		case sums[i].err != nil:
			fc.Status, fc.Detail = "unreadable", "unreadable: "+sums[i].err.Error()
		case rec == nil:
			fc.Status = "unchecked"
		case want == nil:
			fc.Status, fc.Detail = "not_recorded", "not in the record: the last ingest did not leave it"
		case want.Size != sums[i].size:
			fc.Status, fc.Detail = "size", fmt.Sprintf("%d bytes, recorded with %d", sums[i].size, want.Size)
		case want.SHA256 != sums[i].sum:
			fc.Status, fc.Detail = "content", fmt.Sprintf("content differs from the record (SHA-256 %s..., recorded %s...)", shortSum(sums[i].sum), shortSum(want.SHA256))
		case want.MTime != f.MTime:
			fc.Status = "retimed"
			retimed = append(retimed, wi)
		default:
			fc.Status = "ok"
		}
		rep.Files = append(rep.Files, fc)
	}
	return retimed
}

// verifyStore runs the store's, the index's and the blob log's checks.
func (c *Case) verifyStore(ctx context.Context, size int64, rep *VerifyReport, check func(name, file string, err error, okDetail string) bool) {
	var tooBig bool
	_ = c.db.View(func(tx *bolt.Tx) error {
		if tx.Size() > size {
			tooBig = true
			check("store pages", storeFile, fmt.Errorf("truncated: %d bytes, its pages need %d", size, tx.Size()), "")
		}
		return nil
	})
	if tooBig {
		return // reading past the end would fault: nothing more can be read
	}
	// the pages bbolt's check would read blindly, on a goroutine where a fault kills
	f, err := os.Open(filepath.Join(c.dir, storeFile))
	if err == nil {
		err = checkPages(f, size, c.db.Info().PageSize)
		f.Close()
	}
	if !check("store pages", storeFile, err, "every page reachable once, within the file, holding its elements") {
		return
	}
	// bbolt's own check: every page reachable or free, once, keys in order
	var errs []string
	n := 0
	_ = c.db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check(bolt.WithKVStringer(lengthStringer{})) {
			if n++; n <= 5 {
				errs = append(errs, err.Error())
			}
		}
		return nil
	})
	if n > 0 {
		if n > 5 {
			errs = append(errs, fmt.Sprintf("and %d more", n-5))
		}
		check("bbolt consistency", storeFile, fmt.Errorf("%d error(s): %v", n, errs), "")
		return // the walks below would read the pages bbolt found wrong
	}
	check("bbolt consistency", storeFile, nil, "every page reachable or free, once")

	st, err := c.storeCounts(ctx)
	if !check("rows", storeFile, err, fmt.Sprintf("%d rows decode, each with its signature; %d per-minute counts agree with them", st.rows, st.minutes)) {
		return
	}
	var info Info
	ierr := c.db.View(func(tx *bolt.Tx) error { return getJSON(tx, kInfo, &info) })
	if ierr == nil && info.Complete && info.Events != st.rows {
		ierr = damaged(storeFile, "case info counts %d events, the store holds %d rows", info.Events, st.rows)
	}
	check("event count", storeFile, ierr, fmt.Sprintf("case info's %d events", info.Events))
	check("ID index", storeFile, st.idErr, fmt.Sprintf("%d entries, each pointing at its row", st.ids))
	check("groups", storeFile, st.groupErr, fmt.Sprintf("%d groups (%d pending) with %d members, each a row", st.groups, st.pending, st.members))
	check("blob log", blobFile, c.verifyBlocks(st.blocks), fmt.Sprintf("%d blocks decompress and hold every event their rows point at", len(st.blocks)))

	// bleve's own bbolt file first: a cycle in its pages would make bleve's open loop
	rootBolt := indexDir + "/store/root.bolt"
	if err := checkBoltFile(filepath.Join(c.dir, filepath.FromSlash(rootBolt))); err != nil {
		var de *DamagedError
		if errors.As(err, &de) {
			de.File = rootBolt
		}
		check("index pages", rootBolt, err, "")
		return
	}
	idx, err := openIndex(c.dir)
	if err == nil {
		var docs uint64
		if docs, err = docCount(c.dir, idx); err == nil {
			switch {
			case info.Complete && docs != uint64(st.groups):
				err = damaged(indexDir+"/", "holds %d documents, the store %d groups", docs, st.groups)
			case docs > uint64(st.groups) || docs+uint64(st.pending) < uint64(st.groups):
				err = damaged(indexDir+"/", "holds %d documents, the store %d groups of which %d pending", docs, st.groups, st.pending)
			case c.rec != nil && c.rec.State == stateSealed && docs != c.rec.IndexDocs:
				err = damaged(indexDir+"/", "holds %d documents, recorded %d", docs, c.rec.IndexDocs)
			}
		}
		idx.Close()
		check("index documents", indexDir+"/", err, fmt.Sprintf("%d documents, one per group of the store", docs))
	} else {
		check("index documents", indexDir+"/", err, "")
	}
}

// lengthStringer prints keys and values by length in bbolt's check errors: they may
// hold anything an audit log held.
type lengthStringer struct{}

func (lengthStringer) KeyToString(b []byte) string {
	return "(key of " + strconv.Itoa(len(b)) + " bytes)"
}
func (lengthStringer) ValueToString(b []byte) string {
	return "(value of " + strconv.Itoa(len(b)) + " bytes)"
}

type blockUse struct {
	n        uint32
	maxIndex uint16
}

type storeStats struct {
	rows, minutes, ids, groups, pending, members int
	blocks                                       map[uint64]blockUse
	idErr, groupErr                              error
}

// storeCounts walks the rows, the minute counts, the ID index and the groups and checks
// them against each other. Its error is about the rows; the others are in the stats.
func (c *Case) storeCounts(ctx context.Context) (st storeStats, err error) {
	defer guard(c.dir, storeFile, &err)()
	st.blocks = map[uint64]blockUse{}
	err = c.db.View(func(tx *bolt.Tx) error {
		perMinute := map[string]uint64{}
		cur := tx.Bucket(bTime).Cursor()
		var r Row
		for k, v := cur.First(); k != nil; k, v = cur.Next() {
			if st.rows++; st.rows&0xfff == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			if err := c.sigs.decodeRow(tx, k, v, &r); err != nil {
				return err
			}
			ref, err := getRef(v)
			if err != nil {
				return err
			}
			b, ok := st.blocks[ref.off]
			if ok && b.n != ref.n {
				return damaged(storeFile, "rows disagree on the length of the block at offset %d of %s", ref.off, blobFile)
			}
			st.blocks[ref.off] = blockUse{n: ref.n, maxIndex: max(b.maxIndex, ref.index)}
			perMinute[string(minuteKey(k))]++
		}
		mc := tx.Bucket(bMinutes).Cursor()
		for k, v := mc.First(); k != nil; k, v = mc.Next() {
			st.minutes++
			if len(v) != 8 {
				return damaged(storeFile, "a per-minute count does not decode")
			}
			if n := binary.BigEndian.Uint64(v); n != perMinute[string(k)] {
				return damaged(storeFile, "the per-minute count of %s is %d, the rows %d", keyTime(k).Format(time.RFC3339), n, perMinute[string(k)])
			}
			delete(perMinute, string(k))
		}
		if len(perMinute) > 0 {
			return damaged(storeFile, "%d minutes hold rows but no per-minute count", len(perMinute))
		}

		st.idErr = func() error {
			tb := tx.Bucket(bTime)
			ec := tx.Bucket(bEvents).Cursor()
			for k, v := ec.First(); k != nil; k, v = ec.Next() {
				st.ids++
				tk, ok := timeKeyOf(v, k)
				if !ok {
					return damaged(storeFile, "an entry of the ID index does not decode")
				}
				if tb.Get(tk) == nil {
					return damaged(storeFile, "an entry of the ID index has no row")
				}
			}
			if st.ids != st.rows {
				return damaged(storeFile, "the ID index holds %d entries, the store %d rows", st.ids, st.rows)
			}
			return nil
		}()

		st.groupErr = func() error {
			tb, mb := tx.Bucket(bTime), tx.Bucket(bMembers)
			st.pending = tx.Bucket(bPendingGroups).Stats().KeyN
			gc := tx.Bucket(bGroups).Cursor()
			for k, v := gc.First(); k != nil; k, v = gc.Next() {
				st.groups++
				h, err := decodeHeader(v)
				if err != nil {
					return err
				}
				if _, err := decodeSignature(h.sig); err != nil {
					return err
				}
				n := 0
				var merr error
				err = eachMember(mb.Get(k), func(m []byte) bool {
					n++
					if tb.Get(m) == nil {
						merr = damaged(storeFile, "a member of group %d has no row", binary.BigEndian.Uint64(k))
						return false
					}
					return true
				})
				if err == nil {
					err = merr
				}
				if err != nil {
					return err
				}
				if n != h.Count {
					return damaged(storeFile, "group %d counts %d members and lists %d", binary.BigEndian.Uint64(k), h.Count, n)
				}
				st.members += n
			}
			if st.pending == 0 && st.members != st.rows {
				return damaged(storeFile, "the groups hold %d members, the store %d rows", st.members, st.rows)
			}
			return nil
		}()
		return nil
	})
	return st, err
}

// verifyBlocks decompresses every block a row points at, once, and checks it holds the
// events they point at.
func (c *Case) verifyBlocks(blocks map[uint64]blockUse) (err error) {
	defer guard(c.dir, blobFile, &err)()
	if len(blocks) == 0 {
		return nil
	}
	if c.blobs == nil {
		f, err := os.Open(filepath.Join(c.dir, blobFile))
		if err != nil {
			return damaged(blobFile, "unreadable: %v", err)
		}
		defer f.Close()
		c.blobs = f
		defer func() { c.blobs = nil }()
	}
	offs := make([]uint64, 0, len(blocks))
	for off := range blocks {
		offs = append(offs, off)
	}
	sort.Slice(offs, func(i, j int) bool { return offs[i] < offs[j] })
	var end uint64
	for _, off := range offs {
		b := blocks[off]
		if off < end {
			return damaged(storeFile, "rows point at overlapping blocks of %s (at offsets %d and below %d)", blobFile, off, end)
		}
		end = off + uint64(b.n)
		if _, err := readBlob(c.blobs, blobRef{off: off, n: b.n, index: b.maxIndex}); err != nil {
			return err
		}
	}
	return nil
}

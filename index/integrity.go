package index

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"sync"
	"time"
)

// The integrity record (integrity.json) is the case's chain of custody for its own files.
//
// When an ingest finishes it records every file it wrote (events.db, events.zst,
// case.json, every file under bleve/) with its size, modification time and SHA-256, the
// store's ingest and event counts and the index's document count, and seals the record
// with the SHA-256 of its own content. When an ingest starts it checks the files against
// the record in full (SHA-256: an ingest never seals damage it did not see), then marks
// the record "ingesting" before it changes anything.
//
// Every open checks cheaply, so that a 1 GB case still opens in milliseconds: the record's
// seal; each file's size; its modification time (a file whose time changed but not its
// size is hashed when it is at most hashOnOpen bytes, a copy that did not keep times,
// and refused otherwise until kubesleuth case verify has checked it); the store's page
// count against its file size (bbolt would fault reading past the end); the store's
// ingest and event counts and the index's document count against the record. While the
// record says "ingesting" (an ingest runs, or was killed) only what an ingest cannot
// undo is checked: events.db and events.zst never shrink, the index never holds fewer
// documents than when the record was sealed.
//
// Verify checks everything: every file's SHA-256, bbolt's own consistency check, every
// row against its block in events.zst, the store's counts against each other and the
// index's document count against the store's groups.
//
// What this cannot see on open: a change that keeps a file's size and modification time
// (bit rot, a deliberate edit that restores the time). Verify and the next ingest see it.
//
// notes.json is not in the record: a TUI rewrites it at any time, so it carries its own
// checksum (notes.go).
const (
	recordFile     = "integrity.json"
	recordVersion  = 1
	stateSealed    = "sealed"
	stateIngesting = "ingesting"
)

// hashOnOpen is the largest file whose content an open hashes when its modification
// time no longer matches the record (~20 ms); larger ones need kubesleuth case verify.
var hashOnOpen int64 = 32 << 20 // a var for tests

// ErrDamaged is wrapped by every error about a case file that is missing, truncated,
// changed since an ingest recorded it, or unreadable: *DamagedError names the file.
var ErrDamaged = errors.New("case damaged")

// DamagedError is a case file that does not hold what the case recorded, or that does
// not decode. The case is never answered from, nor written to, past such an error.
type DamagedError struct {
	Dir  string // the case folder
	File string // the file, relative to the case folder (slash-separated; "bleve/" for the index as a whole)
	What string // what is wrong, without any content of the file
	// Unverified: the file changed (size kept, new modification time) and is too large
	// to hash on open; verify decides.
	Unverified bool
}

func (e *DamagedError) Error() string {
	if e.Unverified {
		return fmt.Sprintf("case %s: %s %s: run kubesleuth case verify --case %s, which checks every file's SHA-256 against the record and records the new times when they match",
			e.Dir, e.File, e.What, e.Dir)
	}
	return fmt.Sprintf("case %s is damaged: %s: %s (kubesleuth case verify --case %s checks every file; restore the case folder from a copy, or ingest the sources into a new case folder)",
		e.Dir, e.File, e.What, e.Dir)
}

// Is makes errors.Is(err, ErrDamaged) hold.
func (e *DamagedError) Is(target error) bool { return target == ErrDamaged }

// damaged is a DamagedError without its folder: the API boundary (guard) fills it in.
func damaged(file, format string, a ...any) *DamagedError {
	return &DamagedError{File: file, What: fmt.Sprintf(format, a...)}
}

// guard is deferred by every API method: it turns a panic of bbolt, bleve or a decoder
// (a corrupt page, a short record) into a *DamagedError naming file, and fills in the
// folder of damage reported below it. Faults reading a memory-mapped file become panics
// while the method runs (debug.SetPanicOnFault), so a truncated file cannot kill the
// process either. Use: defer guard(dir, file, &err)().
func guard(dir, file string, err *error) func() {
	old := debug.SetPanicOnFault(true)
	return func() {
		debug.SetPanicOnFault(old)
		if r := recover(); r != nil {
			msg := fmt.Sprint(r)
			if len(msg) > 200 {
				msg = msg[:200] + "..."
			}
			*err = &DamagedError{Dir: dir, File: file, What: "reading it failed: " + msg}
			return
		}
		var de *DamagedError
		if *err != nil && errors.As(*err, &de) && de.Dir == "" {
			de.Dir = dir
		}
	}
}

// FileRecord is one file of the case as an ingest left it.
type FileRecord struct {
	Path   string `json:"path"` // relative to the case folder, slash-separated
	Size   int64  `json:"size"`
	MTime  int64  `json:"mtime_ns"`
	SHA256 string `json:"sha256"`
}

// record is integrity.json.
type record struct {
	Version int    `json:"version"`
	State   string `json:"state"` // stateSealed or stateIngesting
	// Ingests and Events are the store's Info when the record was sealed.
	Ingests     int          `json:"ingests"`
	Events      int          `json:"events"`
	IndexDocs   uint64       `json:"index_documents"`
	SealedAt    time.Time    `json:"sealed_at"`
	ToolVersion string       `json:"tool_version"`
	Files       []FileRecord `json:"files"`
	// SHA256 seals the record: the SHA-256 of its compact JSON with this field empty.
	SHA256 string `json:"sha256"`
}

func (r *record) seal() string {
	c := *r
	c.SHA256 = ""
	b, _ := json.Marshal(&c)
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func (r *record) file(path string) *FileRecord {
	for i := range r.Files {
		if r.Files[i].Path == path {
			return &r.Files[i]
		}
	}
	return nil
}

// readRecord returns the case's record, nil when it has none (a new case, or one written
// before records existed). A record that does not decode or whose seal does not match
// is damage.
func readRecord(dir string) (*record, error) {
	b, err := os.ReadFile(filepath.Join(dir, recordFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, &DamagedError{Dir: dir, File: recordFile, What: "unreadable: " + err.Error()}
	}
	var r record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, &DamagedError{Dir: dir, File: recordFile, What: fmt.Sprintf("does not decode (%d bytes)", len(b))}
	}
	if r.Version != recordVersion || (r.State != stateSealed && r.State != stateIngesting) {
		return nil, &DamagedError{Dir: dir, File: recordFile, What: fmt.Sprintf("version %d, state %q: not a record this kubesleuth writes", r.Version, r.State)}
	}
	if r.SHA256 != r.seal() {
		return nil, &DamagedError{Dir: dir, File: recordFile, What: "its seal (SHA-256 of its content) does not match: it was edited or damaged"}
	}
	// byte for byte as writeRecord writes it: JSON decoding forgives what the seal
	// would not see (the case of a key, spacing)
	if want, _ := json.MarshalIndent(&r, "", "  "); !bytes.Equal(append(want, '\n'), b) {
		return nil, &DamagedError{Dir: dir, File: recordFile, What: "not as kubesleuth wrote it: it was edited or damaged"}
	}
	return &r, nil
}

// writeRecord seals r and writes it atomically.
func writeRecord(dir string, r *record) error {
	r.Version = recordVersion
	r.SHA256 = r.seal()
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(dir, recordFile), append(b, '\n')); err != nil {
		return fmt.Errorf("case %s: recording its files: %w", dir, err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	return nil
}

// shortSum is a SHA-256 as messages quote it.
func shortSum(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

// checkFiles compares the files with the record: the cheap check of every open.
func checkFiles(dir string, r *record) error {
	for _, f := range r.Files {
		if r.State == stateIngesting && f.Path != storeFile && f.Path != blobFile {
			continue // rewritten, or merged away, by the ingest
		}
		p := filepath.Join(dir, filepath.FromSlash(f.Path))
		fi, err := os.Stat(p)
		if err != nil {
			what := "unreadable: " + err.Error()
			if errors.Is(err, fs.ErrNotExist) {
				what = fmt.Sprintf("missing (recorded with %d bytes)", f.Size)
			}
			return &DamagedError{Dir: dir, File: f.Path, What: what}
		}
		if r.State == stateIngesting {
			// an ingest ran since the record was sealed: it only ever adds to these two
			if (f.Path == storeFile || f.Path == blobFile) && fi.Size() < f.Size {
				return &DamagedError{Dir: dir, File: f.Path, What: fmt.Sprintf("%d bytes, fewer than the %d recorded when the last ingest finished (an ingest only adds to it)", fi.Size(), f.Size)}
			}
			continue
		}
		if fi.Size() != f.Size {
			return &DamagedError{Dir: dir, File: f.Path, What: fmt.Sprintf("%d bytes, recorded with %d when the last ingest finished", fi.Size(), f.Size)}
		}
		if fi.ModTime().UnixNano() == f.MTime {
			continue
		}
		if fi.Size() > hashOnOpen {
			return &DamagedError{Dir: dir, File: f.Path, Unverified: true,
				What: fmt.Sprintf("changed since the last ingest recorded it (same size, modification time %s, recorded %s: a copy that did not keep times, or an edit); its %d bytes are not hashed on open",
					fi.ModTime().UTC().Format(time.RFC3339Nano), time.Unix(0, f.MTime).UTC().Format(time.RFC3339Nano), fi.Size())}
		}
		sum, err := hashPath(p)
		if err != nil {
			return &DamagedError{Dir: dir, File: f.Path, What: "unreadable: " + err.Error()}
		}
		if sum != f.SHA256 {
			return &DamagedError{Dir: dir, File: f.Path, What: fmt.Sprintf("content differs from the record (SHA-256 %s..., recorded %s...)", shortSum(sum), shortSum(f.SHA256))}
		}
	}
	return nil
}

// verifyFiles hashes every recorded file (an ingest's check before it writes).
func verifyFiles(dir string, r *record) error {
	sums := hashAll(dir, r.Files)
	for i, f := range r.Files {
		if sums[i].err != nil {
			return &DamagedError{Dir: dir, File: f.Path, What: "unreadable: " + sums[i].err.Error()}
		}
		if sums[i].sum != f.SHA256 {
			return &DamagedError{Dir: dir, File: f.Path, What: fmt.Sprintf("content differs from the record (SHA-256 %s..., recorded %s...)", shortSum(sums[i].sum), shortSum(f.SHA256))}
		}
		if sums[i].size != f.Size {
			return &DamagedError{Dir: dir, File: f.Path, What: fmt.Sprintf("%d bytes, recorded with %d", sums[i].size, f.Size)}
		}
	}
	return nil
}

func hashPath(p string) (string, error) {
	s, _, err := hashFileAt(p)
	return s, err
}

func hashFileAt(p string) (string, int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", n, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

type fileSum struct {
	sum  string
	size int64
	err  error
}

// hashAll hashes files on two goroutines (events.db, the largest, on one; the rest on
// the other, mostly).
func hashAll(dir string, files []FileRecord) []fileSum {
	out := make([]fileSum, len(files))
	order := make([]int, len(files))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return files[order[a]].Size > files[order[b]].Size })
	next := make(chan int, len(order))
	for _, i := range order {
		next <- i
	}
	close(next)
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				s, n, err := hashFileAt(filepath.Join(dir, filepath.FromSlash(files[i].Path)))
				out[i] = fileSum{s, n, err}
			}
		}()
	}
	wg.Wait()
	return out
}

// recordedPaths lists the files an ingest records: the store, the blob log, case.json
// and everything under bleve/ (sorted, slash-separated).
func recordedPaths(dir string) ([]string, error) {
	var out []string
	for _, f := range []string{storeFile, blobFile, infoFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			out = append(out, f)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	err := filepath.WalkDir(filepath.Join(dir, indexDir), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.Type().IsRegular() {
			rel, err := filepath.Rel(dir, p)
			if err != nil {
				return err
			}
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	sort.Strings(out)
	return out, err
}

// recordFiles stats and hashes the files an ingest leaves.
func recordFiles(dir string) ([]FileRecord, error) {
	paths, err := recordedPaths(dir)
	if err != nil {
		return nil, fmt.Errorf("case %s: listing its files: %w", dir, err)
	}
	files := make([]FileRecord, len(paths))
	for i, p := range paths {
		fi, err := os.Stat(filepath.Join(dir, filepath.FromSlash(p)))
		if err != nil {
			return nil, fmt.Errorf("case %s: %w", dir, err)
		}
		files[i] = FileRecord{Path: p, Size: fi.Size(), MTime: fi.ModTime().UnixNano()}
	}
	sums := hashAll(dir, files)
	for i := range files {
		if sums[i].err != nil {
			return nil, fmt.Errorf("case %s: hashing %s: %w", dir, files[i].Path, sums[i].err)
		}
		if sums[i].size != files[i].Size {
			return nil, fmt.Errorf("case %s: %s changed while it was hashed", dir, files[i].Path)
		}
		files[i].SHA256 = sums[i].sum
	}
	return files, nil
}

// caseEvidence names a file that shows dir held a case (for a store that is missing or
// empty: that is damage, not a new case), or "".
func caseEvidence(dir string) string {
	if r, err := readRecord(dir); err != nil || (r != nil && (r.Ingests > 0 || len(r.Files) > 0)) {
		return recordFile
	}
	if fi, err := os.Stat(filepath.Join(dir, blobFile)); err == nil && fi.Size() > 0 {
		return blobFile
	}
	if _, err := os.Stat(filepath.Join(dir, indexDir)); err == nil {
		return indexDir + "/"
	}
	return ""
}

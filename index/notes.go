package index

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/kubesleuth/kubesleuth/analyzer/redact"
)

// Annotations (bookmarks and notes) live in notes.json beside the event store, not in it:
// writing to events.db needs its exclusive lock, which a TUI left open would hold all
// day against every search and report. notes.json is small, rewritten whole (temp file,
// fsync, rename) under notes.lock, so two TUIs on one case do not lose each other's notes.
//
// It is not in integrity.json (a TUI rewrites it at any time, an ingest never): it
// carries its own checksum, {"sha256": SHA-256 of the notes array as written, "notes":
// [...]}. A file that fails it is damage, never read nor rewritten. A bare array is
// the format of older cases, read as it is.
const (
	notesFile = "notes.json"
	notesLock = "notes.lock"
)

// Annotations returns every bookmark and note, oldest update first.
func (c *Case) Annotations() (_ []Annotation, err error) {
	defer guard(c.dir, notesFile, &err)()
	return readNotes(c.dir)
}

// notesDoc is notes.json.
type notesDoc struct {
	SHA256 string          `json:"sha256"`
	Notes  json.RawMessage `json:"notes"`
}

func readNotes(dir string) ([]Annotation, error) {
	b, err := os.ReadFile(filepath.Join(dir, notesFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading notes: %w", err)
	}
	raw := bytes.TrimSpace(b)
	if !bytes.HasPrefix(raw, []byte("[")) {
		var d notesDoc
		if err := json.Unmarshal(raw, &d); err != nil || d.Notes == nil {
			return nil, damaged(notesFile, "does not decode (%d bytes)", len(b))
		}
		if sum := sha256.Sum256(d.Notes); hex.EncodeToString(sum[:]) != d.SHA256 {
			return nil, damaged(notesFile, "its checksum does not match its notes: edited or damaged")
		}
		if !bytes.Equal(notesBytes(d.SHA256, d.Notes), b) {
			return nil, damaged(notesFile, "not as kubesleuth wrote it: edited or damaged")
		}
		raw = d.Notes
	}
	var out []Annotation
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, damaged(notesFile, "does not decode (%d bytes)", len(b))
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Updated.Before(out[j].Updated) })
	return out, nil
}

// notesBytes is notes.json as written: readNotes wants it byte for byte (JSON decoding
// forgives what the checksum would not see, such as the case of a key).
func notesBytes(sum string, notes []byte) []byte {
	doc := append([]byte(`{"sha256": "`+sum+`", "notes": `), notes...)
	return append(doc, "}\n"...)
}

// Annotate saves a; an annotation neither bookmarked nor noted is removed. It needs the
// case opened with OpenOptions.Writable, and waits up to a few seconds for another
// writer of the notes.
func (c *Case) Annotate(a Annotation) error { return annotate(c.dir, c.writable, a) }

func annotate(dir string, writable bool, a Annotation) (err error) {
	defer guard(dir, notesFile, &err)()
	if !writable {
		return errors.New("annotating: the case was opened read-only")
	}
	if a.Target.Kind != "event" && a.Target.Kind != "finding" {
		return fmt.Errorf("annotating: target kind %q (want event or finding)", a.Target.Kind)
	}
	if a.Updated.IsZero() {
		a.Updated = time.Now().UTC()
	}
	a.Note = redact.String(a.Note) // a token pasted into a note is not kept either
	unlock, err := lockFile(filepath.Join(dir, notesLock), 5*time.Second)
	if err != nil {
		return fmt.Errorf("annotating: %w", err)
	}
	defer unlock()
	notes, err := readNotes(dir)
	if err != nil {
		return fmt.Errorf("annotating: %w", err)
	}
	out := notes[:0]
	for _, n := range notes {
		if n.Target != a.Target {
			out = append(out, n)
		}
	}
	if a.Bookmarked || strings.TrimSpace(a.Note) != "" {
		out = append(out, a)
	}
	if out == nil {
		out = []Annotation{}
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	sum := sha256.Sum256(b)
	if err := writeFileAtomic(filepath.Join(dir, notesFile), notesBytes(hex.EncodeToString(sum[:]), b)); err != nil {
		return fmt.Errorf("annotating: %w", err)
	}
	return nil
}

// writeFileAtomic replaces path with b (0600): a temp file, fsync, rename.
func writeFileAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600) // redact: case.json and notes.json, whose texts are redacted by their writers
	if err != nil {
		return fmt.Errorf("writing %s: %w", tmp, err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if e := f.Close(); err == nil {
		err = e
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", tmp, err)
	}
	return os.Rename(tmp, path)
}

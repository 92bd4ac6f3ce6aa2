package index

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

// TestPrepareRefusesUnstorableIDs: an auditID or stage that cannot be a store key is a
// *BadEventError whose message gives its length and fingerprint, not the value; the
// longest accepted ID is stored and found.
func TestPrepareRefusesUnstorableIDs(t *testing.T) {
	ev := func(id, stage string) *auditv1.Event {
		return &auditv1.Event{AuditID: types.UID(id), Stage: auditv1.Stage(stage), Verb: "get",
			RequestReceivedTimestamp: metav1.NewMicroTime(time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC))}
	}
	for _, c := range []struct {
		ev   *auditv1.Event
		what string
		n    int
	}{
		{ev(strings.Repeat("a", 33000), "ResponseComplete"), "auditID", 33000},
		{ev(strings.Repeat("b", MaxAuditID+1), "ResponseComplete"), "auditID", MaxAuditID + 1},
		{ev("7e5d9b1a-0000-0000-0000-000000000001", strings.Repeat("S", 5000)), "stage", 5000},
	} {
		_, err := Prepare(c.ev)
		var be *BadEventError
		if !errors.As(err, &be) || be.Reason != ReasonBadAuditID {
			t.Fatalf("%s of %d bytes: %v, want a BadEventError", c.what, c.n, err)
		}
		if !strings.Contains(be.Msg, c.what+" of "+itoa(c.n)+" bytes (fingerprint sha256:") || strings.Contains(be.Msg, "aaaa") || strings.Contains(be.Msg, "SSSS") {
			t.Errorf("message %q: want the length and fingerprint, not the value", be.Msg)
		}
	}
	dir := t.TempDir()
	w, err := Create(dir, "test")
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("c", MaxAuditID)
	p, err := Prepare(ev(long, "ResponseComplete"))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Add(p); err != nil {
		t.Fatal(err)
	}
	if err := w.Finish(nil, nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	w.Close()
	c, err := Open(dir, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if r, err := c.Row(EventID(long + "/ResponseComplete")); err != nil || r.AuditID != long {
		t.Errorf("an auditID of %d bytes: %v", MaxAuditID, err)
	}
}

// copyCase copies the case in src to a new folder; keepTimes gives each file the
// modification time of its original (cp -a), otherwise they get the time of the copy.
func copyCase(t testing.TB, src string, keepTimes bool) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "case")
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	if keepTimes {
		err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
			if err != nil || fi.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(src, p)
			return os.Chtimes(filepath.Join(dst, rel), fi.ModTime(), fi.ModTime())
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// ingestFresh adds n events with new auditIDs (copies of f's) through the writer.
func ingestFresh(t testing.TB, dir string, f *fixture, n int) error {
	return ingestAs(t, dir, f, "fresh", n, true)
}

// ingestAs ingests copies of f's first n events under auditIDs named by prefix, as the
// ingest command does (events a killed ingest stored are regrouped, not stored again);
// finish false leaves it as a killed ingest would.
func ingestAs(t testing.TB, dir string, f *fixture, prefix string, n int, finish bool) error {
	t.Helper()
	w, err := Create(dir, "test")
	if err != nil {
		return err
	}
	defer w.Close()
	var ps []*Prepared
	for i := range n {
		ev := f.events[i].DeepCopy()
		ev.AuditID = types.UID(fmt.Sprintf("%s-%012d", prefix, i))
		p, err := Prepare(ev)
		if err != nil {
			return err
		}
		ps = append(ps, p)
	}
	st, err := w.Classify(ps)
	if err != nil {
		return err
	}
	for i, p := range ps {
		switch st[i] {
		case New:
			err = w.Add(p)
		case Pending:
			err = w.Reindex(p)
		}
		if err != nil {
			return err
		}
	}
	if !finish {
		return w.Flush()
	}
	return w.Finish(nil, []byte(`{}`), nil, nil)
}

func wantDamaged(t *testing.T, err error, file string) {
	t.Helper()
	var de *DamagedError
	if !errors.As(err, &de) || !errors.Is(err, ErrDamaged) {
		t.Fatalf("%v: want a *DamagedError naming %s", err, file)
	}
	if de.File != file || !strings.Contains(err.Error(), file) || !strings.Contains(err.Error(), "kubesleuth case verify") {
		t.Fatalf("%v: want it to name %s and say what to do", err, file)
	}
}

func total(t *testing.T, dir string, q string) int {
	t.Helper()
	c, err := Open(dir, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	res, err := c.Search(context.Background(), Query{Text: q, Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	return res.Total
}

// TestIntegrityRecord walks the record through what happens to a case: a finished
// ingest seals it; a copy that keeps times opens as it is, one that does not is hashed
// (small files) or refused until Verify has checked it and recorded the new times
// (large ones); an edited record, a removed record, an edited case.json are damage;
// an ingest killed after it started (the record says "ingesting") leaves a case that
// opens and that the next ingest completes and seals.
func TestIntegrityRecord(t *testing.T) {
	f := buildCase(t, 2000)
	all := total(t, f.dir, "*")
	rec, err := readRecord(f.dir)
	if err != nil || rec == nil || rec.State != stateSealed || rec.Events != all || rec.Ingests != 1 || rec.IndexDocs == 0 {
		t.Fatalf("record after an ingest: %+v, %v", rec, err)
	}
	for _, p := range []string{storeFile, blobFile, infoFile, "bleve/index_meta.json", "bleve/store/root.bolt"} {
		if rec.file(p) == nil {
			t.Errorf("the record does not list %s", p)
		}
	}

	t.Run("copy keeping times", func(t *testing.T) {
		if n := total(t, copyCase(t, f.dir, true), "*"); n != all {
			t.Errorf("%d events, want %d", n, all)
		}
	})
	t.Run("copy with new times, small files", func(t *testing.T) {
		if n := total(t, copyCase(t, f.dir, false), "*"); n != all {
			t.Errorf("%d events, want %d", n, all)
		}
	})
	t.Run("copy with new times, large files", func(t *testing.T) {
		defer func(n int64) { hashOnOpen = n }(hashOnOpen)
		hashOnOpen = 0 // every file counts as too large to hash on open
		dir := copyCase(t, f.dir, false)
		_, err := Open(dir, OpenOptions{})
		var de *DamagedError
		if !errors.As(err, &de) || !de.Unverified || !strings.Contains(err.Error(), "kubesleuth case verify") {
			t.Fatalf("open: %v, want it refused until verified", err)
		}
		if err := ingestFresh(t, dir, f, 5); err == nil {
			t.Fatal("an ingest into the unverified copy went ahead")
		}
		rep, err := Verify(context.Background(), dir)
		if err != nil || !rep.OK || len(rep.Retimed) != len(rec.Files) {
			t.Fatalf("verify: %v, %+v", err, rep)
		}
		if n := total(t, dir, "*"); n != all {
			t.Errorf("after verify: %d events, want %d", n, all)
		}
	})
	t.Run("record edited", func(t *testing.T) {
		dir := copyCase(t, f.dir, true)
		p := filepath.Join(dir, recordFile)
		b, _ := os.ReadFile(p)
		b = bytes.Replace(b, []byte(`"events": `+itoa(all)), []byte(`"events": `+itoa(all+1)), 1)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Open(dir, OpenOptions{})
		wantDamaged(t, err, recordFile)
	})
	t.Run("record removed", func(t *testing.T) {
		dir := copyCase(t, f.dir, true)
		os.Remove(filepath.Join(dir, recordFile))
		_, err := Open(dir, OpenOptions{})
		wantDamaged(t, err, recordFile)
		wantDamaged(t, ingestFresh(t, dir, f, 5), recordFile)
	})
	t.Run("case.json edited", func(t *testing.T) {
		dir := copyCase(t, f.dir, true)
		p := filepath.Join(dir, infoFile)
		b, _ := os.ReadFile(p)
		b[len(b)/2] ^= 1
		os.WriteFile(p, b, 0o600)
		_, err := Open(dir, OpenOptions{})
		wantDamaged(t, err, infoFile)
	})
	t.Run("same size and time, changed content: the ingest refuses", func(t *testing.T) {
		dir := copyCase(t, f.dir, true)
		p := filepath.Join(dir, blobFile)
		fi, _ := os.Stat(p)
		b, _ := os.ReadFile(p)
		b[len(b)/3] ^= 0x55
		os.WriteFile(p, b, 0o600)
		os.Chtimes(p, fi.ModTime(), fi.ModTime())
		wantDamaged(t, ingestFresh(t, dir, f, 5), blobFile)
		rep, err := Verify(context.Background(), dir)
		if err != nil || rep.OK || len(rep.Problems()) == 0 || !strings.HasPrefix(rep.Problems()[0], blobFile) {
			t.Fatalf("verify: %v, %+v", err, rep)
		}
	})
	t.Run("killed ingest", func(t *testing.T) {
		dir := copyCase(t, f.dir, true)
		if err := ingestAs(t, dir, f, "killed", 300, false); err != nil {
			t.Fatal(err)
		}
		if r, _ := readRecord(dir); r == nil || r.State != stateIngesting {
			t.Fatalf("record during an ingest: %+v", r)
		}
		if n := total(t, dir, "*"); n != all+300 {
			t.Errorf("the killed ingest's case: %d events, want %d", n, all+300)
		}
		rep, err := Verify(context.Background(), dir)
		if err != nil || rep.OK || rep.State != stateIngesting {
			t.Errorf("verify of an incomplete case: %v, %+v", err, rep)
		}
		if err := ingestAs(t, dir, f, "killed", 300, true); err != nil { // the same command again
			t.Fatal(err)
		}
		if n := total(t, dir, "*"); n != all+300 {
			t.Errorf("the re-run's case: %d events, want %d", n, all+300)
		}
		if r, _ := readRecord(dir); r == nil || r.State != stateSealed {
			t.Fatalf("record after the re-run: %+v", r)
		}
		if rep, err := Verify(context.Background(), dir); err != nil || !rep.OK {
			t.Errorf("verify after the re-run: %v, %v", err, rep.Problems())
		}
	})
	t.Run("killed ingest, then the store truncated", func(t *testing.T) {
		dir := copyCase(t, f.dir, true)
		w, err := Create(dir, "test")
		if err != nil {
			t.Fatal(err)
		}
		w.Close()
		if err := os.Truncate(filepath.Join(dir, storeFile), rec.file(storeFile).Size/2); err != nil {
			t.Fatal(err)
		}
		_, err = Open(dir, OpenOptions{})
		wantDamaged(t, err, storeFile)
		wantDamaged(t, ingestFresh(t, dir, f, 5), storeFile)
	})
}

// TestLegacyCase: a case an older kubesleuth wrote (no record, no seal mark in the
// store) opens as before; its next ingest records it.
func TestLegacyCase(t *testing.T) {
	f := buildCase(t, 2000)
	os.Remove(filepath.Join(f.dir, recordFile))
	db, err := bolt.Open(filepath.Join(f.dir, storeFile), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bMeta).Delete(kSealed) }); err != nil {
		t.Fatal(err)
	}
	db.Close()

	// a segment that does not load: the ingest refuses before bleve deletes its files
	broken := copyCase(t, f.dir, true)
	zaps, _ := filepath.Glob(filepath.Join(broken, "bleve", "store", "*.zap"))
	if len(zaps) == 0 {
		t.Fatal("no segment")
	}
	os.Remove(zaps[0]) // bleve opens the older snapshot: no documents
	_, err = Open(broken, OpenOptions{})
	wantDamaged(t, err, indexDir+"/")
	wantDamaged(t, ingestFresh(t, broken, f, 5), indexDir+"/")

	n := total(t, f.dir, "*")
	if rep, err := Verify(context.Background(), f.dir); err != nil || rep.OK || rep.State != "unrecorded" {
		t.Errorf("verify of a case without a record: %v %+v", err, rep)
	}
	if err := ingestFresh(t, f.dir, f, 10); err != nil {
		t.Fatal(err)
	}
	if got := total(t, f.dir, "*"); got != n+10 {
		t.Errorf("%d events, want %d", got, n+10)
	}
	if rep, err := Verify(context.Background(), f.dir); err != nil || !rep.OK {
		t.Errorf("verify after the ingest: %v %v", err, rep.Problems())
	}
}

// TestNotesChecksum: notes.json carries its own checksum: an edit is damage that
// Annotations reports and Annotate does not overwrite; the older bare-array format reads.
func TestNotesChecksum(t *testing.T) {
	f := buildCase(t, 2000)
	c, err := Open(f.dir, OpenOptions{Writable: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	a := Annotation{Target: Target{Kind: "event", ID: string(f.rows[3].ID)}, Note: "exfiltration starts here"}
	if err := c.Annotate(a); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(f.dir, notesFile)
	good, _ := os.ReadFile(p)
	os.WriteFile(p, bytes.Replace(good, []byte("starts"), []byte("stopps"), 1), 0o600)
	_, err = c.Annotations()
	wantDamaged(t, err, notesFile)
	wantDamaged(t, c.Annotate(Annotation{Target: Target{Kind: "event", ID: "x/y"}, Bookmarked: true}), notesFile)
	if b, _ := os.ReadFile(p); !bytes.Contains(b, []byte("stopps")) {
		t.Error("Annotate rewrote the damaged notes")
	}
	os.WriteFile(p, []byte(`[{"target":{"kind":"event","id":"a/b"},"bookmarked":true,"updated":"2026-03-02T08:00:00Z"}]`), 0o600)
	if as, err := c.Annotations(); err != nil || len(as) != 1 || as[0].Target.ID != "a/b" {
		t.Errorf("the older format: %+v %v", as, err)
	}
	if rep, err := Verify(context.Background(), f.dir); err != nil || !rep.OK {
		t.Errorf("verify: %v %v", err, rep.Problems())
	}
}

// TestVerifyCorruptPages: a store page whose element claims a key far past the page
// (the fault that killed verify: bbolt's Check reads it on its own goroutine, where a
// fault is fatal, not a panic), a branch pointing back at its parent (a cycle), and a
// child pointer past the file are reported, not crashed on.
func TestVerifyCorruptPages(t *testing.T) {
	f := buildCase(t, 2000)
	leaf, branch := -1, -1
	{
		fh, err := os.Open(filepath.Join(f.dir, storeFile))
		if err != nil {
			t.Fatal(err)
		}
		fi, _ := fh.Stat()
		m, err := readMeta(fh, 4096)
		if err != nil {
			t.Fatal(err)
		}
		w := &pageWalker{f: fh, ps: 4096, hwm: m.pgid, seen: map[uint64]bool{}}
		stack := []uint64{m.root}
		for len(stack) > 0 {
			id := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			b, err := w.read(id, branchFlag|leafFlag)
			if err != nil {
				t.Fatal(err)
			}
			kids, _ := w.elements(id, b)
			flags := binary.LittleEndian.Uint16(b[8:])
			if flags&leafFlag != 0 && binary.LittleEndian.Uint16(b[10:]) > 0 && leaf < 0 {
				leaf = int(id)
			}
			if flags&branchFlag != 0 && branch < 0 {
				branch = int(id)
			}
			stack = append(stack, kids...)
		}
		fh.Close()
		if leaf < 0 || branch < 0 || fi.Size() == 0 {
			t.Fatalf("no leaf (%d) or branch (%d) page in the store", leaf, branch)
		}
	}
	for _, c := range []struct {
		name string
		at   int64
		val  uint64
		n    int
		// cycle: a reader's cursor would descend without end (bbolt does not look
		// for cycles, and an open cannot afford to walk the tree): only verify and the
		// next ingest see it, as every change that keeps a file's size and time
		cycle bool
	}{
		{"key size past the file", int64(leaf)*4096 + 16 + 8, 0x186355dc, 4, false},
		{"branch child is itself", int64(branch)*4096 + 16 + 8, uint64(branch), 8, true},
		{"branch child past the file", int64(branch)*4096 + 16 + 8, 1 << 40, 8, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := copyCase(t, f.dir, true)
			p := filepath.Join(dir, storeFile)
			fi, _ := os.Stat(p)
			fh, err := os.OpenFile(p, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			b := binary.LittleEndian.AppendUint64(nil, c.val)
			fh.WriteAt(b[:c.n], c.at)
			fh.Close()
			os.Chtimes(p, fi.ModTime(), fi.ModTime())
			// the readers, which cannot see a change of same size and time: they answer
			// or fail, and end
			done := make(chan struct{})
			go func() {
				defer close(done)
				if c.cycle {
					return
				}
				c, err := Open(dir, OpenOptions{})
				if err != nil {
					return
				}
				defer c.Close()
				for _, q := range []Query{{Newest: true}, {}, {Text: "verb:get", Facets: []string{"user"}}, {Histogram: time.Minute}} {
					_, err := c.Search(context.Background(), q)
					if err != nil && !errors.Is(err, ErrDamaged) {
						t.Errorf("search %+v: %v", q, err)
					}
				}
				c.Info()
				c.Findings()
				c.Around(context.Background(), f.rows[5].ID, 5)
			}()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("the readers did not end")
			}
			rep, err := Verify(context.Background(), dir)
			if err != nil || rep.OK {
				t.Fatalf("verify: %v %+v", err, rep)
			}
			// the ingest hashes every file before it reads any page: it refuses
			wantDamaged(t, ingestFresh(t, dir, f, 5), storeFile)
			found := false
			for _, pr := range rep.Problems() {
				found = found || strings.HasPrefix(pr, storeFile+": store pages:")
			}
			if !found {
				t.Errorf("verify does not report the page: %v", rep.Problems())
			}
		})
	}
}

// TestKilledIngestAfterMerges: an ingest into a sealed case that made bleve merge away
// recorded segments, then was killed, leaves a case that opens (the record says
// "ingesting": only what an ingest never undoes is checked) and that a re-run seals.
func TestKilledIngestAfterMerges(t *testing.T) {
	f := buildCase(t, 2000)
	rec, _ := readRecord(f.dir)
	var zaps []string
	for _, fr := range rec.Files {
		if strings.HasSuffix(fr.Path, ".zap") {
			zaps = append(zaps, fr.Path)
		}
	}
	defer func(m int) { maxMembers = m }(maxMembers)
	maxMembers = 1 // every event closes its group: one index batch (a segment) per flush
	w, err := Create(f.dir, "test")
	if err != nil {
		t.Fatal(err)
	}
	gone := func() bool {
		for _, z := range zaps {
			if _, err := os.Stat(filepath.Join(f.dir, z)); err != nil {
				return true
			}
		}
		return false
	}
	n := 0
	for i := 0; i < 3000 && !gone(); i++ {
		ev := f.events[i%len(f.events)].DeepCopy()
		ev.AuditID = types.UID(fmt.Sprintf("merge-%012d", i))
		p, _ := Prepare(ev)
		if err := w.Add(p); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		n++
		if i%100 == 99 {
			time.Sleep(50 * time.Millisecond) // the merger runs in the background
		}
	}
	if !gone() {
		t.Skip("bleve merged no recorded segment away: nothing to test")
	}
	w.Close() // killed
	c, err := Open(f.dir, OpenOptions{})
	if err != nil {
		t.Fatalf("the killed ingest's case: %v", err)
	}
	c.Close()
	t.Logf("%d events flushed one by one before a recorded segment was merged away", n)
}

package index

import (
	"fmt"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
	"k8s.io/apimachinery/pkg/types"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

// TestStatusOf checks the workers' prefilter (StatusOf, which reads the ID index) against
// Classify (which reads the rows) for events of a finished ingest, events of an ingest
// killed after it wrote its IDs, unknown events, and ID entries of the older format
// without a generation.
func TestStatusOf(t *testing.T) {
	f := buildCase(t, 2000)
	fresh := func(i int) *auditv1.Event {
		ev := f.events[i].DeepCopy()
		ev.AuditID = types.UID(fmt.Sprintf("00000000-0000-0000-0000-%012d", i))
		return ev
	}
	check := func(w *Writer, ev *auditv1.Event, want Status) {
		t.Helper()
		got, err := w.StatusOf(ev)
		if err != nil {
			t.Fatal(err)
		}
		p, err := Prepare(ev)
		if err != nil {
			t.Fatal(err)
		}
		cl, err := w.Classify([]*Prepared{p})
		if err != nil {
			t.Fatal(err)
		}
		if got != want || cl[0] != want {
			t.Errorf("event %s: StatusOf %v, Classify %v; want %v", IDOf(ev), got, cl[0], want)
		}
	}

	// an ingest that stores new events and their IDs, then dies without Finish
	w, err := Create(f.dir, "test")
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 500, 999} {
		check(w, f.events[i], Done)
		check(w, fresh(i), New)
	}
	for i := range 10 {
		p, err := Prepare(fresh(i))
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Add(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := w.writeIDs(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	// the next ingest: the killed one's events are Pending (regrouped, not stored again)
	w, err = Create(f.dir, "test")
	if err != nil {
		t.Fatal(err)
	}
	check(w, fresh(3), Pending)
	check(w, fresh(20), New)
	check(w, f.events[7], Done)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	// an ID entry of the older format (time prefix only): the row's generation decides
	db, err := bolt.Open(filepath.Join(f.dir, storeFile), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bEvents)
		for _, ev := range []*auditv1.Event{f.events[7], fresh(4)} {
			id := []byte(IDOf(ev))
			v := b.Get(id)
			if len(v) <= 8 {
				return fmt.Errorf("ID entry of %s: %d bytes, want a generation after the time prefix", id, len(v))
			}
			if err := b.Put(id, append([]byte(nil), v[:8]...)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	w, err = Create(f.dir, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	check(w, f.events[7], Done)
	check(w, fresh(4), Pending)
}

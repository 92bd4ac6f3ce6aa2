package pipeline

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/kubesleuth/kubesleuth/ingest/audit"
)

func line(id int) string {
	ts := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC).Add(time.Duration(id) * time.Second).Format(time.RFC3339Nano)
	return fmt.Sprintf(`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"id-%06d","stage":"ResponseComplete","verb":"get","user":{"username":"u"},"requestReceivedTimestamp":%q,"stageTimestamp":%q}`+"\n", id, ts, ts)
}

// follower runs a Follow in the background and collects the auditIDs it hands over.
type follower struct {
	mu     sync.Mutex
	ids    []string
	errs   []string
	cancel context.CancelFunc
	done   chan error
	f      *Follow
}

func startFollow(t *testing.T, f *Follow) *follower {
	t.Helper()
	fl := &follower{f: f, done: make(chan error, 1)}
	if f.Poll == 0 {
		f.Poll = 10 * time.Millisecond
	}
	f.Opts.OnError = func(e *audit.InputError) {
		fl.mu.Lock()
		fl.errs = append(fl.errs, e.Error())
		fl.mu.Unlock()
	}
	ctx, cancel := context.WithCancel(context.Background())
	fl.cancel = cancel
	nw := func() Worker { return func(*auditv1.Event) Work { return Work{} } }
	go func() {
		fl.done <- f.Each(ctx, nw, func(r Record) error {
			fl.mu.Lock()
			fl.ids = append(fl.ids, string(r.Event.AuditID))
			fl.mu.Unlock()
			return nil
		})
	}()
	t.Cleanup(func() { cancel(); <-fl.done })
	return fl
}

func (fl *follower) waitN(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		fl.mu.Lock()
		got := append([]string(nil), fl.ids...)
		fl.mu.Unlock()
		if len(got) >= n {
			time.Sleep(50 * time.Millisecond) // and no more than n
			fl.mu.Lock()
			got = append([]string(nil), fl.ids...)
			fl.mu.Unlock()
			return got
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("%d events handed over, want %d", len(fl.ids), n)
	return nil
}

func appendTo(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

func checkIDs(t *testing.T, got []string, from, to int) {
	t.Helper()
	if len(got) != to-from+1 {
		t.Fatalf("%d events, want %d (ids %d..%d): %v", len(got), to-from+1, from, to, got)
	}
	for i, id := range got {
		if want := fmt.Sprintf("id-%06d", from+i); id != want {
			t.Fatalf("event %d is %s, want %s", i, id, want)
		}
	}
}

// A first run starts at the end of the last complete line; a line written in two
// pieces is handed over once, whole.
func TestFollowStartsAtEndAndWaitsForWholeLines(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "audit.log")
	appendTo(t, log, line(1)+line(2)+line(3)[:40]) // a writer in the middle of line 3
	fl := startFollow(t, &Follow{Path: log})
	time.Sleep(100 * time.Millisecond)
	appendTo(t, log, line(3)[40:])
	appendTo(t, log, line(4)[:10])
	time.Sleep(50 * time.Millisecond)
	appendTo(t, log, line(4)[10:])
	checkIDs(t, fl.waitN(t, 2), 3, 4)
	if len(fl.errs) > 0 {
		t.Errorf("bad input reported: %v", fl.errs)
	}
}

// A file truncated and written again past the old offset between two polls (a
// copytruncate and a fast writer) is told from a grown file by its first bytes.
func TestFollowTruncatedAndRegrownBetweenPolls(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "audit.log")
	appendTo(t, log, "")
	// a poll wide enough for the rewrite to happen unseen
	fl := startFollow(t, &Follow{Path: log, Poll: 300 * time.Millisecond})
	time.Sleep(50 * time.Millisecond)
	appendTo(t, log, line(1)+line(2))
	checkIDs(t, fl.waitN(t, 2), 1, 2)
	// copytruncate: the copy holds 1..3, the file restarts with 4..9 (longer than before)
	appendTo(t, log, line(3))
	b, _ := os.ReadFile(log)
	os.WriteFile(log+".1", b, 0o600)
	var more strings.Builder
	for i := 4; i <= 9; i++ {
		more.WriteString(line(i))
	}
	if err := os.Truncate(log, 0); err != nil {
		t.Fatal(err)
	}
	appendTo(t, log, more.String())
	checkIDs(t, fl.waitN(t, 9), 1, 9)
}

// A checkpointed state resumes in the renamed file, then the files rotated after it.
func TestFollowResumesAcrossRotationsWhileDown(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "audit.log")
	appendTo(t, log, line(1)+line(2))
	f := &Follow{Path: log, FromStart: true}
	fl := startFollow(t, f)
	fl.waitN(t, 2)
	fl.cancel()
	<-fl.done
	fl.done <- nil
	st := f.State() // as the checkpoint written when it stopped
	// while down: two more lines, two rotations
	appendTo(t, log, line(3))
	os.Rename(log, filepath.Join(dir, "audit-2026-03-02T08-00-01.000.log"))
	appendTo(t, log, line(4))
	os.Rename(log, filepath.Join(dir, "audit-2026-03-02T08-00-02.000.log"))
	appendTo(t, log, line(5))
	f2 := &Follow{Path: log, Resume: &st}
	fl2 := startFollow(t, f2)
	checkIDs(t, fl2.waitN(t, 3), 3, 5)
}

// The duplicate filter drops a repeat within its window and forgets what is older.
func TestDedupWindow(t *testing.T) {
	d := newDedupWindow(time.Minute)
	mk := func(id string, at time.Duration) *auditv1.Event {
		e := &auditv1.Event{AuditID: "x", Stage: auditv1.StageResponseComplete}
		e.AuditID = typesUID(id)
		e.RequestReceivedTimestamp.Time = time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC).Add(at)
		return e
	}
	if d.seen(mk("a", 0)) || !d.seen(mk("a", time.Second)) {
		t.Fatal("a repeat within the window was not dropped")
	}
	d.seen(mk("b", 90*time.Second))  // a new generation
	d.seen(mk("c", 200*time.Second)) // another: "a" is forgotten
	if d.seen(mk("a", 201*time.Second)) {
		t.Error("a key two windows old is still remembered")
	}
	if len(d.cur)+len(d.prev) > 3 {
		t.Errorf("%d keys held", len(d.cur)+len(d.prev))
	}
}

func typesUID(s string) types.UID { return types.UID(s) }

// A log renamed away with no new live file yet, and a newer rotated file already there
// (a writer that rotated twice, or stopped before opening its next file): the newer file
// is read on, not waited behind.
func TestFollowRotatedWithoutNewLiveFile(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "audit.log")
	appendTo(t, log, "")
	fl := startFollow(t, &Follow{Path: log})
	time.Sleep(50 * time.Millisecond)
	appendTo(t, log, line(1)+line(2))
	fl.waitN(t, 2)
	os.Rename(log, filepath.Join(dir, "audit-2026-03-02T08-00-01.000.log"))
	appendTo(t, filepath.Join(dir, "audit-2026-03-02T08-00-02.000.log"), line(3)+line(4))
	checkIDs(t, fl.waitN(t, 4), 1, 4)
}

// The same, with the newer rotated file appearing only after the follower has finished
// the renamed one and waits for a live file.
func TestFollowRotatedFileAppearsWhileWaiting(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "audit.log")
	appendTo(t, log, "")
	fl := startFollow(t, &Follow{Path: log})
	time.Sleep(50 * time.Millisecond)
	appendTo(t, log, line(1)+line(2))
	fl.waitN(t, 2)
	os.Rename(log, filepath.Join(dir, "audit-2026-03-02T08-00-01.000.log"))
	appendTo(t, filepath.Join(dir, "audit-2026-03-02T08-00-02.000.log"), line(3))
	fl.waitN(t, 3)
	time.Sleep(100 * time.Millisecond) // waiting for a live file now
	appendTo(t, filepath.Join(dir, "audit-2026-03-02T08-00-03.000.log"), line(4)+line(5))
	fl.waitN(t, 5)
	appendTo(t, log, line(6))
	checkIDs(t, fl.waitN(t, 6), 1, 6)
}

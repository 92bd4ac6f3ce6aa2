package index

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/types"

	"github.com/kubesleuth/kubesleuth/analyzer"
)

// TestLiveReader reads a case while a live writer holds it: OpenReader goes through the
// writer's socket (the files are locked: Open times out), sees each commit's events and
// findings, annotates in the folder; once the writer finishes, the same reader answers
// from the sealed files, and the case verifies.
func TestLiveReader(t *testing.T) {
	src := buildCase(t, 3000)
	dir := filepath.Join(t.TempDir(), "live")
	w, err := Create(dir, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.ServeReads(); err != nil {
		t.Fatal(err)
	}
	add := func(from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			ev := src.events[i].DeepCopy()
			ev.AuditID = types.UID(fmt.Sprintf("live-%06d", i))
			p, err := Prepare(ev)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Add(p); err != nil {
				t.Fatal(err)
			}
		}
	}
	count := func(r Reader, q string) int {
		t.Helper()
		res, err := r.Search(context.Background(), Query{Text: q, Limit: 1})
		if err != nil {
			t.Fatalf("search %q: %v", q, err)
		}
		return res.Total
	}
	add(0, 1000)
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, OpenOptions{}); err == nil {
		t.Fatal("the files opened while the writer holds them: the test does not test the socket")
	}
	r, err := OpenReader(dir, OpenOptions{Writable: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, ok := r.(*liveCase); !ok {
		t.Fatalf("OpenReader returned a %T, want the live writer's reader", r)
	}
	if n := count(r, "*"); n != 1000 {
		t.Fatalf("live search: %d events, want the 1000 committed", n)
	}
	// a filtered query goes through bleve: the live index answers too
	want := 0
	for i := 0; i < 2500; i++ {
		if src.events[i].Verb == "get" {
			want++
		}
	}
	f := analyzer.Finding{RuleID: "KS-TEST", Severity: analyzer.High, AuditIDs: []string{"live-000007"}, FirstSeen: src.rows[7].Time}
	w.Progress([]analyzer.Finding{f})
	add(1000, 2500)
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if n := count(r, "*"); n != 2500 {
		t.Fatalf("after the second commit: %d events, want 2500", n)
	}
	if n := count(r, "verb:get"); n != want {
		t.Fatalf("verb:get: %d, want %d", n, want)
	}
	fs, err := r.Findings()
	if err != nil || len(fs) != 1 || fs[0].RuleID != "KS-TEST" {
		t.Fatalf("live findings: %v %v, want the one staged", fs, err)
	}
	ev, err := r.ResolveEvidence(fs[0])
	if err != nil || len(ev) != 1 || ev[0].AuditID != "live-000007" {
		t.Fatalf("evidence: %v %v", ev, err)
	}
	if _, err := r.Event(ev[0].ID); err != nil {
		t.Fatalf("event: %v", err)
	}
	if _, err := r.Row("nope/RequestReceived"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a missing row: %v, want ErrNotFound across the socket", err)
	}
	if _, err := r.Search(context.Background(), Query{Text: "nosuchfield:x"}); err == nil {
		t.Fatal("a bad query: no error across the socket")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.Search(ctx, Query{Text: "*"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("a cancelled search: %v", err)
	}
	if err := r.Annotate(Annotation{Target: Target{Kind: "event", ID: string(ev[0].ID)}, Bookmarked: true}); err != nil {
		t.Fatal(err)
	}
	info, err := r.Info()
	if err != nil || info.Events != 2500 || info.Findings != 1 || info.Complete {
		t.Fatalf("live info: %+v %v", info, err)
	}

	if err := w.Finish([]analyzer.Finding{f}, []byte(`{}`), nil, []SourceInfo{{Path: "x", Kind: "audit-tail"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, liveSocket)); !os.IsNotExist(err) {
		t.Fatalf("the socket outlived the writer: %v", err)
	}
	// the same reader, now from the files
	if n := count(r, "verb:get"); n != want {
		t.Fatalf("after the writer finished: verb:get %d, want %d", n, want)
	}
	if r.(*liveCase).Live() {
		t.Fatal("still reading through a writer that finished")
	}
	as, err := r.Annotations()
	if err != nil || len(as) != 1 {
		t.Fatalf("annotations: %v %v", as, err)
	}
	rep, err := Verify(context.Background(), dir)
	if err != nil || !rep.OK {
		t.Fatalf("verify after the live run: %+v %v", rep, err)
	}
	r2, err := OpenReader(dir, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	if _, ok := r2.(*Case); !ok {
		t.Fatalf("a sealed case opened as %T", r2)
	}
}

// TestLiveStaleSocket: a socket a killed writer left is not answered: OpenReader opens
// the files, and the next writer replaces it.
func TestLiveStaleSocket(t *testing.T) {
	f := buildCase(t, 2000)
	path, err := socketPath(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	// a listener closed without removing its socket file: what SIGKILL leaves
	ln, err := listenUnixKeep(path)
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the stale socket is gone (%v): the test does not test it", err)
	}
	r, err := OpenReader(f.dir, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := r.(*Case); !ok {
		t.Fatalf("opened as %T through a dead socket", r)
	}
	r.Close()
	w, err := Create(f.dir, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.ServeReads(); err != nil {
		t.Fatalf("serving over a stale socket: %v", err)
	}
	r, err = OpenReader(f.dir, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if n, err := r.Info(); err != nil || n.Events != len(f.events) {
		t.Fatalf("info through the new writer: %+v %v", n, err)
	}
}

// TestLiveSocketLongPath: a case folder whose socket path is too long for a socket is
// served from this user's private temporary folder.
func TestLiveSocketLongPath(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a-rather-long-folder-name-for-a-case-that-goes-on", "and-on-and-on-past-the-limit-of-a-unix-socket-path")
	w, err := Create(dir, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.ServeReads(); err != nil {
		t.Fatal(err)
	}
	path, _ := socketPath(dir)
	if filepath.Dir(path) == dir {
		t.Fatalf("socket %s in the folder: the path is not long enough for the test", path)
	}
	r, err := OpenReader(dir, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, ok := r.(*liveCase); !ok {
		t.Fatalf("opened as %T", r)
	}
	if _, err := r.Info(); err != nil {
		t.Fatal(err)
	}
}

// listenUnixKeep listens on path and leaves the socket file behind when closed.
func listenUnixKeep(path string) (*net.UnixListener, error) {
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, err
	}
	ln.SetUnlinkOnClose(false)
	return ln, nil
}

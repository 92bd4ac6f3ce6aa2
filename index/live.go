package index

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	berrors "go.etcd.io/bbolt/errors"

	"github.com/kubesleuth/kubesleuth/analyzer"
)

// Live reading: a case that a live writer (tail --case) holds is read through the writer.
//
// The writer holds events.db's exclusive lock, and must: bbolt is safe for readers of
// one process only (a writer reuses the pages its own readers no longer need, and knows
// nothing of another process's), and so is bleve's root.bolt. Copying a snapshot out
// every few seconds costs the case's size each time; segments that close and are
// opened read-only would make every reader merge an unbounded number of stores. So the
// writer serves reads instead: Writer.ServeReads listens on a unix socket in the case
// folder (live.sock, 0600 in a 0700 folder: whoever may read the case's files may ask)
// and answers Reader's read methods from the store it writes, through a *Case over its
// own handles. A reader sees what the writer has flushed: a live writer flushes and
// commits at every checkpoint (about every second), so answers are at most that old.
//
// OpenReader is the one way views open a case: it asks the socket first and opens the
// files when no writer answers (a socket left by a killed writer refuses connections:
// it is ignored, and removed by the next writer). When the writer stops while a reader
// is open, the reader opens the files as the writer left them (sealed) and goes on.
// Notes (notes.json) are not the store's: a live reader reads and writes them in the
// folder directly, under notes.lock, as a local one does.
//
// Nothing here changes what is on disk: live.sock is not a file of the case
// (integrity.json does not record it, verify does not read it), so sealing and
// verification are those of any run.

// CaseReader is an open case: Reader, plus the folder and Close. OpenReader returns one;
// *Case is one.
type CaseReader interface {
	Reader
	// Dir is the case folder.
	Dir() string
	// Close releases the case (the files or the connection to a live writer).
	Close() error
}

var _ CaseReader = (*Case)(nil)

const liveSocket = "live.sock"

// maxSocketPath is the longest socket path every unix takes (sun_path is 104 bytes on
// the BSDs, 108 on Linux, with its terminating NUL).
const maxSocketPath = 100

// liveTimeout bounds one call to a live writer that does not answer (a writer stopped
// with SIGSTOP): a call is a query over the store, milliseconds to a few seconds.
const liveTimeout = 2 * time.Minute

// socketPath is where the live writer of dir listens: live.sock in the folder, or, when
// that path is too long for a socket, a socket named by a hash of the folder's absolute
// path in a folder of this user's own (0700) under the temporary folder.
func socketPath(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	if p := filepath.Join(abs, liveSocket); len(p) <= maxSocketPath {
		return p, nil
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		abs = r
	}
	sum := sha256.Sum256([]byte(abs))
	base := filepath.Join(os.TempDir(), "kubesleuth-"+strconv.Itoa(os.Getuid()))
	if err := os.Mkdir(base, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return "", err
	}
	// another user may have made it first: a socket there would answer for our case
	if fi, err := os.Lstat(base); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 || !ownedByMe(fi) {
		return "", fmt.Errorf("%s is not a folder of this user's with mode 0700: not used for a live case's socket", base)
	}
	return filepath.Join(base, hex.EncodeToString(sum[:10])+".sock"), nil
}

// liveServer answers the read methods of a case for other processes.
type liveServer struct {
	path string
	ln   net.Listener
	srv  *http.Server
	done chan struct{}
	c    *Case
}

// ServeReads lets other processes read the case while this writer holds it: search,
// investigate and every OpenReader of the folder are answered from what the writer has
// flushed (a live writer flushes at every Commit). It stops at Finish (before the files
// are sealed: readers then open them) and at Close.
//
// Failure modes: an error when the socket cannot be made (a folder that does not take
// one, a path too long and no private temporary folder): the writer works on, readers
// wait for its lock as before. A socket left by a killed writer is replaced.
func (w *Writer) ServeReads() error {
	if w.live != nil {
		return nil
	}
	path, err := socketPath(w.dir)
	if err != nil {
		return fmt.Errorf("case %s: serving live reads: %w", w.dir, err)
	}
	// this writer holds the store's lock: a socket there is a killed writer's
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("case %s: serving live reads: %w", w.dir, err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("case %s: serving live reads: %w", w.dir, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return fmt.Errorf("case %s: serving live reads: %w", w.dir, err)
	}
	c := &Case{dir: w.dir, db: w.db, idx: w.idx, borrowed: true}
	if f, err := os.Open(filepath.Join(w.dir, blobFile)); err == nil {
		c.blobs = f
	}
	s := &liveServer{path: path, ln: ln, done: make(chan struct{}), c: c}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(ln) // ErrServerClosed once stopped
	}()
	w.live = s
	return nil
}

// stopServing stops answering: the calls running are answered first (the store and the
// index are still open), new ones are refused, and the socket is removed.
func (w *Writer) stopServing() {
	s := w.live
	if s == nil {
		return
	}
	w.live = nil
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if s.srv.Shutdown(ctx) != nil {
		s.srv.Close()
	}
	<-s.done
	os.Remove(s.path)
	if s.c.blobs != nil {
		s.c.blobs.Close()
	}
}

// The wire: POST /METHOD with the arguments as JSON; 200 with the result as JSON, or
// 500 with a wireError. Only what Reader reads is served: the socket writes nothing.
type (
	wireAround struct {
		ID EventID `json:"id"`
		N  int     `json:"n"`
	}
	wireSearch struct {
		Result *Result `json:"result"`
		TookNs int64   `json:"took_ns"`
	}
	wireHello struct {
		Format int    `json:"format"`
		Dir    string `json:"dir"`
	}
	wireError struct {
		Kind string `json:"kind"` // "notfound", "damaged", "canceled" or "error"
		Msg  string `json:"msg"`
		// a *DamagedError's fields
		File       string `json:"file,omitempty"`
		What       string `json:"what,omitempty"`
		Unverified bool   `json:"unverified,omitempty"`
	}
)

func (s *liveServer) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(rw, "POST only", http.StatusMethodNotAllowed)
		return
	}
	// arguments are a query, an ID or a finding: small
	body, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	if err != nil {
		return
	}
	out, err := s.call(r.Context(), r.URL.Path, body)
	rw.Header().Set("Content-Type", "application/json")
	if err != nil {
		we := wireError{Kind: "error", Msg: err.Error()}
		var de *DamagedError
		switch {
		case errors.As(err, &de):
			we = wireError{Kind: "damaged", Msg: err.Error(), File: de.File, What: de.What, Unverified: de.Unverified}
		case errors.Is(err, ErrNotFound):
			we.Kind = "notfound"
		case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
			we.Kind = "canceled"
		}
		rw.WriteHeader(http.StatusInternalServerError)
		_ = json.NewEncoder(rw).Encode(we)
		return
	}
	_ = json.NewEncoder(rw).Encode(out)
}

func (s *liveServer) call(ctx context.Context, method string, body []byte) (any, error) {
	c := s.c
	arg := func(v any) error {
		if err := json.Unmarshal(body, v); err != nil {
			return fmt.Errorf("live case: %s: arguments of %d bytes do not decode", method, len(body))
		}
		return nil
	}
	switch method {
	case "/hello":
		return wireHello{Format: formatVersion, Dir: c.dir}, nil
	case "/info":
		return c.Info()
	case "/search":
		var q Query
		if err := arg(&q); err != nil {
			return nil, err
		}
		res, err := c.Search(ctx, q)
		if err != nil {
			return nil, err
		}
		return wireSearch{Result: res, TookNs: int64(res.Took)}, nil
	case "/event":
		var id EventID
		if err := arg(&id); err != nil {
			return nil, err
		}
		return c.Event(id)
	case "/row":
		var id EventID
		if err := arg(&id); err != nil {
			return nil, err
		}
		return c.Row(id)
	case "/around":
		var a wireAround
		if err := arg(&a); err != nil {
			return nil, err
		}
		return c.Around(ctx, a.ID, a.N)
	case "/findings":
		return c.Findings()
	case "/evidence":
		var f analyzer.Finding
		if err := arg(&f); err != nil {
			return nil, err
		}
		return c.ResolveEvidence(f)
	case "/secrets":
		return c.SecretsAtRest()
	}
	return nil, fmt.Errorf("live case: no method %q", method)
}

// liveCase is a CaseReader of a case a live writer holds, read through its socket. When
// the writer goes away it opens the files (local) and answers from them from then on.
type liveCase struct {
	dir  string
	o    OpenOptions
	path string
	hc   *http.Client

	mu    sync.Mutex
	local *Case // set once the writer has stopped
}

// errGone says the writer no longer answers (stopped, killed): the files are the case.
var errGone = errors.New("the live writer is gone")

func dialLive(dir string, o OpenOptions) (*liveCase, error) {
	path, err := socketPath(dir)
	if err != nil {
		return nil, errGone
	}
	if fi, err := os.Lstat(path); err != nil || fi.Mode()&os.ModeSocket == 0 || !ownedByMe(fi) {
		return nil, errGone
	}
	l := &liveCase{dir: dir, o: o, path: path}
	l.hc = &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
		// a connection per call: a writer that stopped is seen at the next call, not
		// as a stale pooled connection (a dial is tens of microseconds)
		DisableKeepAlives: true,
	}}
	var h wireHello
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := l.remote(ctx, "hello", nil, &h); err != nil {
		return nil, errGone
	}
	if h.Format != formatVersion {
		return nil, fmt.Errorf("case %s is being written by a kubesleuth of case format %d; this one reads %d", dir, h.Format, formatVersion)
	}
	return l, nil
}

// OpenReader opens the case in dir for views (search, investigate, reports): through its
// live writer when one serves it (tail --case), else from its files (Open). It fails as
// Open does; when an ingest holds the store without serving it, Open's wait times out.
func OpenReader(dir string, o OpenOptions) (CaseReader, error) {
	l, err := dialLive(dir, o)
	if err == nil {
		return l, nil
	}
	if !errors.Is(err, errGone) {
		return nil, err
	}
	c, err := Open(dir, o)
	if errors.Is(err, berrors.ErrTimeout) {
		// a live writer that started meanwhile holds the lock: it serves
		if l, lerr := dialLive(dir, o); lerr == nil {
			return l, nil
		}
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}

// remote calls method; errGone when no writer answers.
func (l *liveCase) remote(ctx context.Context, method string, arg, out any) error {
	var body []byte
	if arg != nil {
		var err error
		if body, err = json.Marshal(arg); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, liveTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://case/"+method, bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := l.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// refused, reset, closed: the writer stopped or was killed
		return errGone
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	if resp.StatusCode != http.StatusOK {
		var we wireError
		if resp.StatusCode != http.StatusInternalServerError || dec.Decode(&we) != nil {
			return errGone
		}
		switch we.Kind {
		case "damaged":
			return &DamagedError{Dir: l.dir, File: we.File, What: we.What, Unverified: we.Unverified}
		case "notfound":
			return &liveError{msg: we.Msg, is: ErrNotFound}
		case "canceled":
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return &liveError{msg: we.Msg, is: context.Canceled}
		}
		return &liveError{msg: we.Msg}
	}
	if err := dec.Decode(out); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// cut off mid-answer: the writer stopped
		return errGone
	}
	return nil
}

// liveError is an error the writer returned, with its message and its kind.
type liveError struct {
	msg string
	is  error
}

func (e *liveError) Error() string { return e.msg }
func (e *liveError) Unwrap() error { return e.is }

// files returns the local case once the writer is gone (opening it the first time).
func (l *liveCase) files() (*Case, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.local != nil {
		return l.local, nil
	}
	// the writer seals the case after it stops serving: hashing a large case takes a
	// while, and the files are locked meanwhile
	o := l.o
	o.Timeout = max(o.Timeout, time.Minute)
	c, err := Open(l.dir, o)
	if err != nil {
		return nil, err
	}
	l.local = c
	return c, nil
}

func (l *liveCase) gone() *Case {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.local
}

// live runs a read: through the writer while it serves, from the files after.
func live[T any](l *liveCase, ctx context.Context, method string, arg any, local func(*Case) (T, error)) (T, error) {
	if c := l.gone(); c != nil {
		return local(c)
	}
	var out T
	err := l.remote(ctx, method, arg, &out)
	if !errors.Is(err, errGone) {
		return out, err
	}
	c, err := l.files()
	if err != nil {
		var zero T
		return zero, err
	}
	return local(c)
}

// Live reports whether the case is read through its live writer (false once the writer
// has stopped and the files are read).
func (l *liveCase) Live() bool { return l.gone() == nil }

func (l *liveCase) Dir() string { return l.dir }

func (l *liveCase) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.local != nil {
		return l.local.Close()
	}
	return nil
}

func (l *liveCase) Info() (*Info, error) {
	return live(l, context.Background(), "info", nil, func(c *Case) (*Info, error) { return c.Info() })
}

func (l *liveCase) Search(ctx context.Context, q Query) (*Result, error) {
	w, err := live(l, ctx, "search", q, func(c *Case) (wireSearch, error) {
		r, err := c.Search(ctx, q)
		if err != nil {
			return wireSearch{}, err
		}
		return wireSearch{Result: r, TookNs: int64(r.Took)}, nil
	})
	if err != nil {
		return nil, err
	}
	if w.Result == nil {
		return nil, fmt.Errorf("live case %s: search: an empty answer", l.dir)
	}
	w.Result.Took = time.Duration(w.TookNs)
	return w.Result, nil
}

func (l *liveCase) Event(id EventID) (json.RawMessage, error) {
	return live(l, context.Background(), "event", id, func(c *Case) (json.RawMessage, error) { return c.Event(id) })
}

func (l *liveCase) Row(id EventID) (Row, error) {
	return live(l, context.Background(), "row", id, func(c *Case) (Row, error) { return c.Row(id) })
}

func (l *liveCase) Around(ctx context.Context, id EventID, n int) ([]Row, error) {
	return live(l, ctx, "around", wireAround{ID: id, N: n}, func(c *Case) ([]Row, error) { return c.Around(ctx, id, n) })
}

func (l *liveCase) Findings() ([]analyzer.Finding, error) {
	return live(l, context.Background(), "findings", nil, func(c *Case) ([]analyzer.Finding, error) { return c.Findings() })
}

func (l *liveCase) ResolveEvidence(f analyzer.Finding) ([]Row, error) {
	return live(l, context.Background(), "evidence", f, func(c *Case) ([]Row, error) { return c.ResolveEvidence(f) })
}

func (l *liveCase) SecretsAtRest() ([]SecretAtRest, error) {
	return live(l, context.Background(), "secrets", nil, func(c *Case) ([]SecretAtRest, error) { return c.SecretsAtRest() })
}

// Annotations and Annotate read and write notes.json in the folder, as a local case
// does: the notes are not the store's, and have a lock of their own.
func (l *liveCase) Annotations() (_ []Annotation, err error) {
	defer guard(l.dir, notesFile, &err)()
	return readNotes(l.dir)
}

func (l *liveCase) Annotate(a Annotation) error {
	return annotate(l.dir, l.o.Writable, a)
}

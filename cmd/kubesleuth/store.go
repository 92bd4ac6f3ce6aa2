package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/kubesleuth/kubesleuth/export"
	"github.com/kubesleuth/kubesleuth/index"
	"github.com/kubesleuth/kubesleuth/vlstore"
)

// openedCase is an open case as the views read it: the folder's own store, or the folder
// with its events in VictoriaLogs (case.json's store).
type openedCase interface {
	index.Reader
	Close() error
	Dir() string
}

// openCase opens the case in dir and, when its case.json records an event store, reads
// its events there.
func openCase(dir string, o index.OpenOptions) (openedCase, error) {
	// a case tail is writing in its folder is read through tail (index.OpenReader)
	r, err := index.OpenReader(dir, o)
	if err != nil {
		return nil, err
	}
	c, ok := r.(*index.Case)
	if !ok {
		return r, nil
	}
	in, err := c.Info()
	if err != nil || in.Store == nil {
		return c, err
	}
	vc, err := vlstore.OpenCase(c, storeURL(in.Store, ""))
	if err != nil {
		c.Close()
		return nil, err
	}
	return vc, nil
}

// caseStore picks the event store of an ingest into w's case: the folder's own (w), or
// the VictoriaLogs that --store names or the case already records. finish sends what is
// batched, checks that the store kept every event of the run (an import older than its
// retention fails here, loudly), and records the store in case.json; it runs before
// w.Finish.
func caseStore(ctx context.Context, w *index.Writer, flag, caseDir string, live bool) (es index.EventStore, finish func() error, err error) {
	in := w.Info()
	rec := in.Store
	switch {
	case flag == "" && rec == nil:
		return w, func() error { return nil }, nil
	case flag != "" && rec == nil && in.Events > 0:
		return nil, nil, usagef("--store: case %s holds its %d events in its folder; ingest into a new case folder to use %s", caseDir, in.Events, export.SafeURL(flag))
	case flag != "" && rec != nil && export.SafeURL(flag) != rec.URL:
		return nil, nil, usagef("--store: case %s keeps its events in %s, not %s", caseDir, rec.URL, export.SafeURL(flag))
	}
	if rec == nil {
		if _, err := vlstore.HTTPURL(flag); err != nil {
			return nil, nil, usageError{err}
		}
		abs, _ := filepath.Abs(caseDir)
		rec = &index.StoreInfo{URL: export.SafeURL(flag), Case: filepath.Base(abs) + "-" + randomHex(6)}
	}
	url := storeURL(rec, flag)
	c, err := vlstore.NewClient(url, rec.Case)
	if err != nil {
		return nil, nil, usageError{err}
	}
	kind := "ingest"
	if live {
		kind = "tail"
	}
	run := fmt.Sprintf("%s-%d-%s-%s", kind, in.Ingests+1, time.Now().UTC().Format("20060102T150405Z"), randomHex(3))
	vw, err := vlstore.NewWriter(ctx, c, run)
	if err != nil {
		return nil, nil, err
	}
	vw.Live = live
	finish = func() error {
		if err := vw.Flush(); err != nil {
			return err
		}
		if err := vw.Verify(ctx); err != nil {
			return err
		}
		n, first, last, err := c.Span(ctx, "kubesleuth.case:="+strconv.Quote(rec.Case))
		if err != nil {
			return err
		}
		rec.Events, rec.First, rec.Last = n, first, last
		w.SetStore(*rec)
		return nil
	}
	return vw, finish, nil
}

// checkStoreFlag refuses, before the ingest opens the case for writing (which marks it
// incomplete until it finishes), a --store that the case in dir cannot take.
func checkStoreFlag(dir, flag string) error {
	if flag == "" {
		return nil
	}
	if _, err := vlstore.HTTPURL(flag); err != nil {
		return usageError{err}
	}
	c, err := index.Open(dir, index.OpenOptions{})
	if err != nil {
		return nil // no case yet (or one Create reports on)
	}
	defer c.Close()
	in, err := c.Info()
	if err != nil {
		return nil
	}
	switch {
	case in.Store == nil && in.Events > 0:
		return usagef("--store: case %s holds its %d events in its folder; ingest into a new case folder to use %s", dir, in.Events, export.SafeURL(flag))
	case in.Store != nil && export.SafeURL(flag) != in.Store.URL:
		return usagef("--store: case %s keeps its events in %s, not %s", dir, in.Store.URL, export.SafeURL(flag))
	}
	return nil
}

// StoreEnv holds the store's URL with its credentials (user:password@), which case.json
// does not keep: used when it names the store the case records.
const StoreEnv = "KUBESLEUTH_STORE_URL"

// storeURL is the URL to reach rec at: flag (--store, with its credentials), else
// $KUBESLEUTH_STORE_URL when it names the same store, else the recorded URL.
func storeURL(rec *index.StoreInfo, flag string) string {
	if flag != "" {
		return flag
	}
	if u := os.Getenv(StoreEnv); u != "" && export.SafeURL(u) == rec.URL {
		return u
	}
	return rec.URL
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// storeFlagHelp is --store's help.
var storeFlagHelp = strings.TrimSpace(`
keep the case's events in VictoriaLogs (victorialogs://host:9428, a node or a cluster's
insert/select node) instead of the case folder; case.json records it (without a password:
give user:password@ again in $KUBESLEUTH_STORE_URL) and search and investigate read it there`)

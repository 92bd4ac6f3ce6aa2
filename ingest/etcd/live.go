package etcd

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// LiveOptions says how to reach a running etcd. With the apiserver's etcd client
// certificate (--etcd-cafile, --etcd-certfile, --etcd-keyfile) the reader sees what the
// apiserver sees.
type LiveOptions struct {
	Endpoints []string
	// CACert verifies the server; Cert and Key authenticate the client. Empty means none.
	CACert, Cert, Key string
	// PageSize bounds how many keys one request returns (default 500), so a large
	// cluster is never loaded at once.
	PageSize int64
	// Timeout bounds connecting and each request (default 10s).
	Timeout time.Duration
	// History selects the keys whose older revisions are also read, one request per
	// revision back to the key's creation or the compaction point. Nil reads none.
	History func(key string) bool
}

// Live reads a running etcd.
type Live struct {
	cli  *clientv3.Client
	opts LiveOptions
	// Revision is the store revision the listing was pinned to.
	Revision int64
	// Compacted counts keys whose history walk stopped at the compaction point.
	Compacted int
}

// TLSConfig builds the client TLS configuration from PEM files; nil when none is given.
func TLSConfig(caFile, certFile, keyFile string) (*tls.Config, error) {
	if caFile == "" && certFile == "" && keyFile == "" {
		return nil, nil
	}
	if (certFile == "") != (keyFile == "") {
		return nil, errors.New("--cert and --key go together")
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("reading CA certificate: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA certificate %s holds no PEM certificate", caFile)
		}
		cfg.RootCAs = pool
	}
	if certFile != "" {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("loading client certificate %s and key %s: %w", certFile, keyFile, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// DialLive connects and makes one request, so that a wrong address or TLS setup is
// reported here, with the cause, rather than as a timeout in the middle of a scan.
func DialLive(ctx context.Context, o LiveOptions) (*Live, error) {
	if len(o.Endpoints) == 0 {
		return nil, errors.New("no etcd endpoint given")
	}
	if o.PageSize <= 0 {
		o.PageSize = 500
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	tc, err := TLSConfig(o.CACert, o.Cert, o.Key)
	if err != nil {
		return nil, err
	}
	eps := strings.Join(o.Endpoints, ",")
	if tc != nil {
		if err := probeTLS(ctx, o.Endpoints[0], tc, o.Timeout); err != nil {
			return nil, fmt.Errorf("connecting to etcd at %s: %w%s", o.Endpoints[0], err, tlsHint(err, true))
		}
	}
	if tc == nil {
		for _, e := range o.Endpoints {
			if strings.HasPrefix(e, "https://") {
				tc = &tls.Config{MinVersion: tls.VersionTLS12} // system roots
			}
		}
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   o.Endpoints,
		TLS:         tc,
		DialTimeout: o.Timeout,
		Logger:      zap.NewNop(),
		Context:     ctx,
	})
	if err != nil {
		return nil, fmt.Errorf("connecting to etcd at %s: %w", eps, err)
	}
	l := &Live{cli: cli, opts: o}
	rctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	resp, err := cli.Get(rctx, KeyPrefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		cli.Close()
		if tc == nil && errors.Is(err, context.DeadlineExceeded) && speaksTLS(ctx, o.Endpoints[0]) {
			return nil, fmt.Errorf("connecting to etcd at %s: no answer over plain gRPC, but the endpoint speaks TLS: use https:// with --cacert, --cert and --key", eps)
		}
		return nil, fmt.Errorf("connecting to etcd at %s: %w%s", eps, err, tlsHint(err, tc != nil))
	}
	l.Revision = resp.Header.Revision
	return l, nil
}

// tlsHint adds what to check when a connection failed, since gRPC often reports a TLS
// mismatch as a bare timeout or "connection closed".
func tlsHint(err error, usedTLS bool) string {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "certificate"), strings.Contains(msg, "x509"), strings.Contains(msg, "tls"):
		return " (check --cacert, --cert and --key: the apiserver's --etcd-cafile, --etcd-certfile, --etcd-keyfile)"
	case errors.Is(err, context.DeadlineExceeded) && usedTLS:
		return " (no answer: is the endpoint right, and does it speak TLS?)"
	case errors.Is(err, context.DeadlineExceeded):
		return " (no answer: is the endpoint right? an etcd serving TLS needs https:// and --cacert/--cert/--key)"
	}
	return ""
}

// hostPort strips an endpoint's scheme.
func hostPort(ep string) string {
	if i := strings.Index(ep, "://"); i >= 0 {
		ep = ep[i+3:]
	}
	return strings.TrimSuffix(ep, "/")
}

// probeTLS makes one TLS connection with the client's configuration, because gRPC
// retries a failed handshake until its deadline and then reports only the timeout. It
// reads briefly after the handshake: with TLS 1.3 a server that rejects the client
// certificate says so only in an alert after the client considers the handshake done.
func probeTLS(ctx context.Context, ep string, tc *tls.Config, timeout time.Duration) error {
	addr := hostPort(ep)
	if strings.HasPrefix(ep, "unix") {
		return nil
	}
	cfg := tc.Clone()
	if cfg.ServerName == "" {
		if h, _, err := net.SplitHostPort(addr); err == nil {
			cfg.ServerName = h
		}
	}
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: timeout}, Config: cfg}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := d.DialContext(dctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("TLS handshake: %w", err)
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	var b [1]byte
	if _, err := conn.Read(b[:]); err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil
		}
		if strings.Contains(err.Error(), "tls") || strings.Contains(err.Error(), "certificate") {
			return fmt.Errorf("TLS: the server refused the client: %w", err)
		}
	}
	return nil
}

// speaksTLS says whether ep completes a TLS handshake (whatever its certificate).
func speaksTLS(ctx context.Context, ep string) bool {
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 2 * time.Second}, Config: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // only asks "is this TLS?"
	dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	conn, err := d.DialContext(dctx, "tcp", hostPort(ep))
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

// Close releases the connection.
func (l *Live) Close() error { return l.cli.Close() }

// Each lists every key under prefix at the revision pinned by DialLive, PageSize keys per
// request, and calls fn with each key's latest value; for keys selected by History it
// then walks back through older revisions still held by etcd. Deleted keys are not
// visible on a live etcd (their tombstones are internal): use a snapshot for those.
func (l *Live) Each(ctx context.Context, prefix string, fn func(Record) error) error {
	end := clientv3.GetPrefixRangeEnd(prefix)
	start := prefix
	for {
		rctx, cancel := context.WithTimeout(ctx, l.opts.Timeout)
		resp, err := l.cli.Get(rctx, start, clientv3.WithRange(end), clientv3.WithLimit(l.opts.PageSize),
			clientv3.WithRev(l.Revision), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
		cancel()
		if err != nil {
			return fmt.Errorf("listing %s from %s at revision %d: %w", QuoteKey(prefix), QuoteKey(start), l.Revision, err)
		}
		for _, kv := range resp.Kvs {
			rec := Record{Key: string(kv.Key), Value: kv.Value, CreateRevision: kv.CreateRevision,
				ModRevision: kv.ModRevision, Version: kv.Version, Source: FromLive}
			if err := fn(rec); err != nil {
				return err
			}
			if kv.Version > 1 && l.opts.History != nil && l.opts.History(rec.Key) {
				if err := l.history(ctx, kv, fn); err != nil {
					return err
				}
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return nil
		}
		start = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

// maxHistory bounds the walk back through one key's revisions.
const maxHistory = 1000

func (l *Live) history(ctx context.Context, cur interface {
	GetKey() []byte
	GetModRevision() int64
}, fn func(Record) error) error {
	key := string(cur.GetKey())
	rev := cur.GetModRevision() - 1
	for i := 0; i < maxHistory && rev > 0; i++ {
		rctx, cancel := context.WithTimeout(ctx, l.opts.Timeout)
		resp, err := l.cli.Get(rctx, key, clientv3.WithRev(rev))
		cancel()
		if errors.Is(err, rpctypes.ErrCompacted) {
			l.Compacted++
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading %s at revision %d: %w", QuoteKey(key), rev, err)
		}
		if len(resp.Kvs) == 0 {
			return nil
		}
		kv := resp.Kvs[0]
		if err := fn(Record{Key: key, Value: kv.Value, CreateRevision: kv.CreateRevision, ModRevision: kv.ModRevision,
			Version: kv.Version, Source: FromLive}); err != nil {
			return err
		}
		if kv.Version <= 1 {
			return nil
		}
		rev = kv.ModRevision - 1
	}
	return nil
}

package etcd_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubesleuth/kubesleuth/ingest/etcd"
	"github.com/kubesleuth/kubesleuth/internal/etcdtest"
)

// One etcd for the file, started by the first test that needs it (fuzzing and the
// snapshot tests do not), stopped in TestMain.
var (
	srvOnce sync.Once
	srv     *etcdtest.Server
	srvDir  string
	srvErr  error
)

func server(t *testing.T) *etcdtest.Server {
	t.Helper()
	srvOnce.Do(func() {
		if srvDir, srvErr = os.MkdirTemp("", "kubesleuth-etcd-test-"); srvErr == nil {
			srv, srvErr = etcdtest.Start(srvDir)
		}
	})
	if srvErr != nil {
		t.Fatal(srvErr)
	}
	return srv
}

func TestMain(m *testing.M) {
	code := m.Run()
	if srv != nil {
		srv.Close()
	}
	if srvDir != "" {
		os.RemoveAll(srvDir)
	}
	os.Exit(code)
}

func TestLivePagingAndHistory(t *testing.T) {
	srv := server(t)
	ctx := context.Background()
	for i := 0; i < 7; i++ {
		if _, err := srv.Client.Put(ctx, fmt.Sprintf("/registry/secrets/page/s%d", i), "k8s\x00v"); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 3; i++ { // three versions of one key
		if _, err := srv.Client.Put(ctx, "/registry/secrets/hist/x", fmt.Sprintf("k8s\x00v%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := srv.Client.Put(ctx, "/other/prefix", "x"); err != nil {
		t.Fatal(err)
	}
	l, err := etcd.DialLive(ctx, etcd.LiveOptions{Endpoints: []string{srv.Endpoint}, CACert: srv.CACert, Cert: srv.Cert, Key: srv.Key,
		PageSize: 2, History: func(k string) bool { return strings.HasPrefix(k, "/registry/secrets/hist/") }})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var keys, hist []string
	if err := l.Each(ctx, "/registry/secrets/", func(r etcd.Record) error {
		if r.Key == "/registry/secrets/hist/x" {
			hist = append(hist, fmt.Sprintf("%s@%d", r.Value, r.Version))
		} else {
			keys = append(keys, r.Key)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(keys) != 7 {
		t.Errorf("paged keys = %v", keys)
	}
	if got := strings.Join(hist, ","); got != "k8s\x00v2@3,k8s\x00v1@2,k8s\x00v0@1" {
		t.Errorf("history = %q", got)
	}
}

func TestLiveBadTLS(t *testing.T) {
	srv := server(t)
	ctx := context.Background()
	plainHTTP := strings.Replace(srv.Endpoint, "https://", "http://", 1)
	cases := []struct {
		name string
		o    etcd.LiveOptions
		want string
	}{
		{"unknown CA", etcd.LiveOptions{Endpoints: []string{srv.Endpoint}, CACert: srv.OtherCACert, Cert: srv.Cert, Key: srv.Key}, "certificate"},
		{"no client certificate", etcd.LiveOptions{Endpoints: []string{srv.Endpoint}, CACert: srv.CACert}, "refused the client"},
		{"no TLS at all", etcd.LiveOptions{Endpoints: []string{plainHTTP}}, "the endpoint speaks TLS"},
		{"cert without key", etcd.LiveOptions{Endpoints: []string{srv.Endpoint}, Cert: srv.Cert}, "--cert and --key go together"},
		{"missing CA file", etcd.LiveOptions{Endpoints: []string{srv.Endpoint}, CACert: "/nonexistent/ca.crt"}, "reading CA certificate"},
		{"CA file not PEM", etcd.LiveOptions{Endpoints: []string{srv.Endpoint}, CACert: "/etc/hostname"}, "no PEM certificate"},
		{"no endpoint", etcd.LiveOptions{}, "no etcd endpoint"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.o.Timeout = 2 * time.Second
			l, err := etcd.DialLive(ctx, c.o)
			if err == nil {
				l.Close()
				t.Fatalf("connected; want an error containing %q", c.want)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q, want %q", err, c.want)
			}
		})
	}
}

// TestSnapshotOfRunningEtcd: a member's db file is locked by the running etcd; opening
// it says so instead of hanging.
func TestSnapshotOfRunningEtcd(t *testing.T) {
	srv := server(t)
	defer etcd.SetLockTimeoutForTest(100 * time.Millisecond)()
	_, err := etcd.OpenSnapshot(filepath.Join(srv.DataDir, "member", "snap", "db"))
	if err == nil || !strings.Contains(err.Error(), "locked, probably by a running etcd") {
		t.Errorf("error %v", err)
	}
}

// Package vlogstest starts a real VictoriaLogs (v1.52.2, built by `make victorialogs` from
// the module proxy) for tests and benchmarks: one node, or a cluster of two storage nodes
// behind one insert/select node (the same binary with -storageNode). Every process listens
// on 127.0.0.1 only, keeps its data in a temporary folder, runs with a retention of 100
// years unless told otherwise (forensic imports are old), and is stopped by its PID.
//
// Failure modes: Start skips the test when the binary is not built, and fails it instead
// under CI (or KUBESLEUTH_VLOGS_REQUIRED=1); a process that exits before it answers
// /health fails the start with the tail of its log. Processes carry Pdeathsig, so a test
// binary killed by -timeout leaves none behind.
package vlogstest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Version is the VictoriaLogs release tools/victorialogs builds.
const Version = "v1.52.2"

// BinPath is where `make victorialogs` puts the binary: $KUBESLEUTH_VLOGS_BIN/victoria-logs,
// else ~/.cache/kubesleuth/victorialogs-v1.52.2/victoria-logs.
func BinPath() string {
	d := os.Getenv("KUBESLEUTH_VLOGS_BIN")
	if d == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			home = os.TempDir()
		}
		d = filepath.Join(home, ".cache", "kubesleuth", "victorialogs-"+Version)
	}
	return filepath.Join(d, "victoria-logs")
}

// Available reports whether the binary is built, with an error that says how to build it.
func Available() error {
	if st, err := os.Stat(BinPath()); err != nil || st.Mode()&0o111 == 0 {
		return fmt.Errorf("victoria-logs %s is not built at %s: run `make victorialogs` (about 2 minutes cold)", Version, BinPath())
	}
	return nil
}

// Required reports whether a missing binary must fail a test instead of skipping it:
// under CI (CI set to anything but "" or "false"/"0") or KUBESLEUTH_VLOGS_REQUIRED=1.
func Required() bool {
	for _, v := range []string{os.Getenv("CI"), os.Getenv("KUBESLEUTH_VLOGS_REQUIRED")} {
		if v != "" && v != "0" && v != "false" {
			return true
		}
	}
	return false
}

// Options shape a start.
type Options struct {
	// Dir holds each process's data and log (a temporary folder when empty).
	Dir string
	// Cluster starts two storage nodes and one insert/select node in front of them;
	// otherwise one node.
	Cluster bool
	// Retention is -retentionPeriod (default 100y). The storage nodes apply it: a short
	// one is how a test makes VictoriaLogs drop an old import.
	Retention string
	// User and Password, when set, protect a single node with basic auth
	// (-httpAuth.username, -httpAuth.password).
	User, Password string
}

// Server is a running VictoriaLogs: URL is where to insert and query (the single node, or
// the cluster's insert/select node).
type Server struct {
	URL string
	// Storage are the URLs of the storage nodes (the single node itself when not a cluster).
	Storage        []string
	Dir            string
	procs          []*proc
	user, password string
}

type proc struct {
	name, logPath string
	cmd           *exec.Cmd
	done          chan struct{}
	waitErr       error
}

// Start starts VictoriaLogs for t and stops it at the test's end. It skips t when the
// binary is not built, or fails it when Required(). On a failed test it logs each
// process's last lines.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	if err := Available(); err != nil {
		if Required() {
			t.Fatalf("VictoriaLogs required (CI or KUBESLEUTH_VLOGS_REQUIRED): %v", err)
		}
		t.Skipf("skipping: %v", err)
	}
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	s, err := New(o)
	if s != nil {
		t.Cleanup(func() {
			if t.Failed() {
				for _, p := range s.procs {
					t.Logf("--- last lines of %s (%s) ---\n%s", p.name, p.logPath, tail(p.logPath, 30))
				}
			}
			if err := s.Stop(); err != nil {
				t.Errorf("stopping VictoriaLogs: %v", err)
			}
		})
	}
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// New starts VictoriaLogs outside a test (make bench); the caller calls Stop. On an error
// the processes already started are stopped.
func New(o Options) (s *Server, err error) {
	if err := Available(); err != nil {
		return nil, err
	}
	if o.Retention == "" {
		o.Retention = "100y"
	}
	if o.Dir == "" {
		return nil, errors.New("vlogstest: Options.Dir is required outside a test")
	}
	s = &Server{Dir: o.Dir}
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()
	if o.User != "" && o.Cluster {
		return nil, errors.New("vlogstest: basic auth is for a single node")
	}
	s.user, s.password = o.User, o.Password
	if !o.Cluster {
		var auth []string
		if o.User != "" {
			auth = []string{"-httpAuth.username=" + o.User, "-httpAuth.password=" + o.Password}
		}
		url, err := s.spawn("single", o.Retention, auth)
		if err != nil {
			return s, err
		}
		s.URL, s.Storage = url, []string{url}
		return s, nil
	}
	var addrs []string
	for _, n := range []string{"storage-1", "storage-2"} {
		url, err := s.spawn(n, o.Retention, nil)
		if err != nil {
			return s, err
		}
		s.Storage = append(s.Storage, url)
		addrs = append(addrs, strings.TrimPrefix(url, "http://"))
	}
	// the insert/select node stores nothing: -storageNode makes it shard inserts across
	// the storage nodes and merge their answers to queries
	s.URL, err = s.spawn("insert-select", o.Retention, []string{"-storageNode=" + strings.Join(addrs, ",")})
	return s, err
}

// spawn starts one process on a free loopback port and waits for its /health.
func (s *Server) spawn(name, retention string, extra []string) (string, error) {
	var lastErr error
	for range 3 { // the free port may be taken between the probe and the bind
		port, err := freePort()
		if err != nil {
			return "", err
		}
		dir := filepath.Join(s.Dir, name)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return "", err
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		args := append([]string{
			"-httpListenAddr=" + addr,
			"-storageDataPath=" + filepath.Join(dir, "data"),
			"-retentionPeriod=" + retention,
			"-loggerLevel=WARN",
		}, extra...)
		p := &proc{name: name, logPath: filepath.Join(dir, name+".log"), done: make(chan struct{})}
		f, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return "", err
		}
		p.cmd = exec.Command(BinPath(), args...)
		p.cmd.Stdout, p.cmd.Stderr, p.cmd.Dir = f, f, dir
		// Pdeathsig: the kernel kills the child when the test binary dies
		p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
		if err := p.cmd.Start(); err != nil {
			f.Close()
			return "", fmt.Errorf("starting victoria-logs %s: %w", name, err)
		}
		go func() {
			p.waitErr = p.cmd.Wait()
			f.Close()
			close(p.done)
		}()
		url := "http://" + addr
		if lastErr = s.waitHealthy(p, url, 30*time.Second); lastErr == nil {
			s.procs = append(s.procs, p)
			return url, nil
		}
		stopProc(p)
	}
	return "", lastErr
}

func (s *Server) waitHealthy(p *proc, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return fmt.Errorf("victoria-logs %s exited before it was ready (%v): %s", p.name, p.waitErr, tail(p.logPath, 10))
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/health", nil)
		if s.user != "" {
			req.SetBasicAuth(s.user, s.password)
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				cancel()
				return nil
			}
		}
		cancel()
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("victoria-logs %s not healthy at %s after %s: %s", p.name, url, timeout, tail(p.logPath, 10))
}

// PIDs are the running processes' IDs by name (single, or storage-1, storage-2 and
// insert-select).
func (s *Server) PIDs() map[string]int {
	m := map[string]int{}
	for _, p := range s.procs {
		m[p.name] = p.cmd.Process.Pid
	}
	return m
}

// Stop stops every process by its PID (SIGTERM, then SIGKILL after 10 s), the
// insert/select node first.
func (s *Server) Stop() error {
	var errs []error
	for i := len(s.procs) - 1; i >= 0; i-- {
		if err := stopProc(s.procs[i]); err != nil {
			errs = append(errs, err)
		}
	}
	s.procs = nil
	return errors.Join(errs...)
}

func stopProc(p *proc) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	_ = syscall.Kill(p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(10 * time.Second):
	}
	_ = syscall.Kill(p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
	return fmt.Errorf("victoria-logs %s (pid %d) did not exit 10 s after SIGTERM: killed", p.name, p.cmd.Process.Pid)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tail is the last n lines of a log file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

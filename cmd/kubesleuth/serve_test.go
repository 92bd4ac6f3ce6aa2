package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubesleuth/kubesleuth/internal/realcluster"
	"github.com/kubesleuth/kubesleuth/internal/testbin"
)

// servePKI is a CA with serve's certificate (127.0.0.1) and the apiserver's client
// certificate, in dir.
type servePKI struct {
	ca             *realcluster.CA
	server, client realcluster.Pair
}

func newServePKI(t *testing.T, dir string) *servePKI {
	t.Helper()
	ca, err := realcluster.NewCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	p := &servePKI{ca: ca}
	if p.server, err = ca.Issue("serve", "kubesleuth-serve", nil, "127.0.0.1", "localhost"); err != nil {
		t.Fatal(err)
	}
	if p.client, err = ca.Issue("apiserver-audit", "kube-apiserver-audit", nil); err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *servePKI) httpClient(t *testing.T) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(p.ca.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	c, err := tls.LoadX509KeyPair(p.client.CertFile, p.client.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{c}}}}
}

// serveProc is one running kubesleuth serve; its stderr is appended to dir/stderr.txt.
type serveProc struct {
	*tailProc
	url, ops string
}

var listenRE = regexp.MustCompile(`listening on (\S+) \((webhook|/healthz)`)

func startServe(t *testing.T, bin, dir string, args ...string) *serveProc {
	t.Helper()
	errPath := filepath.Join(dir, "stderr.txt")
	st, _ := os.Stat(errPath)
	var from int64
	if st != nil {
		from = st.Size()
	}
	out, err := os.OpenFile(filepath.Join(dir, "stdout.txt"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	errf, err := os.OpenFile(errPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, append([]string{"serve", "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"}, args...)...)
	cmd.Stdout, cmd.Stderr = out, errf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &serveProc{tailProc: &tailProc{cmd: cmd, stdout: out, errb: errf, done: make(chan error, 1)}}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-p.done
		}
		out.Close()
		errf.Close()
	})
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) && (p.url == "" || p.ops == "") {
		select {
		case err := <-p.done:
			b, _ := os.ReadFile(errPath)
			t.Fatalf("serve exited: %v\n%s", err, b)
		default:
		}
		b, _ := os.ReadFile(errPath)
		for _, m := range listenRE.FindAllStringSubmatch(string(b[min(int(from), len(b)):]), -1) {
			if m[2] == "webhook" {
				p.url = "https://" + m[1] + "/audit"
			} else {
				p.ops = "http://" + m[1]
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if p.url == "" || p.ops == "" {
		t.Fatalf("serve did not say where it listens")
	}
	return p
}

// metric reads one sample of serve's /metrics (0 when absent or unreachable).
func (p *serveProc) metric(sample string) float64 {
	resp, err := http.Get(p.ops + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if name, val, ok := strings.Cut(sc.Text(), " "); ok && name == sample {
			var f float64
			fmt.Sscan(val, &f)
			return f
		}
	}
	return 0
}

// waitProcessed waits until serve has run n events through the engine since it started
// and its spool holds nothing unprocessed.
func (p *serveProc) waitProcessed(t *testing.T, atLeast float64) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		if p.metric("kubesleuth_events_processed_total") >= atLeast && p.metric("kubesleuth_spool_depth_bytes") == 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("serve processed %v events, want at least %v (spool depth %v)", p.metric("kubesleuth_events_processed_total"), atLeast, p.metric("kubesleuth_spool_depth_bytes"))
}

// waitIdle waits until serve's spool holds nothing unprocessed and nothing came in for
// two seconds.
func (p *serveProc) waitIdle(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	last, since := -2.0, time.Now()
	for time.Now().Before(deadline) {
		n := p.metric("kubesleuth_webhook_events_spooled_total")
		if n != last || p.metric("kubesleuth_spool_depth_bytes") != 0 {
			last, since = n, time.Now()
		} else if time.Since(since) > 2*time.Second {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("serve did not become idle")
}

func eventListOf(lines [][]byte) []byte {
	var b bytes.Buffer
	b.WriteString(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[`)
	for i, l := range lines {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(bytes.TrimSpace(l))
	}
	b.WriteString("]}\n")
	return b.Bytes()
}

// TestServeSIGKILLRestart posts a generated log with attacks as EventList batches, one
// after the other as the apiserver's batch backend does, re-sending each batch until it
// is answered 200; serve is killed with SIGKILL twice in the middle and restarted on the
// same spool. Every event is in the case once, and every (rule, attack event) that scan
// reports over the log is alerted exactly once.
func TestServeSIGKILLRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	bin := testbin.Path(t)
	l := makeTailLog(t, bin, 6000, 21)
	dir := t.TempDir()
	p := newServePKI(t, filepath.Join(dir, "pki"))
	alerts := filepath.Join(dir, "alerts.jsonl")
	caseDir := filepath.Join(dir, "case")
	args := []string{"--tls-cert", p.server.CertFile, "--tls-key", p.server.KeyFile, "--client-ca", p.ca.CertFile,
		"--spool", filepath.Join(dir, "spool"), "--case", caseDir, "--alert", "jsonl=" + alerts, "--group", "1s"}
	sp := startServe(t, bin, dir, args...)
	var url atomic.Value
	url.Store(sp.url)
	client := p.httpClient(t)
	const per = 100
	var batches [][]byte
	for i := 0; i < len(l.lines); i += per {
		batches = append(batches, eventListOf(l.lines[i:min(i+per, len(l.lines))]))
	}
	var acked atomic.Int64
	var resent atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, b := range batches {
			for attempt := 0; ; attempt++ {
				if attempt > 0 {
					resent.Add(1)
					time.Sleep(20 * time.Millisecond)
				}
				resp, err := client.Post(url.Load().(string), "application/json", bytes.NewReader(b))
				if err != nil {
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					break
				}
			}
			acked.Add(1)
			time.Sleep(time.Millisecond)
		}
	}()
	for _, at := range []int64{int64(len(batches)) / 3, 2 * int64(len(batches)) / 3} {
		for acked.Load() < at {
			time.Sleep(time.Millisecond)
		}
		if code := sp.stop(t, syscall.SIGKILL); code != 137 {
			t.Fatalf("exit %d after SIGKILL", code)
		}
		sp = startServe(t, bin, dir, args...)
		url.Store(sp.url)
	}
	<-done
	t.Logf("%d batches acknowledged, %d posts re-sent", len(batches), resent.Load())
	sp.waitProcessed(t, 1)
	if code := sp.stop(t, syscall.SIGTERM); code != 143 {
		t.Errorf("exit %d after SIGTERM, want 143", code)
	}
	checkAlerts(t, l, alerts)
	checkCase(t, l, caseDir)
	if t.Failed() {
		b, _ := os.ReadFile(filepath.Join(dir, "stderr.txt"))
		t.Logf("stderr:\n%s", b)
	}
}

// TestServePrintWebhookConfig: the printed file is a kubeconfig client-go loads, naming
// the URL, the CA and the client certificate by path (never their contents).
func TestServePrintWebhookConfig(t *testing.T) {
	dir := t.TempDir()
	p := newServePKI(t, dir)
	code, out, errs := ksRunCode("serve", "--print-webhook-config", "--url", "https://127.0.0.1:8443/audit",
		"--server-ca", p.ca.CertFile, "--client-cert", p.client.CertFile, "--client-key", p.client.KeyFile)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	cfg, err := clientcmd.Load([]byte(out))
	if err != nil {
		t.Fatalf("not a kubeconfig: %v\n%s", err, out)
	}
	ctx := cfg.Contexts[cfg.CurrentContext]
	if ctx == nil || cfg.Clusters[ctx.Cluster] == nil || cfg.AuthInfos[ctx.AuthInfo] == nil {
		t.Fatalf("current context incomplete:\n%s", out)
	}
	cl, user := cfg.Clusters[ctx.Cluster], cfg.AuthInfos[ctx.AuthInfo]
	if cl.Server != "https://127.0.0.1:8443/audit" || cl.CertificateAuthority != p.ca.CertFile ||
		user.ClientCertificate != p.client.CertFile || user.ClientKey != p.client.KeyFile {
		t.Errorf("wrong fields:\n%s", out)
	}
	if strings.Contains(out, "BEGIN") {
		t.Errorf("the config embeds a certificate or key")
	}
	for _, bad := range [][]string{
		{"serve", "--print-webhook-config", "--url", "http://127.0.0.1:8443/"},
		{"serve", "--print-webhook-config", "--url", "https://127.0.0.1:8443/"},
		{"serve", "--tls-cert", p.server.CertFile, "--tls-key", p.server.KeyFile, "--spool", filepath.Join(dir, "sp")},
	} {
		if code, _, _ := ksRunCode(bad...); code != 2 {
			t.Errorf("%v: exit %d, want 2", bad, code)
		}
	}
}

var _ = sync.Mutex{}

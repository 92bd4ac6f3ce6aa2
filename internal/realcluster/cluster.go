// Package realcluster runs a real Kubernetes control plane on 127.0.0.1 — an embedded etcd,
// kube-apiserver, kube-controller-manager and kube-scheduler v1.37.2 built by
// `make apiserver` — so that tests and `make record-apiserver` read audit events exactly as
// kube-apiserver writes them, not as we imagine them.
//
// There is no kubelet (no container runtime can run here): pods are scheduled onto Node
// objects the scenarios create, and stay Pending; exec, attach and port-forward are logged
// with the error the apiserver returns when it cannot reach the node.
//
// Processes are children of the caller with Pdeathsig set: if the caller dies (a test
// binary killed by -timeout, a SIGKILL), the kernel kills them. Stop ends them by PID,
// SIGTERM first, SIGKILL after StopGrace.
package realcluster

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kubesleuth/kubesleuth/internal/etcdtest"
)

// K8sVersion is the Kubernetes release tools/apiserver builds.
const K8sVersion = "v1.37.2"

// The identities that have static tokens (--token-auth-file). Every one also gets the group
// system:authenticated from the apiserver.
const (
	Admin             = "kubernetes-admin" // system:masters, the kubeadm admin.conf user
	Alice             = "alice"            // developers; the scenarios bind her to edit in team-a
	Bob               = "bob"              // developers; low-privileged (view in team-a)
	CIDeployer        = "ci-deployer"      // ci; the scenarios bind it to edit in team-a
	ControllerManager = "system:kube-controller-manager"
	Scheduler         = "system:kube-scheduler"
	Node1             = "system:node:node-1" // system:nodes: a worker's kubelet identity
	NodeCP1           = "system:node:cp-1"   // system:nodes: a control-plane node's kubelet
)

// User is a static-token identity.
type User struct {
	Name, UID string
	Groups    []string
	// Token is random per cluster (32 hex digits): nothing else knows it.
	Token string
}

var staticUsers = []User{
	{Name: Admin, UID: "uid-admin", Groups: []string{"system:masters"}},
	{Name: Alice, UID: "uid-alice", Groups: []string{"developers"}},
	{Name: Bob, UID: "uid-bob", Groups: []string{"developers"}},
	{Name: CIDeployer, UID: "uid-ci-deployer", Groups: []string{"ci"}},
	{Name: ControllerManager, UID: "uid-kcm"},
	{Name: Scheduler, UID: "uid-scheduler"},
	{Name: Node1, UID: "uid-node-1", Groups: []string{"system:nodes"}},
	{Name: NodeCP1, UID: "uid-cp-1", Groups: []string{"system:nodes"}},
}

// AuditLog configures the log backend (--audit-log-*). The zero value is a log at
// DIR/audit/audit.log in blocking mode without rotation.
type AuditLog struct {
	// Disabled runs the apiserver without a log backend (a webhook-only cluster).
	Disabled bool
	// Path is the log file; empty means DIR/audit/audit.log. Its folder is created.
	Path string
	// MaxSizeMB rotates the file when it reaches this many megabytes (lumberjack: the old
	// file is renamed audit-<UTC time>.log beside it); 0 never rotates.
	MaxSizeMB int
	// MaxBackups and MaxAgeDays bound the rotated files kept; 0 keeps all.
	MaxBackups, MaxAgeDays int
	// Compress gzips rotated files.
	Compress bool
	// Mode is blocking (default), blocking-strict or batch.
	Mode string
}

// Webhook configures the webhook backend (--audit-webhook-*), which posts EventLists to
// a server. Give Kubeconfig, or Server (and CAFile, and ClientCert for mTLS) for the
// harness to write one.
type Webhook struct {
	// Kubeconfig is an existing kubeconfig file naming the server (used as is).
	Kubeconfig string
	// Server is the URL events are posted to, e.g. https://127.0.0.1:8443/audit.
	Server string
	// CAFile verifies the server; empty means the system roots.
	CAFile string
	// ClientCert is the certificate the apiserver presents (mTLS); empty means none.
	ClientCert Pair
	// Mode is batch (default), blocking or blocking-strict.
	Mode string
	// BatchMaxSize and BatchMaxWait bound a batch (apiserver defaults 400 and 30s).
	BatchMaxSize int
	BatchMaxWait time.Duration
	// InitialBackoff is the wait before the first retry of a failed post (default 10s).
	InitialBackoff time.Duration
}

// Options configures a cluster. The zero value is a full control plane with PolicyDefault
// and a log at DIR/audit/audit.log.
type Options struct {
	// Policy is the audit policy YAML; empty means PolicyDefault.
	Policy string
	// Dir holds every file of the cluster; empty means a new temporary folder (Start:
	// t.TempDir(); New: removed by Stop).
	Dir      string
	AuditLog AuditLog
	// Webhook, when not nil, adds the webhook backend.
	Webhook *Webhook
	// CA signs the serving certificate, client certificates and approved CSRs; nil means a
	// new one in DIR/pki.
	CA *CA
	// NoControllerManager and NoScheduler leave those out (faster; no controller traffic).
	NoControllerManager, NoScheduler bool
	// BinDir holds the binaries; empty means BinDir().
	BinDir string
	// APIServerArgs are appended to the apiserver's flags (a later flag wins).
	APIServerArgs []string
	// StopGrace is how long Stop waits after SIGTERM before SIGKILL (default 30s).
	StopGrace time.Duration
}

// Cluster is a running control plane.
type Cluster struct {
	// URL is the apiserver's https://127.0.0.1:PORT.
	URL string
	// Dir holds every file of the cluster: pki/, audit/, the process logs (*.log beside
	// the audit folder), tokens.csv, policy.yaml and the kubeconfigs.
	Dir string
	// CA signed ServingCert; its CertFile is what clients trust.
	CA          *CA
	ServingCert Pair
	// AuditLogPath is the log backend's file ("" when disabled).
	AuditLogPath string
	// PolicyFile is the audit policy the apiserver was started with.
	PolicyFile string
	// Users are the static-token identities, by name.
	Users map[string]User
	Etcd  *etcdtest.Server
	// ReadyAt is when /readyz first answered 200: the apiserver's bootstrap (the default
	// RBAC policy, priority levels, the system namespaces) is logged before it.
	ReadyAt time.Time

	opts    Options
	procs   []*proc
	tmpDir  bool
	stopped sync.Once
	stopErr error
}

// BinDir is where `make apiserver` puts the binaries: $KUBESLEUTH_K8S_BIN, else
// ~/.cache/kubesleuth/k8s-v1.37.2.
func BinDir() string {
	if d := os.Getenv("KUBESLEUTH_K8S_BIN"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = os.TempDir()
	}
	return filepath.Join(home, ".cache", "kubesleuth", "k8s-"+K8sVersion)
}

// Available reports whether the binaries are in dir (BinDir() when empty), with an error
// that says how to build them.
func Available(dir string) error {
	if dir == "" {
		dir = BinDir()
	}
	for _, b := range []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler"} {
		if st, err := os.Stat(filepath.Join(dir, b)); err != nil || st.Mode()&0o111 == 0 {
			return fmt.Errorf("%s %s is not built in %s: run `make apiserver` (about 5 minutes cold)", b, K8sVersion, dir)
		}
	}
	return nil
}

// Required reports whether a missing binary must fail a test instead of skipping it:
// under CI (CI set to anything but "" or "false"/"0") or KUBESLEUTH_APISERVER_REQUIRED=1.
func Required() bool {
	for _, v := range []string{os.Getenv("CI"), os.Getenv("KUBESLEUTH_APISERVER_REQUIRED")} {
		if v != "" && v != "0" && v != "false" {
			return true
		}
	}
	return false
}

// Start starts a cluster for a test and stops it at the test's end, whatever the outcome.
// It skips the test when the binaries are not built, or fails it when Required(). On a
// failed test it logs the tail of each process's log.
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if err := Available(opts.BinDir); err != nil {
		if Required() {
			t.Fatalf("real kube-apiserver required (CI or KUBESLEUTH_APISERVER_REQUIRED): %v", err)
		}
		t.Skipf("skipping: %v", err)
	}
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	c, err := New(opts)
	if c != nil {
		t.Cleanup(func() {
			if t.Failed() {
				for _, p := range c.procs {
					t.Logf("--- last lines of %s (%s) ---\n%s", p.name, p.logPath, tail(p.logPath, 40))
				}
			}
			if err := c.Stop(); err != nil {
				t.Errorf("stopping the cluster: %v", err)
			}
		})
	}
	if err != nil {
		t.Fatalf("starting a real cluster: %v", err)
	}
	return c
}

// New starts a cluster and waits until the apiserver is ready and, unless left out, the
// controller-manager has created the default service account. The caller must call Stop.
// On error the cluster returned (if not nil) still has to be stopped; its process logs are
// in Dir.
func New(opts Options) (*Cluster, error) {
	if opts.BinDir == "" {
		opts.BinDir = BinDir()
	}
	if err := Available(opts.BinDir); err != nil {
		return nil, err
	}
	if opts.Policy == "" {
		opts.Policy = PolicyDefault
	}
	if opts.StopGrace == 0 {
		opts.StopGrace = 30 * time.Second
	}
	c := &Cluster{opts: opts, Dir: opts.Dir, Users: map[string]User{}}
	if c.Dir == "" {
		d, err := os.MkdirTemp("", "kubesleuth-realcluster-")
		if err != nil {
			return nil, err
		}
		c.Dir, c.tmpDir = d, true
	}
	if err := os.MkdirAll(c.Dir, 0o700); err != nil {
		return nil, err
	}
	if err := c.start(); err != nil {
		return c, err
	}
	return c, nil
}

func (c *Cluster) start() error {
	var err error
	c.CA = c.opts.CA
	if c.CA == nil {
		if c.CA, err = NewCA(filepath.Join(c.Dir, "pki")); err != nil {
			return err
		}
	}
	pki := filepath.Join(c.Dir, "pki")
	if err := os.MkdirAll(pki, 0o700); err != nil {
		return err
	}
	if c.ServingCert, err = c.CA.Issue("apiserver-"+randHex(4), "kube-apiserver", nil,
		"127.0.0.1", "localhost", "10.96.0.1", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
		"kubernetes.default.svc.cluster.local"); err != nil {
		return err
	}
	saPub, saKey, err := writeRSAKeyPair(pki)
	if err != nil {
		return err
	}
	if c.Etcd, err = etcdtest.Start(filepath.Join(c.Dir, "etcd")); err != nil {
		return err
	}

	var tokens bytes.Buffer
	for _, u := range staticUsers {
		u.Token = randHex(16)
		c.Users[u.Name] = u
		// No groups column for a user without groups: an empty one is a group named "".
		fmt.Fprintf(&tokens, "%s,%s,%s", u.Token, u.Name, u.UID)
		if len(u.Groups) > 0 {
			fmt.Fprintf(&tokens, ",%q", strings.Join(u.Groups, ","))
		}
		tokens.WriteByte('\n')
	}
	tokenFile := filepath.Join(c.Dir, "tokens.csv")
	if err := os.WriteFile(tokenFile, tokens.Bytes(), 0o600); err != nil {
		return err
	}
	c.PolicyFile = filepath.Join(c.Dir, "policy.yaml")
	if err := os.WriteFile(c.PolicyFile, []byte(c.opts.Policy), 0o600); err != nil {
		return err
	}

	args := []string{
		"--etcd-servers=" + c.Etcd.Endpoint,
		"--etcd-cafile=" + c.Etcd.CACert, "--etcd-certfile=" + c.Etcd.Cert, "--etcd-keyfile=" + c.Etcd.Key,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
		// 127.0.0.1 may not be the kubernetes service's endpoint: the reconciler is off (it
		// writes to etcd directly, so no audit event is lost; the apiserver's identity lease
		// in kube-system is still renewed through the API).
		"--endpoint-reconciler-type=none",
		"--tls-cert-file=" + c.ServingCert.CertFile, "--tls-private-key-file=" + c.ServingCert.KeyFile,
		"--client-ca-file=" + c.CA.CertFile,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + saPub, "--service-account-signing-key-file=" + saKey,
		"--service-cluster-ip-range=10.96.0.0/16",
		"--authorization-mode=Node,RBAC",
		"--enable-admission-plugins=NodeRestriction",
		"--token-auth-file=" + tokenFile,
		"--allow-privileged=true",
		// The nodes' only address the apiserver may use is 127.0.0.1: by default it tries
		// the Hostname address first and asks the machine's DNS for it.
		"--kubelet-preferred-address-types=InternalIP",
		"--profiling=false",
		"--audit-policy-file=" + c.PolicyFile,
	}
	if !c.opts.AuditLog.Disabled {
		l := c.opts.AuditLog
		c.AuditLogPath = l.Path
		if c.AuditLogPath == "" {
			c.AuditLogPath = filepath.Join(c.Dir, "audit", "audit.log")
		}
		if err := os.MkdirAll(filepath.Dir(c.AuditLogPath), 0o700); err != nil {
			return err
		}
		args = append(args, "--audit-log-path="+c.AuditLogPath, "--audit-log-format=json",
			"--audit-log-maxsize="+strconv.Itoa(l.MaxSizeMB),
			"--audit-log-maxbackup="+strconv.Itoa(l.MaxBackups),
			"--audit-log-maxage="+strconv.Itoa(l.MaxAgeDays))
		if l.Compress {
			args = append(args, "--audit-log-compress=true")
		}
		if l.Mode != "" {
			args = append(args, "--audit-log-mode="+l.Mode)
		}
	}
	if w := c.opts.Webhook; w != nil {
		kc := w.Kubeconfig
		if kc == "" {
			if w.Server == "" {
				return errors.New("realcluster: Webhook needs Kubeconfig or Server")
			}
			kc = filepath.Join(c.Dir, "audit-webhook.kubeconfig")
			if err := writeKubeconfig(kc, "audit-webhook", w.Server, w.CAFile, "", w.ClientCert); err != nil {
				return err
			}
		}
		args = append(args, "--audit-webhook-config-file="+kc)
		if w.Mode != "" {
			args = append(args, "--audit-webhook-mode="+w.Mode)
		}
		if w.BatchMaxSize > 0 {
			args = append(args, "--audit-webhook-batch-max-size="+strconv.Itoa(w.BatchMaxSize))
		}
		if w.BatchMaxWait > 0 {
			args = append(args, "--audit-webhook-batch-max-wait="+w.BatchMaxWait.String())
		}
		if w.InitialBackoff > 0 {
			args = append(args, "--audit-webhook-initial-backoff="+w.InitialBackoff.String())
		}
	}

	// The port is chosen by the kernel and released for the apiserver to bind: another
	// process may take it in between, so a bind failure is retried on a new port.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := freePort()
		if err != nil {
			return err
		}
		c.URL = "https://127.0.0.1:" + strconv.Itoa(port)
		a := append(append([]string{"--secure-port=" + strconv.Itoa(port)}, args...), c.opts.APIServerArgs...)
		p, err := c.spawn("kube-apiserver", a)
		if err != nil {
			return err
		}
		if lastErr = c.waitReady(p, 90*time.Second); lastErr == nil {
			break
		}
		c.stopProc(p)
		c.procs = c.procs[:len(c.procs)-1]
		if !strings.Contains(tail(p.logPath, 40), "address already in use") {
			return lastErr
		}
	}
	if lastErr != nil {
		return lastErr
	}

	if !c.opts.NoControllerManager {
		kc := filepath.Join(c.Dir, "controller-manager.kubeconfig")
		if err := writeKubeconfig(kc, "kube-controller-manager", c.URL, c.CA.CertFile, c.Users[ControllerManager].Token, Pair{}); err != nil {
			return err
		}
		// As kubeadm runs it, but without the secure port (nothing scrapes it, and two
		// clusters on one machine would fight over 10257).
		if _, err := c.spawn("kube-controller-manager", []string{
			"--kubeconfig=" + kc, "--secure-port=0",
			"--service-account-private-key-file=" + saKey, "--use-service-account-credentials=true",
			"--root-ca-file=" + c.CA.CertFile,
			"--cluster-signing-cert-file=" + c.CA.CertFile, "--cluster-signing-key-file=" + c.CA.KeyFile,
			"--cluster-name=kubesleuth", "--controllers=*,bootstrapsigner,tokencleaner",
			"--leader-elect=true",
		}); err != nil {
			return err
		}
	}
	if !c.opts.NoScheduler {
		kc := filepath.Join(c.Dir, "scheduler.kubeconfig")
		if err := writeKubeconfig(kc, "kube-scheduler", c.URL, c.CA.CertFile, c.Users[Scheduler].Token, Pair{}); err != nil {
			return err
		}
		if _, err := c.spawn("kube-scheduler", []string{"--kubeconfig=" + kc, "--secure-port=0", "--leader-elect=true"}); err != nil {
			return err
		}
	}
	if !c.opts.NoControllerManager {
		if err := c.waitControllers(60 * time.Second); err != nil {
			return err
		}
	}
	return nil
}

// RESTConfig is a client-go configuration for one of Users, trusting the cluster's CA. It
// panics on an unknown user (a test's mistake, not input).
func (c *Cluster) RESTConfig(user string) *rest.Config {
	u, ok := c.Users[user]
	if !ok {
		panic("realcluster: no such user " + user)
	}
	return &rest.Config{
		Host:            c.URL,
		BearerToken:     u.Token,
		TLSClientConfig: rest.TLSClientConfig{CAFile: c.CA.CertFile},
		UserAgent:       "realcluster/" + K8sVersion + " (linux/amd64) kubernetes/unknown",
		QPS:             200,
		Burst:           400,
	}
}

// TokenConfig is a client-go configuration for a bearer token (a minted service-account
// token, or a bad one).
func (c *Cluster) TokenConfig(token string) *rest.Config {
	cfg := c.RESTConfig(Admin)
	cfg.BearerToken = token
	return cfg
}

// AnonymousConfig is a client-go configuration without credentials.
func (c *Cluster) AnonymousConfig() *rest.Config {
	cfg := c.RESTConfig(Admin)
	cfg.BearerToken = ""
	return cfg
}

// Client is a clientset for one of Users.
func (c *Cluster) Client(user string) *kubernetes.Clientset {
	return kubernetes.NewForConfigOrDie(c.RESTConfig(user))
}

// Kubeconfig writes (once) and returns a kubeconfig for one of Users, as a person's
// ~/.kube/config would be.
func (c *Cluster) Kubeconfig(user string) (string, error) {
	u, ok := c.Users[user]
	if !ok {
		return "", fmt.Errorf("realcluster: no such user %q", user)
	}
	p := filepath.Join(c.Dir, "kubeconfig-"+safeName(user))
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	return p, writeKubeconfig(p, safeName(user), c.URL, c.CA.CertFile, u.Token, Pair{})
}

// Stop ends the processes by PID (the controllers first), SIGTERM then SIGKILL after
// Options.StopGrace, then etcd; a temporary Dir made by New is removed. It is safe to call
// twice; the error names a process that did not exit cleanly.
func (c *Cluster) Stop() error {
	c.stopped.Do(func() {
		var errs []error
		for i := len(c.procs) - 1; i >= 0; i-- {
			if err := c.stopProc(c.procs[i]); err != nil {
				errs = append(errs, err)
			}
		}
		if c.Etcd != nil {
			c.Etcd.Close()
		}
		if c.tmpDir {
			os.RemoveAll(c.Dir)
		}
		c.stopErr = errors.Join(errs...)
	})
	return c.stopErr
}

// PIDs are the process IDs of the running control-plane processes, by name.
func (c *Cluster) PIDs() map[string]int {
	m := map[string]int{}
	for _, p := range c.procs {
		m[p.name] = p.cmd.Process.Pid
	}
	return m
}

type proc struct {
	name, logPath string
	cmd           *exec.Cmd
	done          chan struct{}
	waitErr       error
	logFile       *os.File
}

func (c *Cluster) spawn(name string, args []string) (*proc, error) {
	p := &proc{name: name, logPath: filepath.Join(c.Dir, name+".log"), done: make(chan struct{})}
	f, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	p.logFile = f
	p.cmd = exec.Command(filepath.Join(c.opts.BinDir, name), args...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	p.cmd.Dir = c.Dir
	// Pdeathsig: the kernel kills the child when the thread that started it dies, so a
	// test binary killed by -timeout leaves no apiserver behind. Go never ends the threads
	// of goroutines that are not locked to them, so this fires only when the process dies.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		f.Close()
		close(p.done)
	}()
	c.procs = append(c.procs, p)
	return p, nil
}

func (c *Cluster) stopProc(p *proc) error {
	select {
	case <-p.done:
		return nil // already exited (its log says why)
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(c.opts.StopGrace):
	}
	_ = p.cmd.Process.Kill()
	<-p.done
	return fmt.Errorf("%s (pid %d) did not exit %s after SIGTERM: killed", p.name, p.cmd.Process.Pid, c.opts.StopGrace)
}

func (c *Cluster) waitReady(p *proc, timeout time.Duration) error {
	hc, err := rest.HTTPClientFor(c.RESTConfig(Admin))
	if err != nil {
		return err
	}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return fmt.Errorf("kube-apiserver exited before it was ready (%v): %s", p.waitErr, tail(p.logPath, 15))
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.URL+"/readyz", nil)
		resp, err := hc.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				cancel()
				c.ReadyAt = time.Now().UTC()
				return nil
			}
		}
		cancel()
		time.Sleep(250 * time.Millisecond)
	}
	return fmt.Errorf("kube-apiserver not ready after %s: %s", timeout, tail(p.logPath, 15))
}

// waitControllers waits for the service-account controller's "default" service account in
// the default namespace: the controller-manager is then up and its controllers hold their
// tokens.
func (c *Cluster) waitControllers(timeout time.Duration) error {
	cs := c.Client(Admin)
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		for _, p := range c.procs {
			select {
			case <-p.done:
				return fmt.Errorf("%s exited (%v): %s", p.name, p.waitErr, tail(p.logPath, 15))
			default:
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := cs.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		cancel()
		if err == nil {
			return nil
		}
		time.Sleep(500 * time.Millisecond)
	}
	return fmt.Errorf("kube-controller-manager did not create the default service account in %s", timeout)
}

func writeKubeconfig(path, name, server, caFile, token string, cert Pair) error {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: v1\nkind: Config\nclusters:\n- name: %s\n  cluster:\n    server: %q\n", name, server)
	if caFile != "" {
		fmt.Fprintf(&b, "    certificate-authority: %q\n", caFile)
	}
	fmt.Fprintf(&b, "users:\n- name: %s\n  user:\n", name)
	if token != "" {
		fmt.Fprintf(&b, "    token: %q\n", token)
	}
	if cert.CertFile != "" {
		fmt.Fprintf(&b, "    client-certificate: %q\n    client-key: %q\n", cert.CertFile, cert.KeyFile)
	}
	if token == "" && cert.CertFile == "" {
		b.WriteString("    {}\n")
	}
	fmt.Fprintf(&b, "contexts:\n- name: %s\n  context:\n    cluster: %s\n    user: %s\ncurrent-context: %s\n", name, name, name, name)
	return os.WriteFile(path, []byte(b.String()), 0o600)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return hex.EncodeToString(b)
}

func safeName(s string) string {
	return strings.NewReplacer(":", "-", "/", "-").Replace(s)
}

// tail is the last n lines of a process log, for error messages. These are the
// apiserver's own logs, which hold no secret values (it logs no tokens).
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

package realcluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
)

// These tests run the real control plane (`make apiserver` builds it; without it they skip,
// or fail under CI / KUBESLEUTH_APISERVER_REQUIRED=1) and assert what its audit log holds:
// the facts testdata/realapiserver/README.md lists under "what a real apiserver writes".

// waitEvents reads the log until pred holds for at least n events, or fails after 15s
// (the apiserver writes ResponseComplete after it answers).
func waitEvents(t *testing.T, c *Cluster, n int, pred func(*Event) bool) []Event {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		all, err := ReadEvents(c.AuditLogPath)
		if err != nil {
			t.Fatal(err)
		}
		var out []Event
		for i := range all {
			if pred(&all[i]) {
				out = append(out, all[i])
			}
		}
		if len(out) >= n || time.Now().After(deadline) {
			if len(out) < n {
				t.Fatalf("%d matching events in the log, want at least %d", len(out), n)
			}
			return out
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func byID(id string) func(*Event) bool {
	return func(e *Event) bool { return string(e.AuditID) == id }
}

func stages(evs []Event) string {
	var s []string
	for _, e := range evs {
		s = append(s, string(e.Stage))
	}
	return strings.Join(s, ",")
}

// rawGet sends GET path with token ("" for none) and an optional X-Forwarded-For, and
// returns the status code and the Audit-Id the apiserver answers with.
func rawGet(t *testing.T, c *Cluster, path, token, xff string) (int, string) {
	t.Helper()
	cfg := c.AnonymousConfig()
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, c.URL+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	id := resp.Header.Get("Audit-Id")
	if id == "" {
		t.Fatalf("GET %s: no Audit-Id header", path)
	}
	return resp.StatusCode, id
}

// needKubectl skips (fails when Required) a test that drives kubectl when there is none.
func needKubectl(t *testing.T) {
	t.Helper()
	if _, err := KubectlPath(); err != nil {
		if Required() {
			t.Fatal(err)
		}
		t.Skip(err)
	}
}

func TestRealAPIServerShapes(t *testing.T) {
	needKubectl(t)
	c := Start(t, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	d := NewDriver(ctx, c, t.Logf)
	t.Cleanup(func() {
		if err := d.StopNodes(); err != nil {
			t.Errorf("nodes: %v", err)
		}
	})
	if err := d.StartNodes([]string{"node-1"}, []string{"cp-1"}); err != nil {
		t.Fatal(err)
	}

	t.Run("failed authentication is one ResponseStarted event with an empty user", func(t *testing.T) {
		code, id := rawGet(t, c, "/api/v1/namespaces/kube-system/secrets", "bad-"+randHex(16), ScannerIP)
		if code != 401 {
			t.Fatalf("code %d", code)
		}
		time.Sleep(time.Second) // a second event would come right after the first
		evs := waitEvents(t, c, 1, byID(id))
		if len(evs) != 1 || evs[0].Stage != "ResponseStarted" {
			t.Fatalf("stages %s, want ResponseStarted only", stages(evs))
		}
		e := evs[0]
		if e.User.Username != "" || len(e.User.Groups) != 0 || e.Code() != 401 || e.Verb != "list" || e.Resource() != "secrets" {
			t.Errorf("user %+v code %d verb %s resource %s", e.User, e.Code(), e.Verb, e.Resource())
		}
		if !strings.Contains(string(e.Raw), `"user":{}`) {
			t.Errorf("user is not written as {}: %.300s", e.Raw)
		}
		if got := strings.Join(e.SourceIPs, ","); got != ScannerIP+",127.0.0.1" {
			t.Errorf("sourceIPs %s: want the X-Forwarded-For address first, then the peer", got)
		}
	})

	t.Run("anonymous health check", func(t *testing.T) {
		code, id := rawGet(t, c, "/healthz", "", "")
		if code != 200 {
			t.Fatalf("code %d", code)
		}
		evs := waitEvents(t, c, 2, byID(id))
		e := evs[len(evs)-1]
		if stages(evs) != "RequestReceived,ResponseComplete" || e.User.Username != "system:anonymous" ||
			strings.Join(e.User.Groups, ",") != "system:unauthenticated" || e.ObjectRef != nil || e.Level != "Metadata" {
			t.Errorf("stages %s user %+v objectRef %v level %s", stages(evs), e.User, e.ObjectRef, e.Level)
		}
	})

	// A Deployment: the replicaset controller creates the pods under its own service
	// account, the scheduler binds them, node-1 reports them Running.
	if err := d.Apply(Admin, setupManifest); err != nil {
		t.Fatal(err)
	}
	if err := d.Apply(Alice, shopDeployment); err != nil {
		t.Fatal(err)
	}
	pod, err := d.shopPod()
	if err != nil {
		t.Fatal(err)
	}

	t.Run("a controller-created pod", func(t *testing.T) {
		evs := waitEvents(t, c, 1, func(e *Event) bool {
			return e.Stage == "ResponseComplete" && e.Verb == "create" && e.Resource() == "pods" && e.ObjectRef.Namespace == "team-a"
		})
		e := evs[0]
		if e.User.Username != "system:serviceaccount:kube-system:replicaset-controller" {
			t.Errorf("user %s", e.User.Username)
		}
		if !strings.HasPrefix(e.UserAgent, "kube-controller-manager/v1.37.2 (linux/amd64) kubernetes/") ||
			!strings.HasSuffix(e.UserAgent, "/system:serviceaccount:kube-system:replicaset-controller") {
			t.Errorf("user agent %s", e.UserAgent)
		}
		if ids := e.User.Extra["authentication.kubernetes.io/credential-id"]; len(ids) != 1 || !strings.HasPrefix(ids[0], "JTI=") {
			t.Errorf("credential-id %v", ids)
		}
		if e.ObjectRef.Name != "" {
			t.Errorf("objectRef.name %q: a generateName create has none", e.ObjectRef.Name)
		}
		var req, resp corev1.Pod
		mustUnmarshal(t, e.RequestObject.Raw, &req)
		mustUnmarshal(t, e.ResponseObject.Raw, &resp)
		if len(req.OwnerReferences) != 1 || req.OwnerReferences[0].Kind != "ReplicaSet" || !strings.HasPrefix(req.OwnerReferences[0].Name, "shop-") ||
			req.OwnerReferences[0].Controller == nil || !*req.OwnerReferences[0].Controller {
			t.Errorf("ownerReferences %+v", req.OwnerReferences)
		}
		if req.Name != "" || !strings.HasPrefix(req.GenerateName, "shop-") || !strings.HasPrefix(resp.Name, req.GenerateName) {
			t.Errorf("request name %q generateName %q, response name %q", req.Name, req.GenerateName, resp.Name)
		}
		binds := waitEvents(t, c, 1, func(b *Event) bool {
			return b.Stage == "ResponseComplete" && b.Resource() == "pods/binding" && b.ObjectRef.Name == resp.Name
		})
		if binds[0].User.Username != Scheduler || binds[0].Verb != "create" {
			t.Errorf("binding by %s verb %s", binds[0].User.Username, binds[0].Verb)
		}
	})

	t.Run("kubectl exec is a websocket GET logged 101 at three stages", func(t *testing.T) {
		_, _ = d.Kubectl(Alice, "", "exec", "-n", "team-a", pod, "--", "cat", "/etc/hostname")
		evs := waitEvents(t, c, 3, func(e *Event) bool {
			return e.User.Username == Alice && e.Resource() == "pods/exec" && strings.Contains(e.RequestURI, "hostname")
		})
		if stages(evs) != "RequestReceived,ResponseStarted,ResponseComplete" {
			t.Errorf("stages %s", stages(evs))
		}
		for _, e := range evs {
			if e.Verb != "get" || e.ObjectRef.Name != pod || e.RequestObject != nil || e.ResponseObject != nil {
				t.Errorf("%s: verb %s name %s bodies %v %v", e.Stage, e.Verb, e.ObjectRef.Name, e.RequestObject != nil, e.ResponseObject != nil)
			}
			if e.Stage != "RequestReceived" && e.Code() != 101 {
				t.Errorf("%s: code %d, want 101 although no kubelet answered", e.Stage, e.Code())
			}
		}
		if !strings.Contains(evs[0].RequestURI, "command=cat&command=%2Fetc%2Fhostname") {
			t.Errorf("requestURI %s", evs[0].RequestURI)
		}
	})

	t.Run("an SPDY exec is a POST logged with the dial error", func(t *testing.T) {
		d.shop = pod
		if err := runExecShell(d); err != nil {
			t.Fatal(err)
		}
		evs := waitEvents(t, c, 3, func(e *Event) bool {
			return e.User.Username == Alice && e.Resource() == "pods/exec" && e.Verb == "create"
		})
		if stages(evs[:3]) != "RequestReceived,ResponseStarted,ResponseComplete" {
			t.Errorf("stages %s", stages(evs))
		}
		if e := evs[2]; e.Code() != 500 || !strings.Contains(e.ResponseStatus.Message, "error dialing backend") {
			t.Errorf("code %d message %q", e.Code(), e.ResponseStatus.Message)
		}
	})

	t.Run("a JSON patch logs the patch as requestObject and the stored object as responseObject", func(t *testing.T) {
		role := "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: reader, namespace: team-a}\nrules: [{apiGroups: [\"\"], resources: [pods], verbs: [get]}]\n"
		if err := d.Apply(Alice, role); err != nil {
			t.Fatal(err)
		}
		patch := `[{"op":"add","path":"/rules/-","value":{"apiGroups":[""],"resources":["secrets"],"verbs":["get"]}}]`
		if _, err := d.Kubectl(Alice, "", "patch", "role", "reader", "-n", "team-a", "--type=json", "-p", patch); err != nil {
			t.Fatal(err)
		}
		evs := waitEvents(t, c, 1, func(e *Event) bool {
			return e.Stage == "ResponseComplete" && e.Verb == "patch" && e.Resource() == "roles"
		})
		e := evs[0]
		var ops []map[string]any
		mustUnmarshal(t, e.RequestObject.Raw, &ops)
		if len(ops) != 1 || ops[0]["op"] != "add" || ops[0]["path"] != "/rules/-" {
			t.Errorf("requestObject %s", e.RequestObject.Raw)
		}
		var stored struct {
			Kind  string
			Rules []struct{ Resources []string }
		}
		mustUnmarshal(t, e.ResponseObject.Raw, &stored)
		if stored.Kind != "Role" || len(stored.Rules) != 2 || stored.Rules[1].Resources[0] != "secrets" {
			t.Errorf("responseObject %.300s", e.ResponseObject.Raw)
		}
		if !strings.Contains(e.RequestURI, "fieldManager=kubectl-patch") || e.UserAgent == "" {
			t.Errorf("requestURI %s", e.RequestURI)
		}
	})

	t.Run("a TokenRequest logs the token and its credential id, which the token's requests carry", func(t *testing.T) {
		tok, err := d.MintToken(Admin, "prod", "web", &authnv1.TokenRequest{Spec: authnv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](600)}})
		if err != nil {
			t.Fatal(err)
		}
		evs := waitEvents(t, c, 1, func(e *Event) bool {
			return e.Stage == "ResponseComplete" && e.Resource() == "serviceaccounts/token" && e.User.Username == Admin
		})
		e := evs[0]
		var tr authnv1.TokenRequest
		mustUnmarshal(t, e.ResponseObject.Raw, &tr)
		if tr.Status.Token != tok || !strings.HasPrefix(tok, "eyJ") {
			t.Errorf("the response does not hold the minted token")
		}
		jti := jwtClaim(t, tok, "jti")
		if got := e.Annotations["authentication.kubernetes.io/issued-credential-id"]; got != "JTI="+jti {
			t.Errorf("issued-credential-id %q, want JTI=%s", got, jti)
		}
		code, id := rawGet(t, c, "/api/v1/namespaces/prod/pods", tok, "")
		if code != 403 {
			t.Fatalf("prod/web listing pods: %d", code)
		}
		use := waitEvents(t, c, 2, byID(id))[1]
		if use.User.Username != "system:serviceaccount:prod:web" || strings.Join(use.User.Extra["authentication.kubernetes.io/credential-id"], "") != "JTI="+jti {
			t.Errorf("user %+v", use.User)
		}
		if use.Annotations["authorization.k8s.io/decision"] != "forbid" {
			t.Errorf("annotations %v", use.Annotations)
		}
	})

	t.Run("impersonation", func(t *testing.T) {
		if _, err := d.Kubectl(Admin, "", "get", "pods", "-n", "team-a", "--as=alice", "--as-group=developers"); err != nil {
			t.Fatal(err)
		}
		evs := waitEvents(t, c, 1, func(e *Event) bool {
			return e.Stage == "ResponseComplete" && e.ImpersonatedUser != nil && e.Resource() == "pods"
		})
		e := evs[0]
		if e.User.Username != Admin || e.ImpersonatedUser.Username != Alice || strings.Join(e.ImpersonatedUser.Groups, ",") != "developers,system:authenticated" {
			t.Errorf("user %s impersonated %+v", e.User.Username, e.ImpersonatedUser)
		}
		if e.AuthenticationMetadata == nil || e.AuthenticationMetadata.ImpersonationConstraint == "" {
			t.Errorf("authenticationMetadata %+v", e.AuthenticationMetadata)
		}
	})

	t.Run("PodSecurity: audit annotations in team-a, a 403 under enforce in prod", func(t *testing.T) {
		priv := func(ns string) string {
			return "apiVersion: v1\nkind: Pod\nmetadata: {name: priv, namespace: " + ns + "}\nspec:\n  hostPID: true\n  containers: [{name: c, image: docker.io/library/busybox:1.36, securityContext: {privileged: true}}]\n"
		}
		if err := d.Apply(Alice, priv("team-a")); err != nil {
			t.Fatal(err)
		}
		if err := d.Apply(CIDeployer, priv("prod")); err == nil {
			t.Fatal("a privileged pod was admitted in prod (enforce=baseline)")
		}
		evs := waitEvents(t, c, 2, func(e *Event) bool {
			return e.Stage == "ResponseComplete" && e.Verb == "create" && e.Resource() == "pods" && e.ObjectRef.Name == "priv"
		})
		a, p := evs[0], evs[1]
		if a.Code() != 201 || !strings.Contains(a.Annotations["pod-security.kubernetes.io/audit-violations"], `would violate PodSecurity "baseline:latest"`) {
			t.Errorf("team-a: code %d annotations %v", a.Code(), a.Annotations)
		}
		if p.Code() != 403 || !strings.Contains(p.ResponseStatus.Message, `violates PodSecurity "baseline:latest"`) ||
			p.Annotations["pod-security.kubernetes.io/enforce-policy"] != "baseline:latest" {
			t.Errorf("prod: code %d message %q annotations %v", p.Code(), p.ResponseStatus.Message, p.Annotations)
		}
		if !strings.Contains(string(a.RequestObject.Raw), `"privileged":true`) || !strings.Contains(a.RequestURI, "fieldManager=kubectl-client-side-apply") {
			t.Errorf("request %s %.200s", a.RequestURI, a.RequestObject.Raw)
		}
	})
}

func TestRealAPIServerPolicies(t *testing.T) {
	for _, tc := range []struct {
		name, policy string
		stages       string // of a get
		bodies       bool
	}{
		{"no RequestReceived", PolicyNoRequestReceived, "ResponseComplete", true},
		{"Metadata", PolicyMetadata, "RequestReceived,ResponseComplete", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Start(t, Options{Policy: tc.policy, NoControllerManager: true, NoScheduler: true})
			cs := c.Client(Admin)
			ctx := context.Background()
			sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s1", Namespace: "default"}, StringData: map[string]string{"k": "fixture-value"}}
			if _, err := cs.CoreV1().Secrets("default").Create(ctx, sec, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			_, id := rawGet(t, c, "/api/v1/namespaces/default/secrets/s1", c.Users[Admin].Token, "")
			evs := waitEvents(t, c, len(strings.Split(tc.stages, ",")), byID(id))
			if got := stages(evs); got != tc.stages {
				t.Errorf("stages of a get: %s, want %s", got, tc.stages)
			}
			last := evs[len(evs)-1]
			if (last.ResponseObject != nil) != tc.bodies || (tc.bodies && !strings.Contains(string(last.ResponseObject.Raw), base64.StdEncoding.EncodeToString([]byte("fixture-value")))) {
				t.Errorf("level %s responseObject %v", last.Level, last.ResponseObject != nil)
			}
			// A watch has ResponseStarted (headers sent) and ResponseComplete (closed).
			wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			w, err := cs.CoreV1().ConfigMaps("default").Watch(wctx, metav1.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			<-wctx.Done()
			w.Stop()
			cancel()
			want := 2
			if tc.policy == PolicyMetadata {
				want = 3
			}
			ws := waitEvents(t, c, want, func(e *Event) bool {
				return e.Verb == "watch" && e.Resource() == "configmaps" && e.User.Username == Admin
			})
			if got := stages(ws); !strings.HasSuffix(got, "ResponseStarted,ResponseComplete") {
				t.Errorf("watch stages %s", got)
			}
		})
	}
}

// TestRealAPIServerWebhook points the webhook backend at an mTLS server: the same events
// arrive there as EventLists (batch mode) as in the log file.
func TestRealAPIServerWebhook(t *testing.T) {
	if err := Available(""); err != nil && !Required() {
		t.Skip(err)
	}
	dir := t.TempDir()
	ca, err := NewCA(filepath.Join(dir, "pki"))
	if err != nil {
		t.Fatal(err)
	}
	srvPair, err := ca.Issue("sink", "audit-sink", nil, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	client, err := ca.Issue("apiserver-audit-client", "kube-apiserver-audit", nil)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	got := map[string][]string{} // auditID -> stages
	var posts, clientCN int
	var peer string
	sink := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var list struct {
			Kind  string
			Items []struct {
				AuditID string
				Stage   string
			}
		}
		if err := json.NewDecoder(r.Body).Decode(&list); err != nil || list.Kind != "EventList" {
			http.Error(w, "not an EventList", http.StatusBadRequest)
			return
		}
		mu.Lock()
		posts++
		if len(r.TLS.PeerCertificates) > 0 {
			peer = r.TLS.PeerCertificates[0].Subject.CommonName
			clientCN++
		}
		for _, it := range list.Items {
			got[it.AuditID] = append(got[it.AuditID], it.Stage)
		}
		mu.Unlock()
	}))
	cert, err := tls.LoadX509KeyPair(srvPair.CertFile, srvPair.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	caPEM, _ := os.ReadFile(ca.CertFile)
	pool.AppendCertsFromPEM(caPEM)
	sink.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert}
	sink.StartTLS()
	defer sink.Close()

	c := Start(t, Options{Dir: filepath.Join(dir, "cluster"), CA: ca, NoControllerManager: true, NoScheduler: true,
		Webhook: &Webhook{Server: sink.URL + "/audit", CAFile: ca.CertFile, ClientCert: client, BatchMaxWait: time.Second, InitialBackoff: time.Second}})
	_, id := rawGet(t, c, "/api/v1/namespaces", c.Users[Alice].Token, "")
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		n := len(got[id])
		mu.Unlock()
		if n == 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if s := strings.Join(got[id], ","); s != "RequestReceived,ResponseComplete" {
		t.Fatalf("webhook got stages %q for the request (posts %d)", s, posts)
	}
	if peer != "kube-apiserver-audit" || clientCN != posts {
		t.Errorf("client certificate CN %q on %d of %d posts", peer, clientCN, posts)
	}
	fileEvs := waitEvents(t, c, 2, byID(id))
	if stages(fileEvs) != "RequestReceived,ResponseComplete" {
		t.Errorf("log file stages %s", stages(fileEvs))
	}
}

// TestRealAPIServerLogRotation fills a 1 MB log: lumberjack renames it audit-<time>.log
// and starts a new one; reading the rotated files oldest first loses and repeats nothing.
func TestRealAPIServerLogRotation(t *testing.T) {
	c := Start(t, Options{AuditLog: AuditLog{MaxSizeMB: 1, MaxBackups: 5}, NoControllerManager: true, NoScheduler: true})
	cs := c.Client(Admin)
	big := strings.Repeat("x", 100<<10)
	var ids []string
	for i := 0; i < 12; i++ {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "big-" + strconv.Itoa(i), Namespace: "default"}, Data: map[string]string{"v": big}}
		if _, err := cs.CoreV1().ConfigMaps("default").Create(context.Background(), cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	_, last := rawGet(t, c, "/api/v1/namespaces/default/configmaps/big-11", c.Users[Admin].Token, "")
	ids = append(ids, last)
	waitEvents(t, c, 2, byID(last))
	files, err := LogFiles(c.AuditLogPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 2 {
		t.Fatalf("files %v: want a rotated file beside audit.log", files)
	}
	for _, f := range files[:len(files)-1] {
		base := filepath.Base(f)
		if _, err := time.Parse("2006-01-02T15-04-05.000", strings.TrimSuffix(strings.TrimPrefix(base, "audit-"), ".log")); err != nil {
			t.Errorf("rotated file %s is not audit-<2006-01-02T15-04-05.000>.log: %v", base, err)
		}
	}
	evs, err := ReadEvents(c.AuditLogPath)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	creates := 0
	for _, e := range evs {
		k := string(e.AuditID) + "/" + string(e.Stage)
		if seen[k] {
			t.Errorf("event %s twice across the rotated files", k)
		}
		seen[k] = true
		if e.Stage == "ResponseComplete" && e.Verb == "create" && e.Resource() == "configmaps" && strings.HasPrefix(e.ObjectRef.Name, "big-") {
			creates++
		}
	}
	if creates != 12 {
		t.Errorf("%d configmap creates across %d files, want 12", creates, len(files))
	}
}

// TestStopLeavesNoProcess: Stop ends every process; and a caller killed with SIGKILL
// (a test binary at its -timeout) takes its apiserver with it (Pdeathsig).
func TestStopLeavesNoProcess(t *testing.T) {
	if os.Getenv("REALCLUSTER_HELPER") == "1" {
		c, err := New(Options{Dir: os.Getenv("REALCLUSTER_DIR"), NoControllerManager: true, NoScheduler: true})
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println("pid", c.PIDs()["kube-apiserver"])
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	c := Start(t, Options{NoControllerManager: true})
	pids := c.PIDs()
	if len(pids) != 2 {
		t.Fatalf("pids %v", pids)
	}
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	for name, pid := range pids {
		if alive(pid) {
			t.Errorf("%s (pid %d) still running after Stop", name, pid)
		}
	}

	cmd := exec.Command(os.Args[0], "-test.run=^TestStopLeavesNoProcess$")
	cmd.Env = append(os.Environ(), "REALCLUSTER_HELPER=1", "REALCLUSTER_DIR="+t.TempDir())
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pid int
	buf := make([]byte, 256)
	n, _ := io.ReadAtLeast(out, buf, 1)
	if _, err := fmt.Sscanf(string(buf[:n]), "pid %d", &pid); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("helper said %q", buf[:n])
	}
	cmd.Process.Kill()
	cmd.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for alive(pid) && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if alive(pid) {
		syscall.Kill(pid, syscall.SIGKILL)
		t.Fatalf("kube-apiserver (pid %d) outlived its SIGKILLed parent", pid)
	}
}

// alive reports whether pid is a running process (not a zombie).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return len(f) > 0 && f[0] != "Z"
}

func mustUnmarshal(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%v: %.200s", err, b)
	}
}

func jwtClaim(t *testing.T, tok, claim string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %d parts", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	mustUnmarshal(t, b, &m)
	s, _ := m[claim].(string)
	return s
}

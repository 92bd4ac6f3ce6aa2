package generate

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// The simulated cluster: its nodes, workloads, secrets and the identities that talk to
// the apiserver, and the actors that produce the everyday traffic.

const (
	k8sVersion = "v1.35.2"
	k8sCommit  = "5e1f6b0"
	sec        = int64(1e6) // one second in µs
	minute     = 60 * sec
)

func componentUA(binary string) string {
	return binary + "/" + k8sVersion + " (linux/amd64) kubernetes/" + k8sCommit
}

type kv struct{ key, value string }

type node struct {
	name, ip, uid     string
	leaseUID          string
	leaseRV, nodeRV   uint64
	created           int64
	kubelet           *identity
	pods              []*pod
	controlPlane      bool
	heartbeatPrevious int64
}

type pod struct {
	name, uid string
	dep       *deployment
	node      *node
}

type deployment struct {
	ns, name, uid, sa string
	image             string
	tag               int
	replicas          int
	generation        int
	rv                uint64
	created           int64
	rsHash            string
	rsUID             string
	pods              []*pod
	port              int
}

type secret struct {
	ns, name, uid, typ string
	data               []kv
	rv                 uint64
	created            int64
}

type lease struct {
	ns, name, uid, holder string
	rv                    uint64
	duration              int
	acquired, created     int64
	transitions           int
	manager               string
	ap                    int    // for an apiserver identity lease: the apiserver
	host                  string // for an apiserver identity lease: its node
}

type cluster struct {
	nodes       []*node
	deployments []*deployment
	secrets     []*secret
	humans      []*human
	apiserver   *identity
	apiservers  []*identity // with an HA control plane: each apiserver's own loopback identity; [0] is apiserver
	cpNodes     []*node     // the control-plane nodes of apiservers 2..K (k8s-control-2...)
	kcm         *identity
	scheduler   *identity
	ctrl        map[string]*identity // controller name -> identity; read by key only, never iterated
	ci          *identity
	ciSecrets   []int
	leases      []*lease
	s           *sim
	backdoorID  *identity
	backdoorUID string
}

type human struct {
	name   string
	groups []string
	ids    []*identity // one per workstation IP / kubectl version
}

var namespaces = []string{"default", "kube-system", "kube-public", "kube-node-lease", "prod", "payments", "staging", "ci", "monitoring", "ingress-nginx", "cert-manager"}

// newIdentity pre-renders the user and client fields of an identity.
func newIdentity(username, uid string, groups []string, extra []kv, ip, ua string) *identity {
	id := &identity{name: username}
	n := 64 + len(username) + len(uid)
	for _, g := range groups {
		n += len(g) + 3
	}
	for _, e := range extra {
		n += len(e.key) + len(e.value) + 7
	}
	b := make([]byte, 0, n)
	b = append(b, `"user":{`...)
	b = appendKV(b, false, "username", username)
	nameEnd := len(b) - 1 // before the closing quote
	if uid != "" {
		b = appendKV(b, true, "uid", uid)
	}
	if len(groups) > 0 {
		b = append(b, `,"groups":[`...)
		for i, g := range groups {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, g)
		}
		b = append(b, ']')
	}
	if len(extra) > 0 { // keys sorted by the caller, as encoding/json sorts map keys
		b = append(b, `,"extra":{`...)
		for i, e := range extra {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, e.key)
			b = append(b, ":["...)
			b = appendString(b, e.value)
			b = append(b, ']')
		}
		b = append(b, '}')
	}
	b = append(b, '}')
	t := make([]byte, 0, 40+len(ip)+len(ua))
	t = append(t, `,"sourceIPs":[`...)
	t = appendString(t, ip)
	ipEnd := len(t)
	t = append(t, `],"userAgent":`...)
	t = appendString(t, ua)
	id.finish(b, t, nameEnd, ipEnd)
	return id
}

// finish sets id's rendered fields and what Options.Unique and the apiservers need: user
// is `"user":{"username":"NAME...`, with NAME ending at nameEnd; tail is
// `,"sourceIPs":["IP"...`, with the first IP's string ending at ipEnd.
func (id *identity) finish(user, tail []byte, nameEnd, ipEnd int) {
	id.user, id.tail, id.ipEnd = user, tail, ipEnd
	const nameStart = len(`"user":{"username":"`)
	// A kubelet's name is its node's: renamed, it would write another node's Lease and
	// Node (KS-CP-007 on every request), which no cluster does. Options.Unique leaves it.
	kubelet := bytes.HasPrefix(user[nameStart:], []byte("system:node:"))
	if nameEnd > nameStart && !kubelet {
		id.nameAt = nameEnd
		if at := bytes.LastIndexByte(user[:nameEnd], '@'); at > nameStart {
			id.nameAt, id.plus = at, true
		}
	}
	// A client keeps its connection, so its requests go to one apiserver; which one is a
	// function of who it is and where from (FNV-1a of the name and the address), not a
	// draw from the stream.
	h := uint32(2166136261)
	for _, p := range [][]byte{user[:max(nameEnd, 0)], tail[:ipEnd]} {
		for _, c := range p {
			h = (h ^ uint32(c)) * 16777619
		}
	}
	id.conn = h
}

func (s *sim) uuid() string {
	var b [36]byte
	return string(appendUUID(b[:0], s.rng.Uint64(), s.rng.Uint64()))
}

func (s *sim) hex(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = hexDigits[s.rng.IntN(16)]
	}
	return string(b)
}

// suffix returns a Kubernetes generated-name suffix (consonants and digits).
func (s *sim) suffix(n int) string {
	const alphabet = "bcdfghjklmnpqrstvwxz2456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[s.rng.IntN(len(alphabet))]
	}
	return string(b)
}

func (s *sim) password(n int) string {
	const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[s.rng.IntN(len(alphabet))]
	}
	return string(b)
}

// boundID is a service-account identity whose token is bound to a pod: when a rollout
// deletes the pod, the workload's new pod carries on with a token bound to itself.
type boundID struct {
	id               *identity
	ns, name, ip, ua string
}

// rebind moves the identities bound to a deleted pod onto its replacement, as a new pod
// mounts a new token: the deleted pod's token is never used again.
func (s *sim) rebind(old, repl *pod) {
	for _, b := range s.bound[old] {
		*b.id = *newSAIdentity(s, b.ns, b.name, b.ip, b.ua, repl)
		s.bound[repl] = append(s.bound[repl], boundID{b.id, b.ns, b.name, b.ip, b.ua})
	}
	delete(s.bound, old)
}

func saIdentity(s *sim, ns, name, ip, ua string, p *pod) *identity {
	id := newSAIdentity(s, ns, name, ip, ua, p)
	if p != nil {
		if s.bound == nil {
			s.bound = map[*pod][]boundID{}
		}
		s.bound[p] = append(s.bound[p], boundID{id, ns, name, ip, ua})
	}
	return id
}

func newSAIdentity(s *sim, ns, name, ip, ua string, pod *pod) *identity {
	extra := []kv{{"authentication.kubernetes.io/credential-id", "JTI=" + s.uuid()}}
	if pod != nil {
		extra = append(extra,
			kv{"authentication.kubernetes.io/node-name", pod.node.name},
			kv{"authentication.kubernetes.io/node-uid", pod.node.uid},
			kv{"authentication.kubernetes.io/pod-name", pod.name},
			kv{"authentication.kubernetes.io/pod-uid", pod.uid})
	}
	return newIdentity("system:serviceaccount:"+ns+":"+name, s.uuid(),
		[]string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"}, extra, ip, ua)
}

func x509Extra(s *sim) []kv {
	return []kv{{"authentication.kubernetes.io/credential-id", "X509SHA256=" + s.hex(64)}}
}

func newCluster(s *sim) *cluster {
	c := &cluster{s: s, ctrl: map[string]*identity{}}
	created := s.now - 86*24*3600*sec
	cpIP := "10.0.1.10"
	for i := 0; i < 9; i++ {
		n := &node{uid: s.uuid(), leaseUID: s.uuid(), created: created + int64(i)*97*sec}
		if i == 0 {
			n.name, n.ip, n.controlPlane = "k8s-control-1", cpIP, true
		} else {
			n.name = fmt.Sprintf("k8s-worker-%d", i)
			n.ip = fmt.Sprintf("10.0.1.%d", 20+i)
		}
		n.leaseRV = s.nextRV()
		n.nodeRV = s.nextRV()
		n.kubelet = newIdentity("system:node:"+n.name, "", []string{"system:nodes", "system:authenticated"}, x509Extra(s), n.ip, componentUA("kubelet"))
		c.nodes = append(c.nodes, n)
	}
	c.apiserver = newIdentity("system:apiserver", s.uuid(), []string{"system:authenticated"}, nil, "::1", componentUA("kube-apiserver"))
	c.kcm = newIdentity("system:kube-controller-manager", "", []string{"system:authenticated"}, x509Extra(s), cpIP, componentUA("kube-controller-manager")+"/leader-election")
	c.scheduler = newIdentity("system:kube-scheduler", "", []string{"system:authenticated"}, x509Extra(s), cpIP, componentUA("kube-scheduler")+"/leader-election")
	for _, name := range []string{"deployment-controller", "replicaset-controller", "endpointslice-controller", "endpoint-controller",
		"generic-garbage-collector", "resourcequota-controller", "horizontal-pod-autoscaler", "namespace-controller", "node-controller"} {
		c.ctrl[name] = saIdentity(s, "kube-system", name, cpIP, componentUA("kube-controller-manager")+"/system:serviceaccount:kube-system:"+name, nil)
	}
	schedUA := componentUA("kube-scheduler") + "/scheduler"
	c.ctrl["scheduler"] = newIdentity("system:kube-scheduler", "", []string{"system:authenticated"}, x509Extra(s), cpIP, schedUA)

	deps := []struct {
		ns, name, image string
		replicas, port  int
	}{
		{"prod", "web", "registry.example.com/shop/web", 3, 8080},
		{"prod", "api", "registry.example.com/shop/api", 3, 8081},
		{"prod", "worker", "registry.example.com/shop/worker", 2, 9090},
		{"payments", "billing", "registry.example.com/payments/billing", 2, 8443},
		{"payments", "ledger", "registry.example.com/payments/ledger", 2, 8080},
		{"staging", "web", "registry.example.com/shop/web", 1, 8080},
		{"staging", "api", "registry.example.com/shop/api", 1, 8081},
		{"monitoring", "prometheus", "quay.io/prometheus/prometheus", 1, 9090},
		{"ingress-nginx", "ingress-nginx-controller", "registry.k8s.io/ingress-nginx/controller", 2, 443},
		{"cert-manager", "cert-manager", "quay.io/jetstack/cert-manager-controller", 1, 9402},
		{"kube-system", "coredns", "registry.k8s.io/coredns/coredns", 2, 53},
	}
	w := 1
	for _, d := range deps {
		dep := &deployment{ns: d.ns, name: d.name, uid: s.uuid(), sa: d.name, image: d.image, tag: 100 + s.rng.IntN(300),
			replicas: d.replicas, generation: 3 + s.rng.IntN(40), rv: s.nextRV(), created: created + int64(s.rng.IntN(3600))*sec,
			rsHash: s.rsHash(), rsUID: s.uuid(), port: d.port}
		for i := 0; i < d.replicas; i++ {
			n := c.nodes[w]
			w = w%8 + 1
			p := &pod{name: dep.name + "-" + dep.rsHash + "-" + s.suffix(5), uid: s.uuid(), dep: dep, node: n}
			dep.pods = append(dep.pods, p)
			n.pods = append(n.pods, p)
		}
		c.deployments = append(c.deployments, dep)
	}

	// Secrets: enough of them, spread over namespaces, for an enumeration to reach 30.
	addSecret := func(ns, name, typ string, keys ...string) {
		sc := &secret{ns: ns, name: name, uid: s.uuid(), typ: typ, rv: s.nextRV(), created: created + int64(s.rng.IntN(30*24*3600))*sec}
		for _, k := range keys {
			sc.data = append(sc.data, kv{k, s.password(20 + s.rng.IntN(13))})
		}
		slices.SortFunc(sc.data, func(a, b kv) int { return strings.Compare(a.key, b.key) })
		c.secrets = append(c.secrets, sc)
	}
	opaque := "Opaque"
	for _, ns := range []string{"prod", "staging"} {
		addSecret(ns, "web-tls", "kubernetes.io/tls", "tls.crt", "tls.key")
		addSecret(ns, "api-db", opaque, "username", "password")
		addSecret(ns, "api-jwt-signing", opaque, "key")
		addSecret(ns, "worker-queue", opaque, "url", "password")
		addSecret(ns, "registry-pull", "kubernetes.io/dockerconfigjson", ".dockerconfigjson")
		addSecret(ns, "smtp-relay", opaque, "username", "password")
		for v := 1; v <= 3; v++ {
			addSecret(ns, fmt.Sprintf("sh.helm.release.v1.shop.v%d", 40+v), "helm.sh/release.v1", "release")
		}
	}
	addSecret("payments", "billing-db", opaque, "username", "password")
	addSecret("payments", "stripe-api", opaque, "secret-key", "webhook-secret")
	addSecret("payments", "ledger-db", opaque, "username", "password")
	addSecret("payments", "ledger-signing", opaque, "private-key")
	addSecret("payments", "registry-pull", "kubernetes.io/dockerconfigjson", ".dockerconfigjson")
	c.ciSecrets = []int{len(c.secrets), len(c.secrets) + 1}
	addSecret("ci", "deployer-registry", "kubernetes.io/dockerconfigjson", ".dockerconfigjson")
	addSecret("ci", "github-token", opaque, "token")
	addSecret("ci", "slack-webhook", opaque, "url")
	addSecret("monitoring", "grafana-admin", opaque, "admin-user", "admin-password")
	addSecret("monitoring", "alertmanager-config", opaque, "alertmanager.yaml")
	addSecret("monitoring", "prometheus-remote-write", opaque, "username", "password")
	addSecret("ingress-nginx", "ingress-nginx-admission", opaque, "ca", "cert", "key")
	addSecret("cert-manager", "cert-manager-webhook-ca", "kubernetes.io/tls", "ca.crt", "tls.crt", "tls.key")
	addSecret("cert-manager", "letsencrypt-account-key", opaque, "tls.key")
	addSecret("kube-system", "bootstrap-token-"+s.suffix(6), "bootstrap.kubernetes.io/token", "token-id", "token-secret")
	addSecret("kube-system", "cloud-provider-credentials", opaque, "access-key-id", "secret-access-key")
	addSecret("kube-system", "etcd-backup-s3", opaque, "access-key-id", "secret-access-key")
	addSecret("default", "legacy-admin-token", "kubernetes.io/service-account-token", "token", "ca.crt", "namespace")

	// Humans: kubectl on laptops, from the office network and the VPN.
	for _, h := range []struct {
		name   string
		groups []string
		ua     string
	}{
		{"alice@example.com", []string{"platform-admins", "system:authenticated"}, "kubectl/v1.35.1 (darwin/arm64) kubernetes/8c7b4bd"},
		{"carol@example.com", []string{"developers", "system:authenticated"}, "kubectl/v1.34.3 (linux/amd64) kubernetes/b6d3f0c"},
		{"dave@example.com", []string{"developers", "oncall", "system:authenticated"}, "kubectl/v1.35.0 (darwin/arm64) kubernetes/2a9b1c7"},
		{"erin@example.com", []string{"sre", "system:authenticated"}, "k9s/v0.50.6 (darwin/arm64) kubernetes/$Format"},
	} {
		hu := &human{name: h.name, groups: h.groups}
		for _, ip := range []string{fmt.Sprintf("10.20.%d.%d", 4+s.rng.IntN(4), 10+s.rng.IntN(200)), fmt.Sprintf("172.16.8.%d", 2+s.rng.IntN(250))} {
			hu.ids = append(hu.ids, newIdentity(h.name, "", h.groups, nil, ip, h.ua))
		}
		c.humans = append(c.humans, hu)
	}
	ciPod := &pod{name: "runner-" + s.suffix(8) + "-project-42-concurrent-0", uid: s.uuid(), node: c.nodes[3]}
	c.ci = saIdentity(s, "ci", "deployer", "10.244.3."+strconv.Itoa(10+s.rng.IntN(200)), "kubectl/v1.34.2 (linux/amd64) kubernetes/0a4f1d5", ciPod)

	// Leader-election leases.
	for _, l := range []struct {
		ns, name, manager string
		dur               int
	}{
		{"kube-system", "kube-controller-manager", "kube-controller-manager", 15},
		{"kube-system", "kube-scheduler", "kube-scheduler", 15},
		{"ingress-nginx", "ingress-nginx-leader", "nginx-ingress-controller", 30},
		{"kube-system", "cert-manager-controller", "cert-manager-controller", 60},
		{"kube-system", "apiserver-" + s.suffix(26), "kube-apiserver", 3600},
	} {
		c.leases = append(c.leases, &lease{ns: l.ns, name: l.name, uid: s.uuid(), rv: s.nextRV(), duration: l.dur, manager: l.manager,
			holder: l.name + "_" + s.uuid(), acquired: s.now - int64(s.rng.IntN(48*3600))*sec, created: created, transitions: s.rng.IntN(9), host: "k8s-control-1"})
	}
	c.apiservers = []*identity{c.apiserver}
	c.apiserver.conn = 0
	// An HA control plane: apiservers 2..K each on its own control-plane node, each with
	// its own loopback identity (system:apiserver with a uid of its own) renewing its own
	// identity lease. Drawn after everything else, so one apiserver gives the same bytes
	// as before HA existed.
	for k := 1; k < len(s.aps); k++ {
		n := &node{uid: s.uuid(), leaseUID: s.uuid(), created: created + int64(9+k)*97*sec, controlPlane: true,
			name: fmt.Sprintf("k8s-control-%d", k+1), ip: fmt.Sprintf("10.0.1.%d", 10+k)}
		n.leaseRV = s.nextRV()
		n.nodeRV = s.nextRV()
		n.kubelet = newIdentity("system:node:"+n.name, "", []string{"system:nodes", "system:authenticated"}, x509Extra(s), n.ip, componentUA("kubelet"))
		c.cpNodes = append(c.cpNodes, n)
		self := newIdentity("system:apiserver", s.uuid(), []string{"system:authenticated"}, nil, "::1", componentUA("kube-apiserver"))
		self.conn = uint32(k) // its own requests go to itself, over loopback
		c.apiservers = append(c.apiservers, self)
		name := "apiserver-" + s.base32(26)
		c.leases = append(c.leases, &lease{ns: "kube-system", name: name, uid: s.uuid(), rv: s.nextRV(), duration: 3600, manager: "kube-apiserver",
			holder: name + "_" + s.uuid(), acquired: s.now - int64(s.rng.IntN(48*3600))*sec, created: created, transitions: 0, ap: k, host: n.name})
	}
	return c
}

// base32 returns n characters of lowercase unpadded base32, the alphabet of the hash in
// an apiserver identity lease's name.
func (s *sim) base32(n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz234567"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[s.rng.IntN(len(alphabet))]
	}
	return string(b)
}

func (s *sim) rsHash() string {
	const alphabet = "bcdfghjklmnpqrstvwxz2456789"
	b := make([]byte, 9+s.rng.IntN(2))
	for i := range b {
		b[i] = alphabet[s.rng.IntN(len(alphabet))]
	}
	return string(b)
}

// start schedules every everyday actor.
func (c *cluster) start() {
	s := c.s
	for i := range c.nodes {
		s.at(s.now+s.rng.Int64N(10*sec), &actor{fire: fireNodeLease, i: i})
		s.at(s.now+s.rng.Int64N(10*sec), &actor{fire: fireNodeGet, i: i})
		s.at(s.now+s.rng.Int64N(5*minute), &actor{fire: fireNodeStatus, i: i})
		s.at(s.now+s.rng.Int64N(2*minute), &actor{fire: fireKubeletToken, i: i})
		s.at(s.now+s.rng.Int64N(30*sec), &actor{fire: fireKubeletEvent, i: i})
	}
	// The other control-plane nodes run no workload: only their kubelets' heartbeats.
	for _, n := range c.cpNodes {
		s.at(s.now+s.rng.Int64N(10*sec), &actor{fire: fireNodeLease, x: n})
		s.at(s.now+s.rng.Int64N(10*sec), &actor{fire: fireNodeGet, x: n})
		s.at(s.now+s.rng.Int64N(5*minute), &actor{fire: fireNodeStatus, x: n})
	}
	for i := range c.leases {
		s.at(s.now+s.rng.Int64N(2*sec), &actor{fire: fireLeaderElection, i: i})
	}
	for i := range watchers(c) {
		s.at(s.now+s.rng.Int64N(minute), &actor{fire: fireWatch, i: i})
	}
	s.at(s.now+s.rng.Int64N(10*sec), &actor{fire: fireEndpointsReconcile})
	s.at(s.now+s.rng.Int64N(15*sec), &actor{fire: fireHPA})
	s.at(s.now+s.rng.Int64N(minute), &actor{fire: fireDiscovery})
	s.at(s.now+s.rng.Int64N(2*minute), &actor{fire: fireHumanArrival})
	s.at(s.now+s.rng.Int64N(3*minute), &actor{fire: fireCIRun})
	if s.population != nil {
		s.at(s.now+s.population.gap(s), &actor{fire: firePopulation})
	}
}

// nodeOf is the node an actor heartbeats for: a worker or the first control-plane node
// by index, another control-plane node by pointer.
func (c *cluster) nodeOf(a *actor) *node {
	if n, ok := a.x.(*node); ok {
		return n
	}
	return c.nodes[a.i]
}

// ---- request helpers ----

// req starts a request from who at s.now on a resource. path is the URL path; query,
// when not empty, is appended after '?'.
func (s *sim) req(who *identity, verb, path, query string, ref objRef) *request {
	r := s.newRequest()
	r.who = who
	r.verb = verb
	if query != "" {
		r.uri = path + "?" + query
	} else {
		r.uri = path
	}
	r.ref = ref
	r.hasRef = ref.resource != ""
	return r
}

// path is the URL path of the object ref names.
func (f objRef) path() string {
	p := "/api/" + f.version
	if f.group != "" {
		p = "/apis/" + f.group + "/" + f.version
	}
	if f.namespace != "" {
		p += "/namespaces/" + f.namespace
	}
	p += "/" + f.resource
	if f.name != "" {
		p += "/" + f.name
		if f.subresource != "" {
			p += "/" + f.subresource
		}
	}
	return p
}

// allow sets the authorization annotations for an allowed request.
func allowRBAC(kind, binding, role, subjectKind, subject string) []byte {
	if plainName(kind) && plainName(binding) && plainName(role) && plainName(subjectKind) && plainName(subject) {
		// Quoting and escaping leave plain names as they are: write the escaped reason
		// at once.
		b := make([]byte, 0, 120+len(kind)+len(binding)+len(role)+len(subjectKind)+len(subject))
		b = append(b, `"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":"RBAC: allowed by `...)
		b = append(b, kind...)
		b = append(b, ` \"`...)
		b = append(b, binding...)
		b = append(b, `\" of ClusterRole \"`...)
		b = append(b, role...)
		b = append(b, `\" to `...)
		b = append(b, subjectKind...)
		b = append(b, ` \"`...)
		b = append(b, subject...)
		return append(b, `\""`...)
	}
	reason := make([]byte, 0, 64+len(binding)+len(role)+len(subject))
	reason = append(reason, "RBAC: allowed by "...)
	reason = append(reason, kind...)
	reason = append(reason, ' ')
	reason = appendQuoted(reason, binding)
	reason = append(reason, " of ClusterRole "...)
	reason = appendQuoted(reason, role)
	reason = append(reason, " to "...)
	reason = append(reason, subjectKind...)
	reason = append(reason, ' ')
	reason = appendQuoted(reason, subject)
	b := make([]byte, 0, 2*len(reason)+80)
	b = appendKV(b, false, "authorization.k8s.io/decision", "allow")
	b = append(b, `,"authorization.k8s.io/reason":`...)
	return appendString(b, string(reason))
}

// plainName reports whether strconv.Quote and then JSON escaping leave v as it is.
func plainName(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; !plainByte[c] || c == 0x7f {
			return false
		}
	}
	return true
}

// appendQuoted appends strconv.Quote(v), without its allocations for the plain names RBAC
// objects have.
func appendQuoted(b []byte, v string) []byte {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return strconv.AppendQuote(b, v)
		}
	}
	b = append(b, '"')
	b = append(b, v...)
	return append(b, '"')
}

var (
	notesAllowEmpty = func() []byte {
		b := appendKV(nil, false, "authorization.k8s.io/decision", "allow")
		return appendKV(b, true, "authorization.k8s.io/reason", "")
	}()
	notesNode      = notesAllowEmpty // the Node authorizer gives no reason
	notesKCM       = allowRBAC("ClusterRoleBinding", "system:kube-controller-manager", "system:kube-controller-manager", "User", "system:kube-controller-manager")
	notesScheduler = allowRBAC("ClusterRoleBinding", "system:kube-scheduler", "system:kube-scheduler", "User", "system:kube-scheduler")
	notesAPIServer = allowRBAC("ClusterRoleBinding", "system:apiserver", "system:apiserver", "User", "system:apiserver") // masters-equivalent
)

func notesController(name string) []byte {
	return allowRBAC("ClusterRoleBinding", "system:controller:"+name, "system:controller:"+name, "ServiceAccount", name+"/kube-system")
}

func notesGroup(binding, role, group string) []byte {
	return allowRBAC("ClusterRoleBinding", binding, role, "Group", group)
}

// ---- node traffic ----

func fireNodeLease(s *sim, a *actor) {
	s.nodeLease(s.c.nodeOf(a))
	s.at(s.now+s.jitter(10*sec, 0.03), a)
}

// nodeLease is a kubelet's renewal of its node's lease.
func (s *sim) nodeLease(n *node) {
	r := s.req(n.kubelet, "update", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/"+n.name, "timeout=10s",
		objRef{resource: "leases", namespace: "kube-node-lease", name: n.name, group: "coordination.k8s.io", version: "v1", uid: n.leaseUID, rv: n.leaseRV})
	r.notes = notesNode
	r.x = n
	r.t1 = int64(n.leaseRV)
	n.leaseRV = s.nextRV()
	r.i1 = int(n.leaseRV)
	r.reqBody, r.respBody = nodeLeaseRequest, nodeLeaseResponse
	s.submit(r, s.latency())
}

func fireNodeGet(s *sim, a *actor) {
	s.nodeGet(s.c.nodeOf(a))
	s.at(s.now+s.jitter(10*sec, 0.02), a)
}

// nodeGet is a kubelet's read of its own Node.
func (s *sim) nodeGet(n *node) {
	r := s.req(n.kubelet, "get", "/api/v1/nodes/"+n.name, "resourceVersion=0&timeout=10s",
		objRef{resource: "nodes", name: n.name, version: "v1"})
	r.notes = notesNode
	s.submit(r, s.latency()/3)
}

func fireNodeStatus(s *sim, a *actor) {
	s.nodeStatus(s.c.nodeOf(a))
	s.at(s.now+s.jitter(5*minute, 0.02), a)
}

// nodeStatus is a kubelet's periodic status patch.
func (s *sim) nodeStatus(n *node) {
	r := s.req(n.kubelet, "patch", "/api/v1/nodes/"+n.name+"/status", "timeout=10s",
		objRef{resource: "nodes", name: n.name, version: "v1", subresource: "status"})
	r.notes = notesNode
	r.x = n
	r.t1 = n.heartbeatPrevious
	n.heartbeatPrevious = s.now
	r.i1 = s.rng.IntN(4)
	r.reqBody = nodeStatusPatch
	n.nodeRV = s.nextRV()
	s.submit(r, 3000+s.rng.Int64N(12000))
}

func fireKubeletToken(s *sim, a *actor) {
	n := s.c.nodes[a.i]
	if len(n.pods) > 0 {
		p := n.pods[s.rng.IntN(len(n.pods))]
		s.kubeletToken(p)
	}
	// Each pod's projected token is refreshed after 80% of its one-hour life.
	per := int64(48*minute) / int64(max(1, len(n.pods)))
	s.at(s.now+s.jitter(per, 0.3), a)
}

func (s *sim) kubeletToken(p *pod) {
	r := s.req(p.node.kubelet, "create", "/api/v1/namespaces/"+p.dep.ns+"/serviceaccounts/"+p.dep.sa+"/token", "",
		objRef{resource: "serviceaccounts", namespace: p.dep.ns, name: p.dep.sa, version: "v1", subresource: "token"})
	r.code = 201
	r.notes = notesNode
	s.submit(r, 2000+s.rng.Int64N(6000))
}

var kubeletEventReasons = []struct{ reason, typ, msg string }{
	{"Unhealthy", "Warning", "Readiness probe failed: Get \"http://%s:%d/healthz\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)"},
	{"BackOff", "Warning", "Back-off pulling image \"%s:%d\""},
	{"Pulled", "Normal", "Container image \"%s:%d\" already present on machine"},
	{"ProbeWarning", "Warning", "Liveness probe warning: %s:%d responded slowly"},
}

func fireKubeletEvent(s *sim, a *actor) {
	n := s.c.nodes[a.i]
	if len(n.pods) > 0 {
		p := n.pods[s.rng.IntN(len(n.pods))]
		r := s.req(n.kubelet, "create", "/api/v1/namespaces/"+p.dep.ns+"/events", "",
			objRef{resource: "events", namespace: p.dep.ns, version: "v1"})
		r.i1 = s.rng.IntN(len(kubeletEventReasons))
		r.s1 = p.name + "." + s.hex(16)
		r.ref.bodyName = r.s1
		r.x = p
		r.code = 201
		r.notes = notesNode
		r.t1 = int64(s.nextRV()) // rv of the new event
		r.s2 = s.uuid()
		r.reqBody, r.respBody = eventRequest, eventResponse
		s.submit(r, s.latency())
	}
	s.at(s.now+s.jitter(45*sec, 0.9), a)
}

// ---- control plane ----

func fireLeaderElection(s *sim, a *actor) {
	l := s.c.leases[a.i]
	var who *identity
	var notes []byte
	period := 2 * sec
	switch l.manager {
	case "kube-controller-manager":
		who, notes = s.c.kcm, notesKCM
	case "kube-scheduler":
		who, notes = s.c.scheduler, notesScheduler
	case "kube-apiserver":
		who, notes, period = s.c.apiservers[l.ap], notesAPIServer, 10*sec
	case "nginx-ingress-controller":
		if a.x == nil {
			a.x = saIdentity(s, "ingress-nginx", "ingress-nginx", "10.244.2.17", "nginx-ingress-controller/v1.13.1 (linux/amd64) ingress-nginx/7c8f6e2", s.c.podOf("ingress-nginx"))
		}
		who, notes, period = a.x.(*identity), allowRBAC("RoleBinding", "ingress-nginx", "ingress-nginx", "ServiceAccount", "ingress-nginx/ingress-nginx"), 5*sec
	default:
		if a.x == nil {
			a.x = saIdentity(s, "cert-manager", "cert-manager", "10.244.5.31", "cert-manager-controller/v1.18.2 (linux/amd64) cert-manager/1a2b3c4d", s.c.podOf("cert-manager"))
		}
		who, notes, period = a.x.(*identity), allowRBAC("RoleBinding", "cert-manager:leaderelection", "cert-manager:leaderelection", "ServiceAccount", "cert-manager/cert-manager"), 15*sec
	}
	base := "/apis/coordination.k8s.io/v1/namespaces/" + l.ns + "/leases/" + l.name
	ref := objRef{resource: "leases", namespace: l.ns, name: l.name, group: "coordination.k8s.io", version: "v1"}
	// The leader renews optimistically (client-go >= 1.27 updates the lease it last saw
	// without reading it first); only ingress-nginx's standby replica polls with a get.
	if l.manager == "nginx-ingress-controller" {
		g := s.req(who, "get", base, "timeout=5s", ref)
		g.notes = notes
		s.submit(g, s.latency()/2)
		s.now += 1000 + s.rng.Int64N(3000)
	}
	ref.uid, ref.rv = l.uid, l.rv
	u := s.req(who, "update", base, "timeout=5s", ref)
	u.notes = notes
	u.x = l
	u.t1 = int64(l.rv)
	l.rv = s.nextRV()
	u.i1 = int(l.rv)
	u.reqBody, u.respBody = leaderLeaseRequest, leaderLeaseResponse
	s.submit(u, s.latency())
	s.at(s.now+s.jitter(period, 0.05), a)
}

func (c *cluster) podOf(ns string) *pod {
	for _, d := range c.deployments {
		if d.ns == ns && len(d.pods) > 0 {
			return d.pods[0]
		}
	}
	return nil
}

func fireEndpointsReconcile(s *sim, a *actor) {
	// The apiserver's endpoint reconciler checks the "kubernetes" service every 10 s.
	if a.n%2 == 0 {
		r := s.req(s.c.apiserver, "get", "/api/v1/namespaces/default/endpoints/kubernetes", "",
			objRef{resource: "endpoints", namespace: "default", name: "kubernetes", version: "v1"})
		r.notes = notesAPIServer
		s.submit(r, s.latency()/3)
	} else {
		r := s.req(s.c.apiserver, "get", "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/kubernetes", "",
			objRef{resource: "endpointslices", namespace: "default", name: "kubernetes", group: "discovery.k8s.io", version: "v1"})
		r.notes = notesAPIServer
		s.submit(r, s.latency()/3)
	}
	a.n++
	s.at(s.now+s.jitter(5*sec, 0.01), a)
}

func fireHPA(s *sim, a *actor) {
	who := s.c.ctrl["horizontal-pod-autoscaler"]
	notes := notesController("horizontal-pod-autoscaler")
	for _, d := range s.c.deployments[:2] {
		r := s.req(who, "list", "/apis/metrics.k8s.io/v1beta1/namespaces/"+d.ns+"/pods", "labelSelector=app%3D"+d.name,
			objRef{resource: "pods", namespace: d.ns, group: "metrics.k8s.io", version: "v1beta1"})
		r.notes = notes
		s.submit(r, 4000+s.rng.Int64N(20000))
		s.now += 2000
		g := s.req(who, "get", "/apis/apps/v1/namespaces/"+d.ns+"/deployments/"+d.name+"/scale", "",
			objRef{resource: "deployments", namespace: d.ns, name: d.name, group: "apps", version: "v1", subresource: "scale"})
		g.notes = notes
		s.submit(g, s.latency())
		s.now += 1000
	}
	s.at(s.now+s.jitter(15*sec, 0.02), a)
}

var discoveryGroups = []string{"/api/v1", "/apis/apps/v1", "/apis/batch/v1", "/apis/networking.k8s.io/v1", "/apis/rbac.authorization.k8s.io/v1",
	"/apis/coordination.k8s.io/v1", "/apis/discovery.k8s.io/v1", "/apis/policy/v1", "/apis/storage.k8s.io/v1", "/apis/cert-manager.io/v1",
	"/apis/metrics.k8s.io/v1beta1", "/apis/autoscaling/v2", "/apis/admissionregistration.k8s.io/v1", "/apis/certificates.k8s.io/v1"}

func fireDiscovery(s *sim, a *actor) {
	name := []string{"generic-garbage-collector", "resourcequota-controller"}[a.n%2]
	who, notes := s.c.ctrl[name], notesController(name)
	a.n++
	for _, p := range []string{"/api", "/apis"} {
		r := s.req(who, "get", p, "timeout=32s", objRef{})
		r.notes = notes
		s.submit(r, s.latency()/2)
		s.now += 300
	}
	for i := 0; i < 4; i++ {
		r := s.req(who, "get", discoveryGroups[s.rng.IntN(len(discoveryGroups))], "timeout=32s", objRef{})
		r.notes = notes
		s.submit(r, s.latency()/2)
		s.now += 200
	}
	s.at(s.now+s.jitter(30*sec, 0.1), a)
}

// ---- watches ----

type watcher struct {
	who      *identity
	notes    []byte
	path     string
	selector string // fieldSelector value, unescaped
	ref      objRef
}

func watchers(c *cluster) []watcher {
	if c.s.watchers != nil {
		return c.s.watchers
	}
	s := c.s
	var ws []watcher
	add := func(who *identity, notes []byte, group, version, resource, ns, selector string) {
		path := "/api/" + version
		if group != "" {
			path = "/apis/" + group + "/" + version
		}
		if ns != "" {
			path += "/namespaces/" + ns
		}
		path += "/" + resource
		ws = append(ws, watcher{who: who, notes: notes, path: path, selector: selector,
			ref: objRef{resource: resource, namespace: ns, group: group, version: version}})
	}
	for _, n := range c.nodes {
		add(n.kubelet, notesNode, "", "v1", "pods", "", "spec.nodeName="+n.name)
		add(n.kubelet, notesNode, "", "v1", "nodes", "", "metadata.name="+n.name)
		add(n.kubelet, notesNode, "", "v1", "services", "", "")
		add(n.kubelet, notesNode, "node.k8s.io", "v1", "runtimeclasses", "", "")
		for _, p := range n.pods {
			add(n.kubelet, notesNode, "", "v1", "configmaps", p.dep.ns, "metadata.name=kube-root-ca.crt")
		}
		kp := saIdentity(s, "kube-system", "kube-proxy", n.ip, "kube-proxy/"+k8sVersion+" (linux/amd64) kubernetes/"+k8sCommit, nil)
		add(kp, notesGroup("system:node-proxier", "system:node-proxier", "system:serviceaccounts:kube-system"), "discovery.k8s.io", "v1", "endpointslices", "", "")
		add(kp, notesGroup("system:node-proxier", "system:node-proxier", "system:serviceaccounts:kube-system"), "", "v1", "services", "", "")
	}
	kcmInformers := newIdentity("system:kube-controller-manager", "", []string{"system:authenticated"}, x509Extra(s), "10.0.1.10", componentUA("kube-controller-manager")+"/shared-informers")
	for _, r := range []struct{ group, version, resource string }{
		{"", "v1", "pods"}, {"", "v1", "nodes"}, {"", "v1", "namespaces"}, {"", "v1", "services"}, {"", "v1", "serviceaccounts"},
		{"", "v1", "configmaps"}, {"", "v1", "secrets"}, {"", "v1", "persistentvolumeclaims"}, {"apps", "v1", "deployments"},
		{"apps", "v1", "replicasets"}, {"apps", "v1", "daemonsets"}, {"apps", "v1", "statefulsets"}, {"batch", "v1", "jobs"},
		{"discovery.k8s.io", "v1", "endpointslices"}, {"rbac.authorization.k8s.io", "v1", "clusterrolebindings"},
		{"certificates.k8s.io", "v1", "certificatesigningrequests"}, {"coordination.k8s.io", "v1", "leases"},
	} {
		add(kcmInformers, notesKCM, r.group, r.version, r.resource, "", "")
	}
	for _, r := range []struct{ group, version, resource string }{
		{"", "v1", "pods"}, {"", "v1", "nodes"}, {"", "v1", "persistentvolumeclaims"}, {"storage.k8s.io", "v1", "csinodes"},
		{"policy", "v1", "poddisruptionbudgets"}, {"apps", "v1", "replicasets"},
	} {
		sel := ""
		if r.resource == "pods" {
			sel = "status.phase!=Succeeded,status.phase!=Failed"
		}
		add(c.ctrl["scheduler"], notesScheduler, r.group, r.version, r.resource, "", sel)
	}
	dns := saIdentity(s, "kube-system", "coredns", "10.244.1.3", "coredns/v1.12.3 (linux/amd64) kubernetes/$Format", c.podOf("kube-system"))
	for _, r := range []string{"endpointslices", "services", "namespaces"} {
		g := ""
		if r == "endpointslices" {
			g = "discovery.k8s.io"
		}
		add(dns, notesGroup("system:coredns", "system:coredns", "system:serviceaccounts:kube-system"), g, "v1", r, "", "")
	}
	prom := saIdentity(s, "monitoring", "prometheus", "10.244.6.12", "Prometheus/3.5.0", c.podOf("monitoring"))
	for _, r := range []string{"pods", "services", "endpoints"} {
		add(prom, allowRBAC("ClusterRoleBinding", "prometheus", "prometheus", "ServiceAccount", "monitoring/prometheus"), "", "v1", r, "", "")
	}
	s.watchers = ws
	return ws
}

func fireWatch(s *sim, a *actor) {
	w := &s.watchers[a.i]
	// client-go picks a timeout between 5 and 10 minutes.
	timeout := 300 + s.rng.IntN(300)
	q := url.Values{}
	q.Set("allowWatchBookmarks", "true")
	if w.selector != "" {
		q.Set("fieldSelector", w.selector)
	}
	q.Set("resourceVersion", strconv.FormatUint(s.rv-uint64(s.rng.IntN(40)), 10))
	q.Set("timeout", fmt.Sprintf("%dm%ds", timeout/60, timeout%60))
	q.Set("timeoutSeconds", strconv.Itoa(timeout))
	q.Set("watch", "true")
	r := s.req(w.who, "watch", w.path, q.Encode(), w.ref)
	r.notes = w.notes
	r.withStarted = true
	r.started = r.received + 200 + s.rng.Int64N(900)
	r.completed = r.received + int64(timeout)*sec + s.rng.Int64N(2000)
	s.submit(r, 0)
	s.at(r.completed+50000+s.rng.Int64N(900000), a)
}

// ---- secrets helpers ----

func b64(v string) string { return base64.StdEncoding.EncodeToString([]byte(v)) }

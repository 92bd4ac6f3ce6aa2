package generate

import (
	"math"
	"strconv"
)

// The population of Options.Identities: the identities a larger cluster has beyond the
// simulated one's own, one per node, per workload service account, per person and per
// CI job. No identity is held in memory: each is a pure function of (seed, kind, index),
// rendered when it sends a request and kept in a fixed-size cache, so a population of
// millions costs what one of thousands does. Per-identity state the requests carry (a
// lease's resourceVersion, a deployment's generation) lives in the cache entry and starts
// afresh when an evicted identity comes back, as a client restarted with a new cache does.
//
// Who sends the next request: half the time the next identity of a walk that visits every
// identity of the population once per round (so every one has sent a request once the
// population has sent twice as many requests as it has members); half the time a busy
// one: a kind by the kinds' request rates (a kubelet sends far more than a person), then
// a log-uniform pick within the kind (the density of index i falls as 1/i: a few busy
// identities and a long tail).

type popKind uint8

const (
	popNode popKind = iota
	popSA
	popHuman
	popCI
	popKinds
)

// popShare is each kind's share of the population, in percent (the service accounts take
// the rest); popRate is one identity's requests per hour: a kubelet renews its lease every
// 10 s and reads its node as often, an operator or app polls and watches, a person runs a
// kubectl command now and then, a CI job deploys a few times an hour.
var (
	popShare = [popKinds]int{popNode: 6, popHuman: 10, popCI: 2}
	popRate  = [popKinds]float64{popNode: 720, popSA: 180, popHuman: 60, popCI: 30}
)

// popCache is the number of rendered identities kept (a power of two).
const popCache = 4096

type popClass struct {
	n     int
	first int // global index of the kind's first identity (kinds are contiguous)
	logN  float64
}

type population struct {
	class   [popKinds]popClass
	n       int
	stride  uint64 // coprime with n: i*stride mod n visits every identity once per n steps
	walk    uint64
	cum     [popKinds]float64 // cumulative share of the busy picks
	meanGap float64           // µs between two of the population's requests, on average
	teams   int               // team namespaces team-0.. (a dozen service accounts each)
	seed    uint64
	cache   []popEntry
}

// popEntry is one rendered identity and the objects its requests touch.
type popEntry struct {
	kind       popKind
	idx        int
	set        bool
	id         *identity
	ns, app    string
	notes      []byte      // authorization annotations of its allowed requests
	viewNotes  []byte      // a person's, outside their own namespace
	admin      bool        // a person in group sre (cluster-admin)
	node       *node       // popNode: its node
	lease      *lease      // popSA: the lease it renews, when it elects a leader
	deployment *deployment // popCI: the deployment it rolls out
}

// newPopulation returns the population of n identities, or nil when n is 0.
func newPopulation(s *sim, n int) *population {
	if n <= 0 {
		return nil
	}
	p := &population{seed: s.opts.Seed, cache: make([]popEntry, popCache), n: n}
	p.stride = uint64(float64(n)*0.6180339887) | 1
	for gcd(p.stride, uint64(n)) != 1 {
		p.stride++
	}
	rest := n
	for k := popKind(0); k < popKinds; k++ {
		if k != popSA {
			p.class[k].n = n * popShare[k] / 100
			rest -= p.class[k].n
		}
	}
	p.class[popSA].n = rest
	p.teams = max(1, p.class[popSA].n/12)
	total, first := 0.0, 0
	for k := range p.class {
		c := &p.class[k]
		c.first = first
		first += c.n
		c.logN = math.Log(float64(max(c.n, 1)))
		total += float64(c.n) * popRate[k]
	}
	acc := 0.0
	for k := range p.class {
		acc += float64(p.class[k].n) * popRate[k] / total
		p.cum[k] = acc
	}
	p.meanGap = 3600 * float64(sec) / total
	return p
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// gap is the time to the population's next request.
func (p *population) gap(s *sim) int64 {
	return 1 + int64(s.rng.ExpFloat64()*p.meanGap)
}

func firePopulation(s *sim, a *actor) {
	p := s.population
	k, i := popKind(0), 0
	if s.rng.IntN(2) == 0 {
		g := int(p.walk * p.stride % uint64(p.n))
		p.walk++
		for g >= p.class[k].first+p.class[k].n {
			k++
		}
		i = g - p.class[k].first
	} else {
		u := s.rng.Float64()
		for k < popKinds-1 && (u >= p.cum[k] || p.class[k].n == 0) {
			k++
		}
		c := &p.class[k]
		i = min(c.n-1, int(math.Exp(s.rng.Float64()*c.logN))-1)
	}
	e := p.entry(s, k, i)
	switch k {
	case popNode:
		s.popNodeRequest(e)
	case popSA:
		s.popSARequest(e)
	case popHuman:
		s.popHumanRequest(e)
	default:
		s.popCIRequest(e)
	}
	s.at(s.now+p.gap(s), a)
}

// mix is SplitMix64's finalizer: the identities' attributes are hashes of their index.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// attrs is the attribute stream of one identity: successive words of a hash of
// (seed, kind, index).
type attrs struct{ h uint64 }

func (p *population) attrs(k popKind, i int) attrs {
	return attrs{mix(p.seed ^ mix(uint64(k)<<56^uint64(i)))}
}

func (a *attrs) next() uint64 {
	a.h = mix(a.h)
	return a.h
}

func (a *attrs) appendUUID(b []byte) []byte { return appendUUID(b, a.next(), a.next()) }

func (a *attrs) uuid() string {
	var b [36]byte
	return string(a.appendUUID(b[:0]))
}

// appendChars appends n characters of alphabet drawn from one word (n <= 12).
func appendChars(b []byte, w uint64, alphabet string, n int) []byte {
	for range n {
		b = append(b, alphabet[w%uint64(len(alphabet))])
		w /= uint64(len(alphabet))
	}
	return b
}

const nameAlphabet = "bcdfghjklmnpqrstvwxz2456789" // generated-name suffixes

var popApps = []string{"checkout", "cart", "catalog", "search", "inventory", "pricing", "orders", "shipping", "notifier",
	"reporting", "recommender", "auth-proxy", "session", "media", "thumbnailer", "ledger-sync", "fraud-check", "gateway",
	"scheduler-jobs", "feature-flags", "audit-export", "billing-api", "analytics", "webhooks"}

var popFirstNames = []string{"ana", "ben", "chen", "dana", "eli", "fatima", "gus", "hana", "ivan", "jo", "kofi", "lena",
	"marco", "nina", "omar", "priya", "quinn", "rosa", "sam", "tariq", "uma", "vik", "wen", "yusuf"}

var popKubectl = []string{"kubectl/v1.35.1 (darwin/arm64) kubernetes/8c7b4bd", "kubectl/v1.34.3 (linux/amd64) kubernetes/b6d3f0c",
	"kubectl/v1.35.0 (windows/amd64) kubernetes/2a9b1c7", "k9s/v0.50.6 (darwin/arm64) kubernetes/$Format", "kubectl/v1.33.4 (linux/amd64) kubernetes/74b9f6e"}

// saApp is the name of service account i of the population (its app).
func (p *population) saApp(i int) string {
	a := p.attrs(popSA, i)
	return popApps[a.next()%uint64(len(popApps))] + "-" + strconv.Itoa(i)
}

func (p *population) teamNS(t int) string { return "team-" + strconv.Itoa(t) }

// popIdentity renders an identity of the population. Every value comes from a plain
// alphabet (names, digits, hex, the user agents above), so the parts are copied without
// the escaping pass newIdentity makes; TestVariantsAreApiserverShaped holds the bytes to
// encoding/json's. extra alternates keys and values, keys sorted.
func popIdentity(name string, uid []byte, groups []string, extra [][]byte, ip []byte, ua string) *identity {
	n := 96 + 2*len(name) + len(uid) + len(ip) + len(ua)
	for _, g := range groups {
		n += len(g) + 3
	}
	for _, e := range extra {
		n += len(e) + 4
	}
	b := make([]byte, 0, n)
	b = append(b, `"user":{"username":"`...)
	b = append(b, name...)
	nameEnd := len(b)
	b = append(b, '"')
	if uid != nil {
		b = append(b, `,"uid":"`...)
		b = append(b, uid...)
		b = append(b, '"')
	}
	b = append(b, `,"groups":[`...)
	for i, g := range groups {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, g...)
		b = append(b, '"')
	}
	b = append(b, ']')
	if len(extra) > 0 {
		b = append(b, `,"extra":{`...)
		for i := 0; i < len(extra); i += 2 {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '"')
			b = append(b, extra[i]...)
			b = append(b, `":["`...)
			b = append(b, extra[i+1]...)
			b = append(b, `"]`...)
		}
		b = append(b, '}')
	}
	b = append(b, '}')
	user := b[:len(b):len(b)]
	t := b[len(b):]
	t = append(t, `,"sourceIPs":["`...)
	t = append(t, ip...)
	ipEnd := len(t)
	t = append(t, `"],"userAgent":"`...)
	t = append(t, ua...)
	t = append(t, '"')
	id := &identity{name: name}
	id.finish(user, t, nameEnd, ipEnd+1)
	return id
}

var (
	keyCredential = []byte("authentication.kubernetes.io/credential-id")
	keyNodeName   = []byte("authentication.kubernetes.io/node-name")
	keyNodeUID    = []byte("authentication.kubernetes.io/node-uid")
	keyPodName    = []byte("authentication.kubernetes.io/pod-name")
	keyPodUID     = []byte("authentication.kubernetes.io/pod-uid")
	nodeGroups    = []string{"system:nodes", "system:authenticated"}
)

// appendIPv4 appends a.b.c.d.
func appendIPv4(b []byte, a, b2, c, d uint64) []byte {
	b = appendUint(b, a)
	b = append(b, '.')
	b = appendUint(b, b2)
	b = append(b, '.')
	b = appendUint(b, c)
	b = append(b, '.')
	return appendUint(b, d)
}

// entry returns the rendered identity (k, i), from the cache or made now.
func (p *population) entry(s *sim, k popKind, i int) *popEntry {
	e := &p.cache[(uint64(i)*uint64(popKinds)+uint64(k))&(popCache-1)]
	if e.set && e.kind == k && e.idx == i {
		return e
	}
	*e = popEntry{kind: k, idx: i, set: true}
	a := p.attrs(k, i)
	created := s.opts.Start.UnixMicro() - int64(20+a.next()%60)*24*3600*sec
	var scratch [256]byte
	switch k {
	case popNode:
		j := uint64(i + 1)
		ip := appendIPv4(scratch[:0], 10, 1+j>>16&63, j>>8&255, j&255) // 10.1-10.64: a node network of 4M addresses
		n := &node{name: "k8s-pool-" + strconv.FormatUint(j, 10), uid: a.uuid(), leaseUID: a.uuid(), created: created,
			ip: string(ip), leaseRV: s.rv, nodeRV: s.rv}
		cred := append(ip[len(ip):], "X509SHA256="...)
		for range 4 {
			cred = appendChars(cred, a.next(), hexDigits, 12)
		}
		cred = appendChars(cred, a.next(), hexDigits, 4)
		n.kubelet = popIdentity("system:node:"+n.name, nil, nodeGroups, [][]byte{keyCredential, cred}, ip, componentUA("kubelet"))
		e.id, e.node, e.notes = n.kubelet, n, notesNode
	case popSA:
		w := a.next()
		e.app = popApps[w%uint64(len(popApps))] + "-" + strconv.Itoa(i)
		e.ns = p.teamNS(min(i/12, p.teams-1))
		host := s.c.nodes[1+w>>8%uint64(len(s.c.nodes)-1)]
		b := scratch[:0]
		uid := a.appendUUID(b)
		jti := append(uid[len(uid):], "JTI="...)
		jti = a.appendUUID(jti)
		podUID := a.appendUUID(jti[len(jti):])
		pod := append(podUID[len(podUID):], e.app...)
		pod = append(pod, '-')
		pod = appendChars(pod, a.next(), nameAlphabet, 10)
		pod = append(pod, '-')
		pod = appendChars(pod, a.next(), nameAlphabet, 5)
		ipw := a.next()
		ip := appendIPv4(pod[len(pod):], 10, 244, ipw%250+1, ipw>>8%250+2)
		e.id = popIdentity("system:serviceaccount:"+e.ns+":"+e.app, uid,
			[]string{"system:serviceaccounts", "system:serviceaccounts:" + e.ns, "system:authenticated"},
			[][]byte{keyCredential, jti, keyNodeName, []byte(host.name), keyNodeUID, []byte(host.uid), keyPodName, pod, keyPodUID, podUID},
			ip, e.app+"/v0.0.0 (linux/amd64) kubernetes/$Format")
		// The team binds its namespace's service accounts, as a group, to a role.
		e.notes = allowRBAC("RoleBinding", "workloads/"+e.ns, "edit", "Group", "system:serviceaccounts:"+e.ns)
		if w>>16%3 == 0 { // an operator or a replicated app: it elects a leader
			e.lease = &lease{ns: e.ns, name: e.app + "-leader", uid: a.uuid(), holder: string(pod) + "_" + a.uuid(), rv: s.rv,
				duration: 15, acquired: s.now - int64(a.next()%(48*3600))*sec, created: created, manager: e.app}
		}
	case popHuman:
		w := a.next()
		name := popFirstNames[w%uint64(len(popFirstNames))] + "." + strconv.Itoa(i) + "@example.com"
		e.ns = p.teamNS(i % p.teams)
		groups := []string{"developers", "system:authenticated"}
		if w>>8%10 == 0 {
			groups, e.admin = []string{"sre", "system:authenticated"}, true
		}
		ip := appendIPv4(scratch[:0], 10, 20, 4+w>>16%4, 10+w>>24%200)
		if w>>40%3 == 0 { // from the VPN
			ip = appendIPv4(scratch[:0], 172, 16, 8+w>>32%8, 2+w>>48%250)
		}
		e.id = popIdentity(name, nil, groups, nil, ip, popKubectl[w>>56%uint64(len(popKubectl))])
		if e.admin {
			e.notes = notesGroup("sre", "cluster-admin", "sre")
			e.viewNotes = e.notes
		} else {
			e.notes = allowRBAC("RoleBinding", "developers/"+e.ns, "edit", "Group", "developers")
			e.viewNotes = notesDevelopersView
		}
	default: // popCI
		w := a.next()
		t := i % p.teams
		e.ns = p.teamNS(t)
		e.app = p.saApp(min(t*12, p.class[popSA].n-1))
		sa := "deployer-" + strconv.Itoa(i)
		uid := a.appendUUID(scratch[:0])
		jti := append(uid[len(uid):], "JTI="...)
		jti = a.appendUUID(jti)
		ip := appendIPv4(jti[len(jti):], 10, 244, w%250+1, w>>8%250+2)
		e.id = popIdentity("system:serviceaccount:ci:"+sa, uid, ciGroups, [][]byte{keyCredential, jti}, ip, "kubectl/v1.34.2 (linux/amd64) kubernetes/0a4f1d5")
		e.notes = allowRBAC("RoleBinding", "ci-deployer/"+e.ns, "edit", "ServiceAccount", "ci/"+sa)
		rs := appendChars(ip[len(ip):], a.next(), nameAlphabet, 10)
		e.deployment = &deployment{ns: e.ns, name: e.app, uid: a.uuid(), sa: e.app, image: "registry.example.com/" + e.ns + "/" + e.app,
			tag: 100 + int(w>>16%300), replicas: 2 + int(w>>24%3), generation: 3 + int(w>>32%40), rv: s.rv, created: created,
			rsHash: string(rs), port: 8080}
	}
	return e
}

var (
	ciGroups            = []string{"system:serviceaccounts", "system:serviceaccounts:ci", "system:authenticated"}
	notesDevelopersView = notesGroup("developers-view", "view", "developers")
)

// watchQuery is a client-go watch's query, as url.Values.Encode writes it (keys sorted).
func (s *sim) watchQuery(selector, selectorValue string, timeout int) string {
	q := "allowWatchBookmarks=true"
	if selector != "" {
		q += "&" + selector + "=" + selectorValue
	}
	q += "&resourceVersion=" + strconv.FormatUint(s.rv-uint64(s.rng.IntN(40)), 10) +
		"&timeout=" + strconv.Itoa(timeout/60) + "m" + strconv.Itoa(timeout%60) + "s&timeoutSeconds=" + strconv.Itoa(timeout) + "&watch=true"
	return q
}

// popWatch submits a watch from who that lasts timeout seconds.
func (s *sim) popWatch(who *identity, notes []byte, path, query string, ref objRef, timeout int) {
	r := s.req(who, "watch", path, query, ref)
	r.notes = notes
	r.withStarted = true
	r.started = r.received + 200 + s.rng.Int64N(900)
	r.completed = r.received + int64(timeout)*sec + s.rng.Int64N(2000)
	s.submit(r, 0)
}

func (s *sim) popNodeRequest(e *popEntry) {
	n := e.node
	switch k := s.rng.IntN(100); {
	case k < 45:
		s.nodeLease(n)
	case k < 82:
		s.nodeGet(n)
	case k < 88:
		s.nodeStatus(n)
	case k < 96: // the projected token of a pod on the node
		ns := s.population.teamNS(s.rng.IntN(s.population.teams))
		r := s.req(n.kubelet, "create", "/api/v1/namespaces/"+ns+"/serviceaccounts/default/token", "",
			objRef{resource: "serviceaccounts", namespace: ns, name: "default", version: "v1", subresource: "token"})
		r.code = 201
		r.notes = notesNode
		s.submit(r, 2000+s.rng.Int64N(6000))
	default:
		timeout := 300 + s.rng.IntN(300)
		s.popWatch(n.kubelet, notesNode, "/api/v1/pods", s.watchQuery("fieldSelector", "spec.nodeName%3D"+n.name, timeout),
			objRef{resource: "pods", version: "v1"}, timeout)
	}
}

func (s *sim) popSARequest(e *popEntry) {
	base := "/api/v1/namespaces/" + e.ns
	k := s.rng.IntN(100)
	if k >= 50 && k < 62 && e.lease == nil {
		k = 0 // an app that elects no leader reads its configuration instead
	}
	switch {
	case k < 30:
		r := s.req(e.id, "get", base+"/configmaps/"+e.app+"-config", "",
			objRef{resource: "configmaps", namespace: e.ns, name: e.app + "-config", version: "v1"})
		r.notes = e.notes
		s.submit(r, s.latency())
	case k < 50:
		r := s.req(e.id, "list", base+"/pods", "labelSelector=app%3D"+e.app, objRef{resource: "pods", namespace: e.ns, version: "v1"})
		r.notes = e.notes
		s.submit(r, s.latency())
	case k < 62:
		l := e.lease
		path := "/apis/coordination.k8s.io/v1/namespaces/" + l.ns + "/leases/" + l.name
		u := s.req(e.id, "update", path, "timeout=5s",
			objRef{resource: "leases", namespace: l.ns, name: l.name, group: "coordination.k8s.io", version: "v1", uid: l.uid, rv: l.rv})
		u.notes = e.notes
		u.x = l
		u.t1 = int64(l.rv)
		l.rv = s.nextRV()
		u.i1 = int(l.rv)
		u.reqBody, u.respBody = leaderLeaseRequest, leaderLeaseResponse
		s.submit(u, s.latency())
	case k < 72:
		r := s.req(e.id, "list", base+"/services", "limit=500", objRef{resource: "services", namespace: e.ns, version: "v1"})
		r.notes = e.notes
		s.submit(r, s.latency())
	case k < 82: // delegated authentication of a scrape of its metrics endpoint
		r := s.req(e.id, "create", "/apis/authentication.k8s.io/v1/tokenreviews", "",
			objRef{resource: "tokenreviews", group: "authentication.k8s.io", version: "v1"})
		r.code = 201
		r.notes = notesGroup("system:auth-delegator", "system:auth-delegator", "system:serviceaccounts")
		s.submit(r, 1000+s.rng.Int64N(4000))
	case k < 95:
		r := s.req(e.id, "get", "/apis/apps/v1/namespaces/"+e.ns+"/deployments/"+e.app, "",
			objRef{resource: "deployments", namespace: e.ns, name: e.app, group: "apps", version: "v1"})
		r.notes = e.notes
		s.submit(r, s.latency())
	default:
		timeout := 300 + s.rng.IntN(300)
		s.popWatch(e.id, e.notes, base+"/configmaps", s.watchQuery("", "", timeout),
			objRef{resource: "configmaps", namespace: e.ns, version: "v1"}, timeout)
	}
}

func (s *sim) popHumanRequest(e *popEntry) {
	p := s.population
	ns, notes := e.ns, e.notes
	if s.rng.IntN(5) == 0 { // a look at another team's namespace
		ns = p.teamNS(s.rng.IntN(p.teams))
		if ns != e.ns {
			notes = e.viewNotes
		}
	}
	app := p.saApp(s.rng.IntN(p.class[popSA].n)) // a population has at least one service account
	base := "/api/v1/namespaces/" + ns
	do := func(verb, path, query string, ref objRef, latency int64) *request {
		r := s.req(e.id, verb, path, query, ref)
		r.notes = notes
		s.submit(r, latency)
		return r
	}
	switch k := s.rng.IntN(100); {
	case k < 35:
		do("list", base+"/pods", "limit=500", objRef{resource: "pods", namespace: ns, version: "v1"}, s.latency())
	case k < 55:
		do("get", "/apis/apps/v1/namespaces/"+ns+"/deployments/"+app, "",
			objRef{resource: "deployments", namespace: ns, name: app, group: "apps", version: "v1"}, s.latency())
	case k < 70:
		do("list", "/apis/apps/v1/namespaces/"+ns+"/deployments", "limit=500",
			objRef{resource: "deployments", namespace: ns, group: "apps", version: "v1"}, s.latency())
	case k < 80: // kubectl logs
		pod := app + "-" + string(appendChars(nil, s.rng.Uint64(), nameAlphabet, 10)) + "-" + string(appendChars(nil, s.rng.Uint64(), nameAlphabet, 5))
		r := s.req(e.id, "get", base+"/pods/"+pod+"/log", "tailLines=200",
			objRef{resource: "pods", namespace: ns, name: pod, version: "v1", subresource: "log"})
		r.notes = notes
		s.longRunning(r, 5000+s.rng.Int64N(30000), 50000+s.rng.Int64N(300000))
		s.submit(r, 0)
	case k < 90:
		do("list", base+"/events", "limit=500", objRef{resource: "events", namespace: ns, version: "v1"}, s.latency())
	case k < 95: // kubectl scale, allowed in the person's own namespace only
		ref := objRef{resource: "deployments", namespace: ns, name: app, group: "apps", version: "v1", subresource: "scale"}
		r := s.req(e.id, "patch", "/apis/apps/v1/namespaces/"+ns+"/deployments/"+app+"/scale", "", ref)
		r.notes = notes
		if ns != e.ns && !e.admin {
			r.notes = notesForbid
			r.code = 403
			r.status = forbidden(e.id.name, "patch", "deployments", "apps", ns, app)
		}
		s.submit(r, s.latency())
	default: // kubectl auth can-i
		r := s.req(e.id, "create", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", "",
			objRef{resource: "selfsubjectaccessreviews", group: "authorization.k8s.io", version: "v1"})
		r.notes = notesGroup("system:basic-user", "system:basic-user", "system:authenticated")
		r.code = 201
		r.s1 = ns
		r.i1 = s.rng.IntN(2)
		r.reqBody, r.respBody = ssarRequest, ssarResponse
		s.submit(r, s.latency())
	}
}

func (s *sim) popCIRequest(e *popEntry) {
	d := e.deployment
	ref := objRef{resource: "deployments", namespace: d.ns, name: d.name, group: "apps", version: "v1"}
	path := "/apis/apps/v1/namespaces/" + d.ns + "/deployments"
	switch k := s.rng.IntN(100); {
	case k < 40:
		r := s.req(e.id, "get", path+"/"+d.name, "", ref)
		r.notes = e.notes
		s.submit(r, s.latency())
	case k < 65: // kubectl set image
		d.tag++
		d.generation++
		d.rv = s.nextRV()
		r := s.req(e.id, "patch", path+"/"+d.name, "fieldManager=kubectl-set", ref)
		r.notes = e.notes
		r.x = d
		r.i1 = d.tag
		r.reqBody, r.respBody = deploymentImagePatch, deploymentResponse
		s.submit(r, 5000+s.rng.Int64N(20000))
	case k < 85:
		r := s.req(e.id, "list", "/api/v1/namespaces/"+d.ns+"/pods", "labelSelector=app%3D"+d.name,
			objRef{resource: "pods", namespace: d.ns, version: "v1"})
		r.notes = e.notes
		s.submit(r, s.latency())
	default: // kubectl rollout status
		ref.name = ""
		s.popWatch(e.id, e.notes, path, "fieldSelector=metadata.name%3D"+d.name+"&resourceVersion="+strconv.FormatUint(d.rv, 10)+"&watch=true",
			ref, 20+s.rng.IntN(40))
	}
}

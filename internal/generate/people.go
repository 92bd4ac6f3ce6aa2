package generate

import (
	"slices"
	"strconv"
)

// Human users with kubectl, the CI deployer, and the controller cascade a rollout causes.

func notesHuman(h *human, ns string) []byte {
	switch h.groups[0] {
	case "platform-admins", "sre":
		return notesGroup(h.groups[0], "cluster-admin", h.groups[0])
	}
	if ns == "" {
		return notesGroup("developers-view", "view", "developers")
	}
	return allowRBAC("RoleBinding", "developers/"+ns, "edit", "Group", "developers")
}

// humanMay reports whether h's RBAC allows verb on resource in ns: developers have edit in
// prod and staging and view elsewhere, without secrets outside their namespaces.
func humanMay(h *human, verb, resource, ns string) bool {
	if h.groups[0] == "platform-admins" || h.groups[0] == "sre" {
		return true
	}
	own := ns == "prod" || ns == "staging"
	if resource == "secrets" {
		return own
	}
	if verb == "get" || verb == "list" || verb == "watch" {
		return true
	}
	return own
}

func forbidden(user, verb, resource, group, ns, name string) []byte {
	msg := resource
	if group != "" {
		msg += "." + group
	}
	if name != "" {
		msg += " " + strconv.Quote(name)
	}
	msg += " is forbidden: User " + strconv.Quote(user) + " cannot " + verb + " resource " + strconv.Quote(resource) + " in API group " + strconv.Quote(group)
	if ns != "" {
		msg += " in the namespace " + strconv.Quote(ns)
	} else {
		msg += " at the cluster scope"
	}
	b := []byte(`{"metadata":{},"status":"Failure","message":`)
	b = appendString(b, msg)
	b = append(b, `,"reason":"Forbidden","details":{`...)
	if name != "" {
		b = appendKV(b, false, "name", name)
		b = append(b, ',')
	}
	if group != "" {
		b = appendKV(b, false, "group", group)
		b = append(b, ',')
	}
	b = appendKV(b, false, "kind", resource)
	return append(b, `},"code":403}`...)
}

func notFound(resource, group, name string) []byte {
	qual := resource
	if group != "" {
		qual += "." + group
	}
	b := []byte(`{"metadata":{},"status":"Failure","message":`)
	b = appendString(b, qual+" "+strconv.Quote(name)+" not found")
	b = append(b, `,"reason":"NotFound","details":{`...)
	b = appendKV(b, false, "name", name)
	if group != "" {
		b = appendKV(b, true, "group", group)
	}
	b = appendKV(b, true, "kind", resource)
	return append(b, `},"code":404}`...)
}

func conflict(resource, group, name string) []byte {
	qual := resource
	if group != "" {
		qual += "." + group
	}
	b := []byte(`{"metadata":{},"status":"Failure","message":`)
	b = appendString(b, "Operation cannot be fulfilled on "+qual+" "+strconv.Quote(name)+": the object has been modified; please apply your changes to the latest version and try again")
	b = append(b, `,"reason":"Conflict","details":{`...)
	b = appendKV(b, false, "name", name)
	if group != "" {
		b = appendKV(b, true, "group", group)
	}
	b = appendKV(b, true, "kind", resource)
	return append(b, `},"code":409}`...)
}

// notesPodCreate are the annotations of a pod created by the replicaset controller in a
// namespace that enforces the restricted Pod Security Standard.
var notesPodCreate = append(notesController("replicaset-controller"), `,"pod-security.kubernetes.io/enforce-policy":"restricted:latest"`...)

var notesForbid = func() []byte {
	b := appendKV(nil, false, "authorization.k8s.io/decision", "forbid")
	return appendKV(b, true, "authorization.k8s.io/reason", "")
}()

func fireHumanArrival(s *sim, a *actor) {
	h := s.c.humans[s.rng.IntN(len(s.c.humans))]
	sess := &actor{fire: fireHumanStep, x: h, i: s.rng.IntN(len(h.ids)), n: 3 + s.rng.IntN(10)}
	s.at(s.now, sess)
	s.at(s.now+int64(s.rng.ExpFloat64()*float64(75*sec)), a)
}

// humanNamespaces are where people work; payments is where the leaky audit rule bites.
var humanNamespaces = []string{"prod", "prod", "prod", "staging", "staging", "payments", "monitoring", "ingress-nginx"}

func fireHumanStep(s *sim, a *actor) {
	h := a.x.(*human)
	who := h.ids[a.i]
	ns := humanNamespaces[s.rng.IntN(len(humanNamespaces))]
	var deps []*deployment
	for _, d := range s.c.deployments {
		if d.ns == ns {
			deps = append(deps, d)
		}
	}
	d := deps[s.rng.IntN(len(deps))]
	p := d.pods[s.rng.IntN(len(d.pods))]
	do := func(verb, path, query string, ref objRef) *request {
		r := s.req(who, verb, path, query, ref)
		if humanMay(h, verb, ref.resource, ref.namespace) {
			r.notes = notesHuman(h, ref.namespace)
		} else {
			r.notes = notesForbid
			r.code = 403
			r.status = forbidden(h.name, verb, ref.resource, ref.group, ref.namespace, ref.name)
		}
		return r
	}
	step := func(r *request) {
		s.submit(r, s.latency())
		s.now += 20000 + s.rng.Int64N(120000)
	}
	if a.n > 0 && s.rng.IntN(4) == 0 { // kubectl refreshes its discovery cache
		for _, path := range []string{"/api", "/apis"} {
			r := s.req(who, "get", path, "timeout=32s", objRef{})
			r.notes = notesGroup("system:discovery", "system:discovery", "system:authenticated")
			step(r)
		}
	}
	podsRef := objRef{resource: "pods", namespace: ns, version: "v1"}
	switch k := s.rng.IntN(20); {
	case k < 5: // kubectl get pods
		step(do("list", "/api/v1/namespaces/"+ns+"/pods", "limit=500", podsRef))
	case k < 8: // kubectl describe pod
		ref := podsRef
		ref.name = p.name
		if s.rng.IntN(8) == 0 { // a pod that has just been replaced, or a typo
			ref.name = d.name + "-" + s.rsHash() + "-" + s.suffix(5)
			r := do("get", "/api/v1/namespaces/"+ns+"/pods/"+ref.name, "", ref)
			if r.code == 200 {
				r.code = 404
				r.status = notFound("pods", "", ref.name)
			}
			step(r)
			break
		}
		step(do("get", "/api/v1/namespaces/"+ns+"/pods/"+p.name, "", ref))
		step(do("list", "/api/v1/namespaces/"+ns+"/events",
			"fieldSelector=involvedObject.name%3D"+p.name+"%2CinvolvedObject.namespace%3D"+ns+"%2CinvolvedObject.uid%3D"+p.uid+"&limit=500",
			objRef{resource: "events", namespace: ns, version: "v1"}))
	case k < 11: // kubectl logs
		ref := podsRef
		ref.name = p.name
		step(do("get", "/api/v1/namespaces/"+ns+"/pods/"+p.name, "", ref))
		ref.subresource = "log"
		// pods/log is a long-running request: it gets a ResponseStarted stage.
		q, dur := "container="+d.name+"&tailLines=200", 50000+s.rng.Int64N(300000)
		if s.rng.IntN(3) == 0 { // kubectl logs -f
			q, dur = "container="+d.name+"&follow=true&tailLines=200", 10*sec+s.rng.Int64N(4*minute)
		}
		r := do("get", "/api/v1/namespaces/"+ns+"/pods/"+p.name+"/log", q, ref)
		s.longRunning(r, 5000+s.rng.Int64N(30000), dur)
		step(r)
	case k < 13: // kubectl get deploy
		step(do("list", "/apis/apps/v1/namespaces/"+ns+"/deployments", "limit=500",
			objRef{resource: "deployments", namespace: ns, group: "apps", version: "v1"}))
	case k < 14: // kubectl rollout restart
		ref := objRef{resource: "deployments", namespace: ns, name: d.name, group: "apps", version: "v1"}
		r := do("patch", "/apis/apps/v1/namespaces/"+ns+"/deployments/"+d.name, "fieldManager=kubectl-rollout", ref)
		if r.code == 200 {
			d.generation++
			d.rv = s.nextRV()
			r.x = d
			r.reqBody, r.respBody = deploymentRestartPatch, deploymentResponse
			step(r)
			s.rollout(d, false)
		} else {
			step(r)
		}
	case k < 16: // kubectl get secrets / get secret -o yaml
		ref := objRef{resource: "secrets", namespace: ns, version: "v1"}
		if i := s.c.secretIn(ns, s.rng.IntN(5)); i >= 0 && s.rng.IntN(4) == 0 && humanMay(h, "patch", "secrets", ns) {
			// kubectl apply -f secret.yaml: the patch, and the last-applied annotation
			// inside it, carry the data.
			sc := s.c.secrets[i]
			ref.name, ref.bodyName = sc.name, ""
			r := do("patch", "/api/v1/namespaces/"+ns+"/secrets/"+sc.name, "fieldManager=kubectl-client-side-apply&fieldValidation=Strict", ref)
			r.i1 = i
			r.reqBody, r.respBody = secretApplyPatch, secretApplyResponse
			step(r)
		} else if s.rng.IntN(2) == 0 {
			r := do("list", "/api/v1/namespaces/"+ns+"/secrets", "limit=500", ref)
			if r.code == 200 {
				r.s1, r.t1 = ns, int64(s.rv)
				r.respBody = secretListResponse
			}
			step(r)
		} else if i := s.c.secretIn(ns, s.rng.IntN(5)); i >= 0 {
			ref.name = s.c.secrets[i].name
			r := do("get", "/api/v1/namespaces/"+ns+"/secrets/"+ref.name, "", ref)
			if r.code == 200 {
				r.i1 = i
				r.respBody = secretResponse
			}
			step(r)
		}
	case k < 17: // kubectl auth can-i
		r := s.req(who, "create", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", "",
			objRef{resource: "selfsubjectaccessreviews", group: "authorization.k8s.io", version: "v1"})
		r.notes = notesGroup("system:basic-user", "system:basic-user", "system:authenticated")
		r.code = 201
		r.s1 = ns
		r.i1 = s.rng.IntN(2)
		r.reqBody, r.respBody = ssarRequest, ssarResponse
		step(r)
	case k < 18: // kubectl top pods
		step(do("list", "/apis/metrics.k8s.io/v1beta1/namespaces/"+ns+"/pods", "",
			objRef{resource: "pods", namespace: ns, group: "metrics.k8s.io", version: "v1beta1"}))
	case k < 19:
		step(do("list", "/api/v1/nodes", "limit=500", objRef{resource: "nodes", version: "v1"}))
	default:
		step(do("list", "/api/v1/namespaces/"+ns+"/configmaps", "limit=500", objRef{resource: "configmaps", namespace: ns, version: "v1"}))
	}
	a.n--
	if a.n > 0 {
		s.at(s.now+3*sec+s.rng.Int64N(40*sec), a)
	}
}

// secretIn returns the index of the k-th (mod count) secret of namespace ns, or -1.
func (c *cluster) secretIn(ns string, k int) int {
	var idx []int
	for i, sc := range c.secrets {
		if sc.ns == ns {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		return -1
	}
	return idx[k%len(idx)]
}

func ssarRequest(s *sim, r *request, b []byte) []byte {
	b = append(b, `{"kind":"SelfSubjectAccessReview","apiVersion":"authorization.k8s.io/v1","metadata":{"creationTimestamp":null},"spec":{"resourceAttributes":{"namespace":"`...)
	b = append(b, r.s1...)
	b = append(b, `","verb":"`...)
	b = append(b, []string{"create", "delete"}[r.i1]...)
	b = append(b, `","group":"apps","resource":"deployments"}},"status":{"allowed":false}}`...)
	return b
}

func ssarResponse(s *sim, r *request, b []byte) []byte {
	b = ssarRequest(s, r, b)
	b = b[:len(b)-len(`"status":{"allowed":false}}`)]
	return append(b, `"status":{"allowed":true}}`...)
}

// ---- CI ----

func notesCI(ns string) []byte {
	return allowRBAC("RoleBinding", "ci-deployer/"+ns, "edit", "ServiceAccount", "deployer/ci")
}

func fireCIRun(s *sim, a *actor) {
	// The pipeline deploys the payments and shop apps in turn.
	targets := []int{3, 0, 1, 4, 2, 5, 6}
	d := s.c.deployments[targets[a.n%len(targets)]]
	a.n++
	ci := s.c.ci
	step := func(r *request, lat int64) {
		s.submit(r, lat)
		s.now += 30000 + s.rng.Int64N(300000)
	}
	// The job reads its own registry credentials and token.
	for _, i := range s.c.ciSecrets {
		sc := s.c.secrets[i]
		r := s.req(ci, "get", "/api/v1/namespaces/ci/secrets/"+sc.name, "",
			objRef{resource: "secrets", namespace: "ci", name: sc.name, version: "v1"})
		r.notes = notesCI("ci")
		step(r, s.latency())
	}
	if d.ns == "payments" {
		// Database migrations read the application's credentials. The leaky audit rule
		// logs the whole Secret.
		i := s.c.secretIn("payments", 0)
		sc := s.c.secrets[i]
		r := s.req(ci, "get", "/api/v1/namespaces/payments/secrets/"+sc.name, "",
			objRef{resource: "secrets", namespace: "payments", name: sc.name, version: "v1"})
		r.notes = notesCI("payments")
		r.i1 = i
		r.respBody = secretResponse
		step(r, s.latency())
	}
	ref := objRef{resource: "deployments", namespace: d.ns, name: d.name, group: "apps", version: "v1"}
	g := s.req(ci, "get", "/apis/apps/v1/namespaces/"+d.ns+"/deployments/"+d.name, "", ref)
	g.notes = notesCI(d.ns)
	step(g, s.latency())
	d.tag++
	d.generation++
	d.rv = s.nextRV()
	p := s.req(ci, "patch", "/apis/apps/v1/namespaces/"+d.ns+"/deployments/"+d.name, "fieldManager=kubectl-set", ref)
	p.notes = notesCI(d.ns)
	p.x = d
	p.i1 = d.tag
	p.reqBody, p.respBody = deploymentImagePatch, deploymentResponse
	step(p, 5000+s.rng.Int64N(20000))
	s.rollout(d, true)
	// kubectl rollout status: a watch on the deployment until it is complete.
	q := "fieldSelector=metadata.name%3D" + d.name + "&resourceVersion=" + strconv.FormatUint(d.rv, 10) + "&watch=true"
	w := s.req(ci, "watch", "/apis/apps/v1/namespaces/"+d.ns+"/deployments", q,
		objRef{resource: "deployments", namespace: d.ns, group: "apps", version: "v1"})
	w.notes = notesCI(d.ns)
	w.withStarted = true
	w.started = w.received + 500 + s.rng.Int64N(1500)
	w.completed = w.received + int64(d.replicas)*9*sec + s.rng.Int64N(5*sec)
	s.submit(w, 0)
	s.at(s.now+s.jitter(6*minute, 0.4), a)
}

// rollout simulates the controllers' reaction to a changed pod template: new pods are
// created, bound and started, old ones deleted, and the deployment status updated.
func (s *sim) rollout(d *deployment, newImage bool) {
	t0 := s.now
	dc := s.c.ctrl["deployment-controller"]
	rc := s.c.ctrl["replicaset-controller"]
	sched := s.c.ctrl["scheduler"]
	d.rsHash = s.rsHash()
	d.rsUID = s.uuid()
	s.now = t0 + 15000 + s.rng.Int64N(20000)
	rs := s.req(dc, "create", "/apis/apps/v1/namespaces/"+d.ns+"/replicasets", "",
		objRef{resource: "replicasets", namespace: d.ns, group: "apps", version: "v1", bodyName: d.name + "-" + d.rsHash})
	rs.code = 201
	rs.notes = notesController("deployment-controller")
	s.submit(rs, s.latency())
	old := d.pods
	d.pods = nil
	for i := range old {
		s.now = t0 + 100000 + int64(i)*6*sec + s.rng.Int64N(40000)
		n := s.c.nodes[1+s.rng.IntN(len(s.c.nodes)-1)]
		p := &pod{name: d.name + "-" + d.rsHash + "-" + s.suffix(5), uid: s.uuid(), dep: d, node: n}
		d.pods = append(d.pods, p)
		n.pods = append(n.pods, p)
		c := s.req(rc, "create", "/api/v1/namespaces/"+d.ns+"/pods", "",
			objRef{resource: "pods", namespace: d.ns, version: "v1", bodyName: p.name})
		c.code = 201
		c.notes = notesPodCreate
		c.x = p
		c.t1 = int64(s.nextRV())
		c.reqBody, c.respBody = podCreateRequest, podCreateResponse
		s.submit(c, 4000+s.rng.Int64N(8000))
		s.now += 8000 + s.rng.Int64N(30000)
		bnd := s.req(sched, "create", "/api/v1/namespaces/"+d.ns+"/pods/"+p.name+"/binding", "",
			objRef{resource: "pods", namespace: d.ns, name: p.name, version: "v1", subresource: "binding", uid: p.uid})
		bnd.code = 201
		bnd.notes = notesScheduler
		bnd.x = p
		bnd.reqBody, bnd.respBody = podBindingRequest, statusSuccess
		s.submit(bnd, s.latency())
		s.now += 1500*1000 + s.rng.Int64N(3*sec)
		s.kubeletToken(p)
		s.now += 2*sec + s.rng.Int64N(4*sec)
		st := s.req(n.kubelet, "patch", "/api/v1/namespaces/"+d.ns+"/pods/"+p.name+"/status", "",
			objRef{resource: "pods", namespace: d.ns, name: p.name, version: "v1", subresource: "status"})
		st.notes = notesNode
		st.x = p
		st.i1 = s.rng.IntN(250)
		st.reqBody = podStatusPatch
		s.submit(st, s.latency())
		// The replaced pod goes away.
		s.now += 500000 + s.rng.Int64N(sec)
		op := old[i]
		op.node.pods = slices.DeleteFunc(op.node.pods, func(x *pod) bool { return x == op })
		s.rebind(op, p)
		del := s.req(rc, "delete", "/api/v1/namespaces/"+d.ns+"/pods/"+op.name, "",
			objRef{resource: "pods", namespace: d.ns, name: op.name, version: "v1"})
		del.notes = notesController("replicaset-controller")
		del.x = op
		del.i1 = 3600
		del.t1 = int64(s.nextRV())
		del.respBody = podDeleteResponse
		s.submit(del, s.latency())
	}
	s.now += 2 * sec
	ds := s.req(dc, "update", "/apis/apps/v1/namespaces/"+d.ns+"/deployments/"+d.name+"/status", "",
		objRef{resource: "deployments", namespace: d.ns, name: d.name, group: "apps", version: "v1", subresource: "status", uid: d.uid, rv: d.rv})
	ds.notes = notesController("deployment-controller")
	ds.x = d
	ds.reqBody = deploymentStatusRequest
	if s.rng.IntN(6) == 0 {
		// The controller raced with another writer; it retries from its cache.
		ds.code = 409
		ds.status = conflict("deployments", "apps", d.name)
		s.submit(ds, s.latency())
		s.now += 5000 + s.rng.Int64N(20000)
		ds = s.req(dc, "update", ds.ref.path(), "", ds.ref)
		ds.notes = notesController("deployment-controller")
		ds.x = d
		ds.reqBody = deploymentStatusRequest
	}
	d.rv = s.nextRV()
	ds.respBody = deploymentResponse
	s.submit(ds, s.latency())
	s.now = t0
}

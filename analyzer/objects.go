package analyzer

import (
	"strconv"
	"strings"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

// What a request did to an object, as the log shows it. The apiserver does not record a
// patch's type: a JSON patch's requestObject is the list of operations, a merge,
// strategic-merge or apply patch's is a partial object, and the responseObject of every
// write is the whole object as stored. Rules judge writes on these, never on
// requestObject alone:
//
//   - change: what the request wrote. An update's or create's requestObject; a merge or
//     apply patch as sent; a JSON patch rendered as the partial object its add and replace
//     operations write, with null where a remove operation took a map key away (as a merge
//     patch says "removed"). Removing a list element leaves no trace in change: which
//     element went is only in the stored object.
//   - object: the object after the request. The responseObject when the log holds one
//     (and it is not a Status: a refused request), else change.

// body kinds that are not the object
func isStatus(m map[string]any) bool {
	k, _ := m["kind"].(string)
	return k == "Status"
}

// change is what the request wrote (see above), computed once per event.
func (a *eventVars) change() any {
	if a.hasChange {
		return a.changeV
	}
	a.hasChange = true
	req := a.body(true)
	if ops, ok := req.([]any); ok && isJSONPatch(ops) {
		a.changeV = renderJSONPatch(ops)
	} else if m, ok := req.(map[string]any); ok {
		a.changeV = m
	} else {
		a.changeV = map[string]any{}
	}
	return a.changeV
}

// object is the object after the request (see above).
func (a *eventVars) object() any {
	if m, ok := a.body(false).(map[string]any); ok && len(m) > 0 && !isStatus(m) {
		return m
	}
	return a.change()
}

func isJSONPatch(l []any) bool {
	if len(l) == 0 {
		return false
	}
	for _, x := range l {
		m, ok := x.(map[string]any)
		if !ok {
			return false
		}
		if _, ok := m["op"].(string); !ok {
			return false
		}
		if _, ok := m["path"].(string); !ok {
			return false
		}
	}
	return true
}

// renderJSONPatch writes a JSON patch's add and replace values, and nulls for removed
// map keys, into an empty document at their paths. List elements addressed by index or
// "-" are appended in the order the operations name them; operations on the same index
// go into the same element.
func renderJSONPatch(ops []any) map[string]any {
	doc := map[string]any{}
	elems := map[string]map[string]any{} // list path + index -> the element made for it
	for _, x := range ops {
		op := x.(map[string]any)
		kind, _ := op["op"].(string)
		p, _ := op["path"].(string)
		var val any
		switch kind {
		case "add", "replace":
			val = op["value"]
		case "remove":
			val = nil
		default: // test, move, copy: nothing written that the log shows
			continue
		}
		toks := pointerTokens(p)
		if len(toks) == 0 {
			continue // the whole document replaced: rare, and not a partial object
		}
		setPath(doc, toks, val, kind == "remove", elems)
	}
	return doc
}

// pointerTokens splits a JSON pointer ("/metadata/labels/a~1b") into unescaped tokens.
func pointerTokens(p string) []string {
	if p == "" || p[0] != '/' {
		return nil
	}
	toks := strings.Split(p[1:], "/")
	for i, t := range toks {
		if strings.Contains(t, "~") {
			toks[i] = strings.ReplaceAll(strings.ReplaceAll(t, "~1", "/"), "~0", "~")
		}
	}
	return toks
}

func isIndex(t string) bool {
	if t == "-" {
		return true
	}
	_, err := strconv.Atoi(t)
	return err == nil
}

func setPath(doc map[string]any, toks []string, val any, remove bool, elems map[string]map[string]any) {
	var cur any = doc
	prefix := ""
	for i, t := range toks {
		last := i == len(toks)-1
		switch c := cur.(type) {
		case map[string]any:
			if last {
				c[t] = val // nil for a removed key: "removed", as in a merge patch
				return
			}
			next, ok := c[t]
			if !ok || next == nil {
				if remove && isIndex(toks[i+1]) {
					return // an element taken out of a list the patch does not show
				}
				if isIndex(toks[i+1]) {
					next = []any{}
				} else {
					next = map[string]any{}
				}
				c[t] = next
			}
			if _, isList := next.([]any); isList {
				// lists are rewritten in place below: keep the parent to store growth
				prefix += "/" + t
				cur = listRef{parent: c, key: t}
				continue
			}
			cur = next
			prefix += "/" + t
		case listRef:
			list, _ := c.parent[c.key].([]any)
			if last {
				if remove {
					return // which element went is not in the patch
				}
				c.parent[c.key] = append(list, val)
				return
			}
			key := prefix + "/" + t
			el, ok := elems[key]
			if !ok || t == "-" {
				el = map[string]any{}
				elems[key] = el
				c.parent[c.key] = append(list, el)
			}
			cur = el
			prefix = key
		default:
			return // a scalar on the way: the operations disagree with each other
		}
	}
}

// listRef is a list inside the rendered document, addressed through its parent so that
// appending to it is seen by the document.
type listRef struct {
	parent map[string]any
	key    string
}

// authorized: the authorizer allowed the request, whatever came of it (a stream the node
// did not answer, a request admission refused). Events without the decision annotation
// (exports from other tools) fall back to the response code.
func authorizedEvent(ev *auditv1.Event) bool {
	if d, ok := ev.Annotations["authorization.k8s.io/decision"]; ok {
		return d == "allow"
	}
	if ev.ResponseStatus == nil {
		return false
	}
	c := ev.ResponseStatus.Code
	return c > 0 && c < 400
}

// objectName is the object's name: objectRef.name, or the name the stored object got
// (a pod made from generateName), or its generateName.
func (a *eventVars) objectName() string {
	if r := a.ev.ObjectRef; r != nil && r.Name != "" {
		return r.Name
	}
	md := metadataOf(a.object())
	if n, _ := md["name"].(string); n != "" {
		return n
	}
	if n, _ := md["generateName"].(string); n != "" {
		return n
	}
	return ""
}

func metadataOf(v any) map[string]any {
	m, _ := v.(map[string]any)
	md, _ := m["metadata"].(map[string]any)
	return md
}

// ownerInfo is whom a controller made an object for: its owners from the nearest to the
// top, as NAMESPACE/resource/NAME keys, and the top one.
type ownerInfo struct {
	keys     []string
	resource string // of the top owner
	name     string
}

// kindResources maps the owner kinds controllers use to their resources.
var kindResources = map[string]string{"ReplicaSet": "replicasets", "Deployment": "deployments", "DaemonSet": "daemonsets",
	"StatefulSet": "statefulsets", "Job": "jobs", "CronJob": "cronjobs", "ReplicationController": "replicationcontrollers"}

// templateResources hold a pod template: a finding on one of them is what controller-made
// objects below it fold into.
var templateResources = map[string]bool{"deployments": true, "replicasets": true, "daemonsets": true, "statefulsets": true,
	"jobs": true, "cronjobs": true, "replicationcontrollers": true}

// owner reads the controller ownerReference of the event's object (once per event). A
// ReplicaSet named after its pods' pod-template-hash is resolved to its Deployment (the
// deployment controller names it so); nil when there is no controller owner.
func (a *eventVars) owner() *ownerInfo {
	if a.hasOwner {
		return a.ownerV
	}
	a.hasOwner = true
	md := metadataOf(a.object())
	refs, _ := md["ownerReferences"].([]any)
	ns := ""
	if a.ev.ObjectRef != nil {
		ns = a.ev.ObjectRef.Namespace
	}
	for _, r := range refs {
		ref, _ := r.(map[string]any)
		if c, _ := ref["controller"].(bool); !c {
			continue
		}
		kind, _ := ref["kind"].(string)
		name, _ := ref["name"].(string)
		if kind == "" || name == "" {
			continue
		}
		res, ok := kindResources[kind]
		if !ok {
			res = strings.ToLower(kind) + "s"
		}
		o := &ownerInfo{keys: []string{ns + "/" + res + "/" + name}, resource: res, name: name}
		if kind == "ReplicaSet" {
			labels, _ := md["labels"].(map[string]any)
			if h, _ := labels["pod-template-hash"].(string); h != "" && strings.HasSuffix(name, "-"+h) {
				o.resource, o.name = "deployments", strings.TrimSuffix(name, "-"+h)
				o.keys = append(o.keys, ns+"/deployments/"+o.name)
			}
		}
		a.ownerV = o
		return o
	}
	return nil
}

// expectedWorkload: the object is a workload of the workloads allowlist (a node agent's
// DaemonSet, the DNS Deployment), or was made by a controller for one. Only template
// kinds are matched by their own name: a bare pod named like a node agent is not one.
func (a *eventVars) expectedWorkload() bool {
	if a.al == nil || len(a.al.Workloads) == 0 || a.ev.ObjectRef == nil {
		return false
	}
	ns := a.ev.ObjectRef.Namespace
	if o := a.owner(); o != nil && a.al.Allowed("workloads", ns+"/"+o.name) {
		return true
	}
	if templateResources[a.ev.ObjectRef.Resource] {
		if n := a.objectName(); n != "" && a.al.Allowed("workloads", ns+"/"+n) {
			return true
		}
	}
	return false
}

// onBehalf: a control-plane controller created this object for an owner (a ReplicaSet's
// pod, a Deployment's ReplicaSet, a CronJob's Job), and the owner is not an expected
// workload (the workloads allowlist). Rules about what people write judge such an object
// as the owner's author's own, and the engine attributes the finding to the owner.
func (a *eventVars) onBehalf() bool {
	if a.ev.Verb != "create" || a.al == nil || !a.al.IsSystem(a.ev.User.Username, a.ev.User.Groups) {
		return false
	}
	o := a.owner()
	if o == nil {
		return false
	}
	ns := ""
	if a.ev.ObjectRef != nil {
		ns = a.ev.ObjectRef.Namespace
	}
	return !a.al.Allowed("workloads", ns+"/"+o.name)
}

// Package workload finds the pod spec inside Kubernetes objects as they appear in audit
// request and response bodies, so that every rule about risky pods (privileged, hostPath,
// capabilities, images...) is written once and applies to pods and to the templates of
// every workload kind alike.
package workload

// Kinds whose pod template lives at spec.template.spec.
var templated = map[string]bool{
	"Deployment": true, "ReplicaSet": true, "StatefulSet": true, "DaemonSet": true,
	"Job": true, "ReplicationController": true, "PodTemplate": false,
}

// PodSpec returns the pod spec of a Pod, of a PodTemplate, or of the template of a
// Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, CronJob or ReplicationController,
// as decoded JSON. It returns nil for anything else. When kind is missing (patch bodies),
// the shape decides: spec.containers, spec.template.spec or spec.jobTemplate.
func PodSpec(obj map[string]any) map[string]any {
	if obj == nil {
		return nil
	}
	kind, _ := obj["kind"].(string)
	spec, _ := obj["spec"].(map[string]any)
	switch {
	case kind == "Pod":
		return spec
	case kind == "PodTemplate":
		return tmplSpec(obj["template"])
	case kind == "CronJob":
		return cronSpec(spec)
	case templated[kind]:
		if spec == nil {
			return nil
		}
		return tmplSpec(spec["template"])
	case kind != "":
		return nil
	}
	// no kind: guess from the shape (strategic-merge and JSON-merge patches)
	if spec == nil {
		return nil
	}
	for _, f := range []string{"containers", "initContainers", "ephemeralContainers", "volumes", "hostPID", "hostNetwork", "hostIPC"} {
		if _, ok := spec[f]; ok {
			return spec
		}
	}
	if t := tmplSpec(spec["template"]); t != nil {
		return t
	}
	return cronSpec(spec)
}

func tmplSpec(t any) map[string]any {
	tm, _ := t.(map[string]any)
	if tm == nil {
		return nil
	}
	s, _ := tm["spec"].(map[string]any)
	return s
}

func cronSpec(spec map[string]any) map[string]any {
	if spec == nil {
		return nil
	}
	jt, _ := spec["jobTemplate"].(map[string]any)
	if jt == nil {
		return nil
	}
	js, _ := jt["spec"].(map[string]any)
	if js == nil {
		return nil
	}
	return tmplSpec(js["template"])
}

// PodMetadata returns the metadata of the pod (or of the pod template) in obj, where
// annotations such as the legacy AppArmor ones live.
func PodMetadata(obj map[string]any) map[string]any {
	if obj == nil {
		return nil
	}
	kind, _ := obj["kind"].(string)
	spec, _ := obj["spec"].(map[string]any)
	var tmpl map[string]any
	switch {
	case kind == "Pod":
		m, _ := obj["metadata"].(map[string]any)
		return m
	case kind == "CronJob" && spec != nil:
		if jt, ok := spec["jobTemplate"].(map[string]any); ok {
			if js, ok := jt["spec"].(map[string]any); ok {
				tmpl, _ = js["template"].(map[string]any)
			}
		}
	case spec != nil:
		tmpl, _ = spec["template"].(map[string]any)
	}
	if tmpl == nil {
		return nil
	}
	m, _ := tmpl["metadata"].(map[string]any)
	return m
}

// Containers lists every container of a pod spec: containers, initContainers and
// ephemeralContainers, each with an added "containerType" of "container", "init" or
// "ephemeral". The maps are copies; the spec is not changed.
func Containers(spec map[string]any) []any {
	var out []any
	for _, f := range []struct{ field, typ string }{{"containers", "container"}, {"initContainers", "init"}, {"ephemeralContainers", "ephemeral"}} {
		list, _ := spec[f.field].([]any)
		for _, c := range list {
			cm, ok := c.(map[string]any)
			if !ok {
				continue
			}
			cp := make(map[string]any, len(cm)+1)
			for k, v := range cm {
				cp[k] = v
			}
			cp["containerType"] = f.typ
			out = append(out, cp)
		}
	}
	if out == nil {
		out = []any{}
	}
	return out
}

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"sigs.k8s.io/yaml"

	"github.com/kubesleuth/kubesleuth/analyzer"
)

// manifest is one decoded object of deploy/.
type manifest struct {
	file     string
	kind     string
	group    string // API group ("" for core)
	resource string
	meta     metav1.ObjectMeta
	raw      []byte // JSON
	pod      *corev1.PodSpec
	obj      any
}

func loadManifests(t *testing.T) []manifest {
	t.Helper()
	files, _ := filepath.Glob("../../deploy/*.yaml")
	if len(files) < 2 {
		t.Fatalf("deploy/ holds %d manifests", len(files))
	}
	var out []manifest
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(b), -1) {
			if strings.TrimSpace(regexp.MustCompile(`(?m)^\s*#.*$`).ReplaceAllString(doc, "")) == "" {
				continue
			}
			var tm metav1.TypeMeta
			if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
				t.Fatalf("%s doc %d: %v", f, i+1, err)
			}
			m := manifest{file: filepath.Base(f), kind: tm.Kind}
			var obj any
			switch tm.APIVersion + " " + tm.Kind {
			case "v1 Namespace":
				obj, m.resource = &corev1.Namespace{}, "namespaces"
			case "v1 ServiceAccount":
				obj, m.resource = &corev1.ServiceAccount{}, "serviceaccounts"
			case "v1 Service":
				obj, m.resource = &corev1.Service{}, "services"
			case "v1 PersistentVolumeClaim":
				obj, m.resource = &corev1.PersistentVolumeClaim{}, "persistentvolumeclaims"
			case "apps/v1 Deployment":
				obj, m.resource, m.group = &appsv1.Deployment{}, "deployments", "apps"
			case "apps/v1 DaemonSet":
				obj, m.resource, m.group = &appsv1.DaemonSet{}, "daemonsets", "apps"
			case "networking.k8s.io/v1 NetworkPolicy":
				obj, m.resource, m.group = &networkingv1.NetworkPolicy{}, "networkpolicies", "networking.k8s.io"
			case "policy/v1 PodDisruptionBudget":
				obj, m.resource, m.group = &policyv1.PodDisruptionBudget{}, "poddisruptionbudgets", "policy"
			default:
				t.Fatalf("%s doc %d: unexpected %s %s", f, i+1, tm.APIVersion, tm.Kind)
			}
			// strict: an unknown or misspelt field, a duplicate key or a wrong type fails
			if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
				t.Fatalf("%s doc %d (%s): %v", f, i+1, tm.Kind, err)
			}
			m.obj = obj
			switch o := obj.(type) {
			case *appsv1.Deployment:
				m.meta, m.pod = o.ObjectMeta, &o.Spec.Template.Spec
			case *appsv1.DaemonSet:
				m.meta, m.pod = o.ObjectMeta, &o.Spec.Template.Spec
			case *corev1.Namespace:
				m.meta = o.ObjectMeta
			case *corev1.ServiceAccount:
				m.meta = o.ObjectMeta
			case *corev1.Service:
				m.meta = o.ObjectMeta
			case *corev1.PersistentVolumeClaim:
				m.meta = o.ObjectMeta
			case *networkingv1.NetworkPolicy:
				m.meta = o.ObjectMeta
			case *policyv1.PodDisruptionBudget:
				m.meta = o.ObjectMeta
			}
			if m.raw, err = json.Marshal(obj); err != nil {
				t.Fatal(err)
			}
			out = append(out, m)
		}
	}
	return out
}

// TestDeployManifests decodes deploy/ strictly with the k8s.io/api types, checks that
// the pods follow the practices kubesleuth checks (non-root, read-only root filesystem,
// every capability dropped, seccomp RuntimeDefault, no service-account token, image by
// digest, resource limits, read-only audit folder), and runs kubesleuth's own catalog on
// the manifests as an administrator's create events: no finding above info.
func TestDeployManifests(t *testing.T) {
	ms := loadManifests(t)
	kinds := map[string]int{}
	for _, m := range ms {
		kinds[m.kind]++
	}
	for _, k := range []string{"Deployment", "Service", "NetworkPolicy", "PodDisruptionBudget", "DaemonSet"} {
		if kinds[k] == 0 {
			t.Errorf("deploy/ has no %s", k)
		}
	}
	digest := regexp.MustCompile(`@sha256:[0-9a-f]{64}$`)
	for _, m := range ms {
		if m.pod == nil {
			continue
		}
		p, name := m.pod, m.kind+" "+m.meta.Name
		if p.AutomountServiceAccountToken == nil || *p.AutomountServiceAccountToken {
			t.Errorf("%s: automountServiceAccountToken is not false", name)
		}
		if p.HostNetwork || p.HostPID || p.HostIPC {
			t.Errorf("%s shares a host namespace", name)
		}
		if sc := p.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Errorf("%s: pod securityContext lacks runAsNonRoot or seccomp RuntimeDefault", name)
		}
		readOnly := map[string]bool{}
		for _, c := range append(append([]corev1.Container{}, p.InitContainers...), p.Containers...) {
			cn := name + " container " + c.Name
			if !digest.MatchString(c.Image) {
				t.Errorf("%s: image %s not by digest", cn, c.Image)
			}
			sc := c.SecurityContext
			if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
				sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.Capabilities == nil || fmt.Sprint(sc.Capabilities.Drop) != "[ALL]" ||
				len(sc.Capabilities.Add) > 0 || sc.Privileged != nil && *sc.Privileged || sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
				t.Errorf("%s: securityContext not hardened: %+v", cn, sc)
			}
			if c.Resources.Limits.Cpu().IsZero() || c.Resources.Limits.Memory().IsZero() {
				t.Errorf("%s: no CPU or memory limit", cn)
			}
			for _, vm := range c.VolumeMounts {
				if vm.ReadOnly {
					readOnly[vm.Name] = true
				}
			}
		}
		for _, v := range p.Volumes {
			if v.HostPath != nil && strings.HasPrefix(v.HostPath.Path, "/var/log/kubernetes/audit") && !readOnly[v.Name] {
				t.Errorf("%s mounts the audit folder writable", name)
			}
		}
		if _, ok := p.NodeSelector["node-role.kubernetes.io/control-plane"]; m.kind == "DaemonSet" && !ok {
			t.Errorf("%s: not on control-plane nodes", name)
		}
	}

	eng, _, err := (&detectFlags{}).engine(io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for i, m := range ms {
		ts := metav1.NewMicroTime(t0.Add(time.Duration(i) * time.Second))
		uri := "/api/v1/"
		if m.group != "" {
			uri = "/apis/" + m.group + "/v1/"
		}
		if m.meta.Namespace != "" {
			uri += "namespaces/" + m.meta.Namespace + "/"
		}
		uri += m.resource
		ev := &auditv1.Event{
			TypeMeta: metav1.TypeMeta{Kind: "Event", APIVersion: "audit.k8s.io/v1"},
			Level:    "RequestResponse", AuditID: types.UID("deploy-" + fmt.Sprint(i)), Stage: auditv1.StageResponseComplete,
			RequestURI: uri + "?fieldManager=kubectl-client-side-apply", Verb: "create",
			User:      authnv1.UserInfo{Username: "kubernetes-admin", Groups: []string{"kubeadm:cluster-admins", "system:authenticated"}},
			SourceIPs: []string{"10.0.0.10"}, UserAgent: "kubectl/v1.37.2 (linux/amd64) kubernetes/abcdef0",
			ObjectRef:                &auditv1.ObjectReference{Resource: m.resource, Namespace: m.meta.Namespace, Name: m.meta.Name, APIGroup: m.group, APIVersion: "v1"},
			ResponseStatus:           &metav1.Status{Code: 201},
			RequestObject:            &runtime.Unknown{Raw: m.raw, ContentType: "application/json"},
			ResponseObject:           &runtime.Unknown{Raw: m.raw, ContentType: "application/json"},
			RequestReceivedTimestamp: ts, StageTimestamp: ts,
		}
		eng.Observe(ev)
	}
	res := eng.Result()
	for _, f := range res.Findings {
		if f.Severity > analyzer.Info {
			t.Errorf("%s (%s) on deploy/: %s", f.RuleID, f.Severity, f.Message)
		}
	}
	if len(res.EvalErrors) > 0 {
		t.Errorf("rules failed to evaluate on the manifests: %v", res.EvalErrors)
	}
	t.Logf("%d objects, %d findings (info at most)", len(ms), len(res.Findings))
}

// TestDockerfile: multi-stage, every base image pinned by digest, a static build, a
// non-root user and no shell in the final image (a distroless static base, an exec-form
// entrypoint).
func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var froms []string
	final := ""
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && strings.EqualFold(f[0], "FROM") {
			froms = append(froms, f[1])
			final = ""
		}
		final += line + "\n"
	}
	if len(froms) < 2 {
		t.Fatalf("%d stages, want a multi-stage build", len(froms))
	}
	for _, f := range froms {
		if !regexp.MustCompile(`@sha256:[0-9a-f]{64}$`).MatchString(f) {
			t.Errorf("base image %s not pinned by digest", f)
		}
	}
	if !strings.Contains(froms[len(froms)-1], "distroless/static") {
		t.Errorf("final stage %s is not distroless/static (no shell)", froms[len(froms)-1])
	}
	if !strings.Contains(string(b), "CGO_ENABLED=0") {
		t.Errorf("the build is not static (CGO_ENABLED=0)")
	}
	if m := regexp.MustCompile(`(?m)^USER\s+(\S+)`).FindStringSubmatch(final); m == nil || strings.HasPrefix(m[1], "0") || m[1] == "root" {
		t.Errorf("the final stage runs as root")
	}
	if regexp.MustCompile(`(?m)^RUN\s`).MatchString(final) {
		t.Errorf("the final stage runs commands (it has no shell)")
	}
	if !regexp.MustCompile(`(?m)^ENTRYPOINT\s+\[`).MatchString(final) {
		t.Errorf("the entrypoint is not in exec form (a shell form needs /bin/sh)")
	}
}

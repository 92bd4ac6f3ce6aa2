package realcluster

import (
	"context"
	"sort"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubesleuth/kubesleuth/analyzer"
)

// TestBuiltinRBACAllowlist: the builtin_rbac list of analyzer/rules/allowlist.yaml (what
// KS-RBAC-008 calls the built-in roles and bindings) is exactly what a real API server
// creates and reconciles: every ClusterRole and ClusterRoleBinding labelled
// kubernetes.io/bootstrapping=rbac-defaults is on it, every name on it exists, and no
// object without the label (kubeadm's, an add-on's) is.
func TestBuiltinRBACAllowlist(t *testing.T) {
	c := Start(t, Options{Policy: PolicyMetadata, NoControllerManager: true, NoScheduler: true})
	al, err := analyzer.DefaultAllowlists()
	if err != nil {
		t.Fatal(err)
	}
	cs := c.Client(Admin)
	ctx := context.Background()
	// An add-on's role with a system: name, as kubeadm's CoreDNS has: not built in.
	crs, err := cs.RbacV1().ClusterRoles().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	crbs, err := cs.RbacV1().ClusterRoleBindings().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	builtin, other := map[string]bool{}, map[string]bool{}
	add := func(name string, labels map[string]string) {
		if labels["kubernetes.io/bootstrapping"] == "rbac-defaults" {
			builtin[name] = true
		} else {
			other[name] = true
		}
	}
	for _, r := range crs.Items {
		add(r.Name, r.Labels)
	}
	for _, b := range crbs.Items {
		add(b.Name, b.Labels)
	}
	if len(builtin) < 50 {
		t.Fatalf("only %d built-in RBAC objects: the API server did not bootstrap", len(builtin))
	}
	var missing []string
	for n := range builtin {
		if !al.Allowed("builtin_rbac", n) {
			missing = append(missing, n)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("built-in RBAC objects missing from builtin_rbac:\n  - %s", strings.Join(missing, "\n  - "))
	}
	for _, e := range al.BuiltinRBAC {
		if strings.ContainsAny(e, "*?[") {
			t.Errorf("builtin_rbac entry %q is a pattern: list the names (a pattern takes in add-ons' system: roles)", e)
			continue
		}
		if !builtin[e] {
			t.Errorf("builtin_rbac entry %q: no such built-in object (other=%v)", e, other[e])
		}
	}
}

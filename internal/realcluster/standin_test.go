package realcluster

import (
	"context"
	"testing"
	"time"
)

// TestRealAPIServerKubeletStandIn: with a node that answers (the stand-in), the apiserver
// logs an SPDY exec, a port-forward and a log request as it does on a cluster with
// kubelets: 101 and 200, not the dial error.
func TestRealAPIServerKubeletStandIn(t *testing.T) {
	needKubectl(t)
	c := Start(t, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	d := NewDriver(ctx, c, t.Logf)
	d.KubeletStandIn = true
	t.Cleanup(func() { d.StopNodes() })
	if err := d.StartNodes([]string{"node-1"}, nil); err != nil {
		t.Fatal(err)
	}
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
	if err := runExecShell(d); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Kubectl(Alice, "", "logs", "-n", "team-a", pod); err != nil {
		t.Errorf("kubectl logs through the stand-in: %v", err)
	}
	if err := runPortForward(d); err != nil {
		t.Fatal(err)
	}
	check := func(user, resource, verb string, code int32) {
		t.Helper()
		evs := waitEvents(t, c, 3, func(e *Event) bool {
			return e.User.Username == user && e.Resource() == resource && e.Verb == verb
		})
		if got := stages(evs[:3]); got != "RequestReceived,ResponseStarted,ResponseComplete" {
			t.Errorf("%s %s: stages %s", verb, resource, got)
		}
		for _, e := range evs[1:3] {
			if e.Code() != code {
				t.Errorf("%s %s %s: code %d, want %d", e.Stage, verb, resource, e.Code(), code)
			}
		}
	}
	check(Alice, "pods/exec", "get", 101)    // kubectl exec, WebSocket
	check(Alice, "pods/exec", "create", 101) // SPDY, now that the node answers
	check(Alice, "pods/log", "get", 200)
	check(Bob, "pods/portforward", "get", 101)
	// The WebSocket port-forward succeeded: kubectl does not fall back to SPDY.
	all, err := ReadEvents(c.AuditLogPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range all {
		if e.Resource() == "pods/portforward" && e.Verb == "create" {
			t.Errorf("an SPDY port-forward after a successful WebSocket one")
		}
	}
}

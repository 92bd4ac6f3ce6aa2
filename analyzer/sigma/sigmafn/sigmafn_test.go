package sigmafn

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

func decode(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestValues(t *testing.T) {
	pod := decode(t, `{"metadata":{"labels":{"app.kubernetes.io/name":"web","app":"x"},"annotations":{"a.b/c":"1"}},
		"spec":{"containers":[{"name":"a","image":"nginx","ports":[{"containerPort":80},{"containerPort":443}]},{"name":"b","image":"redis"}],
		"volumes":[{"name":"v","hostPath":{"path":"/"}}],"nodeSelector":null}}`)
	for _, c := range []struct {
		path string
		want []any
	}{
		{"spec.containers.image", []any{"nginx", "redis"}},
		{"spec.containers.ports.containerPort", []any{80.0, 443.0}},
		{"metadata.labels.app.kubernetes.io/name", []any{"web"}},
		{"metadata.labels.app", []any{"x"}},
		{"metadata.annotations.a.b/c", []any{"1"}},
		{"spec.nodeSelector", []any{nil}},
		{"spec.missing", []any{}},
		{"spec.containers.name.x", []any{}}, // a string has no keys
		{Deep + "hostPath.path", []any{"/"}},
		{Deep + "containerPort", []any{80.0, 443.0}},
	} {
		if got := Values(pod, c.path); !reflect.DeepEqual(got, c.want) {
			t.Errorf("Values(%q) = %#v, want %#v", c.path, got, c.want)
		}
	}
	if got := Values(map[string]string{"authorization.k8s.io/decision": "allow"}, "authorization.k8s.io/decision"); !reflect.DeepEqual(got, []any{"allow"}) {
		t.Errorf("a string map's dotted key: %v", got)
	}
}

func TestProjections(t *testing.T) {
	vals := []any{"a", 1.5, 401.0, true, nil, map[string]any{"k": "v"}, []any{"b", []any{"c"}}, int64(7), " 12 "}
	if got := Strings(vals); !reflect.DeepEqual(got, []string{"a", "1.5", "401", "true", "b", "c", "7", " 12 "}) {
		t.Errorf("Strings = %q", got)
	}
	if got := Numbers(vals); !reflect.DeepEqual(got, []float64{1.5, 401, 7, 12}) {
		t.Errorf("Numbers = %v", got)
	}
	if !NonNull([]any{nil, map[string]any{}}) || NonNull([]any{nil}) || NonNull([]any{}) {
		t.Error("NonNull")
	}
	leaves := Leaves([]any{map[string]any{"a": []any{"x", map[string]any{"b": 2.0}}}, map[string]string{"k": "y"}})
	if strings.Join(sorted(leaves), ",") != "2,x,y" {
		t.Errorf("Leaves = %v", leaves)
	}
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func TestCIDRAndTime(t *testing.T) {
	for _, c := range []struct {
		ip, cidr string
		want     bool
	}{
		{"10.1.2.3", "10.0.0.0/8", true}, {"11.1.2.3", "10.0.0.0/8", false}, {"::ffff:10.1.2.3", "10.0.0.0/8", true},
		{"2001:db8::1", "2001:db8::/32", true}, {"fe80::1%eth0", "fe80::/10", true}, {"x", "10.0.0.0/8", false}, {"10.0.0.1", "bad", false},
	} {
		if got := InCIDR(c.ip, c.cidr); got != c.want {
			t.Errorf("InCIDR(%s, %s) = %v", c.ip, c.cidr, got)
		}
	}
	ts := time.Date(2026, 3, 10, 22, 45, 0, 0, time.FixedZone("x", 3600)) // 21:45 UTC
	vals := []any{ts, "2026-12-31T23:59:59Z", "not a date", 5.0}
	for part, want := range map[string][]int64{"hour": {21, 23}, "minute": {45, 59}, "day": {10, 31}, "month": {3, 12}, "year": {2026, 2026}, "week": {11, 53}} {
		if got := TimeParts(vals, part); !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %v, want %v", part, got, want)
		}
	}
}

// A body nested far deeper than any Kubernetes object is walked to a bound, never to a
// stack overflow.
func TestHostileDepth(t *testing.T) {
	var v any = "leaf"
	for i := 0; i < 100000; i++ {
		v = map[string]any{"a": []any{v}}
	}
	if got := Values(v, Deep+"a"); len(got) == 0 || len(got) > 2*maxDepth {
		t.Errorf("deep search found %d values", len(got))
	}
	if got := Leaves(v); len(got) != 0 {
		t.Errorf("leaves below the bound: %v", got)
	}
	Strings(v)
	Values(v, strings.Repeat("a.", 1000)+"a")
}

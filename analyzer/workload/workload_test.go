package workload

import (
	"encoding/json"
	"testing"
)

func obj(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestPodSpec(t *testing.T) {
	for _, tc := range []struct {
		name, obj string
		image     string // image of the first container, "" for no spec
	}{
		{"pod", `{"kind":"Pod","spec":{"containers":[{"image":"a"}]}}`, "a"},
		{"deployment", `{"kind":"Deployment","spec":{"template":{"spec":{"containers":[{"image":"b"}]}}}}`, "b"},
		{"daemonset", `{"kind":"DaemonSet","spec":{"template":{"spec":{"containers":[{"image":"c"}]}}}}`, "c"},
		{"cronjob", `{"kind":"CronJob","spec":{"jobTemplate":{"spec":{"template":{"spec":{"containers":[{"image":"d"}]}}}}}}`, "d"},
		{"podtemplate", `{"kind":"PodTemplate","template":{"spec":{"containers":[{"image":"e"}]}}}`, "e"},
		{"patch without kind", `{"spec":{"template":{"spec":{"containers":[{"image":"f"}]}}}}`, "f"},
		{"configmap", `{"kind":"ConfigMap","data":{"a":"b"}}`, ""},
		{"scale patch", `{"spec":{"replicas":3}}`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := PodSpec(obj(t, tc.obj))
			if tc.image == "" {
				if spec != nil {
					t.Fatalf("spec = %v, want none", spec)
				}
				return
			}
			cs := Containers(spec)
			if len(cs) != 1 || cs[0].(map[string]any)["image"] != tc.image {
				t.Fatalf("containers = %v", cs)
			}
		})
	}
}

func TestContainersAllKinds(t *testing.T) {
	spec := PodSpec(obj(t, `{"kind":"Pod","spec":{"initContainers":[{"name":"i"}],"containers":[{"name":"c"}],"ephemeralContainers":[{"name":"e"}]}}`))
	cs := Containers(spec)
	want := map[string]string{"c": "container", "i": "init", "e": "ephemeral"}
	if len(cs) != 3 {
		t.Fatalf("containers = %v", cs)
	}
	for _, c := range cs {
		m := c.(map[string]any)
		if want[m["name"].(string)] != m["containerType"] {
			t.Errorf("container %v typed %v", m["name"], m["containerType"])
		}
	}
	if PodMetadata(obj(t, `{"kind":"Deployment","spec":{"template":{"metadata":{"annotations":{"x":"y"}}}}}`))["annotations"] == nil {
		t.Error("template metadata not found")
	}
}

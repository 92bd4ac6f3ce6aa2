package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	gojson "github.com/goccy/go-json"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

// A RequestResponse pod create, the heavy end of what audit lines look like.
const benchPodLine = `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"7e5d9b1a-7f2c-4d8e-9a61-2c4b8f0e1d23","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/shop/pods?fieldManager=kubectl-client-side-apply\u0026fieldValidation=Strict","verb":"create","user":{"username":"system:serviceaccount:ci:deployer","uid":"0c5a7f0e-1b64-4c39-9f3e-6c1d2a7e8b90","groups":["system:serviceaccounts","system:serviceaccounts:ci","system:authenticated"],"extra":{"authentication.kubernetes.io/credential-id":["JTI=2f1e5c3a-9b7d-4e6f-8a1b-3c5d7e9f0a2b"]}},"sourceIPs":["10.42.0.17"],"userAgent":"kubectl/v1.31.2 (linux/amd64) kubernetes/5864a46","objectRef":{"resource":"pods","namespace":"shop","name":"checkout-7d9f8c6b5-x2x9q","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":201},"requestObject":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"checkout-7d9f8c6b5-x2x9q","namespace":"shop","labels":{"app":"checkout","pod-template-hash":"7d9f8c6b5"}},"spec":{"containers":[{"name":"checkout","image":"registry.example.com/shop/checkout:1.14.2","ports":[{"containerPort":8080,"protocol":"TCP"}],"resources":{"limits":{"cpu":"500m","memory":"256Mi"}},"securityContext":{"runAsNonRoot":true,"allowPrivilegeEscalation":false}}],"serviceAccountName":"checkout"}},"responseObject":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"checkout-7d9f8c6b5-x2x9q","namespace":"shop","uid":"b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d5e","resourceVersion":"123456","creationTimestamp":"2026-03-10T10:00:00Z"},"spec":{"containers":[{"name":"checkout","image":"registry.example.com/shop/checkout:1.14.2"}]},"status":{"phase":"Pending","qosClass":"Burstable"}},"requestReceivedTimestamp":"2026-03-10T10:00:00.123456Z","stageTimestamp":"2026-03-10T10:00:00.134567Z","annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":"RBAC: allowed by RoleBinding \"deployer/shop\" of ClusterRole \"edit\" to ServiceAccount \"deployer/ci\""}}`

func benchLines(b *testing.B) map[string][]byte {
	meta, err := os.ReadFile(filepath.Join(fixtures, "v1.jsonl"))
	if err != nil {
		b.Fatal(err)
	}
	return map[string][]byte{"metadata": bytes.SplitN(meta, []byte("\n"), 2)[0], "request-response": []byte(benchPodLine)}
}

// BenchmarkDecodeLine compares the decoders that can fill the upstream auditv1.Event.
func BenchmarkDecodeLine(b *testing.B) {
	for name, line := range benchLines(b) {
		b.Run("encoding-json/"+name, func(b *testing.B) {
			b.SetBytes(int64(len(line)))
			for i := 0; i < b.N; i++ {
				var ev auditv1.Event
				if err := json.Unmarshal(line, &ev); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("goccy/"+name, func(b *testing.B) {
			b.SetBytes(int64(len(line)))
			for i := 0; i < b.N; i++ {
				var ev auditv1.Event
				if err := gojson.Unmarshal(line, &ev); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("decodeValue/"+name, func(b *testing.B) {
			b.SetBytes(int64(len(line)))
			var out []decoded
			for i := 0; i < b.N; i++ {
				out = decodeValue(line, out[:0])
				if len(out) != 1 || out[0].ev == nil {
					b.Fatal(out)
				}
			}
		})
	}
}

// BenchmarkReader is the whole pipeline (split, decode on all cores, order, dedup) over
// an in-memory log of distinct RequestResponse events.
func BenchmarkReader(b *testing.B) {
	var buf bytes.Buffer
	const n = 20000
	for i := 0; i < n; i++ {
		buf.WriteString(string(bytes.Replace([]byte(benchPodLine), []byte("7e5d9b1a-7f2c-4d8e-9a61-2c4b8f0e1d23"), []byte(fmt.Sprintf("7e5d9b1a-7f2c-4d8e-9a61-%012d", i)), 1)))
		buf.WriteByte('\n')
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := NewReader([]Input{{Path: "-"}}, Options{Stdin: bytes.NewReader(data)})
		if err := r.Each(context.Background(), func(Record) error { return nil }); err != nil {
			b.Fatal(err)
		}
		if r.Summary().Events != n {
			b.Fatalf("events %d", r.Summary().Events)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkReaderDocument is the structural scanner's path: a pretty-printed JSON array
// of distinct RequestResponse events (what `jq .` or an export hands over).
func BenchmarkReaderDocument(b *testing.B) {
	const n = 5000
	evs := make([]json.RawMessage, n)
	for i := range evs {
		evs[i] = bytes.Replace([]byte(benchPodLine), []byte("7e5d9b1a-7f2c-4d8e-9a61-2c4b8f0e1d23"), []byte(fmt.Sprintf("7e5d9b1a-7f2c-4d8e-9a61-%012d", i)), 1)
	}
	data, err := json.MarshalIndent(evs, "", "  ")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := NewReader([]Input{{Path: "-"}}, Options{Stdin: bytes.NewReader(data)})
		if err := r.Each(context.Background(), func(Record) error { return nil }); err != nil {
			b.Fatal(err)
		}
		if s := r.Summary(); s.Events != n || s.SkippedTotal() != 0 {
			b.Fatalf("events %d, skipped %v", s.Events, s.Skipped)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "events/s")
}

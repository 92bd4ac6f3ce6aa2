// Package canary writes hostile audit logs and etcd data with distinctive secret values
// planted in every place a secret can sit, for the tests that hold kubesleuth's redaction
// promise: run every command and output over them, and no canary may appear anywhere,
// raw, base64 or URL-encoded.
//
// Each Canary names the place it was planted in, so a leak says where it came from.
package canary

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Canary is one planted value and where it was planted.
type Canary struct {
	Place string
	Value string
}

// Set is what Write planted.
type Set struct {
	Canaries []Canary
	// Files are the audit inputs written, by format
	Files map[string]string
}

// Forms returns the encodings of v that must not appear in any output: raw, standard and
// URL-safe base64 (padded or not), and URL-encoded.
func Forms(v string) []string {
	b := []byte(v)
	forms := []string{v, base64.StdEncoding.EncodeToString(b), base64.RawStdEncoding.EncodeToString(b),
		base64.URLEncoding.EncodeToString(b), base64.RawURLEncoding.EncodeToString(b), url.QueryEscape(v), url.PathEscape(v)}
	seen := map[string]bool{}
	var out []string
	for _, f := range forms {
		if !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	return out
}

// Leaks returns the places whose canary appears in b, in any form.
func (s *Set) Leaks(b []byte) []string {
	var out []string
	text := string(b)
	for _, c := range s.Canaries {
		for _, f := range Forms(c.Value) {
			if strings.Contains(text, f) {
				out = append(out, fmt.Sprintf("%s (%q as %q)", c.Place, c.Value, f))
				break
			}
		}
	}
	return out
}

type writer struct {
	set  *Set
	seq  int
	t0   time.Time
	tag  string
	evs  []map[string]any
	bad  []string
	eb1  []map[string]any // v1beta1 events
	gke  []map[string]any
	aks  []map[string]any
	list []map[string]any // EventList items
}

// value makes a new canary for place: "KSCANARY" + random hex + a short tag.
func (w *writer) value(place string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	v := "KSCANARY" + hex.EncodeToString(b) + strings.ReplaceAll(place, " ", "")[:min(6, len(strings.ReplaceAll(place, " ", "")))]
	v = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return 'x'
	}, v)
	w.set.Canaries = append(w.set.Canaries, Canary{Place: place, Value: v})
	return v
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// jwt builds a JWT-shaped token whose payload and signature carry canaries.
func (w *writer) jwt(place string) string {
	return "eyJhbGciOiJSUzI1NiJ9.eyJ" + w.value(place+" jwt payload") + "." + w.value(place+" jwt signature")
}

func (w *writer) pem(place string) string {
	return "-----BEGIN RSA PRIVATE KEY-----\nMIIE" + w.value(place+" pem") + "\n-----END RSA PRIVATE KEY-----\n"
}

// event builds an audit event (v1) at the next second.
func (w *writer) event(verb, resource, sub, ns, name, stage, level string) map[string]any {
	w.seq++
	t := w.t0.Add(time.Duration(w.seq) * time.Second).Format(time.RFC3339Nano)
	uri := "/api/v1/namespaces/" + ns + "/" + resource
	if name != "" {
		uri += "/" + name
	}
	if sub != "" {
		uri += "/" + sub
	}
	ref := map[string]any{"resource": resource, "namespace": ns, "name": name, "apiVersion": "v1"}
	if sub != "" {
		ref["subresource"] = sub
	}
	return map[string]any{
		"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": level,
		"auditID": fmt.Sprintf("%s-%06d-0000-4000-8000-000000000000", w.tag, w.seq), "stage": stage,
		"requestURI": uri, "verb": verb,
		"user":      map[string]any{"username": "alice@example.com", "groups": []any{"system:authenticated"}},
		"sourceIPs": []any{"10.0.0.5"}, "userAgent": "kubectl/v1.32.0 (linux/amd64) kubernetes/abc",
		"objectRef":                ref,
		"responseStatus":           map[string]any{"metadata": map[string]any{}, "code": 200},
		"requestReceivedTimestamp": t, "stageTimestamp": t,
		"annotations": map[string]any{"authorization.k8s.io/decision": "allow", "authorization.k8s.io/reason": ""},
	}
}

// both adds the event at RequestReceived (request body only) and ResponseComplete.
func (w *writer) both(e map[string]any) {
	rr := map[string]any{}
	for k, v := range e {
		rr[k] = v
	}
	rr["stage"] = "RequestReceived"
	delete(rr, "responseObject")
	delete(rr, "responseStatus")
	w.evs = append(w.evs, rr, e)
}

func secret(data map[string]any, extra map[string]any) map[string]any {
	s := map[string]any{"kind": "Secret", "apiVersion": "v1", "type": "Opaque",
		"metadata": map[string]any{"name": "db", "namespace": "shop"}, "data": data}
	for k, v := range extra {
		s[k] = v
	}
	return s
}

// Write plants the canaries into audit logs of every format in dir and returns the set.
func Write(dir string) (*Set, error) {
	w := &writer{set: &Set{Files: map[string]string{}}, t0: time.Date(2026, 3, 10, 10, 0, 0, 0, time.UTC), tag: "cafe0001"}

	// Secret bodies at every level and stage
	c := w.value("secret create data")
	sd := w.value("secret create stringData")
	e := w.event("create", "secrets", "", "shop", "db", "ResponseComplete", "RequestResponse")
	e["requestObject"] = secret(map[string]any{"password": b64(c)}, map[string]any{"stringData": map[string]any{"token": sd}})
	e["responseObject"] = secret(map[string]any{"password": b64(c), "token": b64(sd)}, nil)
	w.both(e)

	e = w.event("get", "secrets", "", "shop", "db", "ResponseComplete", "RequestResponse")
	e["responseObject"] = secret(map[string]any{"password": b64(w.value("secret get response"))}, nil)
	w.evs = append(w.evs, e)

	e = w.event("list", "secrets", "", "shop", "", "ResponseComplete", "RequestResponse")
	e["responseObject"] = map[string]any{"kind": "SecretList", "apiVersion": "v1", "items": []any{
		map[string]any{"metadata": map[string]any{"name": "a"}, "type": "Opaque", "data": map[string]any{"k": b64(w.value("secret list item"))}},
	}}
	w.evs = append(w.evs, e)

	e = w.event("list", "secrets", "", "shop", "", "ResponseComplete", "RequestResponse")
	e["responseObject"] = map[string]any{"kind": "Table", "apiVersion": "meta.k8s.io/v1", "columnDefinitions": []any{map[string]any{"name": "Name"}},
		"rows": []any{map[string]any{"cells": []any{"db", "Opaque", 1, "5d"}, "object": map[string]any{
			"metadata": map[string]any{"name": "db"}, "type": "Opaque", "data": map[string]any{"k": b64(w.value("secret table row"))}}}}}
	w.evs = append(w.evs, e)

	// copies in annotations
	la := w.value("last-applied annotation")
	orig := w.value("kapp original annotation")
	e = w.event("update", "secrets", "", "shop", "db", "ResponseComplete", "RequestResponse")
	e["requestObject"] = secret(map[string]any{"password": "c2FmZQ=="}, map[string]any{"metadata": map[string]any{"name": "db", "annotations": map[string]any{
		"kubectl.kubernetes.io/last-applied-configuration": `{"apiVersion":"v1","kind":"Secret","data":{"password":"` + b64(la) + `"}}`,
		"kapp.k14s.io/original":                            `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"db"},"data":{"password":"` + b64(orig) + `"}}`,
	}}})
	w.both(e)

	// every patch type on a secret (the body carries no kind)
	for _, p := range []struct{ place, ct string }{{"merge patch", "application/merge-patch+json"}, {"strategic patch", "application/strategic-merge-patch+json"}} {
		e = w.event("patch", "secrets", "", "shop", "db", "ResponseComplete", "RequestResponse")
		e["requestObject"] = map[string]any{"data": map[string]any{"password": b64(w.value(p.place))}}
		w.both(e)
	}
	e = w.event("patch", "secrets", "", "shop", "db", "ResponseComplete", "RequestResponse")
	e["requestObject"] = []any{map[string]any{"op": "replace", "path": "/data/password", "value": b64(w.value("json patch"))},
		map[string]any{"op": "add", "path": "/stringData", "value": map[string]any{"x": w.value("json patch stringData")}}}
	w.both(e)
	e = w.event("patch", "secrets", "", "shop", "db", "ResponseComplete", "RequestResponse")
	e["requestObject"] = "apiVersion: v1\nkind: Secret\nstringData:\n  password: " + w.value("apply yaml body") + "\n"
	w.both(e)

	// a mutating webhook's patch in the event's annotations, on a Metadata event
	e = w.event("create", "secrets", "", "shop", "hooked", "ResponseComplete", "Metadata")
	patch, _ := json.Marshal(map[string]any{"configuration": "inject", "webhook": "inject.example.com", "patchType": "JSONPatch",
		"patch": []any{map[string]any{"op": "add", "path": "/data/password", "value": b64(w.value("webhook patch annotation"))}}})
	e["annotations"].(map[string]any)["patch.webhook.admission.k8s.io/round_0_index_0"] = string(patch)
	w.evs = append(w.evs, e)

	// TokenRequest and TokenReview
	e = w.event("create", "serviceaccounts", "token", "shop", "web", "ResponseComplete", "RequestResponse")
	e["requestObject"] = map[string]any{"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1", "spec": map[string]any{"audiences": []any{"api"}}}
	e["responseObject"] = map[string]any{"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1", "status": map[string]any{"token": w.jwt("tokenrequest status")}}
	w.evs = append(w.evs, e)
	e = w.event("create", "tokenreviews", "", "", "", "ResponseComplete", "RequestResponse")
	e["requestObject"] = map[string]any{"kind": "TokenReview", "apiVersion": "authentication.k8s.io/v1", "spec": map[string]any{"token": w.value("tokenreview opaque token")}}
	e["responseObject"] = map[string]any{"kind": "TokenReview", "apiVersion": "authentication.k8s.io/v1", "spec": map[string]any{"token": w.jwt("tokenreview jwt")}}
	w.evs = append(w.evs, e)

	// exec commands and URIs (KS-EXEC-004, -006 and friends read them)
	execs := []struct{ place, cmd string }{
		{"exec curl bearer", "curl -sk -H Authorization: Bearer " + w.value("exec bearer opaque") + " https://kubernetes.default.svc/api"},
		{"exec curl jwt", "curl -H 'Authorization: Bearer " + w.jwt("exec bearer jwt") + "' https://10.96.0.1"},
		{"exec mysql", "mysql -uroot -p" + w.value("exec mysql -p") + " -e show databases"},
		{"exec password=", "echo password=" + w.value("exec password=") + " > /tmp/x"},
		{"exec pem", "echo '" + w.pem("exec url-encoded") + "' > /root/.ssh/id_rsa"},
	}
	for _, x := range execs {
		q := url.Values{}
		for _, part := range strings.Fields(x.cmd) {
			q.Add("command", part)
		}
		if x.place == "exec pem" || x.place == "exec curl jwt" {
			q = url.Values{"command": {"sh", "-c", x.cmd}}
		}
		e = w.event("create", "pods", "exec", "shop", "web", "ResponseStarted", "Metadata")
		e["requestURI"] = "/api/v1/namespaces/shop/pods/web/exec?" + q.Encode() + "&container=web&stdin=true&stdout=true&tty=true"
		e["responseStatus"] = map[string]any{"metadata": map[string]any{}, "code": 101}
		w.evs = append(w.evs, e)
	}
	e = w.event("list", "pods", "", "shop", "", "ResponseComplete", "Metadata")
	e["requestURI"] = "/api/v1/namespaces/shop/pods?token=" + w.value("token query value") + "&limit=500"
	w.evs = append(w.evs, e)
	e = w.event("get", "pods", "", "shop", "web", "ResponseComplete", "Metadata")
	e["requestURI"] = "/api/v1/namespaces/shop/pods/web?access_token=" + w.jwt("uri jwt")
	w.evs = append(w.evs, e)

	// identities: user agents, usernames, user.extra, impersonation
	e = w.event("get", "secrets", "", "shop", "db", "ResponseComplete", "Metadata")
	e["userAgent"] = "python-requests/2.31 token=" + w.value("user agent token")
	e["user"] = map[string]any{"username": w.jwt("username"), "groups": []any{"system:authenticated"},
		"extra": map[string]any{"token": []any{w.value("user.extra token")}, "x-forwarded-credential": []any{w.jwt("user.extra jwt")}}}
	e["impersonatedUser"] = map[string]any{"username": w.jwt("impersonated username")}
	w.evs = append(w.evs, e)
	e = w.event("list", "pods", "", "shop", "", "ResponseComplete", "Metadata")
	e["userAgent"] = "curl/8.0 Authorization: Bearer " + w.jwt("user agent bearer")
	w.evs = append(w.evs, e)

	// what the rules call credentials: ConfigMap keys and values, env literals, PGP keys
	e = w.event("create", "configmaps", "", "shop", "app", "ResponseComplete", "RequestResponse")
	e["requestObject"] = map[string]any{"kind": "ConfigMap", "apiVersion": "v1", "metadata": map[string]any{"name": "app"}, "data": map[string]any{
		"DB_PASSWORD":    w.value("configmap password key"),
		"app.properties": "db.url=jdbc:postgresql://db/app\ndb.password=" + w.value("configmap properties password") + "\naws.secretKey=" + w.value("configmap aws secret") + "\n",
		"dsn":            "postgres://app:" + w.value("configmap connection string") + "@db:5432/app",
		"signing.asc":    "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQOY" + w.value("configmap pgp") + "\n-----END PGP PRIVATE KEY BLOCK-----\n",
		"tls.key":        w.pem("configmap pem"),
	}}
	w.both(e)
	e = w.event("create", "deployments", "", "shop", "web", "ResponseComplete", "RequestResponse")
	e["objectRef"].(map[string]any)["apiGroup"] = "apps"
	e["requestObject"] = map[string]any{"kind": "Deployment", "apiVersion": "apps/v1", "metadata": map[string]any{"name": "web"},
		"spec": map[string]any{"template": map[string]any{"spec": map[string]any{"containers": []any{map[string]any{
			"name": "web", "image": "nginx:1.27", "env": []any{map[string]any{"name": "MYSQL_ROOT_PASSWORD", "value": w.value("env literal password")}},
			"args": []any{"--token=" + w.value("container arg token")}}}}}}}
	w.both(e)

	// a body the apiserver could not decode, kept as text, on secrets
	e = w.event("create", "secrets", "", "shop", "raw", "ResponseComplete", "RequestResponse")
	e["requestObject"] = "data: {password: " + w.value("undecodable secret body") + "}"
	w.evs = append(w.evs, e)

	// JSON escapes that spell the detectors' needles
	esc := w.jwt("escaped jwt")
	e = w.event("get", "pods", "", "shop", "web", "ResponseComplete", "Metadata")
	e["userAgent"] = "ESCAPED:" + esc
	w.evs = append(w.evs, e)

	// other formats: v1beta1, GKE, AKS, EventList
	b1 := w.event("create", "secrets", "", "shop", "b1", "ResponseComplete", "RequestResponse")
	b1["apiVersion"] = "audit.k8s.io/v1beta1"
	b1["timestamp"] = b1["requestReceivedTimestamp"]
	b1["metadata"] = map[string]any{"creationTimestamp": b1["requestReceivedTimestamp"]}
	b1["requestObject"] = secret(map[string]any{"password": b64(w.value("v1beta1 secret"))}, nil)
	w.eb1 = append(w.eb1, b1)

	w.seq++
	gkeTime := w.t0.Add(time.Duration(w.seq) * time.Second).Format(time.RFC3339Nano)
	w.gke = append(w.gke, map[string]any{"insertId": "gke-canary-1", "timestamp": gkeTime, "logName": "projects/p/logs/cloudaudit.googleapis.com%2Factivity",
		"protoPayload": map[string]any{"@type": "type.googleapis.com/google.cloud.audit.AuditLog", "serviceName": "k8s.io",
			"methodName": "io.k8s.core.v1.secrets.create", "resourceName": "core/v1/namespaces/shop/secrets/g",
			"authenticationInfo": map[string]any{"principalEmail": w.jwt("gke principal")},
			"requestMetadata":    map[string]any{"callerIp": "203.0.113.7", "callerSuppliedUserAgent": "gcloud token=" + w.value("gke user agent")},
			"request":            map[string]any{"kind": "Secret", "data": map[string]any{"k": b64(w.value("gke request secret"))}},
			"status":             map[string]any{"code": 0}}})

	aksEv := w.event("create", "secrets", "", "shop", "aks", "ResponseComplete", "RequestResponse")
	aksEv["requestObject"] = secret(map[string]any{"password": b64(w.value("aks string log"))}, nil)
	aksJSON, _ := json.Marshal(aksEv)
	w.aks = append(w.aks, map[string]any{"operationName": "Microsoft.ContainerService/managedClusters/diagnosticLogs/Read", "category": "kube-audit",
		"properties": map[string]any{"log": string(aksJSON), "stream": "stdout", "pod": "kube-apiserver-0"}, "time": aksEv["requestReceivedTimestamp"]})
	aksObj := w.event("get", "secrets", "", "shop", "aks2", "ResponseComplete", "RequestResponse")
	aksObj["responseObject"] = secret(map[string]any{"password": b64(w.value("aks object log"))}, nil)
	w.aks = append(w.aks, map[string]any{"operationName": "Microsoft.ContainerService/managedClusters/diagnosticLogs/Read", "category": "kube-audit",
		"properties": map[string]any{"log": aksObj, "stream": "stdout", "pod": "kube-apiserver-1"}, "time": aksObj["requestReceivedTimestamp"]})

	el := w.event("create", "secrets", "", "shop", "el", "ResponseComplete", "RequestResponse")
	el["requestObject"] = secret(map[string]any{"password": b64(w.value("eventlist secret"))}, nil)
	w.list = append(w.list, el)

	// bad input that quotes secrets: error messages must not echo it
	w.bad = append(w.bad,
		`{"auditID":"bad-1","stage":"ResponseComplete","user":{"username":"x"},"requestObject":{"password":"`+w.value("malformed line")+`"`,
		`{"auditID":"bad-2","stage":"ResponseComplete","verb":5,"user":"`+w.value("wrong type field")+`"}`,
		`a":"`+w.value("malformed line start")+`", "more": 1}`,
	)

	if err := w.files(dir); err != nil {
		return nil, err
	}
	return w.set, nil
}

func (w *writer) files(dir string) error {
	jsonl := func(name string, docs []map[string]any, raw []string) error {
		var b strings.Builder
		for _, d := range docs {
			j, err := json.Marshal(d)
			if err != nil {
				return err
			}
			b.Write(j)
			b.WriteByte('\n')
		}
		for _, r := range raw {
			b.WriteString(r)
			b.WriteByte('\n')
		}
		p := filepath.Join(dir, name)
		w.set.Files[name] = p
		// redact: hostile test input: its secrets are the point
		return os.WriteFile(p, []byte(b.String()), 0o600)
	}
	// JSON escapes: rewrite the escaped event's needles as \u escapes in the file itself
	if err := jsonl("audit.jsonl", w.evs, nil); err != nil {
		return err
	}
	p := w.set.Files["audit.jsonl"]
	raw, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	raw = []byte(strings.Replace(string(raw), `"ESCAPED:eyJ`, `"ESCAPED:\u0065yJ`, 1))
	// redact: hostile test input
	if err := os.WriteFile(p, raw, 0o600); err != nil {
		return err
	}
	if err := jsonl("v1beta1.jsonl", w.eb1, nil); err != nil {
		return err
	}
	if err := jsonl("gke.jsonl", w.gke, nil); err != nil {
		return err
	}
	if err := jsonl("aks.jsonl", w.aks, nil); err != nil {
		return err
	}
	if err := jsonl("bad.jsonl", nil, w.bad); err != nil {
		return err
	}
	el, err := json.MarshalIndent(map[string]any{"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "metadata": map[string]any{}, "items": w.list}, "", "  ")
	if err != nil {
		return err
	}
	w.set.Files["eventlist.json"] = filepath.Join(dir, "eventlist.json")
	// redact: hostile test input
	return os.WriteFile(w.set.Files["eventlist.json"], el, 0o600)
}

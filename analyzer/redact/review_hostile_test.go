package redact

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"strings"
	"testing"
)

// Hostile review (h-hostile): shapes of secrets that nobody on the team planted, taken from
// the deploy tools and config files a cluster really holds. Each subtest failed on main at
// b4119e4; the value it names reached the stored event (redact.JSON is what ingest
// applies to every event before it is stored or indexed) or a finding message
// (redact.String). The promise under test is the README's: "A secret's value is never
// printed, indexed or written".

// hEvent is an audit event about res carrying body as its requestObject, compact like the
// ingest's re-encoding.
func hEvent(res, body string) string {
	return `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"9d3c0a52-0000-4000-8000-000000000001","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/shop/` + res + `","verb":"create","user":{"username":"alice"},"objectRef":{"resource":"` + res + `","namespace":"shop","name":"x"},"requestReceivedTimestamp":"2026-03-10T10:00:00.000000Z","stageTimestamp":"2026-03-10T10:00:00.000000Z","requestObject":` + body + `}`
}

func hB64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func hGzipB64(s string) string {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	_, _ = w.Write([]byte(s))
	_ = w.Close()
	return base64.StdEncoding.EncodeToString(b.Bytes())
}

type hCase struct {
	name, doc string
	// secrets: none of these may be in the redacted event (raw, base64 or URL-encoded)
	secrets []string
}

func runHostile(t *testing.T, cases []hCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mustNotHold(t, redactDoc(t, c.doc), c.secrets...)
		})
	}
}

// TestHostileFastPathUnsound: the fast path (candidate) must never skip a document that
// the slow path would change (fastpath.go's own contract, "It must never say no to such a
// document"). Each document below is redacted by jsonSlow, and stored as it came because
// candidate says no: the raw bytes do not spell the needle the way the automaton expects.
func TestHostileFastPathUnsound(t *testing.T) {
	cases := []hCase{
		// JSON allows "\/" for "/"; PHP's json_encode, some Java and log-shipper encoders
		// write it always. "://" never appears in the raw bytes.
		{"escaped slashes in a connection string", hEvent("pods", `{"kind":"Pod","spec":{"containers":[{"name":"a","args":["postgres:\/\/app:HSTL-slashes-pw1@db:5432/x"]}]}}`), []string{"HSTL-slashes-pw1"}},
		// a Secret manifest held as JSON in a ConfigMap value, or in a ConfigMap's own
		// last-applied annotation (Argo CD/Flux keep manifests like this): the quotes are
		// escaped, so `"kind":"secret` does not match
		{"secret manifest as JSON in a configmap value", hEvent("configmaps", `{"kind":"ConfigMap","data":{"manifest.json":`+quoteJSON(`{"apiVersion":"v1","kind":"Secret","metadata":{"name":"db"},"data":{"db":"`+hB64("HSTL-json-in-string")+`"}}`)+`}}`), []string{"HSTL-json-in-string"}},
		{"secret list as JSON in a last-applied annotation", hEvent("configmaps", `{"kind":"ConfigMap","metadata":{"name":"bundle","annotations":{"kubectl.kubernetes.io/last-applied-configuration":`+quoteJSON(`{"kind":"List","items":[{"kind":"Secret","data":{"a":"`+hB64("HSTL-list-in-annotation")+`"}}]}`)+`}}}`), []string{"HSTL-list-in-annotation"}},
		// user.extra holds lists of strings; a credential-named key with a list value is
		// redacted by the walker, but `"token":["` is not a follower the automaton knows
		{"user.extra credential list", `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"9d3c0a52-0000-4000-8000-000000000002","stage":"ResponseComplete","verb":"get","user":{"username":"alice","extra":{"access_token":["HSTL-extra-opaque-1"]}},"requestReceivedTimestamp":"2026-03-10T10:00:00.000000Z","stageTimestamp":"2026-03-10T10:00:00.000000Z"}`, []string{"HSTL-extra-opaque-1"}},
		{"credential key with a list value in a custom resource", hEvent("widgets", `{"kind":"Widget","spec":{"password":["HSTL-list-pw-2"]}}`), []string{"HSTL-list-pw-2"}},
		// JSON objects are unordered: an env entry written value first (a JSON patch built
		// by a script, any client that does not follow Go's field order)
		{"env entry with value before name", hEvent("pods", `{"kind":"Pod","spec":{"containers":[{"name":"a","env":[{"value":"HSTL-env-order-3","name":"DB_PASSWORD"}]}]}}`), []string{"HSTL-env-order-3"}},
		{"env entry added by a JSON patch, value first", hEvent("pods", `[{"op":"add","path":"/spec/containers/0/env/0","value":{"value":"HSTL-env-order-4","name":"DB_PASSWORD"}}]`), []string{"HSTL-env-order-4"}},
	}
	for _, c := range cases {
		t.Run(c.name+" (slow path redacts it)", func(t *testing.T) {
			if _, changed := jsonSlow([]byte(c.doc)); !changed {
				t.Fatalf("the slow path does not redact this document: the case is not a fast-path one")
			}
			if !candidate([]byte(c.doc)) {
				t.Errorf("candidate says no to a document the walker changes")
			}
		})
	}
	runHostile(t, cases)
}

// TestHostileCommandLines: the README promises command-line passwords ("mysql -p...",
// "--password ...") inside any string. A container's command is a JSON list, one argument
// per string, so "--password" and its value are never in the same string; and the most
// common ways of passing a password on a command line are not known.
func TestHostileCommandLines(t *testing.T) {
	runHostile(t, []hCase{
		{"--password and its value as two args", hEvent("pods", `{"kind":"Pod","spec":{"containers":[{"name":"db","image":"mysql:8","args":["--user","root","--password","HSTL-args-pw-1"]}]}}`), []string{"HSTL-args-pw-1"}},
		{"redis --requirepass in a command list", hEvent("deployments", `{"kind":"Deployment","spec":{"template":{"spec":{"containers":[{"name":"r","command":["redis-server","--requirepass","HSTL-requirepass-2"]}]}}}}`), []string{"HSTL-requirepass-2"}},
		{"curl -u user:password in a Job", hEvent("jobs", `{"kind":"Job","spec":{"template":{"spec":{"containers":[{"name":"c","command":["sh","-c","curl -fsS -u admin:HSTL-curl-u-3 https://grafana/api/admin"]}]}}}}`), []string{"HSTL-curl-u-3"}},
		{"redis-cli -a in a CronJob", hEvent("cronjobs", `{"kind":"CronJob","spec":{"jobTemplate":{"spec":{"template":{"spec":{"containers":[{"name":"c","command":["sh","-c","redis-cli -h redis -a HSTL-redis-a-4 BGSAVE"]}]}}}}}}`), []string{"HSTL-redis-a-4"}},
		{"PEM key split over args", hEvent("pods", `{"kind":"Pod","spec":{"containers":[{"name":"a","args":["-----BEGIN RSA PRIVATE KEY-----","MIIEpHSTLsplitPEMbody5","-----END RSA PRIVATE KEY-----"]}]}}`), []string{"MIIEpHSTLsplitPEMbody5"}},
	})
	// the same command lines in an exec requestURI: a finding message quotes them
	// (KS-EXEC-001's "alice exec into shop/web: curl -u ...") and goes through String
	for _, c := range []struct{ uri, secret string }{
		{"/api/v1/namespaces/shop/pods/web/exec?command=curl&command=-u&command=admin%3AHSTL-exec-curl-6&command=http%3A%2F%2F10.0.0.9%2F&container=web", "HSTL-exec-curl-6"},
		{"/api/v1/namespaces/shop/pods/web/exec?command=redis-cli&command=-a&command=HSTL-exec-redis-7&command=keys&container=web", "HSTL-exec-redis-7"},
		{"alice exec into shop/web: curl -u admin:HSTL-msg-curl-8 http://10.0.0.9/", "HSTL-msg-curl-8"},
	} {
		if got := String(c.uri); strings.Contains(got, c.secret) {
			t.Errorf("String keeps %q: %s", c.secret, got)
		}
	}
}

// TestHostileURLCredentials: "user:password@ in URLs" (README) misses URLs without a user
// (redis, amqp: the most common form for Redis) and passwords holding a '/', and presigned
// URLs carry their credential in a query parameter the detectors do not know.
func TestHostileURLCredentials(t *testing.T) {
	runHostile(t, []hCase{
		{"redis URL with an empty user", hEvent("configmaps", `{"kind":"ConfigMap","data":{"REDIS_URL":"redis://:HSTL-redis-nouser-1@redis-master:6379/0"}}`), []string{"HSTL-redis-nouser-1"}},
		{"password with a slash", hEvent("configmaps", `{"kind":"ConfigMap","data":{"DATABASE_URL":"postgres://app:HSTL/slash+pw2@db:5432/app"}}`), []string{"HSTL/slash+pw2"}},
		{"S3 presigned URL signature", hEvent("configmaps", `{"kind":"ConfigMap","data":{"backup":"https://b.s3.amazonaws.com/dump.gz?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20260310T100000Z&X-Amz-Expires=604800&X-Amz-SignedHeaders=host&X-Amz-Signature=HSTLamzsignature0123456789abcdef"}}`), []string{"HSTLamzsignature0123456789abcdef"}},
		{"Azure SAS sig", hEvent("configmaps", `{"kind":"ConfigMap","data":{"blob":"https://acct.blob.core.windows.net/c/f?sv=2022-11-02&ss=b&srt=o&sp=r&se=2026-04-01&sig=HSTLsassig0123456789abcdef%3D"}}`), []string{"HSTLsassig0123456789abcdef"}},
	})
}

// TestHostileConfigFiles: config files held in ConfigMap values (the README's "a config
// file held in a ConfigMap value" case of the text detectors) in the formats they really
// have.
func TestHostileConfigFiles(t *testing.T) {
	kubeconfig := "apiVersion: v1\nkind: Config\nclusters:\n- name: prod\n  cluster:\n    server: https://10.0.0.1:6443\nusers:\n- name: admin\n  user:\n    client-certificate-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t\n    client-key-data: " +
		hB64("-----BEGIN RSA PRIVATE KEY-----\nMIIEowHSTLkubeconfigKEYbody\n-----END RSA PRIVATE KEY-----\n") + "\n"
	runHostile(t, []hCase{
		// a kubeconfig with a client key: a cluster-admin credential in a ConfigMap
		{"kubeconfig client-key-data", hEvent("configmaps", `{"kind":"ConfigMap","data":{"kubeconfig":`+quoteJSON(kubeconfig)+`}}`),
			[]string{hB64("-----BEGIN RSA PRIVATE KEY-----\nMIIEowHSTLkubeconfigKEYbody\n-----END RSA PRIVATE KEY-----\n")}},
		// CredentialKey says DB_PASS is a credential; inside a string it is not
		{".env file with DB_PASS", hEvent("configmaps", `{"kind":"ConfigMap","data":{".env":"DB_HOST=db\nDB_USER=app\nDB_PASS=HSTL-dotenv-pass-1\n"}}`), []string{"HSTL-dotenv-pass-1"}},
		{".netrc", hEvent("configmaps", `{"kind":"ConfigMap","data":{".netrc":"machine github.com login ci-bot password HSTL-netrc-2\n"}}`), []string{"HSTL-netrc-2"}},
		{"Azure storage connection string", hEvent("configmaps", `{"kind":"ConfigMap","data":{"AZURE_STORAGE_CONNECTION_STRING":"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=HSTLazureAccountKey0123456789==;EndpointSuffix=core.windows.net"}}`), []string{"HSTLazureAccountKey0123456789=="}},
		// JSON in a string is decoded and walked (package comment); YAML is the format
		// manifests are kept in, and is only searched as text
		{"Secret manifest as YAML in a configmap", hEvent("configmaps", `{"kind":"ConfigMap","data":{"secret.yaml":"apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ntype: Opaque\ndata:\n  db-url: `+hB64("HSTL-yaml-secret-3")+`\n"}}`), []string{"HSTL-yaml-secret-3"}},
		{"server-side apply YAML body with an env password", hEvent("deployments", quoteJSON("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n      - name: web\n        env:\n        - name: DB_PASSWORD\n          value: HSTL-ssa-yaml-env-4\n")), []string{"HSTL-ssa-yaml-env-4"}},
		// Helm with HELM_DRIVER=configmap stores each release (its values: passwords) as
		// base64 of gzip in a ConfigMap labelled owner=helm
		{"Helm release in a configmap", hEvent("configmaps", `{"kind":"ConfigMap","metadata":{"name":"sh.helm.release.v1.db.v1","labels":{"owner":"helm","name":"db","version":"1"}},"data":{"release":"`+hGzipB64(`{"name":"db","config":{"auth":{"rootPassword":"HSTL-helm-root-5"}}}`)+`"}}`),
			[]string{hGzipB64(`{"name":"db","config":{"auth":{"rootPassword":"HSTL-helm-root-5"}}}`)}},
		{"docker config in binaryData", hEvent("configmaps", `{"kind":"ConfigMap","binaryData":{"config.json":"`+hB64(`{"auths":{"registry.example.com":{"auth":"`+hB64("ci:HSTL-docker-bin-6")+`"}}}`)+`"}}`),
			[]string{hB64(`{"auths":{"registry.example.com":{"auth":"` + hB64("ci:HSTL-docker-bin-6") + `"}}}`)}},
	})
}

// TestHostileNameValuePairs: GitOps and CI tools pass settings as {name, value} lists
// under other keys than env: Helm charts' extraEnvVars (set through a Flux HelmRelease or
// an Argo CD Application), Argo CD's helm.parameters, Tekton and Argo Workflows params.
// The env rule ("env entries whose name is credential-like") is bound to the key "env".
func TestHostileNameValuePairs(t *testing.T) {
	runHostile(t, []hCase{
		{"HelmRelease extraEnvVars", hEvent("helmreleases", `{"apiVersion":"helm.toolkit.fluxcd.io/v2","kind":"HelmRelease","spec":{"values":{"extraEnvVars":[{"name":"ADMIN_PASSWORD","value":"HSTL-extraenv-1"}]}}}`), []string{"HSTL-extraenv-1"}},
		{"Argo CD helm.parameters", hEvent("applications", `{"apiVersion":"argoproj.io/v1alpha1","kind":"Application","spec":{"source":{"helm":{"parameters":[{"name":"postgresql.auth.password","value":"HSTL-argo-param-2"}]}}}}`), []string{"HSTL-argo-param-2"}},
		{"Tekton params", hEvent("pipelineruns", `{"apiVersion":"tekton.dev/v1","kind":"PipelineRun","spec":{"params":[{"name":"registry-token","value":"HSTL-tekton-3"}]}}`), []string{"HSTL-tekton-3"}},
	})
}

// TestHostileCredentialValues: "values under credential-like keys" (README), whatever they
// look like. plausible() takes any value starting with '/' or '$' for a reference (a path,
// ${VAR}): one random base64 secret in 64 starts with '/'. Numbers and objects under a
// credential key are kept whole.
func TestHostileCredentialValues(t *testing.T) {
	runHostile(t, []hCase{
		{"base64 password starting with a slash", hEvent("configmaps", `{"kind":"ConfigMap","data":{"DB_PASSWORD":"/k3Jd9HSTLslashStart1+Qw=="}}`), []string{"/k3Jd9HSTLslashStart1+Qw=="}},
		{"password starting with a dollar", hEvent("widgets", `{"kind":"Widget","spec":{"adminPassword":"$HSTLdollarStart2!"}}`), []string{"$HSTLdollarStart2!"}},
		{"numeric password", hEvent("applications", `{"kind":"Application","spec":{"source":{"helm":{"valuesObject":{"redis":{"password":834729182736}}}}}}`), []string{"834729182736"}},
		{"password object", hEvent("widgets", `{"kind":"Widget","spec":{"password":{"value":"HSTL-pw-object-3"}}}`), []string{"HSTL-pw-object-3"}},
	})
}

// TestHostileSealedSecretTemplate: a SealedSecret's spec.template.data is copied, as is,
// into the Secret the controller makes: it is Secret data with no kind on the template.
func TestHostileSealedSecretTemplate(t *testing.T) {
	runHostile(t, []hCase{
		{"sealed secret template data", hEvent("sealedsecrets", `{"apiVersion":"bitnami.com/v1alpha1","kind":"SealedSecret","spec":{"encryptedData":{"password":"AgBy3i4OJSWK+PiTySYZZA=="},"template":{"type":"Opaque","data":{"username":"HSTL-sealed-tpl-1"}}}}`), []string{"HSTL-sealed-tpl-1"}},
	})
}

// TestHostileDuplicateKeys: the redactor decodes the document (the last of duplicate keys
// wins), finds nothing in what it decoded, and returns the raw bytes, which still hold the
// first value. A patch body is the client's bytes, logged as sent.
func TestHostileDuplicateKeys(t *testing.T) {
	for _, c := range []hCase{
		{"data given twice in a secret patch", hEvent("secrets", `{"data":{"password":"`+hB64("HSTL-dup-data-1")+`"},"data":null}`), []string{"HSTL-dup-data-1"}},
		{"kind given twice", hEvent("widgets", `{"kind":"Secret","data":{"k":"`+hB64("HSTL-dup-kind-2")+`"},"kind":"Widget"}`), []string{"HSTL-dup-kind-2"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, _ := JSON([]byte(c.doc)) // not redactDoc: the document is valid JSON, json.Valid agrees
			mustNotHold(t, string(out), c.secrets...)
		})
	}
}

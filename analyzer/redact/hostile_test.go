package redact

import (
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
)

// The shapes below are the ones that escaped the redactor when it was tried by people
// who did not write it (issue 11): each test failed before the redactor learned them.

const (
	canaryJWT = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImNhbmFyeSJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6Y2FuYXJ5In0.Q0FOQVJZLXNpZ25hdHVyZS12YWx1ZQ"
	canaryPEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpQIBAAKCAQEAcanaryPEMbody0123456789\n-----END RSA PRIVATE KEY-----"
	canaryPGP = "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQOYBGcanaryPGPbody0123456789\n-----END PGP PRIVATE KEY BLOCK-----"
)

func mustNotHold(t *testing.T, out string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		for _, form := range []string{s, base64.StdEncoding.EncodeToString([]byte(s)), url.QueryEscape(s)} {
			if len(form) >= 6 && strings.Contains(out, form) {
				t.Errorf("secret %q (as %q) still in %s", s, form, out)
			}
		}
	}
}

func redactDoc(t *testing.T, doc string) string {
	t.Helper()
	if !json.Valid([]byte(doc)) {
		t.Fatalf("test document is not JSON: %s", doc)
	}
	out, _ := JSON([]byte(doc))
	return string(out)
}

func quoteJSON(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestSecretCopiesOutsideData(t *testing.T) {
	orig := `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"db"},"data":{"password":"S0FQUC1DQU5BUlktdmFsdWU="}}`
	kapp := `{"auditID":"1","stage":"ResponseComplete","objectRef":{"resource":"secrets","name":"db"},"requestObject":{"kind":"Secret","metadata":{"name":"db","annotations":{"kapp.k14s.io/original":` + quoteJSON(orig) + `,"kapp.k14s.io/identity":"v1;shop/v1/Secret/db;v1"}},"data":{"password":"S0FQUC1DQU5BUlktdmFsdWU="}}}`
	out := redactDoc(t, kapp)
	mustNotHold(t, out, "S0FQUC1DQU5BUlktdmFsdWU=", "KAPP-CANARY-value")
	if !strings.Contains(out, "kapp.k14s.io/identity") {
		t.Errorf("annotation keys must stay: %s", out)
	}

	// a mutating webhook's patch, in the audit event's own annotations, on a Metadata event
	patch := `{"configuration":"inject","webhook":"inject.example.com","patch":[{"op":"add","path":"/data/password","value":"V0VCSE9PSy1DQU5BUlk="}],"patchType":"JSONPatch"}`
	ev := `{"auditID":"2","stage":"ResponseComplete","level":"Metadata","objectRef":{"resource":"secrets","name":"db"},"annotations":{"patch.webhook.admission.k8s.io/round_0_index_0":` + quoteJSON(patch) + `}}`
	out = redactDoc(t, ev)
	mustNotHold(t, out, "V0VCSE9PSy1DQU5BUlk=")
	if !strings.Contains(out, "inject.example.com") {
		t.Errorf("webhook name must stay: %s", out)
	}

	// a webhook patching a pod's env with a password
	podPatch := `{"configuration":"inject","webhook":"env.example.com","patch":[{"op":"add","path":"/spec/containers/0/env/-","value":{"name":"DB_PASSWORD","value":"ENV-PATCH-CANARY"}}],"patchType":"JSONPatch"}`
	ev = `{"auditID":"3","stage":"ResponseComplete","objectRef":{"resource":"pods","name":"p"},"annotations":{"patch.webhook.admission.k8s.io/round_0_index_1":` + quoteJSON(podPatch) + `}}`
	mustNotHold(t, redactDoc(t, ev), "ENV-PATCH-CANARY")

	// a Table response (kubectl get secrets -o wide asks for one) whose rows' objects carry no kind
	table := `{"auditID":"4","stage":"ResponseComplete","objectRef":{"resource":"secrets","namespace":"shop"},"responseObject":{"kind":"Table","apiVersion":"meta.k8s.io/v1","columnDefinitions":[{"name":"Name"}],"rows":[{"cells":["db","Opaque",1,"5d"],"object":{"metadata":{"name":"db"},"data":{"password":"VEFCTEUtQ0FOQVJZ"},"type":"Opaque"}}]}}`
	out = redactDoc(t, table)
	mustNotHold(t, out, "VEFCTEUtQ0FOQVJZ")
	if !strings.Contains(out, `"Opaque"`) {
		t.Errorf("cells must stay: %s", out)
	}

	// a copy of a Secret's value anywhere else in the same event
	ev = `{"auditID":"5","stage":"ResponseComplete","objectRef":{"resource":"secrets","name":"db"},"requestObject":{"kind":"Secret","stringData":{"pw":"COPY-CANARY-hunter22"},"metadata":{"labels":{"note":"COPY-CANARY-hunter22"}}}}`
	mustNotHold(t, redactDoc(t, ev), "COPY-CANARY-hunter22")
}

func TestEncodedSecrets(t *testing.T) {
	// a PEM key URL-encoded in an exec requestURI
	uri := "/api/v1/namespaces/shop/pods/web/exec?command=sh&command=-c&command=" + url.QueryEscape("echo '"+canaryPEM+"' > /tmp/k") + "&container=web"
	if !strings.Contains(uri, "BEGIN+RSA+PRIVATE+KEY") {
		t.Fatalf("test URI not encoded as expected: %s", uri)
	}
	got := String(uri)
	mustNotHold(t, got, "MIIEpQIBAAKCAQEAcanaryPEMbody0123456789")
	if !strings.Contains(got, "/exec?") {
		t.Errorf("the URI's path must stay: %s", got)
	}

	// JSON escapes that spell the needles
	for _, doc := range []string{
		`{"auditID":"6","stage":"ResponseComplete","objectRef":{"resource":"pods"},"userAgent":"\u0065yJhbGciOiJSUzI1NiIsImtpZCI6ImNhbmFyeSJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6Y2FuYXJ5In0.Q0FOQVJZLXNpZ25hdHVyZS12YWx1ZQ"}`,
		`{"auditID":"7","stage":"ResponseComplete","objectRef":{"resource":"x"},"responseObject":{"kind":"S\u0065cret","data":{"k":"RVNDQVBFLUNBTkFSWQ=="}}}`,
		`{"auditID":"8","stage":"ResponseComplete","objectRef":{"resource":"x"},"requestObject":{"note":"-----BEGIN RSA PRIVATE\u0020KEY-----\nMIIEpQIBAAKCAQEAcanaryPEMbody0123456789\n-----END RSA PRIVATE KEY-----"}}`,
	} {
		mustNotHold(t, redactDoc(t, doc), "Q0FOQVJZLXNpZ25hdHVyZS12YWx1ZQ", "RVNDQVBFLUNBTkFSWQ==", "MIIEpQIBAAKCAQEAcanaryPEMbody0123456789")
	}
}

func TestCredentialsRulesFlag(t *testing.T) {
	cases := map[string]struct{ doc, secret string }{
		"configmap password key":                  {`{"auditID":"9","stage":"ResponseComplete","objectRef":{"resource":"configmaps"},"requestObject":{"kind":"ConfigMap","data":{"DB_PASSWORD":"CM-CANARY-pw1"}}}`, "CM-CANARY-pw1"},
		"configmap key without kind (patch body)": {`{"auditID":"10","stage":"ResponseComplete","objectRef":{"resource":"configmaps"},"requestObject":{"data":{"api_key":"CM-CANARY-pw2"}}}`, "CM-CANARY-pw2"},
		"aws pair in a properties value":          {`{"auditID":"11","stage":"ResponseComplete","objectRef":{"resource":"configmaps"},"requestObject":{"kind":"ConfigMap","data":{"app.properties":"aws.accessKeyId=AKIAABCDEFGHIJKLMNOP\naws.secretKey=wJalrXUtnFEMIK7MDENGbPxRfiCYCANARYKEY\n"}}}`, "wJalrXUtnFEMIK7MDENGbPxRfiCYCANARYKEY"},
		"aws key id":                              {`{"auditID":"12","stage":"ResponseComplete","objectRef":{"resource":"configmaps"},"requestObject":{"kind":"ConfigMap","data":{"app.properties":"aws.accessKeyId=AKIAABCDEFGHIJKLMNOP\n"}}}`, "AKIAABCDEFGHIJKLMNOP"},
		"connection string":                       {`{"auditID":"13","stage":"ResponseComplete","objectRef":{"resource":"configmaps"},"requestObject":{"kind":"ConfigMap","data":{"url":"postgres://app:CONN-CANARY-pw@db:5432/app"}}}`, "CONN-CANARY-pw"},
		"pem in a configmap value":                {`{"auditID":"14","stage":"ResponseComplete","objectRef":{"resource":"configmaps"},"requestObject":{"kind":"ConfigMap","data":{"tls.key":` + quoteJSON(canaryPEM) + `}}}`, "MIIEpQIBAAKCAQEAcanaryPEMbody0123456789"},
		"pgp private key":                         {`{"auditID":"15","stage":"ResponseComplete","objectRef":{"resource":"configmaps"},"requestObject":{"kind":"ConfigMap","data":{"signing.asc":` + quoteJSON(canaryPGP) + `}}}`, "lQOYBGcanaryPGPbody0123456789"},
		"tokenreview spec.token":                  {`{"auditID":"16","stage":"ResponseComplete","objectRef":{"resource":"tokenreviews"},"requestObject":{"kind":"TokenReview","spec":{"token":"opaque-TR-CANARY-token"}}}`, "opaque-TR-CANARY-token"},
		"literal env password":                    {`{"auditID":"17","stage":"ResponseComplete","objectRef":{"resource":"deployments"},"requestObject":{"kind":"Deployment","spec":{"template":{"spec":{"containers":[{"name":"a","env":[{"name":"MYSQL_ROOT_PASSWORD","value":"ENV-CANARY-pw"}]}]}}}}}`, "ENV-CANARY-pw"},
		"mysql -p in exec":                        {`{"auditID":"18","stage":"ResponseStarted","objectRef":{"resource":"pods","subresource":"exec"},"requestURI":"/api/v1/namespaces/db/pods/m/exec?command=mysql\u0026command=-uroot\u0026command=-pMYSQL-CANARY-pw\u0026container=m"}`, "MYSQL-CANARY-pw"},
		"token query value":                       {`{"auditID":"19","stage":"ResponseComplete","objectRef":{"resource":"pods"},"requestURI":"/api/v1/pods?watch=1\u0026token=QUERY-CANARY-tok"}`, "QUERY-CANARY-tok"},
		"bearer on an exec command":               {`{"auditID":"20","stage":"ResponseStarted","objectRef":{"resource":"pods","subresource":"exec"},"requestURI":"/api/v1/namespaces/a/pods/b/exec?command=curl\u0026command=-H\u0026command=Authorization%3A+Bearer+` + canaryJWT + `\u0026command=https%3A%2F%2Fkubernetes"}`, "Q0FOQVJZLXNpZ25hdHVyZS12YWx1ZQ"},
		"opaque bearer on exec":                   {`{"auditID":"21","stage":"ResponseStarted","objectRef":{"resource":"pods","subresource":"exec"},"requestURI":"/api/v1/namespaces/a/pods/b/exec?command=curl\u0026command=-H\u0026command=Authorization%3A+Bearer+OPAQUE-CANARY-tok123\u0026command=https%3A%2F%2Fkubernetes"}`, "OPAQUE-CANARY-tok123"},
		"jwt username and user agent":             {`{"auditID":"22","stage":"ResponseComplete","user":{"username":"` + canaryJWT + `","extra":{"token":["` + canaryJWT + `"]}},"userAgent":"curl/8 token=UA-CANARY-tok"}`, "Q0FOQVJZLXNpZ25hdHVyZS12YWx1ZQ"},
		"user agent token":                        {`{"auditID":"23","stage":"ResponseComplete","user":{"username":"x"},"userAgent":"script/1.0 token=UA-CANARY-tok"}`, "UA-CANARY-tok"},
		"crd field":                               {`{"auditID":"24","stage":"ResponseComplete","objectRef":{"resource":"databases"},"requestObject":{"kind":"Database","spec":{"adminPassword":"CRD-CANARY-pw"}}}`, "CRD-CANARY-pw"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			out := redactDoc(t, c.doc)
			mustNotHold(t, out, c.secret)
			// what the redactor replaces, a rule finds (the same code)
			var v any
			_ = json.Unmarshal([]byte(c.doc), &v)
			m := v.(map[string]any)
			found := len(Find(m, "")) > 0
			if !found {
				t.Errorf("Find saw no secret material in %s", c.doc)
			}
		})
	}
}

// Ordinary objects stay as they are: the redactor must not rewrite the log.
func TestBenignUnchanged(t *testing.T) {
	for _, doc := range []string{
		`{"auditID":"a","stage":"ResponseComplete","verb":"create","objectRef":{"resource":"pods","namespace":"shop","name":"web"},"requestObject":{"kind":"Pod","spec":{"automountServiceAccountToken":false,"serviceAccountName":"web","volumes":[{"name":"kube-api-access","projected":{"sources":[{"serviceAccountToken":{"expirationSeconds":3607,"path":"token"}}]}},{"name":"certs","secret":{"secretName":"web-tls"}}],"containers":[{"name":"web","image":"nginx:1.27","env":[{"name":"DB_PASSWORD","valueFrom":{"secretKeyRef":{"name":"db","key":"password"}}},{"name":"TOKEN_FILE","value":"/var/run/secrets/token"},{"name":"LOG_LEVEL","value":"debug"}]}]}}}`,
		`{"auditID":"b","stage":"ResponseComplete","verb":"get","objectRef":{"resource":"secrets","namespace":"shop","name":"db"},"requestURI":"/api/v1/namespaces/shop/secrets/db","user":{"username":"system:serviceaccount:shop:web"},"annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":"RBAC: allowed by RoleBinding \"read-secrets/shop\""}}`,
		`{"auditID":"c","stage":"ResponseComplete","verb":"create","objectRef":{"resource":"serviceaccounts","subresource":"token","name":"web"},"requestURI":"/api/v1/namespaces/shop/serviceaccounts/web/token","requestObject":{"kind":"TokenRequest","spec":{"audiences":["https://kubernetes.default.svc"],"expirationSeconds":3600}}}`,
		`{"auditID":"d","stage":"ResponseComplete","verb":"update","objectRef":{"resource":"configmaps"},"requestObject":{"kind":"ConfigMap","data":{"password_policy":"strong","token.ttl":"3600"}}}`,
	} {
		out, changed := JSON([]byte(doc))
		if changed {
			t.Errorf("benign document changed:\nin  %s\nout %s", doc, out)
		}
	}
}

func TestCredentialKey(t *testing.T) {
	yes := []string{"password", "DB_PASSWORD", "db.password", "clientSecret", "aws_secret_access_key", "secretAccessKey", "APIKey", "api-key", "token", "GITHUB_TOKEN", "auth", "passwd", "MYSQL_ROOT_PASSWORD", "privateKey"}
	no := []string{"secretName", "passwordFile", "tokenExpiration", "access_key_id", "tokenreviews", "secrets", "key", "password_policy", "token.ttl", "serviceAccountName", "kind", "TOKEN_FILE"}
	for _, k := range yes {
		if !CredentialKey(k) {
			t.Errorf("CredentialKey(%q) = false", k)
		}
	}
	for _, k := range no {
		if CredentialKey(k) {
			t.Errorf("CredentialKey(%q) = true", k)
		}
	}
}

func TestWriterRedactsLines(t *testing.T) {
	var b strings.Builder
	w := NewWriter(&b)
	// a line written in pieces, a progress line ended by \r, and a partial last line
	for _, p := range []string{"exec: curl -H 'Authorization: Bearer ", canaryJWT[:20], canaryJWT[20:], "'\n", "12% \r", "last " + canaryJWT} {
		if _, err := w.Write([]byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	mustNotHold(t, b.String(), canaryJWT)
	if !strings.Contains(b.String(), "12% \r") || !strings.Contains(b.String(), "last sha256:") {
		t.Errorf("writer output: %q", b.String())
	}
}

func TestExecCommandLine(t *testing.T) {
	uri := "/api/v1/namespaces/a/pods/b/exec?command=curl&command=-sk&command=-H&command=Authorization%3A&command=Bearer&command=OPAQUE-CANARY-123&command=https%3A%2F%2Fk&container=c"
	got := String(uri)
	mustNotHold(t, got, "OPAQUE-CANARY-123")
	for _, keep := range []string{"command=curl", "command=-sk", "command=https%3A%2F%2Fk", "&container=c", "command=sha256%3A"} {
		if !strings.Contains(got, keep) {
			t.Errorf("%q missing from %s", keep, got)
		}
	}
	got = String("/x/exec?command=sh&command=-c&command=mysql+-uroot+-pJOINED-CANARY-pw+db")
	mustNotHold(t, got, "JOINED-CANARY-pw")
}

// BenchmarkWriterLongLine: a megabyte line written a few bytes at a time (tabwriter's
// padding) must cost linear time; it took minutes when each write searched the line.
func BenchmarkWriterLongLine(b *testing.B) {
	piece := []byte("xxxxxxxx")
	for i := 0; i < b.N; i++ {
		var sink strings.Builder
		w := NewWriter(&sink)
		for j := 0; j < 128<<10; j++ {
			_, _ = w.Write(piece)
		}
		_, _ = w.Write([]byte("\n"))
	}
}

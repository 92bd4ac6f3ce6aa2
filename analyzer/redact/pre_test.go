package redact

import (
	"math/rand"
	"strings"
	"testing"
)

// A rule's pre is a condition its regexp cannot match without: whenever the regexp
// matches, pre holds. Crafted cases, then user:password URLs and presigned URLs mutated
// with the characters that matter.
func TestPreIsNecessary(t *testing.T) {
	cases := []string{
		"postgres://app:hunter2hunter@db:5432/x", "https://u:p@h", "see https://a.b/c and mysql://u:p@h",
		"http://x:8080/path", "https://microsoft.github.io/Threat-Matrix-for-Kubernetes/", "a://b:c", "a://:c@d", "a://b:@d",
		"x://b:c d@e", "x://b:c/d@e", "x://b:c\"@e", "x://é:ü@ö", "redis://:pw@h", "ftp://u:p@", "://u:p@h", "s3://a:b@c://d:e@f",
		"x://b:c?d@e", "x://b:c#d@e", "x://b:c:d@e", "x://:@e",
	}
	// user:password URLs, then one to three characters inserted, deleted or replaced by
	// the ones that matter
	rng := rand.New(rand.NewSource(1))
	special := []rune{'a', 'Z', '1', ':', '/', '@', ' ', '\t', '"', '\'', '.', '+', 'é', '?', '#'}
	safe := []rune{'a', 'Z', '1', '.', '+', 'é', '-'}
	word := func() string {
		var b []rune
		for n := 1 + rng.Intn(4); n > 0; n-- {
			b = append(b, safe[rng.Intn(len(safe))])
		}
		return string(b)
	}
	cases = append(cases, "https://b.s3.amazonaws.com/k?X-Amz-Signature=abc&x=1", "https://x/y?sig=abc", "a;signature=b", "?sig", "&sig=")
	for i := 0; i < 200000; i++ {
		r := []rune(word() + " pg" + word() + "://" + word() + ":" + word() + "@" + word())
		if i%2 == 1 {
			r = []rune("https://" + word() + "/" + word() + "?x=" + word() + "&sig=" + word())
		}
		for n := rng.Intn(4); n > 0; n-- {
			j := rng.Intn(len(r))
			switch rng.Intn(3) {
			case 0:
				r = append(r[:j], append([]rune{special[rng.Intn(len(special))]}, r[j:]...)...)
			case 1:
				r = append(r[:j], r[j+1:]...)
			default:
				r[j] = special[rng.Intn(len(special))]
			}
		}
		cases = append(cases, string(r))
	}
	// key=value assignments in every spelling the key=value rules take, mutated with the
	// characters that matter to them
	kv := []string{"password", "PGPASSWORD", "db.passwd", "passphrase", "pwd", "secret", "secretKey", "secret_access_key", "aws.secret.access-key",
		"token", "X-API-KEY", "api_key", "accessKey", "private.key", "credential", "credentials", "DB_PASS", "client-key-data", "AccountKey",
		"SharedAccessSignature", "shared_access_key"}
	kvSpecial := []rune{'=', ':', '"', '\\', ' ', '\t', '\n', '_', '.', '-', 'a', 'K', 'é', '&', ';'}
	for i := 0; i < 100000; i++ {
		k := kv[rng.Intn(len(kv))]
		sep := []string{"=", ": ", "\":\"", "\\\":\\\"", " = ", "\t:", "="}[rng.Intn(7)]
		r := []rune(word() + " " + k + sep + word() + word())
		for n := rng.Intn(4); n > 0; n-- {
			j := rng.Intn(len(r))
			switch rng.Intn(3) {
			case 0:
				r = append(r[:j], append([]rune{kvSpecial[rng.Intn(len(kvSpecial))]}, r[j:]...)...)
			case 1:
				r = append(r[:j], r[j+1:]...)
			default:
				r[j] = kvSpecial[rng.Intn(len(kvSpecial))]
			}
		}
		cases = append(cases, string(r))
	}
	rules := 0
	for _, r := range textRules {
		if r.pre == nil {
			continue
		}
		rules++
		matched := 0
		for _, s := range cases {
			if r.re.MatchString(s) {
				matched++
				if !r.pre(s) {
					t.Fatalf("%v: the regexp matches %q but pre says it cannot", r.needles, s)
				}
			}
		}
		t.Logf("%v: %d of %d strings match", r.needles, matched, len(cases))
		if matched < 5000 || matched > len(cases)-5000 {
			t.Errorf("%v: %d strings matched: the check proves little", r.needles, matched)
		}
	}
	if rules != 4 {
		t.Errorf("%d rules with pre", rules)
	}
	for _, s := range []string{"https://microsoft.github.io/Threat-Matrix-for-Kubernetes/techniques/Exec%20into%20container/", "http://x:8080/path"} {
		if userinfoURL(s) {
			t.Errorf("userinfoURL(%q): a URL without user:password@ should not run the regexp", s)
		}
	}
	if got := String("postgres://app:hunter2hunter@db:5432/x"); strings.Contains(got, "hunter2hunter") {
		t.Errorf("password kept: %s", got)
	}
}

// BenchmarkURLString: a finding message that cites four URLs (a Sigma rule's attribution).
func BenchmarkURLString(b *testing.B) {
	s := "Privileged Container Deployed (Sigma rule by Leo Tsaousis (@laripping); references: https://microsoft.github.io/Threat-Matrix-for-Kubernetes/techniques/Privileged%20container/ https://docs.aws.amazon.com/guardduty/latest/ug/guardduty_finding-types-kubernetes.html#privilegeescalation-kubernetes-privilegedcontainer https://www.elastic.co/guide/en/security/current/kubernetes-pod-created-with-hostnetwork.html https://www.elastic.co/guide/en/security/current/kubernetes-container-created-with-excessive-linux-capabilities.html)"
	for i := 0; i < b.N; i++ {
		String(s)
	}
}

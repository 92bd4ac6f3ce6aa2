package secrets

import (
	"regexp"
	"strings"
)

// valuePatterns recognise credentials by their shape. Each is anchored on a marker that
// is rare in ordinary configuration, to keep ConfigMap findings worth reading.
var valuePatterns = []struct {
	name string
	re   *regexp.Regexp
}{
	{"private-key", regexp.MustCompile(`-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY( BLOCK)?-----`)},
	{"aws-access-key", regexp.MustCompile(`\b(?:AKIA|ASIA)[0-9A-Z]{16}\b`)},
	{"gcp-service-account-key", regexp.MustCompile(`"type"\s*:\s*"service_account"`)},
	{"github-token", regexp.MustCompile(`\b(?:ghp|gho|ghs|ghu|github_pat)_[A-Za-z0-9_]{20,}`)},
	{"slack-token", regexp.MustCompile(`\bxox[abprs]-[A-Za-z0-9-]{10,}`)},
	{"jwt", regexp.MustCompile(`\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}`)},
	{"url-with-password", regexp.MustCompile(`[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]{3,}@`)},
	{"azure-storage-key", regexp.MustCompile(`AccountKey=[A-Za-z0-9+/=]{40,}`)},
	{"password-assignment", regexp.MustCompile(`(?i)\b(?:password|passwd|pwd|secret|api[_-]?key|token)\s*[:=]\s*["']?[^\s"'$<{]{6,}`)},
}

// secretKeyNames are data key names that say "credential" on their own.
var secretKeyNames = []string{"password", "passwd", "secret", "token", "apikey", "api_key", "api-key",
	"private_key", "private-key", "privatekey", "credentials", "access_key", "secret_key", "client_secret"}

// placeholder values that name a credential without being one.
var placeholders = map[string]bool{"": true, "changeme": true, "xxx": true, "<none>": true, "none": true, "null": true, "true": true, "false": true}

// secretLike names what makes a ConfigMap entry look like a credential ("" for nothing).
// It looks at the value's shape first, then at a credential-like key name with a
// non-trivial value.
func secretLike(key, val string) string {
	for _, p := range valuePatterns {
		if p.re.MatchString(val) {
			return p.name
		}
	}
	lk := strings.ToLower(key)
	for _, n := range secretKeyNames {
		if strings.Contains(lk, n) {
			v := strings.TrimSpace(val)
			if len(v) >= 6 && !placeholders[strings.ToLower(v)] && !strings.ContainsAny(v, " \n") && !strings.HasPrefix(v, "/") {
				return "credential-named key (" + n + ")"
			}
		}
	}
	return ""
}

package redact

import (
	"encoding/base64"
	"net/url"
	"regexp"
	"strings"
)

// Text detectors: credentials that can sit inside any string (a command line, a URI, a
// header, a config file held in a ConfigMap value, a log message). Each names the part of
// the match that is the secret; only that part is replaced, so that "Authorization:
// Bearer sha256:..." still tells a reader what was there.
type textRule struct {
	kind string
	re   *regexp.Regexp
	// group is the submatch that holds the secret (0: the whole match)
	group int
	// needles: the lowercased string must contain one of these for the regexp to run
	needles []string
	// check, when set, must accept the match (the secret's text) for it to count
	check func(string) bool
}

var textRules = []textRule{
	{kind: "jwt", re: regexp.MustCompile(`eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*`), needles: []string{"eyj"}},
	// PEM and PGP private keys; an unterminated block runs to the end of the string
	{kind: "private-key", re: regexp.MustCompile(`-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?(?:-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|$)`), needles: []string{"private key"}},
	// Authorization headers (curl -H, wget --header, a logged header line)
	{kind: "credential", re: regexp.MustCompile(`(?i)\b(?:proxy-)?authori[sz]ation\s*[:=]\s*(?:(?:bearer|basic|token|negotiate|digest|apikey)\s+)?([^\s"',;&]{4,})`), group: 1, needles: []string{"authori"}},
	{kind: "credential", re: regexp.MustCompile(`(?i)\bbearer\s+([A-Za-z0-9\-._~+/]{8,}=*)`), group: 1, needles: []string{"bearer"}},
	// key=value and key: value with a credential-like key (config files, query strings,
	// env assignments, JSON held in a string)
	{kind: "credential", re: regexp.MustCompile(`(?i)(?:password|passwd|passphrase|pwd|secret(?:[_.-]?(?:access[_.-]?)?key)?|token|api[_.-]?key|access[_.-]?key|private[_.-]?key|credentials?)(?:\\?")?\s*[=:]\s*(?:\\?")?([^\s"'&;,<>{}\[\]\\]{3,})`), group: 1,
		needles: []string{"pass", "pwd", "secret", "token", "key", "credential"}},
	// command-line passwords: mysql -pSECRET, --password SECRET, sshpass -p SECRET; in
	// an exec requestURI the arguments are separated by &command=
	{kind: "credential", re: regexp.MustCompile(`(?i)\b(?:mysql|mysqldump|mysqladmin|mariadb|mariadb-dump)\b[^\n]*?(?:\s|&command=|\bcommand=)-p([^\s&"']+)`), group: 1, needles: []string{"mysql", "mariadb"}},
	{kind: "credential", re: regexp.MustCompile(`(?i)(?:--password|--passwd|--token|--client-secret|--requirepass|--masterauth|--auth-token|--api-key|--secret-key|--access-key|\bsshpass\s+-p)(?:\s+|&command=)([^\s&"'-][^\s&"']*)`), group: 1,
		needles: []string{"--pass", "--token", "--client-secret", "sshpass", "--requirepass", "--masterauth", "--auth-token", "--api-key", "--secret-key", "--access-key"}},
	// the same key words spelled short and bare: DB_PASS=, .env files
	{kind: "credential", re: regexp.MustCompile(`(?i)(?:^|[^a-z0-9])(?:pass|client[_.-]key[_.-]data|account[_.-]?key|shared[_.-]?access[_.-]?key|shared[_.-]?access[_.-]?signature)(?:\\?")?\s*[=:]\s*(?:\\?")?([^\s"'&;,<>{}\[\]\\]{3,})`), group: 1,
		needles: []string{"pass", "key", "signature"}},
	// signatures of presigned URLs (S3, GCS) and Azure SAS tokens
	{kind: "credential", re: regexp.MustCompile(`(?i)[?&;](?:x-amz-signature|x-amz-credential|x-amz-security-token|x-goog-signature|x-goog-credential|sig|signature)=([^&\s"'#]+)`), group: 1,
		needles: []string{"sig"}},
	// .netrc: machine HOST login USER password PASSWORD
	{kind: "credential", re: regexp.MustCompile(`(?i)\b(?:machine|login)\s+\S+[^\n]*?\bpassword\s+(\S+)`), group: 1, needles: []string{"password"}},
	// curl -u user:password, --user, --proxy-user (also as exec arguments)
	{kind: "credential", re: regexp.MustCompile(`(?:^|\s|&command=|\bcommand=)(?:-u|--user|--proxy-user|-U)(?:\s+|&command=|=)[^\s&:"']*:([^\s&"']+)`), group: 1, needles: []string{"-u", "--user", "-U"}},
	// redis-cli -a PASSWORD
	{kind: "credential", re: regexp.MustCompile(`(?i)\bredis-cli\b[^\n]*?(?:\s|&command=)-a(?:\s+|&command=)([^\s&"']+)`), group: 1, needles: []string{"redis-cli"}},
	// user:password@ in URLs and connection strings (an empty user: redis://:password@)
	{kind: "credential", re: regexp.MustCompile(`\b[A-Za-z][A-Za-z0-9+.-]{1,20}://[^\s:/@"']*:([^\s@"'?#]+)@`), group: 1, needles: []string{"://"}},
	// a PEM private key in base64 (a kubeconfig's client-key-data, a Secret copied into
	// a ConfigMap)
	{kind: "private-key", re: regexp.MustCompile(`LS0tLS1CRUdJTi[A-Za-z0-9+/]{20,}={0,2}`), needles: []string{"ls0tls1crudjti"},
		check: func(m string) bool {
			d, err := base64.StdEncoding.DecodeString(m)
			if err != nil {
				d, _ = base64.RawStdEncoding.DecodeString(strings.TrimRight(m, "="))
			}
			return strings.Contains(string(d), "PRIVATE KEY")
		}},
	// well-known token formats
	{kind: "credential", re: regexp.MustCompile(`\b(?:AKIA|ASIA)[A-Z0-9]{16}\b|\bghp_[A-Za-z0-9]{30,}|\bgithub_pat_[A-Za-z0-9_]{22,}|\bglpat-[A-Za-z0-9_-]{20,}|\bxox[abprs]-[A-Za-z0-9-]{10,}|\bsk_live_[A-Za-z0-9]{16,}|\bAIza[0-9A-Za-z_-]{35}`),
		needles: []string{"akia", "asia", "ghp_", "github_pat_", "glpat-", "xox", "sk_live_", "aiza"}},
}

// allNeedles is every detector's needles: a string that holds none of them (in any
// case) holds no secret the detectors know.
var allNeedles = func() []string {
	var out []string
	for _, r := range textRules {
		out = append(out, r.needles...)
	}
	return out
}()

// plausible tells a captured value from words that follow a credential-like key in
// ordinary text ("token: none", "password=false") and from values already redacted.
func plausible(v string) bool {
	if IsFingerprint(v) || strings.HasPrefix(v, "sha256:") {
		return false
	}
	switch strings.ToLower(v) {
	case "true", "false", "null", "nil", "none", "yes", "no", "empty", "redacted", "xxx", "***", "<redacted>":
		return false
	}
	return !looksLikeReference(v)
}

// looksLikeReference tells a pointer to a secret (a file path, an env or template
// reference) from the secret itself. A path has at least two segments of ordinary file
// name characters: one random base64 secret in 64 starts with '/', and is no path.
func looksLikeReference(s string) bool {
	if strings.HasPrefix(s, "${") || strings.HasPrefix(s, "$(") || strings.HasPrefix(s, "{{") {
		return true
	}
	if strings.HasPrefix(s, "./") {
		s = s[1:]
	}
	if !strings.HasPrefix(s, "/") || strings.Count(s, "/") < 2 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '/' || c == '.' || c == '_' || c == '-' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// span is a detected secret inside a string.
type span struct {
	start, end int
	kind       string
}

// spans finds the secrets in s (lower is s lowercased), left to right, without overlaps.
func spans(s, lower string) []span {
	var out []span
	for i := range textRules {
		r := &textRules[i]
		if !containsAny(lower, r.needles) {
			continue
		}
		for _, m := range r.re.FindAllStringSubmatchIndex(s, -1) {
			a, b := m[2*r.group], m[2*r.group+1]
			if a < 0 || a == b {
				continue
			}
			if r.kind == "credential" && !plausible(s[a:b]) {
				continue
			}
			if r.check != nil && !r.check(s[a:b]) {
				continue
			}
			out = append(out, span{a, b, r.kind})
		}
	}
	if len(out) < 2 {
		return out
	}
	// sort by start, merge overlaps (a JWT after "Bearer " is found twice)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].start < out[j-1].start; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	merged := out[:1]
	for _, sp := range out[1:] {
		last := &merged[len(merged)-1]
		if sp.start < last.end {
			if sp.end > last.end {
				last.end = sp.end
			}
			continue
		}
		merged = append(merged, sp)
	}
	return merged
}

func containsAny(s string, needles []string) bool {
	for _, n := range needles {
		if strings.Contains(s, n) {
			return true
		}
	}
	return false
}

// lowerASCII lowercases ASCII letters only (what the needles need), without allocating
// when there is nothing to lower.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; 'A' <= c && c <= 'Z' {
					b[j] = c + 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// String replaces every secret found in s by its fingerprint: JWTs, PEM and PGP private
// keys, Authorization header values, bearer tokens, values of credential-like keys
// (password=, token: ...), command-line passwords (mysql -p..., --password ...),
// passwords in URLs (scheme://user:password@host) and well-known token formats (AWS
// access key IDs, GitHub, GitLab, Slack, Stripe, Google API keys). A string that is
// URL-encoded (a requestURI's query) is also checked decoded; when the decoded form holds a
// secret, the decoded form is returned with it replaced.
func String(s string) string {
	out, _ := stringKinds(s, nil)
	return out
}

// stringKinds is String, also reporting the kinds found (for Find).
func stringKinds(s string, kinds *[]string) (string, bool) {
	if len(s) < 8 {
		return s, false
	}
	if strings.Contains(s, "command=") {
		if r, changed := execURI(s, kinds); changed {
			out, _ := stringKinds(r, kinds)
			return out, true
		}
	}
	lower := lowerASCII(s)
	var sp []span
	if containsAny(lower, allNeedles) {
		sp = spans(s, lower)
	}
	if len(sp) == 0 {
		if d, ok := urlDecoded(s); ok {
			if r, changed := stringKinds(d, kinds); changed {
				return r, true
			}
		}
		return s, false
	}
	var b strings.Builder
	b.Grow(len(s))
	prev := 0
	for _, x := range sp {
		b.WriteString(s[prev:x.start])
		b.WriteString(Fingerprint([]byte(s[x.start:x.end])))
		prev = x.end
		if kinds != nil {
			*kinds = append(*kinds, x.kind)
		}
	}
	b.WriteString(s[prev:])
	return b.String(), true
}

// urlDecoded decodes %XX escapes and '+' (as a query string does), tolerating malformed
// escapes; ok is false when s has nothing to decode.
func urlDecoded(s string) (string, bool) {
	if !strings.ContainsAny(s, "%+") {
		return s, false
	}
	var b strings.Builder
	b.Grow(len(s))
	changed := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '+':
			b.WriteByte(' ')
			changed = true
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
			changed = true
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), changed
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// execURI redacts the command of an exec or attach requestURI as the command line it is:
// the arguments (command=curl&command=-H&command=Authorization: Bearer ...) are joined
// with spaces, the detectors run on that line, and each argument a secret overlaps is
// rewritten (its part of the secret becomes the fingerprint of the whole secret).
func execURI(s string, kinds *[]string) (string, bool) {
	q := strings.IndexByte(s, '?')
	if q < 0 {
		return s, false
	}
	parts := strings.Split(s[q+1:], "&")
	type arg struct {
		part       int
		val        string
		start, end int
	}
	var args []arg
	var line strings.Builder
	for i, p := range parts {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k != "command" {
			continue
		}
		dv, _ := urlDecoded(v)
		if line.Len() > 0 {
			line.WriteByte(' ')
		}
		start := line.Len()
		line.WriteString(dv)
		args = append(args, arg{i, dv, start, line.Len()})
	}
	if len(args) == 0 {
		return s, false
	}
	cl := line.String()
	sp := spans(cl, lowerASCII(cl))
	if len(sp) == 0 {
		return s, false
	}
	for ai := range args {
		a := &args[ai]
		out := a.val
		// spans right to left, so that earlier offsets stay valid
		for i := len(sp) - 1; i >= 0; i-- {
			x := sp[i]
			lo, hi := max(x.start, a.start), min(x.end, a.end)
			if lo >= hi {
				continue
			}
			rep := ""
			if lo == x.start { // the argument where the secret starts
				rep = Fingerprint([]byte(cl[x.start:x.end]))
			}
			out = out[:lo-a.start] + rep + out[hi-a.start:]
		}
		if out != a.val {
			parts[a.part] = "command=" + url.QueryEscape(out)
		}
	}
	if kinds != nil {
		for _, x := range sp {
			*kinds = append(*kinds, x.kind)
		}
	}
	return s[:q+1] + strings.Join(parts, "&"), true
}

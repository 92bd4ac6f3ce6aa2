package redact

import "bytes"

// The fast path. Decoding, walking and re-encoding an event costs ~25 µs; most events of a
// log hold nothing to redact, and the needles the detectors start from ("auth",
// "credential", "secret") appear in almost every event ("authorization.k8s.io/decision",
// "authentication.kubernetes.io/credential-id" in user.extra). candidate answers from the
// raw bytes, in one pass of an Aho-Corasick automaton over case-folded bytes, whether a
// document may hold anything the walker or a text detector would replace. It must never
// say no to such a document: TestFastPathIsSound checks it against the slow path on every
// fixture, with hostile values planted in each.

// A pattern found in the raw bytes, and what to check where it ends.
type fpPattern struct {
	text  string
	check func(doc []byte, end int) bool
}

func always([]byte, int) bool { return true }

var fpPatterns = func() []fpPattern {
	var ps []fpPattern
	add := func(check func([]byte, int) bool, texts ...string) {
		for _, t := range texts {
			ps = append(ps, fpPattern{t, check})
		}
	}
	// text detectors with a rare needle: enough on their own
	add(always, "bearer", "mysql", "mariadb", "--pass", "--token", "--client-secret", "sshpass",
		"akia", "asia", "ghp_", "github_pat_", "glpat-", "xox", "sk_live_", "aiza",
		"private key", "private%20key", "private+key", "eyj")
	// more text detectors: command-line passwords, presigned URLs and SAS tokens, base64
	// of PEM keys and of gzip (Helm releases), docker configs in binaryData
	add(always, "redis-cli", "--requirepass", "--masterauth", "--auth-token", "--api-key", "--secret-key", "--access-key",
		"&sig=", `\u0026sig=`, "?sig=", ";sig=", "ls0tls1crudjti", "h4si", "binarydata", "sh.helm.release", "machine ", `\/`)
	add(curlUserAt, "-u ", "-u&", `-u\u0026`, "-u=", "--user", "--proxy-user", "-U ")
	// structure: a Secret (its kind possibly behind escaped quotes: JSON held in a
	// string), a body of a secrets event, a Secret by its type (a template), a mutating
	// webhook's patch, a docker auth
	add(kindAt("secret"), "kind")
	add(kindAt("secrets"), "resource")
	add(typeAt, "type")
	add(always, "patch.webhook.admission", `"auth":`, `"auth" :`, `\"auth\":`)
	add(hiddenEscapeAt, `\u`)
	add(connStringAt, "://")
	// credential words: an assignment after them (text), or a string value or env entry
	// (structure)
	for _, w := range []string{"password", "passwd", "passphrase", "pwd", "pass", "secret", "token", "credential", "authorization", "authorisation", "signature"} {
		add(credentialAt, w)
	}
	add(keyAt, "key")
	return ps
}()

// credentialAt: after a credential word (and the compound suffixes the detectors allow),
// an assignment, a value of any type (a key), a space and a word (.netrc), or the end of
// a string that is the name of a {name, value} pair, in either order.
func credentialAt(doc []byte, end int) bool {
	for _, suf := range credSuffixes {
		if hasPrefixFold(doc[end:], suf) {
			e := end + len(suf)
			if assigns(doc, e) || keyed(doc, e) || followed(doc[e:]) || nameOfPair(doc, e) || yamlValueNext(doc, e) {
				return true
			}
		}
	}
	return end+1 < len(doc) && doc[end] == ' ' && isWordByte(doc[end+1])
}

// yamlValueNext: a YAML name/value pair, "- name: DB_PASSWORD" then "value: ..." on the
// next line (in a JSON string the line break is the two bytes \n).
func yamlValueNext(b []byte, i int) bool {
	switch {
	case i+1 < len(b) && b[i] == '\\' && b[i+1] == 'n':
		i += 2
	case i < len(b) && b[i] == '\n':
		i++
	default:
		return false
	}
	for i < len(b) && b[i] == ' ' {
		i++
	}
	return hasPrefixFold(b[i:], "value:")
}

func isWordByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// keyed: at i the word ended a JSON key (possibly escaped, inside a string) whose value
// is a string, a number, a list or an object.
func keyed(b []byte, i int) bool {
	if i+1 < len(b) && b[i] == '\\' && b[i+1] == '"' {
		i += 2
	} else if i < len(b) && b[i] == '"' {
		i++
	} else {
		return false
	}
	for i < len(b) && (b[i] == ' ' || b[i] == '\t') {
		i++
	}
	if i >= len(b) || b[i] != ':' {
		return false
	}
	i++
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	if i >= len(b) {
		return false
	}
	c := b[i]
	return c == '"' || c == '\\' || c == '[' || c == '{' || c == '-' || '0' <= c && c <= '9'
}

// nameOfPair: the word ends a string value (its closing quote at i) that follows a
// "name" key: a {name, value} pair whose value may come before or after it.
func nameOfPair(b []byte, i int) bool {
	if i >= len(b) || b[i] != '"' && b[i] != '\\' {
		return false
	}
	// back over the string to its opening quote
	j := i - 1
	for j >= 0 && b[j] != '"' && i-j < 512 {
		j--
	}
	if j < 0 || b[j] != '"' {
		return false
	}
	k := j - 1
	if k >= 0 && b[k] == '\\' {
		k--
	}
	for k >= 0 && (b[k] == ' ' || b[k] == '\t') {
		k--
	}
	if k < 0 || b[k] != ':' {
		return false
	}
	k--
	for k >= 0 && (b[k] == ' ' || b[k] == '\t') {
		k--
	}
	if k >= 0 && b[k] == '"' {
		k--
	}
	if k >= 0 && b[k] == '\\' {
		k--
	}
	return k >= 3 && hasPrefixFold(b[k-3:k+1], "name")
}

// kindAt: "kind" (or "resource") followed by quotes, escapes, spaces and a colon, then
// the word: `"kind":"Secret`, `\"kind\": \"Secret` in JSON held in a string.
func kindAt(word string) func([]byte, int) bool {
	return func(doc []byte, end int) bool {
		i, colon := end, false
		for i < len(doc) && i < end+16 {
			switch doc[i] {
			case '"', '\\', ' ', '\t':
				i++
				continue
			case ':':
				colon = true
				i++
				continue
			}
			break
		}
		return colon && hasPrefixFold(doc[i:], word)
	}
}

// typeAt: a Secret's type ("Opaque", "kubernetes.io/...", "bootstrap.kubernetes.io/...",
// "helm.sh/release..."): a Secret without its kind (a template) is found by it.
func typeAt(doc []byte, end int) bool {
	i, colon := end, false
	for i < len(doc) && i < end+16 {
		switch doc[i] {
		case '"', '\\', ' ', '\t':
			i++
			continue
		case ':':
			colon = true
			i++
			continue
		}
		break
	}
	if !colon {
		return false
	}
	for _, t := range []string{"opaque", "kubernetes.io/", "bootstrap.kubernetes.io/", "helm.sh/"} {
		if hasPrefixFold(doc[i:], t) {
			return true
		}
	}
	return false
}

// curlUserAt: -u, --user, --proxy-user followed by user:password.
func curlUserAt(doc []byte, end int) bool {
	for k := end; k < len(doc) && k < end+256; k++ {
		switch doc[k] {
		case ':':
			return true
		case '%': // an exec argument: admin%3Apassword
			if hasPrefixFold(doc[k:], "%3a") {
				return true
			}
		case ' ', '"', '&', '\n':
			if k > end {
				return false
			}
		}
	}
	return false
}

var credSuffixes = []string{"", "s", "key", "_key", "-key", ".key", "accesskey", "_access_key", "-access-key", ".access.key", "_accesskey"}

// keyAt: "key" after a word that makes it a credential key (apikey, access_key, ...).
func keyAt(doc []byte, end int) bool {
	start := end - 3
	if !keyPrefixed(doc[:start]) {
		return false
	}
	return assigns(doc, end) || keyed(doc, end) || followed(doc[end:]) || nameOfPair(doc, end)
}

func hiddenEscapeAt(doc []byte, end int) bool {
	if end+4 > len(doc) {
		return true
	}
	switch string(doc[end : end+4]) {
	case "0026", "003c", "003e", "003C", "003E", "2028", "2029":
		return false
	}
	return true
}

// connStringAt: scheme://user:password@ (the user may be empty; the password may hold a
// '/', as the detector allows).
func connStringAt(doc []byte, end int) bool {
	colon := false
	for k := end; k < len(doc) && k < end+512; k++ {
		switch c := doc[k]; c {
		case '"', '\'', ' ', '\\', '?', '#', '\n':
			return false
		case '/':
			if !colon {
				return false
			}
		case ':':
			colon = true
		case '@':
			return colon
		}
	}
	return false
}

// assigns: at i, an optional escaped quote (text in a string that quotes a key), spaces,
// then = or : (or %3d, %3a). An unescaped quote ends a JSON string: the word was a key or
// a value, which followed judges.
func assigns(b []byte, i int) bool {
	if i+1 < len(b) && b[i] == '\\' && b[i+1] == '"' {
		i += 2
	} else if i < len(b) && b[i] == '"' {
		return false
	}
	for i < len(b) && (b[i] == ' ' || b[i] == '\t') {
		i++
	}
	if i >= len(b) {
		return false
	}
	if b[i] == '=' || b[i] == ':' {
		return true
	}
	return hasPrefixFold(b[i:], "%3d") || hasPrefixFold(b[i:], "%3a")
}

// followed: a key with a string value, or an env entry's name followed by its value
// ("...token":"  "db_password": "  "name":"DB_PASSWORD","value"), also escaped.
func followed(rest []byte) bool {
	for _, f := range followers {
		if bytes.HasPrefix(rest, f) {
			return true
		}
	}
	return false
}

var followers = bytesOf(`","value"`, `", "value"`, `\",\"value\"`)

// keyPrefixed: the bytes before "key" end in a word that makes it a credential key
// (apikey, access_key, secretKey...), as CredentialKey decides.
func keyPrefixed(before []byte) bool {
	if n := len(before); n > 0 && (before[n-1] == '_' || before[n-1] == '-' || before[n-1] == '.') {
		before = before[:n-1]
	}
	for _, p := range keyPrefixes {
		if len(before) >= len(p) && hasPrefixFold(before[len(before)-len(p):], p) {
			return true
		}
	}
	return false
}

var keyPrefixes = []string{"api", "access", "secret", "private", "client", "signing", "encryption", "master", "account", "storage", "shared"}

func bytesOf(s ...string) [][]byte {
	out := make([][]byte, len(s))
	for i, x := range s {
		out[i] = []byte(x)
	}
	return out
}

// hasPrefixFold: b starts with the lowercase ASCII p, in any case.
func hasPrefixFold(b []byte, p string) bool {
	if len(b) < len(p) {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != p[i] {
			return false
		}
	}
	return true
}

// The automaton: bytes map to classes (letters folded to lowercase, the punctuation the
// patterns use; every other byte is class 0), states are a full DFA over the classes.
type automaton struct {
	class  [256]uint8
	nclass int
	next   []uint16
	out    [][]uint16 // per state: the patterns that end there
}

var fp = buildAutomaton(fpPatterns)

func buildAutomaton(ps []fpPattern) *automaton {
	a := &automaton{nclass: 1}
	for _, p := range ps {
		for i := 0; i < len(p.text); i++ {
			c := p.text[i]
			if a.class[c] == 0 {
				a.class[c] = uint8(a.nclass)
				if 'a' <= c && c <= 'z' {
					a.class[c-'a'+'A'] = uint8(a.nclass)
				}
				a.nclass++
			}
		}
	}
	// trie
	type node struct {
		child map[uint8]int
		fail  int
		out   []uint16
	}
	nodes := []node{{child: map[uint8]int{}}}
	for pi, p := range ps {
		s := 0
		for i := 0; i < len(p.text); i++ {
			c := a.class[p.text[i]]
			n, ok := nodes[s].child[c]
			if !ok {
				nodes = append(nodes, node{child: map[uint8]int{}})
				n = len(nodes) - 1
				nodes[s].child[c] = n
			}
			s = n
		}
		nodes[s].out = append(nodes[s].out, uint16(pi))
	}
	// BFS: fail links and the full transition table
	a.next = make([]uint16, len(nodes)*a.nclass)
	queue := []int{}
	for c := 0; c < a.nclass; c++ {
		if n, ok := nodes[0].child[uint8(c)]; ok {
			a.next[c] = uint16(n)
			queue = append(queue, n)
		}
	}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		nodes[s].out = append(nodes[s].out, nodes[nodes[s].fail].out...)
		for c := 0; c < a.nclass; c++ {
			if n, ok := nodes[s].child[uint8(c)]; ok {
				nodes[n].fail = int(a.next[nodes[s].fail*a.nclass+c])
				a.next[s*a.nclass+c] = uint16(n)
				queue = append(queue, n)
			} else {
				a.next[s*a.nclass+c] = a.next[nodes[s].fail*a.nclass+c]
			}
		}
	}
	a.out = make([][]uint16, len(nodes))
	for i := range nodes {
		a.out[i] = nodes[i].out
	}
	return a
}

// MayHold reports whether a JSON document (an audit event, a request or response body)
// may hold something the redactor replaces; false is certain (TestFastPathIsSound), true
// means look closer. Rules use it to skip bodies without parsing them.
func MayHold(doc []byte) bool { return candidate(doc) }

// candidate reports whether doc may hold a secret (see the top of this file).
func candidate(doc []byte) bool {
	a := fp
	s := 0
	nc := a.nclass
	for i := 0; i < len(doc); i++ {
		s = int(a.next[s*nc+int(a.class[doc[i]])])
		if outs := a.out[s]; outs != nil {
			for _, pi := range outs {
				if fpPatterns[pi].check(doc, i+1) {
					return true
				}
			}
		}
	}
	return false
}

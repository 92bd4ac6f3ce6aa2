package redact

import "strings"

// CredentialKey reports whether a key or variable name says its value is a credential:
// its last word is password, passwd, passphrase, pwd, pass, secret, token, credential(s),
// or key after api, access, secret, private, client, signing, encryption, master,
// account, storage or shared. Words are split at separators (._-/ and others) and at
// camelCase boundaries, so DB_PASSWORD, db.password, clientSecret, aws_secret_access_key
// and secretAccessKey are credentials, while secretName, passwordFile, tokenExpiration,
// access_key_id and tokenreviews are not. The whole key "auth" (a docker config's
// user:password) is one too.
//
// The same predicate decides what rules call a password-like key (KS-CRED-008) and what
// the redactor replaces: whatever a rule calls a credential is fingerprinted.
func CredentialKey(name string) bool {
	if len(name) < 3 || len(name) > 256 {
		return false
	}
	if strings.EqualFold(name, "auth") {
		return true
	}
	words := splitWords(name)
	if len(words) == 0 {
		return false
	}
	last := words[len(words)-1]
	switch last {
	case "password", "passwd", "passphrase", "pwd", "pass", "secret", "token", "credential", "credentials",
		"apikey", "secretkey", "accesskey", "privatekey", "clientsecret", "authtoken", "accesstoken", "refreshtoken",
		"authorization":
		return true
	case "key":
		if len(words) < 2 {
			return false
		}
		switch words[len(words)-2] {
		case "api", "access", "secret", "private", "client", "signing", "encryption", "master", "account", "storage", "shared":
			return true
		}
	}
	return false
}

// splitWords lowercases name and splits it into words at non-alphanumeric bytes and at
// camelCase boundaries (aB, and ABc for acronyms: "APIKey" is api, key).
func splitWords(name string) []string {
	var words []string
	start := -1
	flush := func(end int) {
		if start >= 0 && end > start {
			words = append(words, strings.ToLower(name[start:end]))
		}
		start = -1
	}
	isLower := func(c byte) bool { return 'a' <= c && c <= 'z' }
	isUpper := func(c byte) bool { return 'A' <= c && c <= 'Z' }
	isDigit := func(c byte) bool { return '0' <= c && c <= '9' }
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !isLower(c) && !isUpper(c) && !isDigit(c) {
			flush(i)
			continue
		}
		if start < 0 {
			start = i
			continue
		}
		p := name[i-1]
		switch {
		case isUpper(c) && (isLower(p) || isDigit(p)):
			flush(i)
			start = i
		case isUpper(p) && isUpper(c) && i+1 < len(name) && isLower(name[i+1]):
			flush(i)
			start = i
		}
	}
	flush(len(name))
	return words
}

package analyzer

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"net"
	"net/url"
	"regexp"
	"strings"

	"github.com/kubesleuth/kubesleuth/analyzer/redact"
)

// ExecCommand decodes the command of an exec or attach request from its requestURI
// (command=sh&command=-c&command=...). The apiserver logs '&' as \u0026 in JSON; the
// decoder has already turned it back into '&'.
func ExecCommand(uri string) []string {
	i := strings.IndexByte(uri, '?')
	if i < 0 {
		return []string{}
	}
	q, err := url.ParseQuery(uri[i+1:])
	if err != nil {
		// keep what parses: split by hand
		q = url.Values{}
		for _, kv := range strings.Split(uri[i+1:], "&") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				if uv, err := url.QueryUnescape(v); err == nil {
					v = uv
				}
				q.Add(k, v)
			}
		}
	}
	cmd := q["command"]
	if cmd == nil {
		return []string{}
	}
	return cmd
}

// ImageRef is an image reference split into its parts, with Docker Hub's defaults.
type ImageRef struct {
	Registry, Repository, Tag, Digest string
}

// ParseImage splits "registry/repo:tag@sha256:..." the way container runtimes do:
// the first component is a registry only if it has a '.' or ':' or is "localhost";
// otherwise the image is on docker.io, and single names live under library/.
// No tag and no digest means the tag "latest".
func ParseImage(ref string) ImageRef {
	var r ImageRef
	rest := strings.TrimSpace(ref)
	if i := strings.Index(rest, "@"); i >= 0 {
		r.Digest = rest[i+1:]
		rest = rest[:i]
	}
	if i := strings.LastIndex(rest, ":"); i >= 0 && !strings.Contains(rest[i:], "/") {
		r.Tag = rest[i+1:]
		rest = rest[:i]
	}
	if i := strings.Index(rest, "/"); i >= 0 {
		first := rest[:i]
		if strings.ContainsAny(first, ".:") || first == "localhost" {
			r.Registry = first
			rest = rest[i+1:]
		}
	}
	if r.Registry == "" {
		r.Registry = "docker.io"
		if !strings.Contains(rest, "/") {
			rest = "library/" + rest
		}
	}
	r.Repository = rest
	if r.Tag == "" && r.Digest == "" {
		r.Tag = "latest"
	}
	return r
}

// IPClass says where an address is: loopback, private (RFC 1918, RFC 4193, CGNAT),
// link-local (including the cloud metadata address), public, or invalid. The name
// localhost (and *.localhost) is loopback; other names are invalid.
func IPClass(s string) string {
	s = strings.Trim(strings.TrimSpace(s), "[]")
	if l := strings.ToLower(s); l == "localhost" || strings.HasSuffix(l, ".localhost") || l == "ip6-localhost" {
		return "loopback"
	}
	ip := net.ParseIP(s)
	if ip == nil {
		return "invalid"
	}
	switch {
	case ip.IsLoopback():
		return "loopback"
	case ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast():
		return "link-local"
	case ip.IsPrivate() || cgnat.Contains(ip):
		return "private"
	case ip.IsUnspecified():
		return "invalid"
	}
	return "public"
}

var cgnat = &net.IPNet{IP: net.IPv4(100, 64, 0, 0), Mask: net.CIDRMask(10, 32)}

var (
	urlHostRe  = regexp.MustCompile(`(?i)\b[a-z][a-z0-9+.-]{1,15}://(?:[^\s/@'"]*@)?(\[[0-9a-f:.]+\]|[^\s/:?#'"]+)`)
	devTCPRe   = regexp.MustCompile(`/dev/(?:tcp|udp)/([^\s/'"]+)/`)
	socatRe    = regexp.MustCompile(`(?i)\b(?:tcp|udp|tcp4|tcp6|udp4|udp6|tcp-connect|udp-connect|openssl|openssl-connect):([^\s:,'"]+):`)
	ipv4Re     = regexp.MustCompile(`\b(?:\d{1,3}\.){3}\d{1,3}\b`)
	netToolRe  = regexp.MustCompile(`(?i)^(?:.*/)?(curl|wget|nc|ncat|netcat|telnet|ssh|scp|ftp|tftp|rsync|nmap)$`)
	hostTokRe  = regexp.MustCompile(`(?i)^(localhost|[a-z0-9-]+(?:\.[a-z0-9-]+)+)(?::\d+)?(?:/.*)?$`)
	shellSplit = regexp.MustCompile(`[\s;|&()<>'"]+`)
)

// NetTargets lists the hosts a command line names as network destinations: URL hosts,
// /dev/tcp and /dev/udp hosts, socat addresses, IPv4 addresses, and the host arguments of
// network tools (curl example.com/x, nc 10.0.0.1 4444). Each host once, in order, without
// brackets. It reads text only: a host in a variable ($URL) is not found.
func NetTargets(cmd string) []string {
	out := []string{}
	seen := map[string]bool{}
	add := func(h string) {
		h = strings.ToLower(strings.Trim(h, "[]"))
		if h != "" && !seen[h] {
			seen[h] = true
			out = append(out, h)
		}
	}
	for _, re := range []*regexp.Regexp{urlHostRe, devTCPRe, socatRe} {
		for _, m := range re.FindAllStringSubmatch(cmd, -1) {
			add(m[1])
		}
	}
	for _, m := range ipv4Re.FindAllString(cmd, -1) {
		add(m)
	}
	toks := shellSplit.Split(cmd, -1)
	for i := 0; i < len(toks); i++ {
		if !netToolRe.MatchString(toks[i]) {
			continue
		}
		for j := i + 1; j < len(toks) && !netToolRe.MatchString(toks[j]); j++ {
			t := toks[j]
			if t == "" || t[0] == '-' || strings.Contains(t, "://") || strings.Contains(t, "=") {
				continue
			}
			if m := hostTokRe.FindStringSubmatch(t); m != nil {
				add(m[1])
			}
		}
	}
	return out
}

// SecretPlace is where secret material sits in an object: a JSON path and what kind of
// material it is. It never holds the value.
type SecretPlace = redact.Place

// SecretMaterial lists the places in a decoded JSON value that hold secret material, as
// the redactor finds them (analyzer/redact.Find): Secret data and copies of it, values
// of credential-like keys (ConfigMap data, env entries, token fields), JWTs, private
// keys and other credentials inside strings. A rule and the redactor agree by
// construction: whatever a rule calls a credential is fingerprinted in every output.
func SecretMaterial(v any) []SecretPlace { return redact.Find(v, "") }

// ParseCSR reads the subject of a CertificateSigningRequest's spec.request (base64 of a
// PEM "CERTIFICATE REQUEST", as the API carries it): {"commonName": ..., "organizations":
// [...]}, or {"error": ...} when it does not parse.
func ParseCSR(b64 string) map[string]any {
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		raw = []byte(b64) // already PEM
	}
	der := raw
	if blk, _ := pem.Decode(raw); blk != nil {
		der = blk.Bytes
	}
	req, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return map[string]any{"commonName": "", "organizations": []any{}, "error": err.Error()}
	}
	orgs := make([]any, len(req.Subject.Organization))
	for i, o := range req.Subject.Organization {
		orgs[i] = o
	}
	return map[string]any{"commonName": req.Subject.CommonName, "organizations": orgs}
}

package analyzer

import (
	"fmt"
	"os"
	"path"
	"strings"

	"github.com/kubesleuth/kubesleuth/analyzer/rules"
)

// Allowlists are the names rules treat as expected: trusted registries and images,
// system identities, known operators. The defaults are analyzer/rules/allowlist.yaml;
// a user file (--allowlist) is added to them.
type Allowlists struct {
	Registries       []string `json:"registries"`
	Images           []string `json:"images"`
	SystemIdentities []string `json:"system_identities"`
	Operators        []string `json:"operators"`
}

// DefaultAllowlists are the embedded defaults.
func DefaultAllowlists() (Allowlists, error) {
	var a Allowlists
	if err := strictYAML(rules.Allowlist, &a); err != nil {
		return a, fmt.Errorf("embedded allowlist.yaml: %w", err)
	}
	return a, nil
}

// LoadAllowlists reads a user allowlist file and adds it to the defaults.
func LoadAllowlists(file string) (Allowlists, error) {
	a, err := DefaultAllowlists()
	if err != nil || file == "" {
		return a, err
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return a, err
	}
	var u Allowlists
	if err := strictYAML(b, &u); err != nil {
		return a, fmt.Errorf("%s: %w", file, err)
	}
	a.Registries = append(a.Registries, u.Registries...)
	a.Images = append(a.Images, u.Images...)
	a.SystemIdentities = append(a.SystemIdentities, u.SystemIdentities...)
	a.Operators = append(a.Operators, u.Operators...)
	return a, nil
}

func (a Allowlists) list(name string) ([]string, bool) {
	switch name {
	case "registries":
		return a.Registries, true
	case "images":
		return a.Images, true
	case "system_identities":
		return a.SystemIdentities, true
	case "operators":
		return a.Operators, true
	}
	return nil, false
}

// Allowed reports whether value matches an entry of the named list. Entries are exact
// names, shell globs (path.Match), or prefixes ending in '*'.
func (a Allowlists) Allowed(list, value string) bool {
	entries, _ := a.list(list)
	for _, e := range entries {
		if e == value {
			return true
		}
		if strings.HasSuffix(e, "*") && strings.HasPrefix(value, strings.TrimSuffix(e, "*")) {
			return true
		}
		if ok, _ := path.Match(e, value); ok {
			return true
		}
	}
	return false
}

// IsSystem reports whether an identity is part of the control plane: kubelets
// (system:node:*), control-plane components, kube-system service accounts, members of
// system:nodes, or an entry of the system_identities allowlist. system:anonymous and
// system:unauthenticated are never system identities.
func (a Allowlists) IsSystem(username string, groups []string) bool {
	switch username {
	case "system:anonymous", "":
		return false
	case "system:kube-controller-manager", "system:kube-scheduler", "system:kube-proxy", "system:apiserver", "system:volume-scheduler":
		return true
	}
	if strings.HasPrefix(username, "system:node:") || strings.HasPrefix(username, "system:serviceaccount:kube-system:") {
		return true
	}
	for _, g := range groups {
		if g == "system:nodes" {
			return true
		}
	}
	return a.Allowed("system_identities", username)
}

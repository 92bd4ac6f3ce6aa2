package analyzer

import (
	"fmt"
	"net/netip"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/kubesleuth/kubesleuth/analyzer/rules"
)

// Allowlists are the names rules treat as expected and the facts about a cluster that
// the log may not hold: trusted registries and images, system identities, known
// operators and workloads, the cluster's networks and control-plane nodes, the built-in
// RBAC objects, and per-rule tuning. The defaults are analyzer/rules/allowlist.yaml; a
// user file (--allowlist) is added to them (its tuning replaces the defaults' for the
// rules it names).
type Allowlists struct {
	Registries       []string `json:"registries"`
	Images           []string `json:"images"`
	SystemIdentities []string `json:"system_identities"`
	Operators        []string `json:"operators"`
	// Workloads are owners (NAMESPACE/NAME of a Deployment, DaemonSet, StatefulSet, Job
	// or CronJob) whose pods, created by their controller, are expected whatever their
	// spec: the node agents and add-ons of a typical cluster.
	Workloads []string `json:"workloads"`
	// ClusterNetworks are the CIDRs of the cluster's nodes and pods. When set, only these
	// (and what the log teaches: node addresses, pod CIDRs) are inside the cluster; when
	// empty, every private, loopback and link-local address is.
	ClusterNetworks []string `json:"cluster_networks"`
	// ControlPlaneNodes names control-plane nodes beyond those the log labels so.
	ControlPlaneNodes []string `json:"control_plane_nodes"`
	// BuiltinRBAC names the ClusterRoles and ClusterRoleBindings the API server creates
	// and reconciles (the kubernetes.io/bootstrapping=rbac-defaults label says the same
	// when the object is in the log).
	BuiltinRBAC []string `json:"builtin_rbac"`
	// Tuning changes a rule's parameters by rule ID.
	Tuning map[string]RuleTuning `json:"tuning,omitempty"`

	nets []netip.Prefix // ClusterNetworks parsed
	// index: each list's entries sorted into exact names, prefixes and globs, so that a
	// lookup is a map access and a few prefix tests (rules ask isSystem many times per
	// event, and system_identities holds a hundred entries)
	index map[string]*listIndex
}

type listIndex struct {
	exact    map[string]struct{}
	prefixes []string
	globs    []string
}

func newListIndex(entries []string) *listIndex {
	ix := &listIndex{exact: map[string]struct{}{}}
	for _, e := range entries {
		switch {
		case !strings.ContainsAny(e, `*?[\`):
			ix.exact[e] = struct{}{}
		case strings.HasSuffix(e, "*") && !strings.ContainsAny(e[:len(e)-1], `*?[\`):
			ix.prefixes = append(ix.prefixes, e[:len(e)-1])
		default:
			ix.globs = append(ix.globs, e)
		}
	}
	return ix
}

func (ix *listIndex) match(value string) bool {
	if _, ok := ix.exact[value]; ok {
		return true
	}
	for _, p := range ix.prefixes {
		if strings.HasPrefix(value, p) {
			return true
		}
	}
	for _, g := range ix.globs {
		if strings.HasSuffix(g, "*") && strings.HasPrefix(value, strings.TrimSuffix(g, "*")) {
			return true
		}
		if ok, _ := path.Match(g, value); ok {
			return true
		}
	}
	return false
}

// RuleTuning overrides a stateful rule's parameters (zero fields keep the rule's own).
type RuleTuning struct {
	Threshold int      `json:"threshold,omitempty"`
	Window    Duration `json:"window,omitempty"`
	Learning  Duration `json:"learning,omitempty"`
	Fold      Duration `json:"fold,omitempty"`
}

// DefaultAllowlists are the embedded defaults.
func DefaultAllowlists() (Allowlists, error) {
	var a Allowlists
	if err := strictYAML(rules.Allowlist, &a); err != nil {
		return a, fmt.Errorf("embedded allowlist.yaml: %w", err)
	}
	return a, a.parse()
}

// LoadAllowlists reads a user allowlist file and adds it to the defaults.
func LoadAllowlists(file string) (Allowlists, error) {
	a, err := DefaultAllowlists()
	if err != nil || file == "" {
		return a, err
	}
	return a.With(file)
}

// With returns a with the lists of a user allowlist file added and its tuning applied.
// A bad file fails with its name and the first problem (an unknown field, a CIDR that
// does not parse, a tuning value that is negative).
func (a Allowlists) With(file string) (Allowlists, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return a, err
	}
	var u Allowlists
	if err := strictYAML(b, &u); err != nil {
		return a, fmt.Errorf("%s: %w", file, err)
	}
	if err := u.parse(); err != nil {
		return a, fmt.Errorf("%s: %w", file, err)
	}
	out := a
	cat := func(x, y []string) []string { return append(append([]string(nil), x...), y...) }
	out.Registries = cat(a.Registries, u.Registries)
	out.Images = cat(a.Images, u.Images)
	out.SystemIdentities = cat(a.SystemIdentities, u.SystemIdentities)
	out.Operators = cat(a.Operators, u.Operators)
	out.Workloads = cat(a.Workloads, u.Workloads)
	out.ClusterNetworks = cat(a.ClusterNetworks, u.ClusterNetworks)
	out.ControlPlaneNodes = cat(a.ControlPlaneNodes, u.ControlPlaneNodes)
	out.BuiltinRBAC = cat(a.BuiltinRBAC, u.BuiltinRBAC)
	if len(u.Tuning) > 0 {
		out.Tuning = map[string]RuleTuning{}
		for k, v := range a.Tuning {
			out.Tuning[k] = v
		}
		for k, v := range u.Tuning {
			out.Tuning[k] = v
		}
	}
	return out, out.parse()
}

// parse checks the networks and the tuning and keeps the parsed networks.
func (a *Allowlists) parse() error {
	a.nets = a.nets[:0:0]
	for _, c := range a.ClusterNetworks {
		p, err := netip.ParsePrefix(strings.TrimSpace(c))
		if err != nil {
			addr, aerr := netip.ParseAddr(strings.TrimSpace(c))
			if aerr != nil {
				return fmt.Errorf("cluster_networks: %q is neither a CIDR nor an address", c)
			}
			p = netip.PrefixFrom(addr, addr.BitLen())
		}
		a.nets = append(a.nets, p.Masked())
	}
	a.index = map[string]*listIndex{}
	for _, name := range strings.Split(listNames, ", ") {
		l, _ := a.list(name)
		a.index[name] = newListIndex(l)
	}
	ids := make([]string, 0, len(a.Tuning))
	for id := range a.Tuning {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		t := a.Tuning[id]
		if t.Threshold < 0 || t.Window < 0 || t.Learning < 0 || t.Fold < 0 {
			return fmt.Errorf("tuning: %s: values must not be negative", id)
		}
	}
	return nil
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
	case "workloads":
		return a.Workloads, true
	case "builtin_rbac":
		return a.BuiltinRBAC, true
	case "control_plane_nodes":
		return a.ControlPlaneNodes, true
	case "cluster_networks":
		return a.ClusterNetworks, true
	}
	return nil, false
}

// listNames are the lists allowed() and configured() accept.
const listNames = "registries, images, system_identities, operators, workloads, builtin_rbac, control_plane_nodes, cluster_networks"

// Allowed reports whether value matches an entry of the named list. Entries are exact
// names, shell globs (path.Match), or prefixes ending in '*'.
func (a Allowlists) Allowed(list, value string) bool {
	if ix := a.index[list]; ix != nil {
		return ix.match(value)
	}
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
// (system:node:*), the control-plane components, members of system:nodes, or an entry of
// the system_identities allowlist (which names the kube-system service accounts of the
// controllers and common add-ons: a kube-system service account made by someone else is
// not a system identity). system:anonymous and system:unauthenticated never are.
func (a Allowlists) IsSystem(username string, groups []string) bool {
	switch username {
	case "system:anonymous", "":
		return false
	case "system:kube-controller-manager", "system:kube-scheduler", "system:kube-proxy", "system:apiserver", "system:volume-scheduler":
		return true
	}
	if strings.HasPrefix(username, "system:node:") {
		return true
	}
	for _, g := range groups {
		if g == "system:nodes" {
			return true
		}
	}
	return a.Allowed("system_identities", username)
}

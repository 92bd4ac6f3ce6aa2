package etcd

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// Source says where a Record was read from.
type Source string

const (
	FromSnapshot Source = "snapshot"
	FromLive     Source = "live"
	// FromRemnant marks a revision carved from a free bbolt page: compacted or deleted
	// data that the file still holds until it is defragmented.
	FromRemnant Source = "remnant"
)

// Record is one revision of one etcd key. Value is nil for a deletion (Deleted), and it
// is only valid during the callback that receives the Record: copy it to keep it.
type Record struct {
	Key            string
	Value          []byte
	CreateRevision int64
	// ModRevision is the revision that wrote this value (or deleted the key).
	ModRevision int64
	// SubRevision orders the changes inside one transaction.
	SubRevision int64
	Version     int64
	Deleted     bool
	Source      Source
	// Err is set when the stored record itself could not be decoded (Key may be empty).
	Err error
}

// revKeyLen is the length of an etcd revision key: 8-byte main, '_', 8-byte sub.
const revKeyLen = 17

// ParseRevisionKey decodes a key of etcd's `key` bucket: 8-byte big-endian main revision,
// '_', 8-byte big-endian sub revision, and a trailing 't' when the revision is a deletion.
func ParseRevisionKey(b []byte) (main, sub int64, tombstone bool, err error) {
	switch {
	case len(b) == revKeyLen+1 && b[revKeyLen] == 't':
		tombstone = true
	case len(b) == revKeyLen:
	default:
		return 0, 0, false, fmt.Errorf("revision key of %d bytes (want %d or %d)", len(b), revKeyLen, revKeyLen+1)
	}
	if b[8] != '_' {
		return 0, 0, false, fmt.Errorf("revision key without '_' separator")
	}
	return int64(binary.BigEndian.Uint64(b[:8])), int64(binary.BigEndian.Uint64(b[9:17])), tombstone, nil
}

// RevisionKey is the inverse of ParseRevisionKey, for tests and the snapshot generator.
func RevisionKey(main, sub int64, tombstone bool) []byte {
	b := make([]byte, revKeyLen, revKeyLen+1)
	binary.BigEndian.PutUint64(b[:8], uint64(main))
	b[8] = '_'
	binary.BigEndian.PutUint64(b[9:], uint64(sub))
	if tombstone {
		b = append(b, 't')
	}
	return b
}

// ResourceKey is an etcd key of the apiserver's layout split into its parts:
// /registry/<resource>/<namespace>/<name>, /registry/<resource>/<name> (cluster-scoped),
// and /registry/<group>/<resource>/... for custom resources and some API groups.
type ResourceKey struct {
	Group, Resource, Namespace, Name string
}

// builtinGroups maps the resources kube-apiserver stores under /registry/<resource>/ to
// their API group, for matching an EncryptionConfiguration's `resources` entries. Resources
// not listed here that are stored without a group segment are assumed to be in the core
// group; resources whose first segment contains a dot carry their group in the key.
var builtinGroups = map[string]string{
	"deployments": "apps", "replicasets": "apps", "statefulsets": "apps", "daemonsets": "apps",
	"controllerrevisions": "apps", "jobs": "batch", "cronjobs": "batch",
	"horizontalpodautoscalers": "autoscaling", "ingress": "networking.k8s.io",
	"ingressclasses": "networking.k8s.io", "networkpolicies": "networking.k8s.io",
	"roles": "rbac.authorization.k8s.io", "rolebindings": "rbac.authorization.k8s.io",
	"clusterroles": "rbac.authorization.k8s.io", "clusterrolebindings": "rbac.authorization.k8s.io",
	"leases": "coordination.k8s.io", "poddisruptionbudgets": "policy",
	"storageclasses": "storage.k8s.io", "csidrivers": "storage.k8s.io", "csinodes": "storage.k8s.io",
	"volumeattachments": "storage.k8s.io", "priorityclasses": "scheduling.k8s.io",
	"certificatesigningrequests": "certificates.k8s.io", "endpointslices": "discovery.k8s.io",
	"validatingwebhookconfigurations": "admissionregistration.k8s.io",
	"mutatingwebhookconfigurations":   "admissionregistration.k8s.io",
	"flowschemas":                     "flowcontrol.apiserver.k8s.io", "prioritylevelconfigurations": "flowcontrol.apiserver.k8s.io",
	"runtimeclasses": "node.k8s.io",
}

// KeyPrefix is where kube-apiserver keeps its objects (the default --etcd-prefix).
const KeyPrefix = "/registry/"

// ParseResourceKey splits an apiserver etcd key. ok is false for keys outside /registry/
// or with too few segments to name an object.
func ParseResourceKey(key string) (rk ResourceKey, ok bool) {
	rest, found := strings.CutPrefix(key, KeyPrefix)
	if !found {
		return rk, false
	}
	parts := strings.Split(rest, "/")
	if len(parts) >= 3 && strings.Contains(parts[0], ".") {
		rk.Group, parts = parts[0], parts[1:]
	}
	rk.Resource = parts[0]
	if rk.Group == "" {
		rk.Group = builtinGroups[rk.Resource]
		// Nodes are stored as "minions" and services under services/specs for history's sake.
		switch rk.Resource {
		case "minions":
			rk.Resource = "nodes"
		case "services":
			if len(parts) > 1 && (parts[1] == "specs" || parts[1] == "endpoints") {
				parts = parts[1:]
			}
		}
	}
	switch len(parts) {
	case 2:
		rk.Name = parts[1]
	case 3:
		rk.Namespace, rk.Name = parts[1], parts[2]
	default:
		return rk, false
	}
	return rk, rk.Resource != "" && rk.Name != ""
}

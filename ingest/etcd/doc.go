// Package etcd reads what a Kubernetes cluster stored in etcd, from a snapshot file
// (`etcdctl snapshot save`, a bbolt database) or from a live etcd over client/v3, and
// decodes the values the way kube-apiserver wrote them.
//
// It answers "what is in the store" and nothing more: every revision still present (not
// only the latest), deletions (tombstones), values carved from freed bbolt pages
// (remnants), and for each value its envelope — plaintext (protobuf, JSON or CBOR) or
// encrypted, with the provider and key name read from the `k8s:enc:` prefix without any
// key. Judging what that means (is encryption at rest in force?) is analyzer/secrets' job.
//
// Failure modes: a file that is not bbolt, a truncated file and a file locked by a running
// etcd are refused with an error naming the file before anything is read; a value that
// cannot be decoded is returned as an error for that key and never stops a scan. Nothing
// here prints or stores a value.
package etcd

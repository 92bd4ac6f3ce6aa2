package secrets

import "github.com/kubesleuth/kubesleuth/analyzer"

// Rule is the metadata of one etcd at-rest check. These rules are code, not CEL: they
// judge stored values, not audit events, so they live here rather than in the catalog.
type Rule struct {
	ID          string
	Title       string
	Severity    analyzer.Severity
	MITRE       []string
	Remediation string
}

// Rule IDs.
const (
	RulePlaintextSecret     = "KS-ETCD-001"
	RuleStaleKey            = "KS-ETCD-002"
	RuleAbsentKey           = "KS-ETCD-003"
	RuleIdentityFirst       = "KS-ETCD-004"
	RuleKMSv1               = "KS-ETCD-005"
	RuleAESCBC              = "KS-ETCD-006"
	RuleStaticKeys          = "KS-ETCD-007"
	RuleDecryptFailed       = "KS-ETCD-008"
	RuleOldPlaintext        = "KS-ETCD-009"
	RuleDeletedPlaintext    = "KS-ETCD-010"
	RuleResourcePlaintext   = "KS-ETCD-011"
	RuleLegacySAToken       = "KS-ETCD-012"
	RuleRegistryCredentials = "KS-ETCD-013"
	RuleConfigMapSecret     = "KS-ETCD-014"
	RuleUndecodable         = "KS-ETCD-015"
	RuleRemnant             = "KS-ETCD-016"
	RuleHashMismatch        = "KS-ETCD-017"
)

const rewriteHint = "rewrite every secret so it is stored with the current write key: kubectl get secrets -A -o json | kubectl replace -f -"

// Rules is the etcd rule catalog, by ID.
var Rules = map[string]Rule{
	RulePlaintextSecret: {RulePlaintextSecret, "Secret stored in plaintext in etcd", analyzer.High, []string{"T1552.007"},
		"enable encryption at rest (an EncryptionConfiguration with kms v2 or aesgcm first), then " + rewriteHint + "; rotate the secret's value, it was readable by anyone holding an etcd backup"},
	RuleStaleKey: {RuleStaleKey, "Secret encrypted under a key that is not the current write key", analyzer.Medium, []string{"T1552.007"},
		"key rotation is not finished: " + rewriteHint + ", then remove the old key from the configuration"},
	RuleAbsentKey: {RuleAbsentKey, "Secret encrypted under a key missing from the encryption config", analyzer.High, nil,
		"the apiserver cannot read this value: restore the missing key to the configuration (as a read key) and rewrite the secret, or the data is lost"},
	RuleIdentityFirst: {RuleIdentityFirst, "Encryption config writes new values in plaintext (identity first)", analyzer.High, []string{"T1552.007"},
		"put the encrypting provider first and identity last (only to read old plaintext), restart the apiservers, then " + rewriteHint},
	RuleKMSv1: {RuleKMSv1, "Deprecated KMS v1 provider in use", analyzer.Low, nil,
		"migrate to KMS v2: add a kms apiVersion v2 provider first, " + rewriteHint + ", then drop the v1 provider"},
	RuleAESCBC: {RuleAESCBC, "aescbc provider in use (weaker than aesgcm or kms v2)", analyzer.Info, nil,
		"aescbc is not authenticated and is vulnerable to padding-oracle attacks; prefer kms v2 (or aesgcm with regular key rotation)"},
	RuleStaticKeys: {RuleStaticKeys, "Encryption keys kept in a file on the control-plane node", analyzer.Low, []string{"T1552.001"},
		"a static key sits next to the data it protects: whoever copies the node's disk or backups gets both; prefer a kms v2 provider backed by an external KMS"},
	RuleDecryptFailed: {RuleDecryptFailed, "Encrypted value does not decrypt with the configured key", analyzer.High, nil,
		"the key of that name in the configuration is not the key that wrote the value (a key was replaced under the same name?): find the original key or the data is lost"},
	RuleOldPlaintext: {RuleOldPlaintext, "Older plaintext revisions of an encrypted secret remain in etcd", analyzer.High, []string{"T1552.007"},
		"encryption was enabled and the secret rewritten, but history still holds the plaintext: compact (etcdctl compact <current revision>) and defragment every member (etcdctl defrag), destroy older backups, and rotate the value"},
	RuleDeletedPlaintext: {RuleDeletedPlaintext, "Plaintext of a deleted secret remains in etcd", analyzer.High, []string{"T1552.007"},
		"the secret was deleted but its plaintext revisions are still in history: compact and defragment every member, destroy older backups, and revoke the credential"},
	RuleResourcePlaintext: {RuleResourcePlaintext, "Resource listed for encryption stored in plaintext", analyzer.Medium, []string{"T1552.007"},
		"the configuration encrypts this resource but this object was written before (or with identity first): rewrite the objects of this resource (kubectl get <resource> -A -o json | kubectl replace -f -)"},
	RuleLegacySAToken: {RuleLegacySAToken, "Legacy long-lived service-account token secret", analyzer.Medium, []string{"T1528"},
		"a kubernetes.io/service-account-token secret holds a token that never expires; delete it and use bound tokens (TokenRequest / projected volumes)"},
	RuleRegistryCredentials: {RuleRegistryCredentials, "Registry credentials stored in plaintext", analyzer.Medium, []string{"T1552.007"},
		"image pull credentials in a plaintext docker-registry secret: encrypt at rest, rewrite, and rotate the registry password or token"},
	RuleConfigMapSecret: {RuleConfigMapSecret, "Secret-like value in a ConfigMap", analyzer.Medium, []string{"T1552.007"},
		"ConfigMaps are not meant for credentials and are rarely encrypted at rest: move the value into a Secret and rotate it"},
	RuleUndecodable: {RuleUndecodable, "Stored value cannot be decoded", analyzer.Low, nil,
		"the value is neither a known encryption envelope nor an apiserver encoding: corruption, or data written by something other than kube-apiserver"},
	RuleRemnant: {RuleRemnant, "Secret recovered from freed etcd pages", analyzer.High, []string{"T1552.007"},
		"compaction freed this revision but the file still holds it: defragment every member (etcdctl defrag) and destroy older copies of the database"},
	RuleHashMismatch: {RuleHashMismatch, "Snapshot checksum does not match its content", analyzer.Medium, nil,
		"the file was altered or damaged after etcd wrote it: treat its content as unverified and get another copy"},
}

// finding fills a Finding from the rule's metadata.
func finding(id string, subj analyzer.Subject, msg string) analyzer.Finding {
	r := Rules[id]
	return analyzer.Finding{RuleID: id, Title: r.Title, Severity: r.Severity, MITRE: r.MITRE, Subject: subj, Count: 1, Message: msg}
}

// Package rules holds kubesleuth's built-in detection catalog as data: one YAML file per
// tactic, embedded in the binary, in the format described in README.md beside them.
package rules

import "embed"

// FS holds every built-in rule file (*.yaml except allowlist.yaml).
//
//go:embed *.yaml
var FS embed.FS

// Allowlist is the default allowlist file.
//
//go:embed allowlist.yaml
var Allowlist []byte

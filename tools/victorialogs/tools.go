//go:build tools

// Package victorialogsbuild only records, for `go mod tidy`, the dependencies of the
// VictoriaLogs command build.sh builds; it is never compiled itself. It is a module of its
// own so that VictoriaLogs' dependencies stay out of kubesleuth's go.mod.
package victorialogsbuild

import _ "github.com/VictoriaMetrics/VictoriaLogs/app/victoria-logs"

//go:build tools

// Package apiserverbuild only records, for `go mod tidy`, the dependencies of the three
// commands build.sh builds from k8s.io/kubernetes; it is never compiled itself.
package apiserverbuild

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver/app"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	_ "k8s.io/kubernetes/cmd/kube-scheduler/app"
)

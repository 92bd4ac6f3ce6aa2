//go:build tools

// Package tools pins modules that kubesleuth's packages use, so that `go mod tidy` keeps
// them while the packages that import them are being written.
package tools

import (
	_ "charm.land/bubbles/v2/list"
	_ "charm.land/bubbles/v2/textinput"
	_ "charm.land/bubbles/v2/viewport"
	_ "charm.land/bubbletea/v2"
	_ "charm.land/lipgloss/v2"
	_ "github.com/blevesearch/bleve/v2"
	_ "github.com/charmbracelet/x/exp/teatest/v2"
	_ "github.com/goccy/go-json"
	_ "github.com/google/cel-go/cel"
	_ "github.com/spf13/cobra"
	_ "go.etcd.io/bbolt"
	_ "go.etcd.io/etcd/client/v3"
	_ "go.etcd.io/etcd/server/v3/embed"
	_ "golang.org/x/term"
	_ "k8s.io/api/core/v1"
	_ "k8s.io/apimachinery/pkg/runtime"
	_ "k8s.io/apiserver/pkg/apis/audit/v1"
	_ "k8s.io/apiserver/pkg/server/options/encryptionconfig"
	_ "k8s.io/apiserver/pkg/storage/value/encrypt/aes"
	_ "k8s.io/apiserver/pkg/storage/value/encrypt/secretbox"
	_ "k8s.io/client-go/kubernetes/scheme"
	_ "sigs.k8s.io/yaml"
)

package main

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kubesleuth/kubesleuth/internal/etcdtest"
)

func init() { generateSubcommands = append(generateSubcommands, newGenerateEtcdCmd) }

func newGenerateEtcdCmd(io stdio) *cobra.Command {
	var (
		n         int
		seed      uint64
		out       string
		encConfig string
	)
	cmd := &cobra.Command{
		Use:   "etcd --secrets N --out FILE [--encryption-config FILE]",
		Short: "Write an etcd snapshot whose secrets are in mixed encryption states",
		Long: `generate etcd writes an etcd snapshot file (bbolt in etcd's layout, with the SHA-256
trailer etcdctl snapshot save keeps) of a cluster whose secrets are stored the ways a
responder meets them: plaintext; aesgcm under the current key; aescbc and secretbox under
keys a rotation left behind; aesgcm under a key the configuration no longer holds; kms v1
and kms v2 envelopes; secrets encrypted after plaintext revisions that history still holds;
deleted secrets whose plaintext history remains; plaintext revisions removed by compaction
but still in freed pages (remnants); ConfigMaps with credential-like values; and two
corrupt values. Secrets are protobuf-encoded through the API machinery and encrypted with
k8s.io/apiserver's transformers. The values are random.

--encryption-config writes the matching EncryptionConfiguration (it holds the keys;
written 0600) so that ` + "`kubesleuth etcd --encryption-config`" + ` can decrypt and judge them.`,
		Example: `  kubesleuth generate etcd --secrets 100000 --out snap.db --encryption-config enc.yaml
  kubesleuth etcd --snapshot snap.db --encryption-config enc.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if n <= 0 {
				return usagef("--secrets must be positive, got %d", n)
			}
			if out == "" {
				return usagef("--out FILE is required")
			}
			began := time.Now()
			res, err := etcdtest.GenerateSnapshot(cmd.Context(), out, etcdtest.GenOptions{Secrets: n, Seed: seed})
			if err != nil {
				return fmt.Errorf("generating %s: %w", out, err)
			}
			if encConfig != "" {
				// redact: the generated cluster's EncryptionConfiguration (random keys, for tests)
				if err := os.WriteFile(encConfig, res.Config, 0o600); err != nil {
					return fmt.Errorf("writing %s: %w", encConfig, err)
				}
			}
			st, err := os.Stat(out)
			if err != nil {
				return err
			}
			var kinds []string
			for k, c := range res.Counts {
				kinds = append(kinds, fmt.Sprintf("%s=%d", k, c))
			}
			sort.Strings(kinds)
			fmt.Fprintf(io.err, "wrote %s: %d secrets, %d revisions, %.1f MB in %s (%s)\n", out, n, res.Revisions,
				float64(st.Size())/1e6, time.Since(began).Round(time.Millisecond), strings.Join(kinds, " "))
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&n, "secrets", 1000, "number of secrets")
	f.Uint64Var(&seed, "seed", 1, "random seed for names, values and keys")
	f.StringVar(&out, "out", "", "snapshot file to write (0600)")
	f.StringVar(&encConfig, "encryption-config", "", "also write the matching EncryptionConfiguration here (0600)")
	return cmd
}

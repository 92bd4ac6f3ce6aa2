package secrets

import (
	"os"
	"path/filepath"
)

// tempCopy writes b to a 0600 file in a fresh 0700 folder, removed by the cleanup.
func tempCopy(b []byte) (string, func(), error) {
	dir, err := os.MkdirTemp("", "kubesleuth-")
	if err != nil {
		return "", nil, err
	}
	p := filepath.Join(dir, "encryption-config.json")
	// redact: the user's own EncryptionConfiguration, copied 0600 for the apiserver's loader, removed after
	if err := os.WriteFile(p, b, 0o600); err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	return p, func() { os.RemoveAll(dir) }, nil
}

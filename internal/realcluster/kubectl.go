package realcluster

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
)

// KubectlPath is the kubectl a person would use: $KUBECTL, else Debian's
// kubernetes-client (/usr/bin/kubectl, 1.32), else the first kubectl on PATH.
func KubectlPath() (string, error) {
	if p := os.Getenv("KUBECTL"); p != "" {
		return p, nil
	}
	if _, err := os.Stat("/usr/bin/kubectl"); err == nil {
		return "/usr/bin/kubectl", nil
	}
	p, err := exec.LookPath("kubectl")
	if err != nil {
		return "", fmt.Errorf("kubectl not found: apt-get install kubernetes-client")
	}
	return p, nil
}

// Kubectl runs kubectl as user with the user's kubeconfig, its own discovery cache (so the
// first call of each user does discovery, as on a fresh laptop) and HOME under Dir, stdin
// from stdin (may be nil). It returns stdout and stderr; err is kubectl's exit error (a
// refused request is exit 1, which a scenario may expect).
func (c *Cluster) Kubectl(ctx context.Context, user string, stdin io.Reader, args ...string) (stdout, stderr []byte, err error) {
	bin, err := KubectlPath()
	if err != nil {
		return nil, nil, err
	}
	kc, err := c.Kubeconfig(user)
	if err != nil {
		return nil, nil, err
	}
	home := filepath.Join(c.Dir, "home", safeName(user))
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, nil, err
	}
	cmd := exec.CommandContext(ctx, bin, append([]string{"--kubeconfig=" + kc, "--cache-dir=" + filepath.Join(home, "cache")}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+home, "KUBECONFIG="+kc)
	cmd.Stdin = stdin
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.Bytes(), e.Bytes(), err
}

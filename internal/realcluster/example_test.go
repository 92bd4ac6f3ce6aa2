package realcluster_test

import (
	"context"
	"fmt"
	"log"
	"path/filepath"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubesleuth/kubesleuth/internal/realcluster"
)

// A control plane that posts its audit events over mTLS to a server of the caller's (for
// instance `kubesleuth serve`) and writes a log that rotates at 10 MB, as `kubesleuth
// tail` will follow it. In a test, realcluster.Start(t, opts) does the same and stops it at
// the test's end (skipping when the binaries are not built).
func ExampleNew() {
	dir := "/tmp/example-cluster"
	ca, err := realcluster.NewCA(filepath.Join(dir, "pki"))
	if err != nil {
		log.Fatal(err)
	}
	// The server's certificate and the apiserver's client certificate, from one CA.
	serving, _ := ca.Issue("serve", "kubesleuth-serve", nil, "127.0.0.1")
	client, _ := ca.Issue("audit-client", "kube-apiserver-audit", nil)
	_ = serving // start the server with serving.CertFile/KeyFile, trusting ca.CertFile

	c, err := realcluster.New(realcluster.Options{
		Dir:      filepath.Join(dir, "cluster"),
		CA:       ca,
		Policy:   realcluster.PolicyNoRequestReceived,
		AuditLog: realcluster.AuditLog{MaxSizeMB: 10, MaxBackups: 5, Compress: true},
		Webhook: &realcluster.Webhook{
			Server:     "https://127.0.0.1:8443/audit",
			CAFile:     ca.CertFile,
			ClientCert: client,
			// batch mode is the default
			BatchMaxWait: time.Second,
		},
	})
	if c != nil {
		defer c.Stop() // SIGTERM by PID, SIGKILL after 30 s
	}
	if err != nil {
		log.Fatal(err)
	}
	pods, err := c.Client(realcluster.Alice).CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{})
	fmt.Println(len(pods.Items), err) // alice may not: a 403 in the log
	files, _ := realcluster.LogFiles(c.AuditLogPath)
	fmt.Println(c.URL, files)
}

// Package etcdtest builds etcd data exactly as kube-apiserver writes it, for tests,
// benchmarks and `kubesleuth generate etcd`: an embedded etcd server with TLS client
// authentication on 127.0.0.1, objects encoded through the API machinery and encrypted
// with k8s.io/apiserver's own transformers, and bbolt snapshot files built directly in
// etcd's on-disk layout (for sizes an embedded server would take minutes to fill).
package etcdtest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// Server is an embedded etcd that serves TLS and requires client certificates, like a
// kubeadm control plane's etcd.
type Server struct {
	Endpoint string
	// CACert, Cert and Key are the client's PEM files (the apiserver's --etcd-* flags).
	CACert, Cert, Key string
	// OtherCACert is a CA that did not sign the server certificate, for wrong-TLS tests.
	OtherCACert string
	// DataDir is the member's data directory (member/snap/db is its bbolt file).
	DataDir string
	Client  *clientv3.Client

	e         *embed.Etcd
	closeOnce sync.Once
}

// Start starts an etcd in dir (which must exist and be private to the caller) on
// 127.0.0.1 with ports chosen by the kernel.
func Start(dir string) (*Server, error) {
	s := &Server{}
	certDir := filepath.Join(dir, "pki")
	if err := os.MkdirAll(certDir, 0o700); err != nil {
		return nil, err
	}
	var err error
	var serverCert, serverKey string
	if s.CACert, s.Cert, s.Key, serverCert, serverKey, s.OtherCACert, err = makePKI(certDir); err != nil {
		return nil, fmt.Errorf("making test certificates: %w", err)
	}
	cfg := embed.NewConfig()
	cfg.Dir = filepath.Join(dir, "data")
	s.DataDir = cfg.Dir
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	cfg.UnsafeNoFsync = true
	cu := url.URL{Scheme: "https", Host: "127.0.0.1:0"}
	pu := url.URL{Scheme: "http", Host: "127.0.0.1:0"}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{cu}, []url.URL{cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{pu}, []url.URL{pu}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.ClientTLSInfo = transport.TLSInfo{CertFile: serverCert, KeyFile: serverKey, TrustedCAFile: s.CACert, ClientCertAuth: true}
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("starting embedded etcd: %w", err)
	}
	s.e = e
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(30 * time.Second):
		s.Close()
		return nil, fmt.Errorf("embedded etcd did not become ready in 30s")
	}
	s.Endpoint = "https://" + e.Clients[0].Addr().String()
	tlsInfo := transport.TLSInfo{CertFile: s.Cert, KeyFile: s.Key, TrustedCAFile: s.CACert}
	tc, err := tlsInfo.ClientConfig()
	if err != nil {
		s.Close()
		return nil, err
	}
	s.Client, err = clientv3.New(clientv3.Config{Endpoints: []string{s.Endpoint}, TLS: tc, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Close stops the server once (embed.Etcd.Close panics when called twice).
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		if s.Client != nil {
			s.Client.Close()
		}
		if s.e != nil {
			s.e.Close()
		}
	})
}

// Snapshot saves a snapshot through the client's Maintenance API, as `etcdctl snapshot
// save` does (with the SHA-256 etcd appends), into path (0600).
func (s *Server) Snapshot(ctx context.Context, path string) error {
	resp, err := s.Client.Maintenance.SnapshotWithVersion(ctx)
	if err != nil {
		return err
	}
	defer resp.Snapshot.Close()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600) // redact: test server fixture (generated keys)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Snapshot); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// makePKI writes a CA, a server certificate for 127.0.0.1, a client certificate, and an
// unrelated CA.
func makePKI(dir string) (ca, cert, key, srvCert, srvKey, otherCA string, err error) {
	caKey, caCert, caDER, err := newCA("kubesleuth-test-ca")
	if err != nil {
		return
	}
	_, _, otherDER, err := newCA("unrelated-ca")
	if err != nil {
		return
	}
	write := func(name, typ string, der []byte) (string, error) {
		p := filepath.Join(dir, name)
		// redact: test certificates generated for the test server
		return p, os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600)
	}
	if ca, err = write("ca.crt", "CERTIFICATE", caDER); err != nil {
		return
	}
	if otherCA, err = write("other-ca.crt", "CERTIFICATE", otherDER); err != nil {
		return
	}
	leaf := func(name string, server bool) (string, string, error) {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return "", "", err
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(time.Now().UnixNano()),
			Subject:      pkix.Name{CommonName: name},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(24 * time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		}
		if server {
			tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
			tmpl.DNSNames = []string{"localhost"}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &k.PublicKey, caKey)
		if err != nil {
			return "", "", err
		}
		kd, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			return "", "", err
		}
		c, err := write(name+".crt", "CERTIFICATE", der)
		if err != nil {
			return "", "", err
		}
		kp, err := write(name+".key", "EC PRIVATE KEY", kd)
		return c, kp, err
	}
	if srvCert, srvKey, err = leaf("etcd-server", true); err != nil {
		return
	}
	cert, key, err = leaf("apiserver-etcd-client", false)
	return
}

func newCA(cn string) (*ecdsa.PrivateKey, *x509.Certificate, []byte, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		return nil, nil, nil, err
	}
	c, err := x509.ParseCertificate(der)
	return k, c, der, err
}

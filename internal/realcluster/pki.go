package realcluster

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// CA is a certificate authority whose files live in one folder. A cluster uses one CA for
// its serving certificate, its client certificates (--client-ca-file) and the certificates
// the controller-manager signs for approved CSRs; a caller that points the audit webhook at
// its own server (kubesleuth serve over mTLS) makes the CA first (NewCA), issues that
// server's certificate and the apiserver's webhook client certificate from it, and passes
// it in Options.CA.
type CA struct {
	// CertFile and KeyFile are the CA's PEM certificate and key (0600).
	CertFile, KeyFile string
	dir               string
	key               *ecdsa.PrivateKey
	cert              *x509.Certificate
}

// Pair is a certificate and its private key, as PEM files.
type Pair struct{ CertFile, KeyFile string }

// NewCA writes a new CA (ECDSA P-256, valid 48 hours) into dir, which is created 0700. It
// fails when dir cannot be written.
func NewCA(dir string) (*CA, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "kubesleuth-realcluster-ca"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(48 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		return nil, err
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	ca := &CA{dir: dir, key: k, cert: c}
	if ca.CertFile, err = writePEM(dir, "ca.crt", "CERTIFICATE", der); err != nil {
		return nil, err
	}
	kd, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return nil, err
	}
	if ca.KeyFile, err = writePEM(dir, "ca.key", "EC PRIVATE KEY", kd); err != nil {
		return nil, err
	}
	return ca, nil
}

// Issue writes NAME.crt and NAME.key into the CA's folder: a certificate for commonName
// with organizations (a client certificate's groups, for Kubernetes). With hosts it is also
// a serving certificate for those IPs and DNS names. It fails when the files cannot be
// written.
func (ca *CA) Issue(name, commonName string, organizations []string, hosts ...string) (Pair, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Pair{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: commonName, Organization: organizations},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(47 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if len(hosts) > 0 {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
		for _, h := range hosts {
			if ip := net.ParseIP(h); ip != nil {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			} else {
				tmpl.DNSNames = append(tmpl.DNSNames, h)
			}
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &k.PublicKey, ca.key)
	if err != nil {
		return Pair{}, err
	}
	var p Pair
	if p.CertFile, err = writePEM(ca.dir, name+".crt", "CERTIFICATE", der); err != nil {
		return Pair{}, err
	}
	kd, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return Pair{}, err
	}
	if p.KeyFile, err = writePEM(ca.dir, name+".key", "EC PRIVATE KEY", kd); err != nil {
		return Pair{}, err
	}
	return p, nil
}

// writeRSAKeyPair writes the service-account signing key pair (the apiserver signs
// service-account tokens with RS256 by default; an RSA key is what kubeadm makes).
func writeRSAKeyPair(dir string) (pub, priv string, err error) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", "", err
	}
	if priv, err = writePEM(dir, "sa.key", "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(k)); err != nil {
		return "", "", err
	}
	pd, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		return "", "", err
	}
	pub, err = writePEM(dir, "sa.pub", "PUBLIC KEY", pd)
	return pub, priv, err
}

func writePEM(dir, name, typ string, der []byte) (string, error) {
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		return "", fmt.Errorf("writing %s: %w", p, err)
	}
	return p, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return big.NewInt(time.Now().UnixNano())
	}
	return n
}

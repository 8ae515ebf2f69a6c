package matgto

// The connection options (token, TLS, mTLS) resolved against a fake
// environment: which option wins, what is refused, what is read.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func dialOpts(opts ...DialOption) dialOptions {
	var o dialOptions
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// writeTestPEM writes a self-signed P-256 certificate and its key, made
// now, so that the resolver can load them.
func writeTestPEM(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "resolver test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "c.pem"), filepath.Join(dir, "c.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func TestResolveNothingIsPlaintextWithoutToken(t *testing.T) {
	s, err := resolveConnection("127.0.0.1:8889", dialOpts(), env(nil))
	if err != nil || s.tls != nil || s.token != "" {
		t.Fatalf("got %+v, %v; want plaintext, no token", s, err)
	}
}

func TestResolveTokenOptionWinsOverEnvironment(t *testing.T) {
	e := env(map[string]string{EnvToken: "from-env"})
	for _, tc := range []struct {
		opts []DialOption
		want string
	}{{nil, "from-env"}, {[]DialOption{WithToken("arg")}, "arg"}, {[]DialOption{WithToken("")}, ""}} {
		s, err := resolveConnection("127.0.0.1:1", dialOpts(tc.opts...), e)
		if err != nil || s.token != tc.want {
			t.Errorf("token = %q, %v; want %q", s.token, err, tc.want)
		}
	}
}

func TestResolveTLSFromEnvironment(t *testing.T) {
	cert, key := writeTestPEM(t)
	s, err := resolveConnection("central:8889", dialOpts(), env(map[string]string{
		EnvTLSCA: cert, EnvTLSCert: cert, EnvTLSKey: key, EnvToken: "t"}))
	if err != nil {
		t.Fatal(err)
	}
	if s.tls == nil || s.tls.RootCAs == nil || len(s.tls.Certificates) != 1 || s.token != "t" {
		t.Fatalf("got tls %+v token %q; want roots, one client certificate, the token", s.tls, s.token)
	}
	opts := s.grpcOptions()
	if len(opts) != 3 {
		t.Errorf("%d gRPC options, want no-proxy + transport + per-RPC credentials", len(opts))
	}
}

func TestResolveTLSConfigAloneUsesItsRoots(t *testing.T) {
	s, err := resolveConnection("central:443", dialOpts(WithTLSConfig(&tls.Config{ServerName: "matgto"})), env(nil))
	if err != nil || s.tls == nil || s.tls.RootCAs != nil || s.tls.ServerName != "matgto" {
		t.Fatalf("got %+v, %v; want TLS with the system roots and the config's ServerName", s.tls, err)
	}
	s, err = resolveConnection("central:443", dialOpts(WithTLSConfig(nil)), env(nil))
	if err != nil || s.tls != nil {
		t.Fatalf("WithTLSConfig(nil): got %+v, %v; want plaintext", s.tls, err)
	}
}

func TestResolveInsecureIsExplicitPlaintext(t *testing.T) {
	s, err := resolveConnection("central:8889", dialOpts(WithInsecure()), env(map[string]string{EnvTLSCA: "/nonexistent", EnvToken: "t"}))
	if err != nil || s.tls != nil || s.token != "t" {
		t.Fatalf("got %+v, %v; want plaintext with the token", s, err)
	}
	if _, err := resolveConnection("h:1", dialOpts(WithInsecure(), WithTLSCA("x")), env(nil)); err == nil || !strings.Contains(err.Error(), "cannot be combined") {
		t.Errorf("WithInsecure + WithTLSCA: %v", err)
	}
}

func TestResolveRefusesAPlaintextTokenToARemoteHost(t *testing.T) {
	_, err := resolveConnection("central:8889", dialOpts(WithToken("t")), env(nil))
	if err == nil || !strings.Contains(err.Error(), "refusing to send the token in plaintext to central:8889") {
		t.Errorf("got %v", err)
	}
	for _, target := range []string{"127.0.0.1:1", "localhost:1", "[::1]:1", "ipv4:127.0.0.2:1", "unix:/tmp/s", "dns:///localhost:1"} {
		if s, err := resolveConnection(target, dialOpts(WithToken("t")), env(nil)); err != nil || s.token != "t" {
			t.Errorf("%s: %+v, %v", target, s, err)
		}
	}
	if isLoopbackTarget("10.0.0.1:8889") || isLoopbackTarget("matgto.internal:8889") {
		t.Error("a remote host counted as loopback")
	}
}

func TestResolveCertificateNeedsItsKey(t *testing.T) {
	if _, err := resolveConnection("h:1", dialOpts(), env(map[string]string{EnvTLSCert: "/c"})); err == nil || !strings.Contains(err.Error(), "needs its key") {
		t.Errorf("got %v", err)
	}
}

func TestResolveNamesAnUnreadableFileAndItsVariable(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope.pem")
	_, err := resolveConnection("h:1", dialOpts(), env(map[string]string{EnvTLSCA: missing}))
	if err == nil || !strings.Contains(err.Error(), "nope.pem") || !strings.Contains(err.Error(), "$MATGTO_TLS_CA") {
		t.Errorf("got %v", err)
	}
}

func TestBearerRequiresTransportSecurityOnlyOverTLS(t *testing.T) {
	if (bearer{value: "Bearer t", secureOnly: true}).RequireTransportSecurity() != true {
		t.Error("over TLS the token must require transport security")
	}
	md, _ := (bearer{value: "Bearer t"}).GetRequestMetadata(context.Background())
	if md["authorization"] != "Bearer t" {
		t.Errorf("metadata %v", md)
	}
}

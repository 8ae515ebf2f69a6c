package matgto_test

// HTTPS interception: the CA certificate, the transport trusting it, and a
// record/replay through CONNECT to a TLS upstream with a CA of its own.

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestCACertificate(t *testing.T) {
	srv := startServer(t, t.TempDir())
	c := dial(t, srv)
	ctx := ctxFor(t)
	pemBytes, err := c.CACertificate(ctx)
	if err != nil {
		t.Fatalf("CACertificate: %v", err)
	}
	block, rest := pem.Decode(pemBytes)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("CACertificate returned no PEM CERTIFICATE block: %q", pemBytes)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		t.Errorf("CACertificate: unexpected data after the certificate: %q", rest)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatalf("parsing the CA certificate: %v", err)
	}
	if !cert.IsCA || cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		t.Errorf("the certificate is not a signing CA: IsCA %v, key usage %v", cert.IsCA, cert.KeyUsage)
	}
	if time.Now().Before(cert.NotBefore) || time.Now().After(cert.NotAfter) {
		t.Errorf("the CA is not valid now: %v .. %v", cert.NotBefore, cert.NotAfter)
	}

	// The server's status names the same certificate.
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	if p := st.TLS.GetCaCertificatePath(); p == "" {
		t.Errorf("Status().TLS has no CA path")
	} else if onDisk, err := os.ReadFile(p); err != nil || !bytes.Equal(bytes.TrimSpace(onDisk), bytes.TrimSpace(pemBytes)) {
		t.Errorf("the CA file %s (%v) differs from the PEM CACertificate returned", p, err)
	}

	tr, err := c.HTTPTransport(ctx)
	if err != nil {
		t.Fatalf("HTTPTransport: %v", err)
	}
	if tr.TLSClientConfig == nil || tr.TLSClientConfig.RootCAs == nil {
		t.Fatalf("HTTPTransport does not trust the server's CA")
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: tr.TLSClientConfig.RootCAs}); err != nil {
		t.Errorf("the transport's roots do not verify the CA: %v", err)
	}
}

// testCA is a throwaway CA for an HTTPS upstream that matgto does not know.
type testCA struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	pemFile string
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "matgto Go client test upstream CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	file := filepath.Join(t.TempDir(), "upstream-ca.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key, pemFile: file}
}

// leaf issues a server certificate for 127.0.0.1 and localhost.
func (ca *testCA) leaf(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func TestHTTPSRecordAndReplayThroughTheCA(t *testing.T) {
	ca := newTestCA(t)
	var calls atomic.Int64
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		noise := make([]byte, 16)
		_, _ = rand.Read(noise)
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write([]byte("secure call " + big.NewInt(n).String() + " " + r.URL.RequestURI() + " "))
		_, _ = w.Write(noise)
	}))
	up.TLS = &tls.Config{Certificates: []tls.Certificate{ca.leaf(t)}}
	up.StartTLS()
	t.Cleanup(up.Close)
	if !strings.HasPrefix(up.URL, "https://127.0.0.1:") {
		t.Fatalf("upstream URL %s", up.URL)
	}

	srv := startServer(t, t.TempDir(), "--upstream-ca-file", ca.pemFile)
	c := dial(t, srv)
	hc := proxiedClient(t, c) // trusts the matgto CA
	ctx := ctxFor(t)
	const name = "tls/secure"

	// Without the matgto CA, the intercepted host is not trusted.
	plain := http.DefaultTransport.(*http.Transport).Clone()
	proxyURL, err := c.ProxyURL(ctx)
	if err != nil {
		t.Fatalf("ProxyURL: %v", err)
	}
	plain.Proxy = http.ProxyURL(proxyURL)
	t.Cleanup(plain.CloseIdleConnections)

	if _, err := c.StartRecording(ctx, name); err != nil {
		t.Fatalf("StartRecording: %v", err)
	}
	if resp, err := (&http.Client{Transport: plain, Timeout: 30 * time.Second}).Get(up.URL + "/untrusted"); err == nil {
		resp.Body.Close()
		t.Errorf("an HTTPS request through the proxy without trusting its CA succeeded (status %d)", resp.StatusCode)
	} else if !strings.Contains(err.Error(), "certificate") {
		t.Errorf("an HTTPS request without the CA failed with %v, want a certificate error", err)
	}
	rec := do(t, hc, "GET", up.URL+"/secure?x=1", nil)
	if rec.Status != http.StatusOK || !bytes.HasPrefix(rec.Body, []byte("secure call ")) {
		t.Fatalf("HTTPS through the proxy: status %d body %q", rec.Status, rec.Body)
	}
	sum, err := c.StopRecording(ctx)
	if err != nil {
		t.Fatalf("StopRecording: %v", err)
	}
	if sum.Session.Recorded != 1 {
		t.Errorf("recorded %d exchanges, want 1", sum.Session.Recorded)
	}
	cas, err := c.GetCassette(ctx, name)
	if err != nil {
		t.Fatalf("GetCassette: %v", err)
	}
	if u := cas.GetInteractions()[0].GetHttp().GetRequest().GetUrl(); !strings.HasPrefix(u, "https://127.0.0.1:") {
		t.Errorf("recorded URL %q, want https://127.0.0.1:...", u)
	}

	up.Close()
	hc.CloseIdleConnections()
	if _, err := c.Replay(ctx, name); err != nil {
		t.Fatalf("Replay: %v", err)
	}
	got := do(t, hc, "GET", up.URL+"/secure?x=1", nil)
	if got.Status != rec.Status || !bytes.Equal(got.Body, rec.Body) {
		t.Errorf("HTTPS replay: status %d body %q, recorded %q", got.Status, got.Body, rec.Body)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("the upstream saw %d calls, want 1", n)
	}
}

package matgto

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

// The variables [UseProxyEnv] sets. Both spellings of the proxy variables:
// curl reads only the lower-case http_proxy, Go and Python either.
var (
	proxyEnvVars   = []string{"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"}
	noProxyEnvVars = []string{"NO_PROXY", "no_proxy"}
	// Files of roots that replace the system ones (Go, OpenSSL, Python
	// requests, curl): they get the system roots and the matgto CA.
	caBundleEnvVars = []string{"SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"}
)

// systemBundles are where Linux distributions and macOS keep the roots
// (the list crypto/x509 reads); the first one found goes into the bundle.
var systemBundles = []string{
	"/etc/ssl/certs/ca-certificates.crt",
	"/etc/pki/tls/certs/ca-bundle.crt",
	"/etc/ssl/ca-bundle.pem",
	"/etc/pki/tls/cacert.pem",
	"/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
	"/etc/ssl/cert.pem",
}

// UseProxyEnv points the whole process at session s for the rest of the
// test t, for code under test that builds its own HTTP clients, and restores
// everything when the test ends (t.Setenv and t.Cleanup, so not in a
// parallel test, which t.Setenv refuses):
//
//   - HTTP_PROXY, HTTPS_PROXY (and http_proxy, https_proxy) = s.ProxyURL();
//     NO_PROXY and no_proxy emptied. Child processes (curl, Python, Node
//     with a proxy agent...) inherit them;
//   - when the server intercepts HTTPS: SSL_CERT_FILE, REQUESTS_CA_BUNDLE
//     and CURL_CA_BUNDLE = a file of the system roots plus the server's CA,
//     NODE_EXTRA_CA_CERTS = the server's CA alone;
//   - http.DefaultTransport (and thus http.DefaultClient, http.Get) =
//     s.HTTPTransport(), which goes through the session's proxy and trusts
//     the server's CA. This is needed in the test process itself: net/http
//     reads the proxy variables, and crypto/x509 SSL_CERT_FILE, only once
//     per process.
//
// Usually after [UseCassette]:
//
//	s := matgto.UseCassette(t, "")
//	matgto.UseProxyEnv(t, s)
//	resp, err := http.Get("https://api.example.com/v1/x") // through s
//
// For the server's shared proxy port, pass the session that
// UseCassette(t, name, WithSession(DefaultSession)) returns. A failure
// (the CA cannot be fetched or written) ends the test.
func UseProxyEnv(t testing.TB, s *Session) {
	t.Helper()
	proxy := s.ProxyURL().String()
	for _, k := range proxyEnvVars {
		t.Setenv(k, proxy)
	}
	for _, k := range noProxyEnvVars {
		t.Setenv(k, "")
	}

	ctx, cancel := context.WithTimeout(context.Background(), helperTimeout)
	defer cancel()
	pem, err := s.c.CACertificate(ctx)
	switch {
	case errors.Is(err, ErrUnimplemented): // no interception: nothing to trust
	case err != nil:
		t.Fatalf("matgto: UseProxyEnv: fetching the server's CA: %v", err)
	default:
		dir := t.TempDir()
		caFile := filepath.Join(dir, "matgto-ca.pem")
		bundle := filepath.Join(dir, "ca-bundle.pem")
		if err := os.WriteFile(caFile, pem, 0o644); err != nil {
			t.Fatalf("matgto: UseProxyEnv: %v", err)
		}
		if err := os.WriteFile(bundle, append(systemRootsPEM(), pem...), 0o644); err != nil {
			t.Fatalf("matgto: UseProxyEnv: %v", err)
		}
		for _, k := range caBundleEnvVars {
			t.Setenv(k, bundle)
		}
		t.Setenv("NODE_EXTRA_CA_CERTS", caFile)
	}

	prev := http.DefaultTransport
	http.DefaultTransport = s.HTTPTransport()
	t.Cleanup(func() { http.DefaultTransport = prev })
}

// systemRootsPEM is the system's bundle of roots ($SSL_CERT_FILE, else the
// first file of systemBundles), ending with a newline; empty when there is
// none.
func systemRootsPEM() []byte {
	files := systemBundles
	if f := os.Getenv("SSL_CERT_FILE"); f != "" {
		files = []string{f}
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err == nil && len(data) > 0 {
			if data[len(data)-1] != '\n' {
				data = append(data, '\n')
			}
			return data
		}
	}
	return nil
}

package matgto

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
)

// HTTPTransport returns an *http.Transport that sends every request through
// the server's proxy and, when the server intercepts HTTPS, trusts its CA on
// top of the system roots. Use it in the HTTP clients of the code under test:
//
//	tr, err := c.HTTPTransport(ctx)
//	httpClient := &http.Client{Transport: tr}
func (c *Client) HTTPTransport(ctx context.Context) (*http.Transport, error) {
	proxy, err := c.ProxyURL(ctx)
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = http.ProxyURL(proxy)
	// The proxy speaks HTTP/1.1.
	tr.ForceAttemptHTTP2 = false

	pem, err := c.CACertificate(ctx)
	switch {
	case errors.Is(err, ErrUnimplemented):
		// No HTTPS interception: the system roots are all there is to trust.
		return tr, nil
	case err != nil:
		return nil, err
	}
	pool, poolErr := x509.SystemCertPool()
	if poolErr != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("matgto: the CA certificate from %s holds no usable PEM certificate (%d bytes)", c.addr, len(pem))
	}
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return tr, nil
}

// ProxyURL returns the URL of the server's HTTP proxy, "http://host:port".
// When the server listens on all interfaces (0.0.0.0 or ::), the host of the
// control address stands in for it.
func (c *Client) ProxyURL(ctx context.Context) (*url.URL, error) {
	st, err := c.Status(ctx)
	if err != nil {
		return nil, err
	}
	host, port, err := net.SplitHostPort(st.ProxyAddress)
	if err != nil {
		return nil, fmt.Errorf("matgto: the server at %s reports an unusable proxy address %q: %v", c.addr, st.ProxyAddress, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		if ctlHost, _, err := net.SplitHostPort(c.addr); err == nil && ctlHost != "" {
			host = ctlHost
		} else {
			host = "127.0.0.1"
		}
	}
	return &url.URL{Scheme: "http", Host: net.JoinHostPort(host, port)}, nil
}

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
// the server's shared proxy port (the default session) and, when the server
// intercepts HTTPS, trusts its CA on top of the system roots. Use it in the
// HTTP clients of the code under test:
//
//	tr, err := c.HTTPTransport(ctx)
//	httpClient := &http.Client{Transport: tr}
//
// A [Session] has a transport of its own ([Session.HTTPTransport]).
func (c *Client) HTTPTransport(ctx context.Context) (*http.Transport, error) {
	proxy, err := c.ProxyURL(ctx)
	if err != nil {
		return nil, err
	}
	pool, err := c.trustedRoots(ctx)
	if err != nil {
		return nil, err
	}
	return newProxyTransport(proxy, pool), nil
}

// newProxyTransport is an HTTP/1.1 transport through proxy that trusts pool
// (nil: the system roots).
func newProxyTransport(proxy *url.URL, pool *x509.CertPool) *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = http.ProxyURL(proxy)
	// The proxy speaks HTTP/1.1.
	tr.ForceAttemptHTTP2 = false
	if pool != nil {
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return tr
}

// trustedRoots returns the system roots plus the server's CA, or nil when
// the server does not intercept HTTPS (UNIMPLEMENTED: the system roots are
// all there is to trust). The answer is kept: a server's CA does not change
// while it runs.
func (c *Client) trustedRoots(ctx context.Context) (*x509.CertPool, error) {
	c.mu.Lock()
	known, pool := c.rootsKnown, c.roots
	c.mu.Unlock()
	if known {
		return pool, nil
	}
	pem, err := c.CACertificate(ctx)
	switch {
	case errors.Is(err, ErrUnimplemented):
		pool = nil
	case err != nil:
		return nil, err
	default:
		sys, sysErr := x509.SystemCertPool()
		if sysErr != nil || sys == nil {
			sys = x509.NewCertPool()
		}
		if !sys.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("matgto: the CA certificate from %s holds no usable PEM certificate (%d bytes)", c.addr, len(pem))
		}
		pool = sys
	}
	c.mu.Lock()
	c.rootsKnown, c.roots = true, pool
	c.mu.Unlock()
	return pool, nil
}

// ProxyURL returns the URL of the server's shared HTTP proxy port,
// "http://host:port". When the server listens on all interfaces (0.0.0.0 or
// ::), the host of the control address stands in for it.
func (c *Client) ProxyURL(ctx context.Context) (*url.URL, error) {
	st, err := c.Status(ctx)
	if err != nil {
		return nil, err
	}
	return c.proxyURLFor(st.ProxyAddress)
}

// proxyURLFor is "http://" + addr, with the control address's host standing
// in for an unspecified (0.0.0.0, ::) or empty one, and the loopback address
// of its family (127.0.0.1, ::1) when the control host is unspecified too.
func (c *Client) proxyURLFor(addr string) (*url.URL, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("matgto: the server at %s reports an unusable proxy address %q: %v", c.addr, addr, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		ctlHost, _, err := net.SplitHostPort(c.addr)
		if ctlIP := net.ParseIP(ctlHost); err == nil && ctlHost != "" && (ctlIP == nil || !ctlIP.IsUnspecified()) {
			host = ctlHost
		} else if ip != nil && ip.To4() == nil {
			host = "::1" // an IPv6-only listener is not reachable on 127.0.0.1
		} else {
			host = "127.0.0.1"
		}
	}
	return &url.URL{Scheme: "http", Host: net.JoinHostPort(host, port)}, nil
}

package matgto

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// Environment variables read by [Dial] when the matching option is not
// given.
const (
	// EnvToken holds the bearer token ([WithToken]).
	EnvToken = "MATGTO_TOKEN"
	// EnvTLSCA names the PEM file of the roots that sign the server's
	// certificate ([WithTLSCA]).
	EnvTLSCA = "MATGTO_TLS_CA"
	// EnvTLSCert names the client certificate (PEM) for mTLS
	// ([WithClientCertificate]).
	EnvTLSCert = "MATGTO_TLS_CERT"
	// EnvTLSKey names the client certificate's private key (PEM).
	EnvTLSKey = "MATGTO_TLS_KEY"
)

// WithToken sets the bearer token sent as "authorization: Bearer TOKEN" on
// every call (default: $MATGTO_TOKEN). WithToken("") sends none, whatever
// the environment says.
func WithToken(token string) DialOption {
	return func(o *dialOptions) { o.token, o.hasToken = token, true }
}

// WithTLSCA connects with TLS, trusting the roots in the PEM file caFile
// (default: $MATGTO_TLS_CA).
func WithTLSCA(caFile string) DialOption {
	return func(o *dialOptions) { o.caFile = caFile }
}

// WithClientCertificate presents the certificate chain certFile with its
// key keyFile (PEM) to a server that asks for one (mTLS); it implies TLS.
// Default: $MATGTO_TLS_CERT and $MATGTO_TLS_KEY.
func WithClientCertificate(certFile, keyFile string) DialOption {
	return func(o *dialOptions) { o.certFile, o.keyFile = certFile, keyFile }
}

// WithTLSConfig connects with TLS as cfg says (roots, client certificates,
// ServerName...); [WithTLSCA] and [WithClientCertificate] add to a clone of
// it. WithTLSConfig(&tls.Config{}) connects with the system roots.
func WithTLSConfig(cfg *tls.Config) DialOption {
	return func(o *dialOptions) { o.tlsConfig = cfg }
}

// WithInsecure connects in plaintext, explicitly: the TLS variables of the
// environment are ignored, and a token may go to a host other than loopback
// (for instance behind a service mesh that encrypts the traffic). Without
// it, [Dial] refuses to send a token in plaintext to a non-loopback address.
func WithInsecure() DialOption {
	return func(o *dialOptions) { o.insecure = true }
}

// connSettings is what Dial resolved from its options and the environment.
type connSettings struct {
	tls    *tls.Config // nil: plaintext
	token  string
	caFile string // for messages
}

// resolveConnection applies the connection options over the environment
// (getenv).
func resolveConnection(addr string, o dialOptions, getenv func(string) string) (connSettings, error) {
	var s connSettings
	s.token = o.token
	if !o.hasToken {
		s.token = strings.TrimSpace(getenv(EnvToken))
	}
	if strings.ContainsAny(s.token, "\r\n") {
		return s, errors.New("the token contains a line break")
	}
	if o.insecure {
		if o.caFile != "" || o.certFile != "" || o.keyFile != "" || o.tlsConfig != nil {
			return s, errors.New("WithInsecure (plaintext) cannot be combined with TLS options")
		}
		return s, nil
	}
	ca, cert, key := o.caFile, o.certFile, o.keyFile
	caFrom, certFrom := "", ""
	if ca == "" {
		if ca = strings.TrimSpace(getenv(EnvTLSCA)); ca != "" {
			caFrom = " (from $" + EnvTLSCA + ")"
		}
	}
	if cert == "" && key == "" {
		cert, key = strings.TrimSpace(getenv(EnvTLSCert)), strings.TrimSpace(getenv(EnvTLSKey))
		if cert != "" || key != "" {
			certFrom = " (from $" + EnvTLSCert + "/$" + EnvTLSKey + ")"
		}
	}
	if (cert == "") != (key == "") {
		return s, fmt.Errorf("a client certificate needs its key: give both files (WithClientCertificate, or $%s and $%s), or neither", EnvTLSCert, EnvTLSKey)
	}
	if ca == "" && cert == "" && o.tlsConfig == nil {
		if s.token != "" && !isLoopbackTarget(addr) {
			return s, fmt.Errorf("refusing to send the token in plaintext to %s: connect with TLS (WithTLSCA or $%s, or WithTLSConfig), or choose plaintext explicitly with WithInsecure (e.g. behind an encrypting service mesh)", addr, EnvTLSCA)
		}
		return s, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.tlsConfig != nil {
		cfg = o.tlsConfig.Clone()
	}
	if ca != "" {
		pemBytes, err := os.ReadFile(ca)
		if err != nil {
			return s, fmt.Errorf("reading the TLS CA file%s: %w", caFrom, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemBytes) {
			return s, fmt.Errorf("the TLS CA file %s%s holds no PEM certificate", ca, caFrom)
		}
		cfg.RootCAs = pool
		s.caFile = ca
	}
	if cert != "" {
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return s, fmt.Errorf("loading the TLS client certificate %s and key %s%s: %w", cert, key, certFrom, err)
		}
		cfg.Certificates = append(cfg.Certificates, pair)
	}
	s.tls = cfg
	return s, nil
}

// isLoopbackTarget reports whether a gRPC target names this machine
// (localhost, 127.0.0.0/8, ::1, a unix socket).
func isLoopbackTarget(target string) bool {
	if strings.HasPrefix(target, "unix:") || strings.HasPrefix(target, "unix-abstract:") {
		return true
	}
	for _, p := range []string{"dns:", "ipv4:", "ipv6:", "passthrough:"} {
		target = strings.TrimPrefix(target, p)
	}
	target = strings.Split(target, ",")[0]
	target = target[strings.LastIndex(target, "/")+1:]
	host := target
	if h, _, err := net.SplitHostPort(target); err == nil {
		host = h
	}
	host = strings.ToLower(strings.Trim(host, "[]"))
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// bearer is the per-RPC credential that sends the token. Over TLS it
// requires transport security (gRPC then refuses to send it in plaintext);
// on a plaintext connection that Dial allowed (loopback, or WithInsecure)
// it does not.
type bearer struct {
	value      string
	secureOnly bool
}

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": b.value}, nil
}

func (b bearer) RequireTransportSecurity() bool { return b.secureOnly }

// grpcOptions are the gRPC dial options for s. The control channel never
// goes through an HTTP proxy: grpc-go would follow HTTPS_PROXY (and
// HTTP_PROXY), which tests set for the code under test, often to matgto's
// own proxy.
func (s connSettings) grpcOptions() []grpc.DialOption {
	opts := []grpc.DialOption{grpc.WithNoProxy()}
	if s.tls != nil {
		opts = append(opts, grpc.WithTransportCredentials(credentials.NewTLS(s.tls)))
	} else {
		opts = append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))
	}
	if s.token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(bearer{value: "Bearer " + s.token, secureOnly: s.tls != nil}))
	}
	return opts
}

// cutPrefixFold is strings.CutPrefix ignoring ASCII case.
func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}

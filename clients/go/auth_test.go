package matgto_test

// A secured control API against real servers: TLS, mTLS and scoped bearer
// tokens. TestSecuredControlAPI shares one TLS and one mTLS server (same
// token file) between its subtests; TestAdminTokenShutsDown starts its own.
// The CA, the server certificate (127.0.0.1, localhost) and the client
// certificate are made at test time with crypto/x509.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/matgto/matgto-serge/clients/go"
	pb "github.com/matgto/matgto-serge/clients/go/matgtov1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

var authTokens = map[string]string{
	"read": "read-token-0123456789", "write": "write-token-0123456789", "admin": "admin-token-0123456789", "team": "team-a-token-0123456789",
}

type controlPKI struct {
	ca, serverCert, serverKey, clientCert, clientKey, tokens string
}

func writePEM(t *testing.T, file, kind string, der []byte) {
	t.Helper()
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// newControlPKI writes a CA, a server and a client certificate, and a
// token file, into dir.
func newControlPKI(t *testing.T, dir string) controlPKI {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "matgto control test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	p := controlPKI{ca: filepath.Join(dir, "ca.pem"), tokens: filepath.Join(dir, "tokens")}
	writePEM(t, p.ca, "CERTIFICATE", caDER)
	issue := func(name string, serial int64, usage x509.ExtKeyUsage, server bool) (string, string) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "matgto test " + name},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		}
		if server {
			tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
			tmpl.DNSNames = []string{"localhost"}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		keyDER, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		certFile, keyFile := filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key")
		writePEM(t, certFile, "CERTIFICATE", der)
		writePEM(t, keyFile, "PRIVATE KEY", keyDER)
		return certFile, keyFile
	}
	p.serverCert, p.serverKey = issue("server", 2, x509.ExtKeyUsageServerAuth, true)
	p.clientCert, p.clientKey = issue("client", 3, x509.ExtKeyUsageClientAuth, false)
	tokens := "# token scope [name-prefix]\n" + authTokens["read"] + " read\n" + authTokens["write"] + " write\n" +
		authTokens["admin"] + " admin\n" + authTokens["team"] + " write team-a/\n"
	if err := os.WriteFile(p.tokens, []byte(tokens), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func startSecured(t *testing.T, p controlPKI, mtls bool) *matgto.Server {
	t.Helper()
	args := []string{"--control-tls-cert", p.serverCert, "--control-tls-key", p.serverKey, "--auth-tokens", p.tokens}
	if mtls {
		args = append(args, "--control-client-ca", p.ca)
	}
	return startServer(t, t.TempDir(), args...)
}

// dialSecured dials s trusting the test CA, with the token of scope (or
// scope itself when it names none), and more options.
func dialSecured(t *testing.T, s *matgto.Server, p controlPKI, scope string, opts ...matgto.DialOption) *matgto.Client {
	t.Helper()
	token, ok := authTokens[scope]
	if !ok {
		token = scope
	}
	c, err := matgto.Dial(ctxFor(t), s.ControlAddress, append([]matgto.DialOption{matgto.WithToken(token), matgto.WithTLSCA(p.ca)}, opts...)...)
	if err != nil {
		t.Fatalf("Dial(%s): %v", s.ControlAddress, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// shortCtx bounds calls expected to fail on the handshake.
func shortCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustRecord(t *testing.T, c *matgto.Client, name string) {
	t.Helper()
	ctx := ctxFor(t)
	s, err := c.OpenSession(ctx, name, matgto.WithMode(matgto.ModeRecord), matgto.WithoutLease())
	if err != nil {
		t.Fatalf("OpenSession(%s): %v", name, err)
	}
	if _, err := s.Stop(ctx); err != nil {
		t.Fatalf("Stop(%s): %v", name, err)
	}
}

func wantErr(t *testing.T, what string, err, sentinel error) {
	t.Helper()
	if !errors.Is(err, sentinel) {
		t.Errorf("%s: %v, want %v", what, err, sentinel)
	}
}

func TestSecuredControlAPI(t *testing.T) {
	p := newControlPKI(t, t.TempDir())
	tlsSrv, mtlsSrv := startSecured(t, p, false), startSecured(t, p, true)
	withCert := matgto.WithClientCertificate(p.clientCert, p.clientKey)

	t.Run("ReadTokenListsButMayNotRecord", func(t *testing.T) {
		c := dialSecured(t, tlsSrv, p, "read")
		ctx := ctxFor(t)
		if !c.TLS() {
			t.Error("the client does not report TLS")
		}
		if _, err := c.Status(ctx); err != nil {
			t.Fatalf("Status: %v", err)
		}
		if _, err := c.ListCassettes(ctx, ""); err != nil {
			t.Fatalf("ListCassettes: %v", err)
		}
		_, err := c.StartRecording(ctx, "auth/read-may-not", matgto.WithNewSession())
		wantErr(t, "StartRecording with a read token", err, matgto.ErrPermissionDenied)
		if errors.Is(err, matgto.ErrUnauthenticated) {
			t.Errorf("PERMISSION_DENIED also matches ErrUnauthenticated")
		}
		wantErr(t, "DeleteCassette with a read token", c.DeleteCassette(ctx, "auth/read-may-not"), matgto.ErrPermissionDenied)
	})

	t.Run("WriteTokenRecordsButMayNotShutDown", func(t *testing.T) {
		c := dialSecured(t, tlsSrv, p, "write")
		mustRecord(t, c, "auth/written")
		wantErr(t, "Shutdown with a write token", c.Shutdown(ctxFor(t)), matgto.ErrPermissionDenied)
		if _, err := c.Status(ctxFor(t)); err != nil {
			t.Errorf("the server is gone after a refused Shutdown: %v", err)
		}
		// What write recorded, read replays (and may stop: the session only replays).
		r := dialSecured(t, tlsSrv, p, "read")
		s, err := r.OpenSession(ctxFor(t), "auth/written", matgto.WithMode(matgto.ModeReplay), matgto.WithoutLease())
		if err != nil {
			t.Fatalf("replay with a read token: %v", err)
		}
		if _, err := s.Stop(ctxFor(t)); err != nil {
			t.Errorf("stopping a replay session with a read token: %v", err)
		}
	})

	t.Run("NamePrefixLimitsAToken", func(t *testing.T) {
		c := dialSecured(t, tlsSrv, p, "team")
		mustRecord(t, c, "team-a/ok")
		_, err := c.StartRecording(ctxFor(t), "team-b/not-mine", matgto.WithNewSession())
		wantErr(t, "StartRecording outside the prefix", err, matgto.ErrPermissionDenied)
	})

	t.Run("WrongOrMissingTokenIsUnauthenticated", func(t *testing.T) {
		_, err := dialSecured(t, tlsSrv, p, "not-a-token").Status(ctxFor(t))
		wantErr(t, "Status with a wrong token", err, matgto.ErrUnauthenticated)
		var me *matgto.Error
		if !errors.As(err, &me) || me.Op != "Status" {
			t.Errorf("error %#v is not a *matgto.Error of Status", err)
		}
		_, err = dialSecured(t, tlsSrv, p, "").ListCassettes(ctxFor(t), "")
		wantErr(t, "ListCassettes without a token", err, matgto.ErrUnauthenticated)
	})

	t.Run("SettingsFromTheEnvironment", func(t *testing.T) {
		t.Setenv(matgto.EnvToken, authTokens["read"])
		t.Setenv(matgto.EnvTLSCA, p.ca)
		c, err := matgto.Dial(ctxFor(t), tlsSrv.ControlAddress)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.ListCassettes(ctxFor(t), ""); err != nil {
			t.Errorf("ListCassettes with $MATGTO_TOKEN and $MATGTO_TLS_CA: %v", err)
		}
	})

	t.Run("UseCassetteHelperTakesTheSettingsFromTheEnvironment", func(t *testing.T) {
		t.Setenv(matgto.EnvServer, tlsSrv.ControlAddress)
		t.Setenv(matgto.EnvToken, authTokens["team"])
		t.Setenv(matgto.EnvTLSCA, p.ca)
		s := matgto.UseCassette(t, "team-a/go-helper", matgto.WithMode(matgto.ModeRecord))
		if !strings.HasPrefix(s.ID(), "s-") {
			t.Errorf("session id %q", s.ID())
		}
	})

	t.Run("PlaintextClientCannotTalkToATLSServer", func(t *testing.T) {
		c, err := matgto.Dial(ctxFor(t), tlsSrv.ControlAddress, matgto.WithToken(authTokens["read"]))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_, err = c.Status(shortCtx(t))
		if !errors.Is(err, matgto.ErrUnavailable) && !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Status in plaintext to a TLS server: %v, want ErrUnavailable", err)
		}
	})

	t.Run("MTLSRefusesAClientWithoutCertificate", func(t *testing.T) {
		_, err := dialSecured(t, mtlsSrv, p, "admin").Status(shortCtx(t))
		if !errors.Is(err, matgto.ErrUnavailable) && !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Status without a client certificate: %v, want ErrUnavailable", err)
		}
	})

	t.Run("MTLSAcceptsAClientCertificate", func(t *testing.T) {
		c := dialSecured(t, mtlsSrv, p, "read", withCert)
		if _, err := c.ListCassettes(ctxFor(t), ""); err != nil {
			t.Fatalf("ListCassettes with a client certificate: %v", err)
		}
		_, err := c.StartRecording(ctxFor(t), "auth/mtls-read", matgto.WithNewSession())
		wantErr(t, "StartRecording with a read token over mTLS", err, matgto.ErrPermissionDenied)
		mustRecord(t, dialSecured(t, mtlsSrv, p, "write", withCert), "auth/mtls-written")
		_, err = dialSecured(t, mtlsSrv, p, "wrong", withCert).Status(ctxFor(t))
		wantErr(t, "Status with a wrong token over mTLS", err, matgto.ErrUnauthenticated)
	})
}

func TestAdminTokenShutsDown(t *testing.T) {
	p := newControlPKI(t, t.TempDir())
	srv := startSecured(t, p, true)
	c := dialSecured(t, srv, p, "admin", matgto.WithClientCertificate(p.clientCert, p.clientKey))
	if err := c.Shutdown(ctxFor(t)); err != nil {
		t.Fatalf("Shutdown with an admin token: %v", err)
	}
	if err := waitExit(t, srv, 15*time.Second); err != nil {
		t.Errorf("the server exited with %v", err)
	}
}

// metadataFake answers GetStatus and records the authorization header.
type metadataFake struct {
	pb.UnimplementedProxyControlServer
	auth chan []string
}

func (f *metadataFake) GetStatus(ctx context.Context, _ *pb.GetStatusRequest) (*pb.GetStatusResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	f.auth <- md.Get("authorization")
	return &pb.GetStatusResponse{Version: "0.1.0", ApiVersion: 1}, nil
}

func TestPlaintextLoopbackCarriesTheToken(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &metadataFake{auth: make(chan []string, 4)}
	gs := grpc.NewServer()
	pb.RegisterProxyControlServer(gs, f)
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	t.Setenv(matgto.EnvToken, "tok-123")
	c, err := matgto.Dial(ctxFor(t), lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Status(ctxFor(t)); err != nil {
		t.Fatal(err)
	}
	if got := <-f.auth; len(got) != 1 || got[0] != "Bearer tok-123" {
		t.Errorf("authorization = %q, want [Bearer tok-123]", got)
	}
	if _, err := matgto.Dial(ctxFor(t), "10.1.2.3:8889"); err == nil {
		t.Error("Dial sent a $MATGTO_TOKEN in plaintext to a remote address")
	}
	// "https://" means TLS (as the CLI's --server), "http://" is dropped.
	for addr, tls := range map[string]bool{"https://central.example:8889/": true, "http://127.0.0.1:1": false} {
		c, err := matgto.Dial(ctxFor(t), addr)
		if err != nil {
			t.Fatalf("Dial(%s): %v", addr, err)
		}
		if c.TLS() != tls || strings.Contains(c.Address(), "://") {
			t.Errorf("Dial(%s): address %q, TLS %v; want no scheme, TLS %v", addr, c.Address(), c.TLS(), tls)
		}
		_ = c.Close()
	}
}

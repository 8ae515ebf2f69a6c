package matgto

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	pb "github.com/matgto/matgto-serge/clients/go/matgtov1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/durationpb"
)

// APIVersion is the control API generation this client speaks (package
// matgto.v1). The client refuses servers that report another one.
const APIVersion uint32 = 1

// DefaultAddress is the control address used when neither the address given
// to [Dial] nor $MATGTO_SERVER says otherwise.
const DefaultAddress = "127.0.0.1:8889"

// EnvServer names the environment variable holding the default control
// address.
const EnvServer = "MATGTO_SERVER"

// Client controls one matgto server. It is safe for concurrent use.
type Client struct {
	addr string
	tls  bool
	conn *grpc.ClientConn
	rpc  pb.ProxyControlClient

	mu         sync.Mutex
	checked    bool  // the server's API version is known
	checkErr   error // nil when it is compatible
	rootsKnown bool  // roots holds the answer of trustedRoots
	roots      *x509.CertPool
}

// Dial returns a client of the matgto server whose control API listens at
// addr ("host:port"); an empty addr means $MATGTO_SERVER, else
// 127.0.0.1:8889. Dial does not wait for the server: the connection is made,
// and the server's API version checked, on the first call.
//
// The connection is plaintext unless TLS is configured: an address
// "https://host:port" (the system roots, unless [WithTLSCA]), [WithTLSCA] (or
// $MATGTO_TLS_CA), [WithClientCertificate] (or $MATGTO_TLS_CERT and
// $MATGTO_TLS_KEY) for mTLS, or [WithTLSConfig]. A token ([WithToken], or
// $MATGTO_TOKEN) goes with every call as "authorization: Bearer TOKEN"; Dial
// refuses to send it in plaintext to a non-loopback address unless
// [WithInsecure] chose plaintext explicitly.
func Dial(ctx context.Context, addr string, opts ...DialOption) (*Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, toError("Dial", err)
	}
	if addr == "" {
		addr = os.Getenv(EnvServer)
	}
	if addr == "" {
		addr = DefaultAddress
	}
	var do dialOptions
	for _, opt := range opts {
		if opt != nil {
			opt(&do)
		}
	}
	// "https://host:port" means TLS and "http://" is dropped, as the matgto
	// CLI reads --server.
	if rest, ok := cutPrefixFold(addr, "https://"); ok {
		if do.insecure {
			return nil, fmt.Errorf("matgto: Dial %s: WithInsecure contradicts the https:// address", addr)
		}
		addr = strings.TrimRight(rest, "/")
		if do.tlsConfig == nil {
			do.tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		}
	} else if rest, ok := cutPrefixFold(addr, "http://"); ok {
		addr = strings.TrimRight(rest, "/")
	}
	conn, err := resolveConnection(addr, do, os.Getenv)
	if err != nil {
		return nil, fmt.Errorf("matgto: Dial %s: %w", addr, err)
	}
	grpcOpts := append(conn.grpcOptions(), do.grpcOpts...)
	cc, err := grpc.NewClient(addr, grpcOpts...)
	if err != nil {
		return nil, fmt.Errorf("matgto: Dial %s: %w", addr, err)
	}
	return &Client{addr: addr, conn: cc, rpc: pb.NewProxyControlClient(cc), tls: conn.tls != nil}, nil
}

// Close closes the connection to the server (the server keeps running).
func (c *Client) Close() error {
	return c.conn.Close()
}

// Address is the control address the client talks to.
func (c *Client) Address() string { return c.addr }

// TLS reports whether the control connection uses TLS.
func (c *Client) TLS() bool { return c.tls }

// Control gives the generated gRPC client, for what this package does not
// wrap. Calls made through it skip the API version check.
func (c *Client) Control() pb.ProxyControlClient { return c.rpc }

// CheckAPIVersion returns nil when a server reporting control API generation
// v can be used by this client, and an error wrapping
// [ErrIncompatibleServer] otherwise.
func CheckAPIVersion(v uint32) error {
	if v == APIVersion {
		return nil
	}
	hint := "use a client and a server of the same generation"
	if v == 0 {
		hint = "the server reports no api_version: it predates matgto.v1 or is not a matgto server"
	}
	return fmt.Errorf("%w: the server speaks control API version %d, this client speaks version %d (matgto.v%d); %s",
		ErrIncompatibleServer, v, APIVersion, APIVersion, hint)
}

// noteAPIVersion records the API version check's result (for good: a server
// does not change generation while the connection lasts).
func (c *Client) noteAPIVersion(v uint32) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.checked {
		c.checked = true
		if err := CheckAPIVersion(v); err != nil {
			c.checkErr = fmt.Errorf("matgto: server at %s: %w", c.addr, err)
		}
	}
	return c.checkErr
}

// ensureCompatible checks the server's API version on first use. A failure
// to reach the server is returned but not remembered, so the next call tries
// again.
func (c *Client) ensureCompatible(ctx context.Context) error {
	c.mu.Lock()
	checked, err := c.checked, c.checkErr
	c.mu.Unlock()
	if checked {
		return err
	}
	resp, rpcErr := c.rpc.GetStatus(ctx, &pb.GetStatusRequest{})
	if rpcErr != nil {
		return toError("GetStatus", rpcErr)
	}
	return c.noteAPIVersion(resp.GetApiVersion())
}

// StartRecording starts recording into cassette name, ending the cassette
// the session had in use, if any. The cassette file is overwritten when the
// recording is saved (by StopRecording, when a lease expires, or when the
// server shuts down). It acts on the default session unless
// [WithSession] names another or [WithNewSession] opens one
// ([WithLease], [WithOwner]); the returned SessionInfo says which
// ([SessionInfo.ID]) and where its proxy listens.
func (c *Client) StartRecording(ctx context.Context, name string, opts ...Option) (*SessionInfo, error) {
	if err := c.ensureCompatible(ctx); err != nil {
		return nil, err
	}
	req := startRecordingRequest(name, collectOptions(opts))
	resp, err := c.rpc.StartRecording(ctx, req)
	if err != nil {
		return nil, toError("StartRecording", err)
	}
	return sessionFromProto(resp.GetSession()), nil
}

// StopRecording ends the cassette of the default session, or of the
// session named by [WithSession], whatever its mode, saving what was
// recorded. A session other than the default one is closed with it (its
// proxy listener too). It fails with [ErrNoCassette] when the default
// session has no cassette in use, and with [ErrSessionNotFound] when the
// named session is not open.
func (c *Client) StopRecording(ctx context.Context, opts ...Option) (*Summary, error) {
	if err := c.ensureCompatible(ctx); err != nil {
		return nil, err
	}
	o := collectOptions(opts)
	resp, err := c.rpc.StopRecording(ctx, &pb.StopRecordingRequest{Session: o.sessionID()})
	if err != nil {
		return nil, toError("StopRecording", err)
	}
	return summaryFromProto(resp.GetSummary()), nil
}

// RenewSession extends the lease of session id by its lease length and
// returns when it now expires. It fails with [ErrSessionNotFound] when the
// session is not open any more (it was stopped, or its lease expired): its
// traffic is then refused.
func (c *Client) RenewSession(ctx context.Context, id string) (time.Time, error) {
	if err := c.ensureCompatible(ctx); err != nil {
		return time.Time{}, err
	}
	resp, err := c.rpc.RenewSession(ctx, &pb.RenewSessionRequest{Session: id})
	if err != nil {
		return time.Time{}, toError("RenewSession", err)
	}
	return asTime(resp.GetLeaseExpiresAt()), nil
}

// Replay replays cassette name, which must exist ([ErrCassetteNotFound]
// otherwise). Options override the cassette's stored ones for this session.
// The session options work as for StartRecording.
func (c *Client) Replay(ctx context.Context, name string, opts ...Option) (*SessionInfo, error) {
	if err := c.ensureCompatible(ctx); err != nil {
		return nil, err
	}
	req := replayRequest(name, collectOptions(opts))
	resp, err := c.rpc.Replay(ctx, req)
	if err != nil {
		return nil, toError("Replay", err)
	}
	return sessionFromProto(resp.GetSession()), nil
}

// UseCassette uses cassette name in the given mode; [ModeAuto] replays it
// when it exists and records it otherwise (the returned session's Mode says
// which), and [ModeUnspecified] means the server's default mode. The
// session options work as for StartRecording; [Client.OpenSession] is the
// convenient way to get a session of one's own.
func (c *Client) UseCassette(ctx context.Context, name string, mode Mode, opts ...Option) (*SessionInfo, error) {
	if err := c.ensureCompatible(ctx); err != nil {
		return nil, err
	}
	req := useCassetteRequest(name, mode, collectOptions(opts))
	resp, err := c.rpc.UseCassette(ctx, req)
	if err != nil {
		return nil, toError("UseCassette", err)
	}
	return sessionFromProto(resp.GetSession()), nil
}

// Status returns the server's state. Like every call, it fails with
// [ErrIncompatibleServer] when the server speaks another API generation.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	resp, err := c.rpc.GetStatus(ctx, &pb.GetStatusRequest{})
	if err != nil {
		return nil, toError("Status", err)
	}
	if err := c.noteAPIVersion(resp.GetApiVersion()); err != nil {
		return nil, err
	}
	return statusFromProto(resp), nil
}

// Shutdown stops the server gracefully: in-flight exchanges finish (or time
// out after the grace period, [WithGrace], default 5s) and recordings are
// saved before the server exits.
func (c *Client) Shutdown(ctx context.Context, opts ...Option) error {
	if err := c.ensureCompatible(ctx); err != nil {
		return err
	}
	o := collectOptions(opts)
	req := &pb.ShutdownRequest{}
	if o.grace > 0 {
		req.Grace = durationpb.New(o.grace)
	}
	if _, err := c.rpc.Shutdown(ctx, req); err != nil {
		return toError("Shutdown", err)
	}
	return nil
}

// CACertificate returns the PEM certificate of the CA that signs the hosts
// the server intercepts over HTTPS (CONNECT); HTTP clients must trust it, as
// [Client.HTTPTransport] does. It fails with [ErrUnimplemented] on a server
// that predates HTTPS interception.
func (c *Client) CACertificate(ctx context.Context) ([]byte, error) {
	if err := c.ensureCompatible(ctx); err != nil {
		return nil, err
	}
	resp, err := c.rpc.GetCACertificate(ctx, &pb.GetCACertificateRequest{})
	if err != nil {
		return nil, toError("CACertificate", err)
	}
	return []byte(resp.GetPem()), nil
}

// The requests StartRecording, Replay and UseCassette send (the conformance
// suite checks them against clients/conformance/sessions.json).

func startRecordingRequest(name string, o options) *pb.StartRecordingRequest {
	req := &pb.StartRecordingRequest{Name: name, Options: o.cassetteOptions()}
	req.Session, req.NewSession, req.Lease, req.Owner = o.sessionFields()
	return req
}

func replayRequest(name string, o options) *pb.ReplayRequest {
	req := &pb.ReplayRequest{Name: name, Options: o.cassetteOptions()}
	req.Session, req.NewSession, req.Lease, req.Owner = o.sessionFields()
	return req
}

func useCassetteRequest(name string, mode Mode, o options) *pb.UseCassetteRequest {
	req := &pb.UseCassetteRequest{Name: name, Mode: pb.Mode(mode), Options: o.cassetteOptions()}
	req.Session, req.NewSession, req.Lease, req.Owner = o.sessionFields()
	return req
}

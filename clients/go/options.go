package matgto

import (
	"crypto/tls"
	"time"
	"unicode/utf8"

	pb "github.com/matgto/matgto-serge/clients/go/matgtov1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
)

// MaxOwnerBytes is the longest owner the server accepts.
const MaxOwnerBytes = 256

// truncateUTF8 cuts s to at most n bytes without splitting a character.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Option configures a cassette session: the Client methods StartRecording,
// Replay and UseCassette, and the test helper [UseCassette]. Options that
// do not apply to a call are ignored by it.
//
// The cassette options (WithOnExhausted, WithRepeat, WithOnMiss, WithMatch,
// WithRedact, WithStoreDecoded, WithStoreAsSent, WithWSTiming, WithWSSpeed, WithStreamTiming,
// WithStreamSpeed, WithOptions) are
// applied in order to one matgtov1.CassetteOptions message. On a recording
// they are stored with the cassette; on Replay (and UseCassette when it
// replays) the fields they set override the stored ones for that session
// only, and the fields they leave unset keep the stored values.
type Option func(*options)

type options struct {
	cassette *pb.CassetteOptions // nil while no cassette option was given
	// Sessions.
	session    string
	hasSession bool // WithSession was given
	newSession bool
	lease      time.Duration // > 0: a lease; < 0: WithoutLease; 0: not set
	owner      string
	hasOwner   bool
	// For OpenSession and the test helper only.
	mode     Mode
	hasMode  bool
	warnOnly bool
	// For the test helper only.
	client *Client
	server string
	// For Shutdown only.
	grace time.Duration
	// For OpenSession and the test helper: fault rules added once the
	// session is open.
	faults    []Fault
	faultSeed uint64
}

// sessionFields are the session fields of a StartRecording, Replay or
// UseCassette request: the lease and the owner go with new sessions only.
func (o options) sessionFields() (session string, newSession bool, lease *durationpb.Duration, owner string) {
	if !o.newSession {
		return o.sessionID(), false, nil, ""
	}
	if o.lease > 0 {
		lease = durationpb.New(o.lease)
	}
	return o.sessionID(), true, lease, o.owner
}

// sessionID is the `session` field of a request: empty for the default
// session, which [DefaultSession] also names.
func (o options) sessionID() string {
	if o.session == DefaultSession {
		return ""
	}
	return o.session
}

func collectOptions(opts []Option) options {
	var o options
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	return o
}

// cassetteOptions is nil when no option touches the cassette options, so
// that the server keeps them as they are.
func (o options) cassetteOptions() *pb.CassetteOptions { return o.cassette }

// set applies f to the cassette options, creating them on first use.
func (o *options) set(f func(*pb.CassetteOptions)) {
	if o.cassette == nil {
		o.cassette = &pb.CassetteOptions{}
	}
	f(o.cassette)
}

// WithOnExhausted sets what replay does once every recorded answer to a
// request has been used (CLI: --on-exhausted).
func WithOnExhausted(p ExhaustedPolicy) Option {
	return func(o *options) { o.set(func(c *pb.CassetteOptions) { c.OnExhausted = pb.ExhaustedPolicy(p) }) }
}

// WithRepeat sets how recorded interactions are consumed in replay:
// [RepeatSequential] (each once, in order) or [RepeatReuse] (any matching
// one, any number of times). CLI: --repeat.
func WithRepeat(p RepeatPolicy) Option {
	return func(o *options) { o.set(func(c *pb.CassetteOptions) { c.Repeat = pb.RepeatPolicy(p) }) }
}

// WithOnMiss sets what replay does with a request that nothing matches:
// [MissError] (HTTP 599), [MissPassthrough] (forward it, record nothing) or
// [MissRecord] (forward it and append the exchange to the cassette). CLI:
// --on-miss.
func WithOnMiss(p MissPolicy) Option {
	return func(o *options) { o.set(func(c *pb.CassetteOptions) { c.OnMiss = pb.MissPolicy(p) }) }
}

// WithMatch sets which requests are "the same" (replacing any match rules
// given before). CLI: --match-fields, --match-body, --ignore-json...
func WithMatch(r MatchRules) Option {
	return func(o *options) { o.set(func(c *pb.CassetteOptions) { c.MatchRules = r.proto() }) }
}

// WithRedact sets what is removed before anything is written (replacing any
// redaction rules given before). The default rules (credential headers)
// stay on unless DisableDefaults is set. CLI: --redact-header...
func WithRedact(r RedactRules) Option {
	return func(o *options) { o.set(func(c *pb.CassetteOptions) { c.Redact = r.proto() }) }
}

// WithStoreDecoded makes a recording store gzip/deflate/br bodies decoded
// (and drop their Content-Encoding), for readable cassettes. CLI:
// --store-decoded.
func WithStoreDecoded() Option {
	return func(o *options) { o.set(func(c *pb.CassetteOptions) { c.BodyStorage = pb.BodyStorage_DECODED }) }
}

// WithStoreAsSent makes a recording store bodies as they were sent (the
// server's default), overriding a cassette stored with decoded bodies when
// given to Replay or UseCassette.
func WithStoreAsSent() Option {
	return func(o *options) { o.set(func(c *pb.CassetteOptions) { c.BodyStorage = pb.BodyStorage_AS_SENT }) }
}

// WithWSTiming sets how replay paces the server messages of WebSocket
// sessions. CLI: --ws-timing.
func WithWSTiming(t WSTiming) Option {
	return func(o *options) { o.set(func(c *pb.CassetteOptions) { c.WsTiming = pb.WsTiming(t) }) }
}

// WithWSSpeed sets, with [WSTimingAsRecorded], how much faster than recorded
// WebSocket messages are replayed (2 is twice as fast). CLI: --ws-speed.
func WithWSSpeed(speed float64) Option {
	return func(o *options) { o.set(func(c *pb.CassetteOptions) { c.WsSpeed = speed }) }
}

// WithStreamTiming sets how replay paces streamed HTTP bodies (Server-Sent
// Events, chunked bodies): [WSTimingFast] (the server's default) sends the
// recorded pieces at once, [WSTimingAsRecorded] keeps the recorded gaps
// (divided by the speed given with [WithStreamSpeed]). CLI: --stream-timing.
func WithStreamTiming(t WSTiming) Option {
	return func(o *options) { o.set(func(c *pb.CassetteOptions) { c.StreamTiming = pb.WsTiming(t) }) }
}

// WithStreamSpeed sets, with [WithStreamTiming]([WSTimingAsRecorded]), how
// much faster than recorded the pieces of streamed bodies are replayed (2 is
// twice as fast). CLI: --stream-speed.
func WithStreamSpeed(speed float64) Option {
	return func(o *options) { o.set(func(c *pb.CassetteOptions) { c.StreamSpeed = speed }) }
}

// WithOptions is the escape hatch: it replaces the cassette options set so
// far by a copy of opts (the generated message, so that every field the
// server knows is reachable). Cassette options given after it modify the
// copy.
func WithOptions(opts *pb.CassetteOptions) Option {
	return func(o *options) {
		if opts == nil {
			o.cassette = nil
			return
		}
		o.cassette = proto.Clone(opts).(*pb.CassetteOptions)
	}
}

// DefaultSession is the id of the default session: the one the shared proxy
// port serves to requests that name no session, and that the CLI drives.
const DefaultSession = "default"

// WithSession makes StartRecording, Replay, UseCassette and StopRecording
// act on the open session with this id (NOT_FOUND, [ErrSessionNotFound],
// when there is none) instead of the default session. Given to
// [Client.OpenSession] or the test helper [UseCassette], it puts the
// cassette in that existing session instead of opening a new one (no lease,
// no renewal); [DefaultSession] there means the default session.
func WithSession(id string) Option {
	return func(o *options) { o.session, o.hasSession = id, true }
}

// WithNewSession makes StartRecording, Replay and UseCassette open a new
// session for the cassette, with a proxy listener of its own
// ([SessionInfo.ProxyAddress]). Such a call does not renew the session's
// lease: call [Client.RenewSession], or use [Client.OpenSession], which
// does.
func WithNewSession() Option {
	return func(o *options) { o.newSession = true }
}

// WithLease gives a new session a lease (the server accepts 1s to 1h): the
// session ends by itself, saving what it recorded, unless it is renewed
// within d. [Client.OpenSession] and the test helper [UseCassette] use
// [DefaultLease] unless told otherwise, and renew every d/3. d <= 0 means
// the default.
func WithLease(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.lease = d
		} else {
			o.lease = 0
		}
	}
}

// WithoutLease opens the session of [Client.OpenSession] or of the test
// helper without a lease: it lives until stopped, even if the process dies
// (or stops at a debugger breakpoint, which also stops the renewals).
func WithoutLease() Option {
	return func(o *options) { o.lease = -1 }
}

// WithOwner says who opens a new session (free text shown by
// [Client.Status], at most 256 bytes: longer is cut). [Client.OpenSession]
// defaults to "go <program> pid <pid>", the test helper to
// "go test <test name> pid <pid>".
func WithOwner(owner string) Option {
	return func(o *options) { o.owner, o.hasOwner = truncateUTF8(owner, MaxOwnerBytes), true }
}

// WithMissesAsWarnings makes the test helper [UseCassette] only log the
// replay misses of the test (with their explanation) instead of failing
// it.
func WithMissesAsWarnings() Option {
	return func(o *options) { o.warnOnly = true }
}

// WithFaults makes [Client.OpenSession] and the test helper [UseCassette]
// add these fault rules to the session as soon as it is open (the session
// is stopped again, and the call fails, when the server refuses them).
// Several WithFaults add up. Elsewhere it is ignored: use
// [Session.AddFault] or [Client.AddFaults].
//
//	s := matgto.UseCassette(t, "", matgto.WithFaults(matgto.NewFault(matgto.Respond(503), matgto.FirstN(2))))
func WithFaults(faults ...Fault) Option {
	return func(o *options) { o.faults = append(o.faults, faults...) }
}

// WithFaultSeed makes [Client.OpenSession] and the test helper
// [UseCassette] seed the session's generator for probabilistic faults
// (see [Seed]).
func WithFaultSeed(seed uint64) Option {
	return func(o *options) { o.faultSeed = seed }
}

// WithGrace sets how long [Client.Shutdown] lets in-flight exchanges take
// to finish (the server's default is 5s).
func WithGrace(d time.Duration) Option {
	return func(o *options) { o.grace = d }
}

// WithClient makes the test helper [UseCassette] use c instead of dialing a
// client of its own.
func WithClient(c *Client) Option {
	return func(o *options) { o.client = c }
}

// WithMode sets the mode of [Client.OpenSession] and of the test helper
// [UseCassette] (default: the server's default mode, `matgto serve --mode`,
// which is [ModeAuto] unless set: replay the cassette when it exists,
// record it otherwise).
func WithMode(m Mode) Option {
	return func(o *options) { o.mode, o.hasMode = m, true }
}

// WithServer sets the control address that the test helper [UseCassette]
// dials when it is given no client (default: as [Dial] with "").
func WithServer(addr string) Option {
	return func(o *options) { o.server = addr }
}

// DialOption configures [Dial].
type DialOption func(*dialOptions)

type dialOptions struct {
	grpcOpts []grpc.DialOption
	// Connection (connection.go).
	token     string
	hasToken  bool
	caFile    string
	certFile  string
	keyFile   string
	tlsConfig *tls.Config
	insecure  bool
}

// WithGRPCDialOptions passes options to grpc.NewClient, after the client's
// own (transport and per-RPC credentials), which they may override.
func WithGRPCDialOptions(opts ...grpc.DialOption) DialOption {
	return func(o *dialOptions) { o.grpcOpts = append(o.grpcOpts, opts...) }
}

package matgto

import (
	pb "github.com/matgto/matgto-serge/clients/go/matgtov1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// Option configures a cassette session: the Client methods StartRecording,
// Replay and UseCassette, and the test helper [UseCassette]. Options that
// do not apply to a call are ignored by it.
//
// The cassette options (WithOnExhausted, WithRepeat, WithOnMiss, WithMatch,
// WithRedact, WithStoreDecoded, WithWSTiming, WithWSSpeed, WithOptions) are
// applied in order to one matgtov1.CassetteOptions message. On a recording
// they are stored with the cassette; on Replay (and UseCassette when it
// replays) the fields they set override the stored ones for that session
// only, and the fields they leave unset keep the stored values.
type Option func(*options)

type options struct {
	cassette *pb.CassetteOptions // nil while no cassette option was given
	// For the test helper only.
	client *Client
	mode   Mode
	server string
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

// WithClient makes the test helper [UseCassette] use c instead of dialing a
// client of its own.
func WithClient(c *Client) Option {
	return func(o *options) { o.client = c }
}

// WithMode sets the mode of the test helper [UseCassette] (default: the
// server's default mode, `matgto serve --mode`, which is [ModeAuto] unless
// the server was told otherwise).
func WithMode(m Mode) Option {
	return func(o *options) { o.mode = m }
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
}

// WithGRPCDialOptions passes options to grpc.NewClient, after the client's
// own (plaintext transport credentials), which they may override.
func WithGRPCDialOptions(opts ...grpc.DialOption) DialOption {
	return func(o *dialOptions) { o.grpcOpts = append(o.grpcOpts, opts...) }
}

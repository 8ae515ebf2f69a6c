package matgto

import (
	pb "github.com/matgto/matgto-serge/clients/go/matgtov1"
	"google.golang.org/grpc"
)

// Option configures a cassette session: the Client methods StartRecording,
// Replay and UseCassette, and the test helper [UseCassette]. Options that
// do not apply to a call are ignored by it.
type Option func(*options)

type options struct {
	onExhausted ExhaustedPolicy
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

// cassetteOptions is nil when no option touches the stored cassette options,
// so that the server keeps them as they are.
func (o options) cassetteOptions() *pb.CassetteOptions {
	if o.onExhausted == ExhaustedDefault {
		return nil
	}
	return &pb.CassetteOptions{OnExhausted: pb.ExhaustedPolicy(o.onExhausted)}
}

// WithOnExhausted sets what replay does once every recorded answer to a
// request has been used. On Replay it overrides the cassette's stored policy
// for this session only; on a recording it is stored with the cassette.
func WithOnExhausted(p ExhaustedPolicy) Option {
	return func(o *options) { o.onExhausted = p }
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

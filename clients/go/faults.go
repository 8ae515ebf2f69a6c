package matgto

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	pb "github.com/matgto/matgto-serge/clients/go/matgtov1"
	"google.golang.org/protobuf/types/known/durationpb"
)

// A Fault is a rule of a session that makes some of its requests fail or
// slow down, whatever the mode (record, replay, passthrough): which
// requests (Method, URLPattern), how often among them (Selector) and what
// happens to them (Action). It is the per-request counterpart of a
// Toxiproxy toxic. Build one with [NewFault] (or as a literal) and add it
// with [Session.AddFault], [Session.AddFaults] or [Client.AddFaults]; the
// server gives it an ID and counts how often it hit (Applied), which
// [SessionInfo.Faults] reports.
//
// An injected fault is never recorded as if the upstream had answered it:
// a [Respond] answer forwards and records nothing, and a recorded exchange
// that another fault changed is marked as such in the cassette.
type Fault struct {
	// ID is assigned by the server ("f1", "f2", ...); ignored when adding.
	ID string
	// Method limits the rule to one HTTP method ("GET"); empty: any.
	Method string
	// URLPattern limits the rule to requests whose absolute URL contains a
	// match of this RE2 pattern ("/orders/.*"); empty: any.
	URLPattern string
	// Selector says which of the matching requests the rule hits; the zero
	// Selector hits every one.
	Selector Selector
	// Action is what the rule does. Exactly one is required: a zero Action
	// is refused by the server (ErrInvalidArgument).
	Action FaultAction
	// Applied is how many requests the rule has hit so far (as reported by
	// the server).
	Applied uint64
}

// SelectorKind says how a [Selector] picks among the matching requests.
type SelectorKind int

const (
	// SelectEvery hits every matching request (the zero Selector).
	SelectEvery SelectorKind = iota
	// SelectProbability hits each matching request with probability
	// Selector.Probability, drawn from the session's seeded generator.
	SelectProbability
	// SelectEveryNth hits the Nth, 2Nth, ... matching request.
	SelectEveryNth
	// SelectFirstN hits the first N matching requests, then never again.
	SelectFirstN
)

// Selector says which of the requests a fault matches it hits. Use
// [Probability], [EveryNth] or [FirstN] to set one.
type Selector struct {
	Kind SelectorKind
	// Probability is the chance (0..1) for SelectProbability.
	Probability float64
	// N is the N of SelectEveryNth and SelectFirstN.
	N uint32
}

func (s Selector) String() string {
	switch s.Kind {
	case SelectEvery:
		return "every request"
	case SelectProbability:
		return "probability " + strconv.FormatFloat(s.Probability, 'g', -1, 64)
	case SelectEveryNth:
		return fmt.Sprintf("every %dth", s.N)
	case SelectFirstN:
		return fmt.Sprintf("first %d", s.N)
	}
	return fmt.Sprintf("selector(%d)", int(s.Kind))
}

// FaultKind is the kind of a [FaultAction].
type FaultKind int

const (
	// FaultNone is the zero FaultAction: no action, which the server
	// refuses.
	FaultNone FaultKind = iota
	// FaultStatus answers a given response instead of the recorded or live
	// one ([Respond]).
	FaultStatus
	// FaultDelay waits before the response starts ([Delay]).
	FaultDelay
	// FaultHang never answers ([Hang]).
	FaultHang
	// FaultReset breaks the connection with a TCP RST ([Reset]).
	FaultReset
	// FaultBandwidth sends the body at a limited rate ([Bandwidth]).
	FaultBandwidth
	// FaultWebSocket drops or slows the messages of a WebSocket connection
	// ([WebSocketFault]); it applies to WebSocket upgrades only.
	FaultWebSocket
)

func (k FaultKind) String() string {
	switch k {
	case FaultNone:
		return "none"
	case FaultStatus:
		return "status"
	case FaultDelay:
		return "delay"
	case FaultHang:
		return "hang"
	case FaultReset:
		return "reset"
	case FaultBandwidth:
		return "bandwidth"
	case FaultWebSocket:
		return "websocket"
	}
	return "FaultKind(" + strconv.Itoa(int(k)) + ")"
}

// ResetPoint says when a [Reset] fault breaks the connection.
type ResetPoint int32

const (
	// ResetDefault is the zero ResetPoint, which the server takes as
	// BeforeHeaders.
	ResetDefault ResetPoint = ResetPoint(pb.ResetFault_WHEN_UNSPECIFIED)
	// BeforeHeaders: nothing of the response is sent.
	BeforeHeaders ResetPoint = ResetPoint(pb.ResetFault_BEFORE_HEADERS)
	// AfterHeaders: the status line and headers are sent, then the
	// connection breaks.
	AfterHeaders ResetPoint = ResetPoint(pb.ResetFault_AFTER_HEADERS)
	// MidBody: half the body is sent, then the connection breaks.
	MidBody ResetPoint = ResetPoint(pb.ResetFault_MID_BODY)
)

func (p ResetPoint) String() string {
	switch p {
	case ResetDefault:
		return "default"
	case BeforeHeaders:
		return "before-headers"
	case AfterHeaders:
		return "after-headers"
	case MidBody:
		return "mid-body"
	}
	return pb.ResetFault_When(p).String()
}

// FaultAction is what a [Fault] does to the requests it hits: one of
// [Respond], [Delay], [Hang], [Reset], [Bandwidth] and [WebSocketFault]. Kind says which, and
// only the fields of that kind are used.
type FaultAction struct {
	Kind FaultKind
	// FaultStatus: the status code (100..999), extra headers and body.
	Status int
	Header http.Header
	Body   []byte
	// FaultDelay: how long before the response starts.
	Delay time.Duration
	// FaultReset: when the connection breaks.
	Reset ResetPoint
	// FaultBandwidth: at most this many body bytes per second.
	BytesPerSecond uint64
	// FaultWebSocket: the connection drops after this many messages to the
	// client (0: never), and each of them is held this long (0: not at all).
	DropAfterMessages uint32
	MessageDelay      time.Duration
}

func (a FaultAction) String() string {
	switch a.Kind {
	case FaultStatus:
		s := "status " + strconv.Itoa(a.Status)
		for _, name := range sortedKeys(a.Header) {
			for _, v := range a.Header[name] {
				s += ", " + name + ": " + v
			}
		}
		if len(a.Body) > 0 {
			s += fmt.Sprintf(", %d-byte body", len(a.Body))
		}
		return s
	case FaultDelay:
		return "delay " + a.Delay.String()
	case FaultHang:
		return "hang"
	case FaultReset:
		if a.Reset == ResetDefault {
			return "reset"
		}
		return "reset " + a.Reset.String()
	case FaultBandwidth:
		return fmt.Sprintf("bandwidth %d B/s", a.BytesPerSecond)
	case FaultWebSocket:
		s := "websocket"
		if a.DropAfterMessages > 0 {
			s += fmt.Sprintf(", drop after %d messages", a.DropAfterMessages)
		}
		if a.MessageDelay > 0 {
			s += ", delay each message " + a.MessageDelay.String()
		}
		return s
	}
	return a.Kind.String()
}

// StatusOption adds to the response of a [Respond] fault.
type StatusOption func(*FaultAction)

// Header adds a header line to the response of a [Respond] fault
// (Header("Retry-After", "1")).
func Header(name, value string) StatusOption {
	return func(a *FaultAction) {
		if a.Header == nil {
			a.Header = http.Header{}
		}
		a.Header.Add(name, value)
	}
}

// Body sets the body of the response of a [Respond] fault.
func Body(body string) StatusOption {
	return func(a *FaultAction) { a.Body = []byte(body) }
}

// Respond makes a fault answer this status (with the headers and body the
// options add) instead of the recorded or live response; nothing is
// forwarded or recorded. CLI: matgto fault add --status 503.
func Respond(code int, opts ...StatusOption) FaultAction {
	a := FaultAction{Kind: FaultStatus, Status: code}
	for _, opt := range opts {
		if opt != nil {
			opt(&a)
		}
	}
	return a
}

// Delay makes a fault wait d before the response starts (Toxiproxy's
// latency toxic, per request). CLI: --delay 2s.
func Delay(d time.Duration) FaultAction { return FaultAction{Kind: FaultDelay, Delay: d} }

// Hang makes a fault never answer: the connection is held until the client
// gives up (its timeout). CLI: --hang.
func Hang() FaultAction { return FaultAction{Kind: FaultHang} }

// Reset makes a fault break the connection (TCP RST) at the given point;
// the HTTP client sees a connection error. CLI: --reset.
func Reset(when ResetPoint) FaultAction { return FaultAction{Kind: FaultReset, Reset: when} }

// Bandwidth makes a fault send the response body at most bytesPerSecond
// bytes per second (Toxiproxy's bandwidth toxic). CLI: --bandwidth 100KiB.
func Bandwidth(bytesPerSecond uint64) FaultAction {
	return FaultAction{Kind: FaultBandwidth, BytesPerSecond: bytesPerSecond}
}

// WebSocketFault makes a fault act on WebSocket connections: the proxy
// drops the connection (no close frame) right after the dropAfter-th
// message sent to the client (0: never) and holds each message to the
// client for delay (0: not at all). It applies to WebSocket upgrades only,
// and HTTP actions never apply to upgrades. CLI: --ws-drop-after 3
// --ws-delay 100ms.
func WebSocketFault(dropAfter uint32, delay time.Duration) FaultAction {
	return FaultAction{Kind: FaultWebSocket, DropAfterMessages: dropAfter, MessageDelay: delay}
}

// DropAfterMessages makes a fault drop WebSocket connections after n
// messages to the client ([WebSocketFault](n, 0)).
func DropAfterMessages(n uint32) FaultAction { return WebSocketFault(n, 0) }

// DelayMessages makes a fault hold each message to the client of WebSocket
// connections for d ([WebSocketFault](0, d)).
func DelayMessages(d time.Duration) FaultAction { return WebSocketFault(0, d) }

// FaultOption narrows a fault built by [NewFault] or [Session.AddFault]:
// [Method], [URL], a selector ([Probability], [EveryNth], [FirstN]), or
// [Seed] for the session's generator.
type FaultOption func(*faultRequest)

type faultRequest struct {
	fault Fault
	seed  uint64
}

// Method limits a fault to requests with this HTTP method.
func Method(method string) FaultOption {
	return func(r *faultRequest) { r.fault.Method = method }
}

// URL limits a fault to requests whose absolute URL contains a match of the
// RE2 pattern (URL(`/orders/.*`); anchor it with ^ to match from the
// scheme). A bad pattern fails the call with [ErrInvalidArgument].
func URL(pattern string) FaultOption {
	return func(r *faultRequest) { r.fault.URLPattern = pattern }
}

// Probability makes a fault hit each matching request with probability p
// (0..1), drawn from the session's seeded generator: the same seed gives the
// same sequence ([Seed], [SessionInfo.FaultSeed]).
func Probability(p float64) FaultOption {
	return func(r *faultRequest) { r.fault.Selector = Selector{Kind: SelectProbability, Probability: p} }
}

// EveryNth makes a fault hit the Nth, 2Nth, ... matching request.
func EveryNth(n uint32) FaultOption {
	return func(r *faultRequest) { r.fault.Selector = Selector{Kind: SelectEveryNth, N: n} }
}

// FirstN makes a fault hit the first n matching requests, then never again
// (two 503s, then the real answer: FirstN(2)).
func FirstN(n uint32) FaultOption {
	return func(r *faultRequest) { r.fault.Selector = Selector{Kind: SelectFirstN, N: n} }
}

// Seed reseeds the session's generator for probabilistic faults when the
// fault is added (0 keeps it), so that a failing test can be re-run with
// the same sequence. [NewFault] ignores it.
func Seed(seed uint64) FaultOption {
	return func(r *faultRequest) { r.seed = seed }
}

func buildFault(action FaultAction, opts []FaultOption) faultRequest {
	r := faultRequest{fault: Fault{Action: action}}
	for _, opt := range opts {
		if opt != nil {
			opt(&r)
		}
	}
	return r
}

// NewFault returns the fault doing action to the requests the options
// select (every request without options).
//
//	matgto.NewFault(matgto.Respond(503, matgto.Header("Retry-After", "1")), matgto.FirstN(2), matgto.URL("/orders/.*"))
func NewFault(action FaultAction, opts ...FaultOption) Fault {
	return buildFault(action, opts).fault
}

func (f Fault) String() string {
	var b strings.Builder
	if f.ID != "" {
		b.WriteString(f.ID + " ")
	}
	if f.Method != "" {
		b.WriteString(f.Method + " ")
	}
	if f.URLPattern != "" {
		b.WriteString(strconv.Quote(f.URLPattern) + " ")
	}
	b.WriteString(f.Selector.String() + ": " + f.Action.String())
	if f.ID != "" {
		fmt.Fprintf(&b, " (applied %d)", f.Applied)
	}
	return b.String()
}

func sortedKeys(h http.Header) []string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func (f Fault) proto() *pb.Fault {
	p := &pb.Fault{Method: f.Method, UrlPattern: f.URLPattern}
	switch f.Selector.Kind {
	case SelectProbability:
		p.Selector = &pb.Fault_Probability{Probability: f.Selector.Probability}
	case SelectEveryNth:
		p.Selector = &pb.Fault_EveryNth{EveryNth: f.Selector.N}
	case SelectFirstN:
		p.Selector = &pb.Fault_FirstN{FirstN: f.Selector.N}
	}
	a := f.Action
	switch a.Kind {
	case FaultStatus:
		sf := &pb.StatusFault{Code: statusCode(a.Status), Body: a.Body}
		for _, name := range sortedKeys(a.Header) {
			for _, v := range a.Header[name] {
				sf.Headers = append(sf.Headers, &pb.Header{Name: name, Value: v})
			}
		}
		p.Action = &pb.Fault_Status{Status: sf}
	case FaultDelay:
		p.Action = &pb.Fault_Delay{Delay: durationpb.New(a.Delay)}
	case FaultHang:
		p.Action = &pb.Fault_Hang{Hang: &pb.Hang{}}
	case FaultReset:
		p.Action = &pb.Fault_Reset_{Reset_: &pb.ResetFault{When: pb.ResetFault_When(a.Reset)}}
	case FaultBandwidth:
		p.Action = &pb.Fault_BandwidthBytesPerSecond{BandwidthBytesPerSecond: a.BytesPerSecond}
	case FaultWebSocket:
		wf := &pb.WsFault{DropAfterMessages: a.DropAfterMessages}
		if a.MessageDelay != 0 {
			wf.MessageDelay = durationpb.New(a.MessageDelay)
		}
		p.Action = &pb.Fault_Websocket{Websocket: wf}
	}
	return p
}

// statusCode is code as the proto's uint32; out of range codes become 0,
// which the server refuses like any code outside 100..999.
func statusCode(code int) uint32 {
	if code < 0 || int64(code) > int64(^uint32(0)) {
		return 0
	}
	return uint32(code)
}

func faultFromProto(p *pb.Fault) Fault {
	f := Fault{ID: p.GetId(), Method: p.GetMethod(), URLPattern: p.GetUrlPattern(), Applied: p.GetApplied()}
	switch s := p.GetSelector().(type) {
	case *pb.Fault_Probability:
		f.Selector = Selector{Kind: SelectProbability, Probability: s.Probability}
	case *pb.Fault_EveryNth:
		f.Selector = Selector{Kind: SelectEveryNth, N: s.EveryNth}
	case *pb.Fault_FirstN:
		f.Selector = Selector{Kind: SelectFirstN, N: s.FirstN}
	}
	switch a := p.GetAction().(type) {
	case *pb.Fault_Status:
		f.Action = FaultAction{Kind: FaultStatus, Status: int(a.Status.GetCode()), Body: a.Status.GetBody()}
		for _, h := range a.Status.GetHeaders() {
			if f.Action.Header == nil {
				f.Action.Header = http.Header{}
			}
			v := h.GetValue()
			if v == "" && len(h.GetRawValue()) > 0 {
				v = string(h.GetRawValue())
			}
			f.Action.Header.Add(h.GetName(), v)
		}
	case *pb.Fault_Delay:
		f.Action = FaultAction{Kind: FaultDelay, Delay: a.Delay.AsDuration()}
	case *pb.Fault_Hang:
		f.Action = FaultAction{Kind: FaultHang}
	case *pb.Fault_Reset_:
		f.Action = FaultAction{Kind: FaultReset, Reset: ResetPoint(a.Reset_.GetWhen())}
	case *pb.Fault_BandwidthBytesPerSecond:
		f.Action = FaultAction{Kind: FaultBandwidth, BytesPerSecond: a.BandwidthBytesPerSecond}
	case *pb.Fault_Websocket:
		f.Action = FaultAction{Kind: FaultWebSocket, DropAfterMessages: a.Websocket.GetDropAfterMessages()}
		if d := a.Websocket.GetMessageDelay(); d != nil {
			f.Action.MessageDelay = d.AsDuration()
		}
	}
	return f
}

func faultsFromProto(ps []*pb.Fault) []Fault {
	if len(ps) == 0 {
		return nil
	}
	out := make([]Fault, 0, len(ps))
	for _, p := range ps {
		out = append(out, faultFromProto(p))
	}
	return out
}

// FaultRules are a session's fault rules and the seed of its generator for
// probabilistic faults, as [Client.AddFaults] returns them.
type FaultRules struct {
	Faults []Fault
	Seed   uint64
}

// faultSession is the `session` field of a fault request.
func faultSession(id string) string {
	if id == DefaultSession {
		return ""
	}
	return id
}

// AddFaults adds fault rules to the session with this id ("" or
// [DefaultSession]: the default session) through the SetFaults call, and
// returns all the session's rules (in the order the server lists them,
// which has the new ones last) with their ids, and the seed of its
// generator. A seed other than 0 reseeds the generator first. The rules
// apply in every mode until cleared ([Client.ClearFaults]) or the session
// ends. A bad rule (RE2 pattern, no action, probability outside 0..1)
// fails with [ErrInvalidArgument] and adds nothing; an unknown session with
// [ErrSessionNotFound].
func (c *Client) AddFaults(ctx context.Context, session string, seed uint64, faults ...Fault) (*FaultRules, error) {
	if err := c.ensureCompatible(ctx); err != nil {
		return nil, err
	}
	req := &pb.SetFaultsRequest{Session: faultSession(session), Seed: seed}
	for _, f := range faults {
		req.Faults = append(req.Faults, f.proto())
	}
	resp, err := c.rpc.SetFaults(ctx, req)
	if err != nil {
		return nil, toError("SetFaults", err)
	}
	return &FaultRules{Faults: faultsFromProto(resp.GetFaults()), Seed: resp.GetSeed()}, nil
}

// ClearFaults removes the fault rules with these ids from the session with
// this id ("" or [DefaultSession]: the default session), all of them when no
// id is given, and returns the rules that remain. An id the session does not
// have fails with [ErrFaultNotFound]; an unknown
// session with [ErrSessionNotFound] (the same NOT_FOUND code).
func (c *Client) ClearFaults(ctx context.Context, session string, ids ...string) ([]Fault, error) {
	if err := c.ensureCompatible(ctx); err != nil {
		return nil, err
	}
	resp, err := c.rpc.ClearFaults(ctx, &pb.ClearFaultsRequest{Session: faultSession(session), Ids: ids})
	if err != nil {
		return nil, toError("ClearFaults", err)
	}
	return faultsFromProto(resp.GetFaults()), nil
}

// AddFault adds to the session the fault doing action to the requests the
// options select, and returns it with the id the server gave it:
//
//	s.AddFault(ctx, matgto.Respond(503, matgto.Header("Retry-After", "1")), matgto.FirstN(2), matgto.URL("/orders/.*"))
//	s.AddFault(ctx, matgto.Reset(matgto.BeforeHeaders), matgto.Probability(0.1), matgto.Seed(7))
//	s.AddFault(ctx, matgto.Delay(2*time.Second), matgto.Method("POST"))
//
// The fault applies until [Session.ClearFaults] removes it or the session
// ends. A bad rule fails with [ErrInvalidArgument].
func (s *Session) AddFault(ctx context.Context, action FaultAction, opts ...FaultOption) (Fault, error) {
	r := buildFault(action, opts)
	added, err := s.addFaults(ctx, r.seed, []Fault{r.fault})
	if err != nil {
		return Fault{}, err
	}
	return added[0], nil
}

// AddFaults adds faults to the session at once (all or none) and returns
// them with the ids the server gave them.
func (s *Session) AddFaults(ctx context.Context, faults ...Fault) ([]Fault, error) {
	return s.addFaults(ctx, 0, faults)
}

func (s *Session) addFaults(ctx context.Context, seed uint64, faults []Fault) ([]Fault, error) {
	rules, err := s.c.AddFaults(ctx, s.id, seed, faults...)
	if err != nil {
		return nil, err
	}
	return addedFaults(rules.Faults, len(faults))
}

// addedFaults are the last n rules of a SetFaults answer: the ones added.
func addedFaults(all []Fault, n int) ([]Fault, error) {
	if len(all) < n {
		return nil, fmt.Errorf("matgto: SetFaults: the server lists %d rule(s) after %d were added", len(all), n)
	}
	return slices.Clone(all[len(all)-n:]), nil
}

// SetFaultSeed reseeds the session's generator for probabilistic faults
// (0 keeps it), so that a test re-run with the same seed sees the same
// sequence of faults; [SessionInfo.FaultSeed] reports the seed in use.
func (s *Session) SetFaultSeed(ctx context.Context, seed uint64) error {
	_, err := s.c.AddFaults(ctx, s.id, seed)
	return err
}

// ClearFaults removes the session's fault rules with these ids (all of them
// when none is given) and returns the rules that remain. An unknown id
// fails with [ErrFaultNotFound].
func (s *Session) ClearFaults(ctx context.Context, ids ...string) ([]Fault, error) {
	return s.c.ClearFaults(ctx, s.id, ids...)
}

package matgto

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	pb "github.com/matgto/matgto-serge/clients/go/matgtov1"
)

// EventFilter picks the events [Client.WatchEvents] follows. The zero value
// follows every session and cassette the token may see.
type EventFilter struct {
	// Session: only this session's events ("default" for the default
	// session); empty: every session.
	Session string
	// Cassette: only this cassette's events; empty: every cassette.
	Cassette string
}

// ExchangeResult is what became of an exchange ([ExchangeEvent.Result]).
type ExchangeResult int32

const (
	ResultUnspecified   ExchangeResult = ExchangeResult(pb.ExchangeResult_EXCHANGE_RESULT_UNSPECIFIED)
	ResultReplayed      ExchangeResult = ExchangeResult(pb.ExchangeResult_RESULT_REPLAYED)
	ResultRecorded      ExchangeResult = ExchangeResult(pb.ExchangeResult_RESULT_RECORDED)
	ResultMissed        ExchangeResult = ExchangeResult(pb.ExchangeResult_RESULT_MISSED)
	ResultPassedThrough ExchangeResult = ExchangeResult(pb.ExchangeResult_RESULT_PASSED_THROUGH)
	// ResultError: matgto answered with an error of its own
	// ([ExchangeEvent.Error] is the X-Matgto-Error code).
	ResultError ExchangeResult = ExchangeResult(pb.ExchangeResult_RESULT_ERROR)
)

// String is the proto name ("RESULT_REPLAYED").
func (r ExchangeResult) String() string { return pb.ExchangeResult(r).String() }

// SessionEventKind says what a [SessionEvent] is about.
type SessionEventKind int32

const (
	SessionEventUnspecified SessionEventKind = SessionEventKind(pb.SessionEvent_KIND_UNSPECIFIED)
	// SessionStarted: a cassette started being used.
	SessionStarted SessionEventKind = SessionEventKind(pb.SessionEvent_KIND_STARTED)
	// SessionEnded: a cassette stopped being used ([SessionEvent.Reason],
	// [SessionEvent.SavedPath]).
	SessionEnded SessionEventKind = SessionEventKind(pb.SessionEvent_KIND_ENDED)
	// SessionSaveFailed: saving failed; the session stays open.
	SessionSaveFailed SessionEventKind = SessionEventKind(pb.SessionEvent_KIND_SAVE_FAILED)
	// SessionNote: anything else worth a line (a fault rule, a warning).
	SessionNote SessionEventKind = SessionEventKind(pb.SessionEvent_KIND_NOTE)
)

// String is the proto name ("KIND_STARTED").
func (k SessionEventKind) String() string { return pb.SessionEvent_Kind(k).String() }

// Event is one thing the server did. Exactly one of Exchange, Miss and
// Session is set.
type Event struct {
	Time time.Time
	// Dropped: events this watcher lost just before this one (it read too
	// slowly; the server drops rather than slow the proxy down).
	Dropped  uint64
	Exchange *ExchangeEvent
	Miss     *MissEvent
	Session  *SessionEvent
}

// ExchangeEvent is one HTTP exchange (or WebSocket connection) through a
// proxy.
type ExchangeEvent struct {
	Session  string
	Cassette string // empty when the session had no cassette in use
	Mode     Mode
	Method   string
	URL      string // query values replaced by [REDACTED]
	Status   int
	Result   ExchangeResult
	// Duration: the upstream's time when forwarded, else matgto's.
	Duration  time.Duration
	BytesIn   uint64
	BytesOut  uint64
	Error     string // the X-Matgto-Error code (ResultError, ResultMissed)
	WebSocket bool
}

// MissEvent is a request replay could not answer.
type MissEvent struct {
	Session  string
	Cassette string
	Miss     Miss
	// Explanation is what the failing test would print (as in the 599 body).
	Explanation string
}

// SessionEvent is a cassette starting or ending in a session, a failed
// save, or a note.
type SessionEvent struct {
	Kind      SessionEventKind
	Session   string
	Cassette  string
	Mode      Mode
	Reason    string // KIND_ENDED: stopped, replaced, lease-expired, shutdown
	SavedPath string
	Message   string // the line the server logs
}

// EventStream follows the server's events; see [Client.WatchEvents]. Recv
// is for one goroutine; Close may be called from any.
type EventStream struct {
	stream interface{ Recv() (*pb.Event, error) }
	ctx    context.Context
	cancel context.CancelFunc
	once   sync.Once
}

// WatchEvents follows the server's events (exchanges, misses with their
// explanation, session events) that match filter. It returns once the
// server has subscribed the watcher, so traffic driven afterwards is seen.
// The stream ends when ctx is cancelled, when Close is called, or when the
// server shuts down; Recv then returns io.EOF. It needs a token of scope
// read when the server wants tokens ([ErrUnauthenticated] otherwise); a
// token limited to a name prefix sees only its cassettes.
func (c *Client) WatchEvents(ctx context.Context, filter EventFilter) (*EventStream, error) {
	if err := c.ensureCompatible(ctx); err != nil {
		return nil, err
	}
	sctx, cancel := context.WithCancel(ctx)
	stream, err := c.rpc.WatchEvents(sctx, &pb.WatchEventsRequest{Session: filter.Session, Cassette: filter.Cassette})
	if err != nil {
		cancel()
		return nil, toError("WatchEvents", err)
	}
	// The server sends its headers once subscribed; a refusal comes as a
	// status without headers.
	md, err := stream.Header()
	if err == nil && md == nil {
		_, err = stream.Recv()
	}
	if err != nil {
		cancel()
		return nil, toError("WatchEvents", err)
	}
	return &EventStream{stream: stream, ctx: sctx, cancel: cancel}, nil
}

// WatchEvents follows this session's events ([Client.WatchEvents] filtered
// to its id).
func (s *Session) WatchEvents(ctx context.Context) (*EventStream, error) {
	return s.c.WatchEvents(ctx, EventFilter{Session: s.id})
}

// Recv blocks for the next event. It returns io.EOF once the stream ended
// (Close, the context cancelled, the server shut down), or an [*Error].
func (s *EventStream) Recv() (*Event, error) {
	e, err := s.stream.Recv()
	if err == nil {
		return eventFromProto(e), nil
	}
	if errors.Is(err, io.EOF) || s.ctx.Err() == context.Canceled {
		s.Close()
		return nil, io.EOF
	}
	s.Close()
	return nil, toError("WatchEvents", err)
}

// Close ends the stream (the server unsubscribes the watcher). It is safe
// to call more than once and while another goroutine waits in Recv, which
// then returns io.EOF.
func (s *EventStream) Close() error {
	s.once.Do(s.cancel)
	return nil
}

func eventFromProto(e *pb.Event) *Event {
	out := &Event{Time: asTime(e.GetTime()), Dropped: e.GetDropped()}
	switch k := e.GetKind().(type) {
	case *pb.Event_Exchange:
		x := k.Exchange
		out.Exchange = &ExchangeEvent{
			Session: x.GetSession(), Cassette: x.GetCassette(), Mode: Mode(x.GetMode()),
			Method: x.GetMethod(), URL: x.GetUrl(), Status: int(x.GetStatus()),
			Result: ExchangeResult(x.GetResult()), Duration: x.GetDuration().AsDuration(),
			BytesIn: x.GetBytesIn(), BytesOut: x.GetBytesOut(), Error: x.GetError(), WebSocket: x.GetWebsocket(),
		}
	case *pb.Event_Miss:
		m := k.Miss
		out.Miss = &MissEvent{Session: m.GetSession(), Cassette: m.GetCassette(),
			Miss: missFromProto(m.GetMiss()), Explanation: m.GetExplanation()}
	case *pb.Event_Session:
		s := k.Session
		out.Session = &SessionEvent{
			Kind: SessionEventKind(s.GetKind()), Session: s.GetSession(), Cassette: s.GetCassette(),
			Mode: Mode(s.GetMode()), Reason: s.GetReason(), SavedPath: s.GetSavedPath(), Message: s.GetMessage(),
		}
	}
	return out
}

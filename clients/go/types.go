package matgto

import (
	"time"

	pb "github.com/matgto/matgto-serge/clients/go/matgtov1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Mode says how a cassette is used.
type Mode int32

const (
	// ModeUnspecified is the zero Mode: UseCassette then uses the server's
	// default mode (Status().DefaultMode, `matgto serve --mode`, auto unless
	// set otherwise).
	ModeUnspecified Mode = Mode(pb.Mode_MODE_UNSPECIFIED)
	// ModeAuto replays the cassette when it exists and records it otherwise.
	ModeAuto Mode = Mode(pb.Mode_AUTO)
	// ModeRecord forwards to the real upstream and records (overwriting the
	// cassette when the session ends).
	ModeRecord Mode = Mode(pb.Mode_RECORD)
	// ModeReplay answers from the cassette only; the cassette must exist.
	ModeReplay Mode = Mode(pb.Mode_REPLAY)
	// ModePassthrough forwards to the real upstream and records nothing.
	ModePassthrough Mode = Mode(pb.Mode_PASSTHROUGH)
)

func (m Mode) String() string {
	switch m {
	case ModeUnspecified:
		return "unspecified"
	case ModeAuto:
		return "auto"
	case ModeRecord:
		return "record"
	case ModeReplay:
		return "replay"
	case ModePassthrough:
		return "passthrough"
	}
	return pb.Mode(m).String()
}

// ExhaustedPolicy says what replay does once every recorded answer to a
// request has been used.
type ExhaustedPolicy int32

const (
	// ExhaustedDefault keeps the cassette's stored policy (or, for a new
	// cassette, the server default: repeat the last answer).
	ExhaustedDefault ExhaustedPolicy = ExhaustedPolicy(pb.ExhaustedPolicy_EXHAUSTED_POLICY_UNSPECIFIED)
	// ExhaustedRepeatLast keeps answering with the last recorded response.
	ExhaustedRepeatLast ExhaustedPolicy = ExhaustedPolicy(pb.ExhaustedPolicy_REPEAT_LAST)
	// ExhaustedError answers with a no-match error (HTTP 599).
	ExhaustedError ExhaustedPolicy = ExhaustedPolicy(pb.ExhaustedPolicy_EXHAUSTED_ERROR)
)

func (p ExhaustedPolicy) String() string {
	switch p {
	case ExhaustedDefault:
		return "default"
	case ExhaustedRepeatLast:
		return "repeat-last"
	case ExhaustedError:
		return "error"
	}
	return pb.ExhaustedPolicy(p).String()
}

// SessionInfo describes a cassette session: its cassette, mode and counters,
// and (for sessions other than the default one) where its own proxy listens
// and its lease. It is a snapshot: [Client.Status] gives a fresh one.
type SessionInfo struct {
	// ID is "default" for the default session, or the id a new session was
	// given ("s-" and 16 hex digits).
	ID       string
	Cassette string
	// Mode is the effective mode: AUTO resolved to RECORD or REPLAY.
	Mode Mode
	// RequestedMode is the mode that was asked for (AUTO stays AUTO).
	RequestedMode Mode
	Recorded      uint64
	Replayed      uint64
	Missed        uint64
	PassedThrough uint64
	// Interactions in the loaded cassette (replay).
	Interactions uint64
	// The effective replay policies of the session.
	OnExhausted ExhaustedPolicy
	Repeat      RepeatPolicy
	OnMiss      MissPolicy
	// Latency is the session's effective replay latency (the zero Latency
	// when the server reports none: fast).
	Latency Latency
	// Options are the session's effective cassette options, as the server
	// reports them.
	Options *pb.CassetteOptions
	// Faults are the session's fault rules in force, with how often each
	// has hit (Fault.Applied).
	Faults []Fault
	// FaultSeed is the seed of the session's generator for probabilistic
	// faults: give it to [Seed] or [Session.SetFaultSeed] to re-run a
	// failing test with the same sequence.
	FaultSeed uint64
	// Requests that found no recorded answer, oldest first (at most 100).
	Misses []Miss
	// ProxyAddress is the session's own proxy listener, "127.0.0.1:41234"
	// (the shared proxy port for the default session): "http://" +
	// ProxyAddress is a proxy URL that any HTTP client uses unchanged.
	ProxyAddress string
	// ProxyURL is the shared proxy port with the session named as proxy user,
	// "http://s-0123456789abcdef:matgto@127.0.0.1:8888" (sent as
	// Proxy-Authorization: Basic; the server reads the user and ignores the
	// password).
	ProxyURL string
	// Owner is who opened the session (free text, see [WithOwner]).
	Owner    string
	OpenedAt time.Time
	// Age is the time since OpenedAt when the snapshot was taken.
	Age time.Duration
	// Lease is the lease length; 0 when the session has no lease.
	Lease time.Duration
	// LeaseExpiresAt is when the session ends unless renewed; zero without a
	// lease.
	LeaseExpiresAt time.Time
}

// Miss is a request that replay could not answer.
type Miss struct {
	Method string
	URL    string
	// Reason is "no-match" or "exhausted" (answered 599), "ws-mismatch" (a
	// WebSocket client message differed), or "no-match, passed through" /
	// "no-match, recorded" (the miss policy forwarded it live).
	Reason string
	// Closest are the closest recorded requests, closest first.
	Closest []Candidate
}

// Candidate is a recorded request close to a missed one.
type Candidate struct {
	InteractionIndex uint64
	Method           string
	URL              string
	Differences      []FieldDifference
}

// FieldDifference is one field in which a candidate differs from the live
// request.
type FieldDifference struct {
	Field    string // "method", "path", "query", "body", ...
	Recorded string
	Live     string
}

// Summary is what StopRecording reports about the session it ended.
type Summary struct {
	Session *SessionInfo
	// SavedPath is set when a recording was written.
	SavedPath string
	// UnusedInteractions are the indexes of recorded interactions that replay
	// never used.
	UnusedInteractions []uint64
	// EndReason says why the session ended: "stopped" (StopRecording),
	// "replaced" (another cassette was put in use in the same session),
	// "lease-expired" or "shutdown".
	EndReason string
	EndedAt   time.Time
	// SaveError is set when saving the recording failed (the server keeps
	// its journal and recovers it into the cassette at its next start).
	SaveError string
	// Warnings the recording left, e.g. a body a redaction rule could not
	// be applied to (stored as sent, or not stored under
	// UNREDACTABLE_REFUSE).
	Warnings []string
}

// Status is the server's state.
type Status struct {
	// Version of the server (semver).
	Version string
	// ProxyAddress is where the HTTP proxy listens, "127.0.0.1:8888".
	ProxyAddress   string
	ControlAddress string
	CassetteDir    string
	DefaultMode    Mode
	// Session is the default session; nil while it has no cassette in use.
	Session *SessionInfo
	Uptime  time.Duration
	// APIVersion is the control API generation (1 for matgto.v1).
	APIVersion uint32
	// TLS describes HTTPS interception (CA path, relayed hosts, upstream
	// trust).
	TLS *pb.TlsStatus
	// ReverseUpstream is the origin of reverse mode; empty in forward-proxy
	// mode.
	ReverseUpstream string
	// Sessions are every open session with a cassette in use (the default
	// one first when it has one, then by opening time).
	Sessions []*SessionInfo
	// EndedSessions are the sessions that ended recently, most recent first
	// (at most 64), with why ([Summary.EndReason]).
	EndedSessions []*Summary
	// MaxSessions is the server's --max-sessions: how many sessions may be
	// open besides the default one.
	MaxSessions uint32
}

// FindSession returns the open session with the given id, or nil.
func (s *Status) FindSession(id string) *SessionInfo {
	for _, si := range s.Sessions {
		if si.ID == id {
			return si
		}
	}
	return nil
}

// FindEndedSession returns the most recent summary of the ended session
// with the given id, or nil.
func (s *Status) FindEndedSession(id string) *Summary {
	for _, sum := range s.EndedSessions {
		if sum.Session != nil && sum.Session.ID == id {
			return sum
		}
	}
	return nil
}

// CassetteInfo describes a stored cassette.
type CassetteInfo struct {
	Name         string
	SizeBytes    uint64
	Interactions uint64
	UpdatedAt    time.Time
	// Format is "binary" or "json".
	Format string
	// ContentSHA256 is the hex SHA-256 of the cassette's content (not its
	// format or updated_at): equal hashes mean identical cassettes. Empty
	// when the stored cassette does not parse.
	ContentSHA256 string
}

func cassetteInfoFromProto(i *pb.CassetteInfo) CassetteInfo {
	out := CassetteInfo{
		Name:          i.GetName(),
		SizeBytes:     i.GetSizeBytes(),
		Interactions:  i.GetInteractions(),
		Format:        i.GetFormat(),
		ContentSHA256: i.GetContentSha256(),
	}
	if i.GetUpdatedAt() != nil {
		out.UpdatedAt = i.GetUpdatedAt().AsTime()
	}
	return out
}

// asTime converts an optional timestamp; unset is the zero time.
func asTime(ts *timestamppb.Timestamp) time.Time {
	if ts == nil {
		return time.Time{}
	}
	return ts.AsTime()
}

func sessionFromProto(s *pb.SessionInfo) *SessionInfo {
	if s == nil {
		return nil
	}
	out := &SessionInfo{
		ID:             s.GetId(),
		ProxyAddress:   s.GetProxyAddress(),
		ProxyURL:       s.GetProxyUrl(),
		Owner:          s.GetOwner(),
		OpenedAt:       asTime(s.GetOpenedAt()),
		Age:            s.GetAge().AsDuration(),
		Lease:          s.GetLease().AsDuration(),
		LeaseExpiresAt: asTime(s.GetLeaseExpiresAt()),
		Cassette:       s.GetCassette(),
		Mode:           Mode(s.GetMode()),
		RequestedMode:  Mode(s.GetRequestedMode()),
		Recorded:       s.GetRecorded(),
		Replayed:       s.GetReplayed(),
		Missed:         s.GetMissed(),
		PassedThrough:  s.GetPassedThrough(),
		Interactions:   s.GetInteractions(),
		OnExhausted:    ExhaustedPolicy(s.GetOptions().GetOnExhausted()),
		Repeat:         RepeatPolicy(s.GetOptions().GetRepeat()),
		OnMiss:         MissPolicy(s.GetOptions().GetOnMiss()),
		Latency:        latencyFromProto(s.GetOptions().GetLatency()),
		Options:        s.GetOptions(),
		Faults:         faultsFromProto(s.GetFaults()),
		FaultSeed:      s.GetFaultSeed(),
	}
	for _, m := range s.GetMisses() {
		out.Misses = append(out.Misses, missFromProto(m))
	}
	return out
}

func missFromProto(m *pb.Miss) Miss {
	miss := Miss{Method: m.GetMethod(), URL: m.GetUrl(), Reason: m.GetReason()}
	for _, c := range m.GetClosest() {
		cand := Candidate{InteractionIndex: c.GetInteractionIndex(), Method: c.GetMethod(), URL: c.GetUrl()}
		for _, d := range c.GetDifferences() {
			cand.Differences = append(cand.Differences,
				FieldDifference{Field: d.GetField(), Recorded: d.GetRecorded(), Live: d.GetLive()})
		}
		miss.Closest = append(miss.Closest, cand)
	}
	return miss
}

func summaryFromProto(s *pb.SessionSummary) *Summary {
	return &Summary{
		Session:            sessionFromProto(s.GetSession()),
		SavedPath:          s.GetSavedPath(),
		UnusedInteractions: s.GetUnusedInteractions(),
		EndReason:          s.GetEndReason(),
		EndedAt:            asTime(s.GetEndedAt()),
		SaveError:          s.GetSaveError(),
		Warnings:           s.GetWarnings(),
	}
}

func statusFromProto(r *pb.GetStatusResponse) *Status {
	out := &Status{
		Version:         r.GetVersion(),
		ProxyAddress:    r.GetProxyAddress(),
		ControlAddress:  r.GetControlAddress(),
		CassetteDir:     r.GetCassetteDir(),
		DefaultMode:     Mode(r.GetDefaultMode()),
		Session:         sessionFromProto(r.GetSession()),
		Uptime:          r.GetUptime().AsDuration(),
		APIVersion:      r.GetApiVersion(),
		TLS:             r.GetTls(),
		ReverseUpstream: r.GetReverseUpstream(),
		MaxSessions:     r.GetMaxSessions(),
	}
	for _, si := range r.GetSessions() {
		out.Sessions = append(out.Sessions, sessionFromProto(si))
	}
	for _, sum := range r.GetEndedSessions() {
		out.EndedSessions = append(out.EndedSessions, summaryFromProto(sum))
	}
	return out
}

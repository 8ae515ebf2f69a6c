package matgto_test

// Sessions against an in-process fake of the control service: what the
// client sends, how it renews a lease, what it does when the session is
// lost, and how the test helper judges misses. No matgto binary needed.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	matgto "github.com/matgto/matgto-serge/clients/go"
	pb "github.com/matgto/matgto-serge/clients/go/matgtov1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

const fakeSessionID = "s-00112233445566ff"

// sessionFake opens one session per UseCassette and answers RenewSession
// until renewOK renewals have been made, NOT_FOUND after that.
type sessionFake struct {
	fakeControl
	mu         sync.Mutex
	uses       []*pb.UseCassetteRequest
	renewals   []time.Time
	renewOK    int // renewals answered OK; -1: all
	stops      []*pb.StopRecordingRequest
	stopResp   *pb.SessionSummary // what StopRecording answers
	stopErr    error
	ended      []*pb.SessionSummary // GetStatus's ended_sessions
	noID       bool                 // answer like a server that predates sessions
	statusHits int
}

func newSessionFake() *sessionFake {
	return &sessionFake{fakeControl: fakeControl{apiVersion: 1}, renewOK: -1}
}

func (f *sessionFake) UseCassette(_ context.Context, r *pb.UseCassetteRequest) (*pb.UseCassetteResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.uses = append(f.uses, proto.Clone(r).(*pb.UseCassetteRequest))
	si := &pb.SessionInfo{Cassette: r.GetName(), Mode: pb.Mode_RECORD, RequestedMode: r.GetMode(),
		Id: fakeSessionID, ProxyAddress: "0.0.0.0:4242", ProxyUrl: "http://" + fakeSessionID + "@127.0.0.1:7777",
		Owner: r.GetOwner(), Lease: r.GetLease(), OpenedAt: timestamppb.Now()}
	if !r.GetNewSession() {
		si.Id, si.ProxyAddress, si.ProxyUrl, si.Lease = "default", "127.0.0.1:7777", "", nil
		if r.GetSession() != "" {
			si.Id = r.GetSession()
		}
	}
	if f.noID {
		si = &pb.SessionInfo{Cassette: r.GetName(), Mode: pb.Mode_RECORD}
	}
	return &pb.UseCassetteResponse{Session: si}, nil
}

func (f *sessionFake) RenewSession(_ context.Context, r *pb.RenewSessionRequest) (*pb.RenewSessionResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.GetSession() != fakeSessionID {
		return nil, status.Errorf(codes.InvalidArgument, "renewed %q", r.GetSession())
	}
	f.renewals = append(f.renewals, time.Now())
	if f.renewOK >= 0 && len(f.renewals) > f.renewOK {
		return nil, status.Errorf(codes.NotFound, "session %s is not open", r.GetSession())
	}
	return &pb.RenewSessionResponse{LeaseExpiresAt: timestamppb.New(time.Now().Add(time.Hour))}, nil
}

func (f *sessionFake) StopRecording(_ context.Context, r *pb.StopRecordingRequest) (*pb.StopRecordingResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stops = append(f.stops, proto.Clone(r).(*pb.StopRecordingRequest))
	if f.stopErr != nil {
		return nil, f.stopErr
	}
	sum := f.stopResp
	if sum == nil {
		sum = &pb.SessionSummary{Session: &pb.SessionInfo{Id: r.GetSession()}, EndReason: "stopped"}
	}
	return &pb.StopRecordingResponse{Summary: sum}, nil
}

func (f *sessionFake) GetStatus(context.Context, *pb.GetStatusRequest) (*pb.GetStatusResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.statusHits++
	return &pb.GetStatusResponse{ApiVersion: 1, ProxyAddress: "127.0.0.1:7777", EndedSessions: f.ended}, nil
}

func (f *sessionFake) GetCACertificate(context.Context, *pb.GetCACertificateRequest) (*pb.GetCACertificateResponse, error) {
	return nil, status.Error(codes.Unimplemented, "no interception in the fake")
}

func (f *sessionFake) renewCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.renewals)
}

// renewGoroutines counts the goroutines running the session's renewal loop.
func renewGoroutines() int {
	buf := make([]byte, 1<<20)
	n := runtime.Stack(buf, true)
	return strings.Count(string(buf[:n]), "(*Session).renewLoop")
}

// eventually polls cond every 10ms for up to d.
func eventually(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

func TestOpenSessionAsksForANewLeasedSession(t *testing.T) {
	f := newSessionFake()
	c := startFake(t, f)
	s, err := c.OpenSession(ctxFor(t), "orders/create")
	if err != nil {
		t.Fatalf("OpenSession: %v", err)
	}
	defer s.Stop(context.Background())
	f.mu.Lock()
	req := f.uses[0]
	f.mu.Unlock()
	wantOwner := fmt.Sprintf("go %s pid %d", filepath.Base(os.Args[0]), os.Getpid())
	if req.GetName() != "orders/create" || req.GetMode() != pb.Mode_MODE_UNSPECIFIED || !req.GetNewSession() || req.GetSession() != "" ||
		req.GetLease().AsDuration() != 30*time.Second || req.GetOwner() != wantOwner {
		t.Errorf("UseCassette request = %v; want orders/create, the server's default mode, new_session, lease 30s, owner %q", req, wantOwner)
	}
	if s.ID() != fakeSessionID || s.Lease() != 30*time.Second {
		t.Errorf("session id %q lease %v", s.ID(), s.Lease())
	}
	// Its own listener, on all interfaces: reached at the control host.
	if got := s.ProxyURL().String(); got != "http://127.0.0.1:4242" {
		t.Errorf("ProxyURL = %s, want http://127.0.0.1:4242", got)
	}
	if u := s.SharedProxyURL(); u == nil || u.User.Username() != fakeSessionID || u.Host != "127.0.0.1:7777" {
		t.Errorf("SharedProxyURL = %v", u)
	}
	tr := s.HTTPTransport()
	if pu, err := tr.Proxy(nil); err != nil || pu.String() != "http://127.0.0.1:4242" {
		t.Errorf("transport proxy = %v, %v", pu, err)
	}
	if s.HTTPClient().Transport != tr {
		t.Errorf("HTTPClient does not use HTTPTransport")
	}
}

func TestOpenSessionOptions(t *testing.T) {
	f := newSessionFake()
	c := startFake(t, f)
	ctx := ctxFor(t)
	s, err := c.OpenSession(ctx, "x", matgto.WithMode(matgto.ModeReplay), matgto.WithLease(5*time.Minute),
		matgto.WithOwner(strings.Repeat("é", 200)), matgto.WithOnMiss(matgto.MissPassthrough))
	if err != nil {
		t.Fatalf("OpenSession: %v", err)
	}
	s.Stop(ctx)
	s2, err := c.OpenSession(ctx, "y", matgto.WithoutLease())
	if err != nil {
		t.Fatalf("OpenSession: %v", err)
	}
	s2.Stop(ctx)
	s3, err := c.OpenSession(ctx, "z", matgto.WithSession(matgto.DefaultSession), matgto.WithLease(time.Minute))
	if err != nil {
		t.Fatalf("OpenSession in the default session: %v", err)
	}
	s3.Stop(ctx)

	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.uses[0]
	if r.GetMode() != pb.Mode_REPLAY || r.GetLease().AsDuration() != 5*time.Minute || len(r.GetOwner()) > matgto.MaxOwnerBytes ||
		!strings.HasPrefix(strings.Repeat("é", 200), r.GetOwner()) || r.GetOptions().GetOnMiss() != pb.MissPolicy_MISS_PASSTHROUGH {
		t.Errorf("request with options = %v", r)
	}
	if len(r.GetOwner()) != 256 {
		t.Errorf("owner cut to %d bytes, want 256 (128 two-byte characters)", len(r.GetOwner()))
	}
	if r := f.uses[1]; !r.GetNewSession() || r.GetLease() != nil {
		t.Errorf("WithoutLease request = %v, want a new session without lease", r)
	}
	if r := f.uses[2]; r.GetNewSession() || r.GetSession() != "" || r.GetLease() != nil || r.GetOwner() != "" {
		t.Errorf("WithSession(DefaultSession) request = %v, want the default session, no lease, no owner", r)
	}
	if len(f.renewals) != 0 {
		t.Errorf("%d renewals", len(f.renewals))
	}
	if len(f.stops) != 3 || f.stops[0].GetSession() != fakeSessionID || f.stops[2].GetSession() != "" {
		t.Errorf("stops = %v", f.stops)
	}
}

func TestLowLevelSessionFields(t *testing.T) {
	f := newSessionFake()
	c := startFake(t, f)
	ctx := ctxFor(t)
	if _, err := c.UseCassette(ctx, "a", matgto.ModeRecord, matgto.WithNewSession(), matgto.WithLease(2*time.Second), matgto.WithOwner("me")); err != nil {
		t.Fatal(err)
	}
	// Lease and owner go with new sessions only.
	if _, err := c.UseCassette(ctx, "b", matgto.ModeRecord, matgto.WithSession("s-1"), matgto.WithLease(2*time.Second), matgto.WithOwner("me")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.StopRecording(ctx, matgto.WithSession("s-1")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.StopRecording(ctx); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if r := f.uses[0]; !r.GetNewSession() || r.GetLease().AsDuration() != 2*time.Second || r.GetOwner() != "me" {
		t.Errorf("new-session request = %v", r)
	}
	if r := f.uses[1]; r.GetNewSession() || r.GetSession() != "s-1" || r.GetLease() != nil || r.GetOwner() != "" {
		t.Errorf("existing-session request = %v", r)
	}
	if f.stops[0].GetSession() != "s-1" || f.stops[1].GetSession() != "" {
		t.Errorf("stops = %v", f.stops)
	}
	if len(f.renewals) != 0 {
		t.Errorf("the low-level calls renewed %d times; only OpenSession renews", len(f.renewals))
	}
}

func TestSessionRenewsEveryThirdOfTheLeaseUntilStop(t *testing.T) {
	f := newSessionFake()
	c := startFake(t, f)
	before := renewGoroutines()
	// The fake accepts any lease; a real server wants 1s at least.
	s, err := c.OpenSession(ctxFor(t), "x", matgto.WithLease(300*time.Millisecond))
	if err != nil {
		t.Fatalf("OpenSession: %v", err)
	}
	if !eventually(10*time.Second, func() bool { return f.renewCount() >= 5 }) {
		t.Fatalf("%d renewals in 10s with a 300ms lease", f.renewCount())
	}
	f.mu.Lock()
	first, last, n := f.renewals[0], f.renewals[len(f.renewals)-1], len(f.renewals)
	f.mu.Unlock()
	// About lease/3 apart on average (a slow renewal may delay one tick);
	// never as far apart as the lease itself.
	if mean := last.Sub(first) / time.Duration(n-1); mean < 70*time.Millisecond || mean > 250*time.Millisecond {
		t.Errorf("renewals %v apart on average, want about 100ms (lease/3)", mean)
	}
	if s.LeaseExpiresAt().Before(time.Now().Add(30 * time.Minute)) {
		t.Errorf("LeaseExpiresAt %v does not follow the renewals", s.LeaseExpiresAt())
	}
	if err := s.Err(); err != nil {
		t.Errorf("Err = %v", err)
	}
	if _, err := s.Stop(ctxFor(t)); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if n := renewGoroutines(); n != before {
		t.Errorf("%d renewal goroutines after Stop, %d before OpenSession", n, before)
	}
	atStop := f.renewCount()
	time.Sleep(350 * time.Millisecond)
	if m := f.renewCount(); m != atStop {
		t.Errorf("%d renewals after Stop", m-atStop)
	}
	// Stop is idempotent.
	if _, err := s.Stop(ctxFor(t)); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	f.mu.Lock()
	if len(f.stops) != 1 {
		t.Errorf("%d StopRecording calls for two Stops", len(f.stops))
	}
	f.mu.Unlock()
}

func TestSessionLostWhenRenewalFindsItGone(t *testing.T) {
	f := newSessionFake()
	f.renewOK = 2
	f.ended = []*pb.SessionSummary{{
		Session:   &pb.SessionInfo{Id: fakeSessionID, Cassette: "x", Mode: pb.Mode_REPLAY, Misses: []*pb.Miss{{Method: "GET", Url: "http://h/p", Reason: "no-match"}}},
		EndReason: "lease-expired", EndedAt: timestamppb.Now(), SaveError: "disk full",
	}}
	c := startFake(t, f)
	s, err := c.OpenSession(ctxFor(t), "x", matgto.WithLease(150*time.Millisecond))
	if err != nil {
		t.Fatalf("OpenSession: %v", err)
	}
	if !eventually(5*time.Second, func() bool { return s.Err() != nil }) {
		t.Fatalf("Err still nil after %d renewals", f.renewCount())
	}
	if err := s.Err(); !errors.Is(err, matgto.ErrSessionLost) || !errors.Is(err, matgto.ErrSessionNotFound) || !strings.Contains(err.Error(), fakeSessionID) {
		t.Errorf("Err = %v, want ErrSessionLost wrapping the NOT_FOUND and naming the session", err)
	}
	// No renewal after the loss.
	n := f.renewCount()
	time.Sleep(200 * time.Millisecond)
	if m := f.renewCount(); m != n || n != 3 {
		t.Errorf("renewals: %d at the loss, %d later; want 3 and no more", n, m)
	}
	if renewGoroutines() != 0 {
		t.Errorf("the renewal goroutine outlives the loss")
	}
	sum, err := s.Stop(ctxFor(t))
	if !errors.Is(err, matgto.ErrSessionLost) || !strings.Contains(err.Error(), "lease-expired") {
		t.Errorf("Stop error = %v, want ErrSessionLost with the end reason", err)
	}
	if sum == nil || sum.EndReason != "lease-expired" || sum.SaveError != "disk full" || sum.EndedAt.IsZero() ||
		sum.Session.Mode != matgto.ModeReplay || len(sum.Session.Misses) != 1 {
		t.Errorf("Stop summary = %+v, want the ended session's", sum)
	}
	f.mu.Lock()
	if len(f.stops) != 0 {
		t.Errorf("StopRecording called for a lost session")
	}
	f.mu.Unlock()
}

func TestSessionStopFindsItGone(t *testing.T) {
	f := newSessionFake()
	f.stopErr = status.Error(codes.NotFound, "no session "+fakeSessionID)
	c := startFake(t, f)
	s, err := c.OpenSession(ctxFor(t), "x", matgto.WithoutLease())
	if err != nil {
		t.Fatalf("OpenSession: %v", err)
	}
	sum, err := s.Stop(ctxFor(t))
	if sum != nil || !errors.Is(err, matgto.ErrSessionLost) || !errors.Is(err, matgto.ErrSessionNotFound) {
		t.Errorf("Stop = %v, %v; want nil and ErrSessionLost (the server lists no ended session)", sum, err)
	}
	if !errors.Is(s.Err(), matgto.ErrSessionLost) {
		t.Errorf("Err after Stop = %v", s.Err())
	}
}

func TestOpenSessionRefusesAServerWithoutSessions(t *testing.T) {
	f := newSessionFake()
	f.noID = true
	c := startFake(t, f)
	_, err := c.OpenSession(ctxFor(t), "x")
	if err == nil || !strings.Contains(err.Error(), "predates sessions") {
		t.Fatalf("OpenSession on an old server = %v", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.stops) != 1 || f.stops[0].GetSession() != "" || len(f.renewals) != 0 {
		t.Errorf("stops %v renewals %d: the cassette put in the default session must be ended", f.stops, len(f.renewals))
	}
	if renewGoroutines() != 0 {
		t.Errorf("a renewal goroutine was left behind")
	}
}

// missesSummary holds one miss of every kind.
func missesSummary() *pb.SessionSummary {
	cand := []*pb.Candidate{{InteractionIndex: 3, Method: "GET", Url: "http://api.test/users?page=1",
		Differences: []*pb.FieldDifference{{Field: "query", Recorded: "page=1", Live: "page=2"}}}}
	return &pb.SessionSummary{EndReason: "stopped", Session: &pb.SessionInfo{
		Id: fakeSessionID, Cassette: "c", Mode: pb.Mode_REPLAY, Missed: 5, PassedThrough: 1,
		Misses: []*pb.Miss{
			{Method: "GET", Url: "http://api.test/users?page=2", Reason: "no-match", Closest: cand},
			{Method: "POST", Url: "http://api.test/forwarded", Reason: "no-match, passed through"},
			{Method: "GET", Url: "http://api.test/again", Reason: "exhausted",
				Closest: []*pb.Candidate{{InteractionIndex: 0, Method: "GET", Url: "http://api.test/again"}}},
			{Method: "GET", Url: "ws://api.test/socket", Reason: "ws-mismatch"},
			{Method: "PUT", Url: "http://api.test/recorded-live", Reason: "no-match, recorded"},
		}}}
}

func TestHelperFailsOnMissesWithTheirExplanation(t *testing.T) {
	f := newSessionFake()
	f.stopResp = missesSummary()
	c := startFake(t, f)
	ft := runFake(func(tb testing.TB) { matgto.UseCassette(tb, "", matgto.WithClient(c)) })
	if len(ft.fatals) != 0 {
		t.Fatalf("fatals: %q", ft.fatals)
	}
	ft.runCleanups()
	if len(ft.errors) != 1 {
		t.Fatalf("errors = %q, want one", ft.errors)
	}
	msg := ft.errors[0]
	for _, want := range []string{
		"3 request(s) found no recorded answer",
		"GET http://api.test/users?page=2 (no-match)",
		"closest recorded #3: GET http://api.test/users?page=1",
		`query: recorded "page=1", live "page=2"`,
		"GET http://api.test/again (exhausted)",
		"GET ws://api.test/socket (ws-mismatch)",
		fakeSessionID,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("failure message lacks %q:\n%s", want, msg)
		}
	}
	for _, not := range []string{"/forwarded", "/recorded-live"} {
		if strings.Contains(msg, not) {
			t.Errorf("a miss forwarded by the miss policy (%s) fails the test:\n%s", not, msg)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if r := f.uses[0]; r.GetName() != "TestFake" || r.GetOwner() != fmt.Sprintf("go test TestFake pid %d", os.Getpid()) ||
		r.GetMode() != pb.Mode_MODE_UNSPECIFIED || !r.GetNewSession() || r.GetLease().AsDuration() != matgto.DefaultLease {
		t.Errorf("helper request = %v", r)
	}
}

func TestHelperWarnsOnlyWhenAsked(t *testing.T) {
	f := newSessionFake()
	f.stopResp = missesSummary()
	c := startFake(t, f)
	ft := runFake(func(tb testing.TB) { matgto.UseCassette(tb, "w", matgto.WithClient(c), matgto.WithMissesAsWarnings()) })
	ft.runCleanups()
	if len(ft.fatals)+len(ft.errors) != 0 {
		t.Fatalf("fatals %q errors %q, want none", ft.fatals, ft.errors)
	}
	logs := strings.Join(ft.logs, "\n")
	if !strings.Contains(logs, "warning: matgto: cassette") || !strings.Contains(logs, "(no-match)") {
		t.Errorf("logs = %q, want the misses as a warning", ft.logs)
	}
}

func TestHelperNoMissesNoFailure(t *testing.T) {
	f := newSessionFake()
	c := startFake(t, f)
	ft := runFake(func(tb testing.TB) { matgto.UseCassette(tb, "ok", matgto.WithClient(c)) })
	ft.runCleanups()
	if len(ft.fatals)+len(ft.errors) != 0 {
		t.Fatalf("fatals %q errors %q", ft.fatals, ft.errors)
	}
}

func TestMissFailed(t *testing.T) {
	for reason, want := range map[string]bool{
		"no-match": true, "exhausted": true, "ws-mismatch": true,
		"no-match, passed through": false, "no-match, recorded": false, "": false,
	} {
		if got := (matgto.Miss{Reason: reason}).Failed(); got != want {
			t.Errorf("Miss{Reason: %q}.Failed() = %v", reason, got)
		}
	}
}

func TestCassetteName(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"TestX", "TestX"},
		{"TestX/sub_case", "TestX/sub_case"},
		{"TestX/a.b-c+d=e@f,g[h]", "TestX/a.b-c+d=e@f,g[h]"},
	} {
		if got := matgto.CassetteName(tc.in); got != tc.want {
			t.Errorf("CassetteName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	seen := map[string]string{}
	for _, in := range []string{
		"TestX/same", "TestX/same#01", "TestX/a:b", "TestX/a;b", "TestX/..", "TestX/.", "TestX//x",
		"TestX/naïve", "TestX/\x01ctl", "TestX/" + strings.Repeat("long/", 60), "TestX/" + strings.Repeat("long/", 60) + "x",
		"TestX/a b", "TestX/", "/TestX",
	} {
		got := matgto.CassetteName(in)
		if err := validCassetteName(got); err != nil {
			t.Errorf("CassetteName(%q) = %q: %v", in, got, err)
		}
		if prev, dup := seen[got]; dup {
			t.Errorf("CassetteName(%q) = CassetteName(%q) = %q", in, prev, got)
		}
		seen[got] = in
		if again := matgto.CassetteName(in); again != got {
			t.Errorf("CassetteName(%q) is not stable: %q, then %q", in, got, again)
		}
	}
}

// validCassetteName restates the server's rule (control.proto's header,
// server/cassette/name.cc).
func validCassetteName(n string) error {
	if n == "" || len(n) > matgto.MaxCassetteNameBytes || n[0] == '/' {
		return fmt.Errorf("empty, too long or absolute")
	}
	for _, r := range n {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-+=@,[]/", r)) {
			return fmt.Errorf("character %q", r)
		}
	}
	for _, seg := range strings.Split(n, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("segment %q", seg)
		}
	}
	return nil
}

func TestStatusSessionFields(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	f := &statusFake{resp: &pb.GetStatusResponse{ApiVersion: 1, MaxSessions: 256,
		Sessions: []*pb.SessionInfo{{Id: "s-1", Cassette: "a", ProxyAddress: "127.0.0.1:5", ProxyUrl: "http://s-1@127.0.0.1:4",
			Owner: "o", OpenedAt: timestamppb.New(now), Age: durationpb.New(2 * time.Second), Lease: durationpb.New(30 * time.Second),
			LeaseExpiresAt: timestamppb.New(now.Add(30 * time.Second))}},
		EndedSessions: []*pb.SessionSummary{{Session: &pb.SessionInfo{Id: "s-2"}, EndReason: "shutdown", EndedAt: timestamppb.New(now), SaveError: "e", SavedPath: "p"}},
	}}
	c := startFake(t, f)
	st, err := c.Status(ctxFor(t))
	if err != nil {
		t.Fatal(err)
	}
	si := st.FindSession("s-1")
	if st.MaxSessions != 256 || si == nil || si.ProxyAddress != "127.0.0.1:5" || si.ProxyURL != "http://s-1@127.0.0.1:4" || si.Owner != "o" ||
		!si.OpenedAt.Equal(now) || si.Age != 2*time.Second || si.Lease != 30*time.Second || !si.LeaseExpiresAt.Equal(now.Add(30*time.Second)) {
		t.Errorf("status = %+v, session %+v", st, si)
	}
	e := st.FindEndedSession("s-2")
	if e == nil || e.EndReason != "shutdown" || !e.EndedAt.Equal(now) || e.SaveError != "e" || e.SavedPath != "p" {
		t.Errorf("ended session = %+v", e)
	}
	if st.FindSession("s-2") != nil || st.FindEndedSession("s-1") != nil {
		t.Errorf("FindSession/FindEndedSession mix open and ended sessions")
	}
}

type statusFake struct {
	pb.UnimplementedProxyControlServer
	resp *pb.GetStatusResponse
}

func (f *statusFake) GetStatus(context.Context, *pb.GetStatusRequest) (*pb.GetStatusResponse, error) {
	return f.resp, nil
}

type shutdownFake struct {
	fakeControl
	got chan *pb.ShutdownRequest
}

func (f *shutdownFake) Shutdown(_ context.Context, r *pb.ShutdownRequest) (*pb.ShutdownResponse, error) {
	f.got <- proto.Clone(r).(*pb.ShutdownRequest)
	return &pb.ShutdownResponse{}, nil
}

func TestShutdownGrace(t *testing.T) {
	f := &shutdownFake{fakeControl: fakeControl{apiVersion: 1}, got: make(chan *pb.ShutdownRequest, 2)}
	c := startFake(t, f)
	if err := c.Shutdown(ctxFor(t)); err != nil {
		t.Fatal(err)
	}
	if err := c.Shutdown(ctxFor(t), matgto.WithGrace(1500*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if r := <-f.got; r.GetGrace() != nil {
		t.Errorf("Shutdown() sent grace %v, want none (the server's default)", r.GetGrace())
	}
	if r := <-f.got; r.GetGrace().AsDuration() != 1500*time.Millisecond {
		t.Errorf("Shutdown(WithGrace(1.5s)) sent grace %v", r.GetGrace())
	}
}

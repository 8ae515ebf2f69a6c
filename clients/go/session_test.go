package matgto_test

// Sessions against the real server ($MATGTO_BIN): CONTRACT.md, "Sessions
// (issue 9)".

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	matgto "github.com/matgto/matgto-serge/clients/go"
)

// viaProxy is an HTTP client that uses proxy as it is (no CA: plain HTTP).
func viaProxy(t *testing.T, proxy *url.URL) *http.Client {
	tr := &http.Transport{Proxy: http.ProxyURL(proxy), DisableKeepAlives: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

func TestSessionLeaseIsRenewedUntilStop(t *testing.T) {
	srv := startServer(t, t.TempDir())
	c := dial(t, srv)
	up := newUpstream(t)
	ctx := ctxFor(t)
	const lease = 2 * time.Second
	s, err := c.OpenSession(ctx, "lease/renewed", matgto.WithLease(lease), matgto.WithOwner("lease test"))
	if err != nil {
		t.Fatalf("OpenSession: %v", err)
	}
	if s.Lease() != lease || !sessionIDPattern.MatchString(s.ID()) {
		t.Fatalf("session %s lease %v", s.ID(), s.Lease())
	}
	// Two and a half lease lengths: without the renewals the server would
	// have ended it.
	time.Sleep(5 * time.Second)
	if err := s.Err(); err != nil {
		t.Fatalf("Err after 5s: %v", err)
	}
	si, err := s.Status(ctx)
	if err != nil {
		t.Fatalf("the session is not open after 5s with a 2s lease renewed every 667ms: %v", err)
	}
	if si.Owner != "lease test" || si.Lease != lease || si.Age < 5*time.Second {
		t.Errorf("session = %+v", si)
	}
	if left := time.Until(si.LeaseExpiresAt); left <= 0 || left > lease+time.Second {
		t.Errorf("lease expires in %v, want within one lease", left)
	}
	if r := do(t, s.HTTPClient(), "GET", up.URL+"/leased", nil); r.Status != 200 {
		t.Errorf("request through the session: %d %q", r.Status, r.Body)
	}
	sum, err := s.Stop(ctx)
	if err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if sum.Session.Recorded != 1 || sum.EndReason != "stopped" || sum.SavedPath == "" || sum.EndedAt.IsZero() {
		t.Errorf("summary = %+v, session %+v", sum, sum.Session)
	}
	if renewGoroutines() != 0 {
		t.Errorf("a renewal goroutine outlives Stop")
	}
	// The session and its port are gone.
	if _, err := c.RenewSession(ctx, s.ID()); !errors.Is(err, matgto.ErrSessionNotFound) {
		t.Errorf("RenewSession after Stop = %v, want NOT_FOUND", err)
	}
	if _, err := viaProxy(t, s.ProxyURL()).Get(up.URL + "/after-stop"); err == nil {
		t.Errorf("the session's proxy port still answers after Stop")
	}
}

func TestLeaseExpiresWithoutRenewal(t *testing.T) {
	srv := startServer(t, t.TempDir())
	c := dial(t, srv)
	up := newUpstream(t)
	ctx := ctxFor(t)
	const name = "lease/expired"
	// The low-level call does not renew.
	si, err := c.StartRecording(ctx, name, matgto.WithNewSession(), matgto.WithLease(time.Second), matgto.WithOwner("gone"))
	if err != nil {
		t.Fatalf("StartRecording in a new session: %v", err)
	}
	pu, err := url.Parse(si.ProxyURL)
	if !sessionIDPattern.MatchString(si.ID) || si.Lease != time.Second || si.Owner != "gone" || si.ProxyAddress == "" ||
		err != nil || pu.Scheme != "http" || pu.User.Username() != si.ID || pu.Host != srv.ProxyAddress {
		t.Fatalf("session = %+v; want proxy_url http://%s[:password]@%s", si, si.ID, srv.ProxyAddress)
	}
	proxy := &url.URL{Scheme: "http", Host: si.ProxyAddress}
	if r := do(t, viaProxy(t, proxy), "GET", up.URL+"/before-expiry", nil); r.Status != 200 {
		t.Fatalf("request through the session's own port: %d %q", r.Status, r.Body)
	}
	var ended *matgto.Summary
	if !eventually(10*time.Second, func() bool {
		st, err := c.Status(ctx)
		if err == nil {
			ended = st.FindEndedSession(si.ID)
		}
		return ended != nil
	}) {
		t.Fatalf("the session is not listed as ended 10s after its 1s lease")
	}
	if ended.EndReason != "lease-expired" || ended.Session.Recorded != 1 || ended.SavedPath == "" || ended.EndedAt.IsZero() {
		t.Errorf("ended session = %+v, session %+v; want lease-expired with its recording saved", ended, ended.Session)
	}
	if infos, err := c.ListCassettes(ctx, name); err != nil || len(infos) != 1 || infos[0].Interactions != 1 {
		t.Errorf("ListCassettes(%s) = %+v, %v; want the saved recording", name, infos, err)
	}
	if _, err := c.RenewSession(ctx, si.ID); !errors.Is(err, matgto.ErrSessionNotFound) {
		t.Errorf("RenewSession of an expired session = %v, want NOT_FOUND", err)
	}
	if _, err := c.StopRecording(ctx, matgto.WithSession(si.ID)); !errors.Is(err, matgto.ErrSessionNotFound) {
		t.Errorf("StopRecording of an expired session = %v, want NOT_FOUND", err)
	}
	if _, err := viaProxy(t, proxy).Get(up.URL + "/after-expiry"); err == nil {
		t.Errorf("the expired session's port still answers")
	}
}

func TestSessionLostIsReportedByStop(t *testing.T) {
	srv := startServer(t, t.TempDir())
	c := dial(t, srv)
	ctx := ctxFor(t)
	s, err := c.OpenSession(ctx, "lease/lost", matgto.WithLease(time.Second))
	if err != nil {
		t.Fatalf("OpenSession: %v", err)
	}
	// Someone else ends it: the next renewal finds it gone.
	if _, err := c.StopRecording(ctx, matgto.WithSession(s.ID())); err != nil {
		t.Fatalf("StopRecording(%s): %v", s.ID(), err)
	}
	if !eventually(5*time.Second, func() bool { return s.Err() != nil }) {
		t.Fatalf("Err still nil 5s after the session ended (lease 1s)")
	}
	if err := s.Err(); !errors.Is(err, matgto.ErrSessionLost) || !errors.Is(err, matgto.ErrSessionNotFound) {
		t.Errorf("Err = %v, want ErrSessionLost wrapping NOT_FOUND", err)
	}
	sum, err := s.Stop(ctx)
	if !errors.Is(err, matgto.ErrSessionLost) {
		t.Errorf("Stop = %v, want ErrSessionLost", err)
	}
	if sum == nil || sum.EndReason != "stopped" {
		t.Errorf("Stop summary = %+v, want the ended session's (end reason stopped)", sum)
	}
}

func TestSessionErrors(t *testing.T) {
	srv := startServer(t, t.TempDir(), "--max-sessions", "2")
	c := dial(t, srv)
	up := newUpstream(t)
	ctx := ctxFor(t)

	st, err := c.Status(ctx)
	if err != nil || st.MaxSessions != 2 {
		t.Fatalf("Status = %+v, %v; want max_sessions 2", st, err)
	}
	if _, err := c.StartRecording(ctx, "x", matgto.WithSession("s-0123456789abcdef")); !errors.Is(err, matgto.ErrSessionNotFound) {
		t.Errorf("StartRecording in an unknown session = %v, want NOT_FOUND", err)
	}
	if _, err := c.RenewSession(ctx, "s-0123456789abcdef"); !errors.Is(err, matgto.ErrSessionNotFound) {
		t.Errorf("RenewSession of an unknown session = %v, want NOT_FOUND", err)
	}
	for _, lease := range []time.Duration{500 * time.Millisecond, 2 * time.Hour} {
		if _, err := c.OpenSession(ctx, "x", matgto.WithLease(lease)); !errors.Is(err, matgto.ErrInvalidArgument) {
			t.Errorf("OpenSession with a lease of %v = %v, want INVALID_ARGUMENT (1s..1h)", lease, err)
		}
	}
	if renewGoroutines() != 0 {
		t.Errorf("a refused OpenSession left a renewal goroutine")
	}

	s1, err := c.OpenSession(ctx, "shared/cassette", matgto.WithMode(matgto.ModeRecord))
	if err != nil {
		t.Fatalf("OpenSession: %v", err)
	}
	t.Cleanup(func() { s1.Stop(context.Background()) })
	_, err = c.OpenSession(ctx, "shared/cassette", matgto.WithMode(matgto.ModeRecord))
	if !errors.Is(err, matgto.ErrFailedPrecondition) || !strings.Contains(err.Error(), s1.ID()) {
		t.Errorf("a second session recording the same cassette = %v, want FAILED_PRECONDITION naming %s", err, s1.ID())
	}
	s2, err := c.OpenSession(ctx, "other", matgto.WithMode(matgto.ModeRecord))
	if err != nil {
		t.Fatalf("second session: %v", err)
	}
	t.Cleanup(func() { s2.Stop(context.Background()) })
	if _, err := c.OpenSession(ctx, "third", matgto.WithMode(matgto.ModeRecord)); !errors.Is(err, matgto.ErrTooManySessions) {
		t.Errorf("a third session with --max-sessions 2 = %v, want RESOURCE_EXHAUSTED", err)
	}
	st, err = c.Status(ctx)
	if err != nil || len(st.Sessions) != 2 || st.FindSession(s1.ID()) == nil || st.FindSession(s2.ID()) == nil {
		t.Errorf("open sessions = %+v, %v; want %s and %s", st.Sessions, err, s1.ID(), s2.ID())
	}

	// The shared port: the session named as proxy user, or 407 for an unknown one.
	shared := s2.SharedProxyURL()
	if shared == nil || shared.User.Username() != s2.ID() || shared.Host != srv.ProxyAddress {
		t.Fatalf("SharedProxyURL = %v, want http://%s@%s", shared, s2.ID(), srv.ProxyAddress)
	}
	if r := do(t, viaProxy(t, shared), "GET", up.URL+"/via-shared-port", nil); r.Status != 200 {
		t.Errorf("request through the shared port as %s: %d %q", s2.ID(), r.Status, r.Body)
	}
	// The password is ignored: the user alone (Basic base64("ID:")) names the session too.
	userOnly := &url.URL{Scheme: "http", User: url.User(s2.ID()), Host: srv.ProxyAddress}
	if r := do(t, viaProxy(t, userOnly), "GET", up.URL+"/via-shared-port-user-only", nil); r.Status != 200 {
		t.Errorf("request through the shared port as %s without password: %d %q", s2.ID(), r.Status, r.Body)
	}
	if si, err := s2.Status(ctx); err != nil || si.Recorded != 2 {
		t.Errorf("session %s = %+v, %v; want both requests recorded there", s2.ID(), si, err)
	}
	unknown := &url.URL{Scheme: "http", User: url.User("s-ffffffffffffffff"), Host: srv.ProxyAddress}
	r := do(t, viaProxy(t, unknown), "GET", up.URL+"/unknown-session", nil)
	if r.Status != http.StatusProxyAuthRequired || r.Header.Get("X-Matgto-Error") != "unknown-session" {
		t.Errorf("unknown session on the shared port: %d, X-Matgto-Error %q; want 407 unknown-session", r.Status, r.Header.Get("X-Matgto-Error"))
	}
	if st, err := c.Status(ctx); err != nil || st.Session != nil {
		t.Errorf("the default session got a cassette: %+v, %v", st.Session, err)
	}
}

// Any number of sessions replay one cassette at once, each with its own
// "used" state; putting another cassette in a session ends the first one
// ("replaced").
func TestSessionsReplayOneCassetteIndependently(t *testing.T) {
	srv := startServer(t, t.TempDir())
	c := dial(t, srv)
	up := newUpstream(t)
	ctx := ctxFor(t)
	rec, err := c.OpenSession(ctx, "one/cassette", matgto.WithMode(matgto.ModeRecord))
	if err != nil {
		t.Fatalf("OpenSession: %v", err)
	}
	first := do(t, rec.HTTPClient(), "GET", up.URL+"/same", nil)
	second := do(t, rec.HTTPClient(), "GET", up.URL+"/same", nil)
	if _, err := rec.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	up.Close()

	a, err := c.OpenSession(ctx, "one/cassette", matgto.WithMode(matgto.ModeReplay))
	if err != nil {
		t.Fatalf("replay session a: %v", err)
	}
	b, err := c.OpenSession(ctx, "one/cassette", matgto.WithMode(matgto.ModeReplay))
	if err != nil {
		t.Fatalf("replay session b: %v", err)
	}
	for _, s := range []*matgto.Session{a, b} {
		if got := do(t, s.HTTPClient(), "GET", up.URL+"/same", nil); !bytes.Equal(got.Body, first.Body) {
			t.Errorf("%s: first answer %q, recorded %q", s, got.Body, first.Body)
		}
	}
	if got := do(t, a.HTTPClient(), "GET", up.URL+"/same", nil); !bytes.Equal(got.Body, second.Body) {
		t.Errorf("%s: second answer %q, recorded %q", a, got.Body, second.Body)
	}
	// Another cassette in session b: its first one ends, "replaced".
	if _, err := c.UseCassette(ctx, "one/cassette", matgto.ModeReplay, matgto.WithSession(b.ID())); err != nil {
		t.Fatalf("UseCassette in session %s: %v", b.ID(), err)
	}
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if e := st.FindEndedSession(b.ID()); e == nil || e.EndReason != "replaced" || e.Session.Replayed != 1 {
		t.Errorf("ended %s = %+v; want its first cassette ended as replaced, 1 replayed", b.ID(), e)
	}
	if si := st.FindSession(b.ID()); si == nil || si.Replayed != 0 {
		t.Errorf("session %s after the new cassette = %+v, want open with fresh counters", b.ID(), si)
	}
	for _, s := range []*matgto.Session{a, b} {
		if _, err := s.Stop(ctx); err != nil {
			t.Errorf("Stop %s: %v", s, err)
		}
	}
}

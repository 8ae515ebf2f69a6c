package matgto

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
)

// DefaultLease is the lease of the sessions that [Client.OpenSession] and
// the test helper [UseCassette] open: the server ends such a session 30s
// after its last renewal, so a test process that dies leaves nothing
// behind for long. They renew it every lease/3 (10s).
const DefaultLease = 30 * time.Second

// Session is a cassette session of one's own on a shared server, opened by
// [Client.OpenSession] (or the test helper [UseCassette]): its cassette,
// its own proxy listener ([Session.ProxyURL], [Session.HTTPClient]) and,
// when it has a lease, a goroutine that renews the lease every lease/3
// until [Session.Stop]. Its methods are safe for concurrent use.
type Session struct {
	c        *Client
	id       string // as the server names it ("s-…", or "default")
	info     *SessionInfo
	proxy    *url.URL
	tr       *http.Transport
	lease    time.Duration // 0: no lease, no renewal
	cancel   context.CancelFunc
	renewEnd chan struct{} // closed when the renewal goroutine has returned

	mu        sync.Mutex
	lost      error // set when a renewal found the session gone
	expiresAt time.Time

	stopOnce sync.Once
	stopSum  *Summary
	stopErr  error
}

// OpenSession puts cassette name in use in a new session of its own and
// returns it. Options:
//   - [WithMode] (default [ModeUnspecified]: the server's default mode,
//     `matgto serve --mode`, which is [ModeAuto] unless set: replay the
//     cassette when it exists, record it otherwise; the session's
//     [SessionInfo.Mode] says which);
//   - [WithLease] (default [DefaultLease]) or [WithoutLease]; the lease is
//     renewed in the background every lease/3 until Stop;
//   - [WithOwner] (default "go <program> pid <pid>"), shown by Status;
//   - every cassette option, as for [Client.UseCassette];
//   - [WithSession] puts the cassette in that existing session instead
//     ([DefaultSession]: the default one); no lease is then renewed;
//   - [WithFaults] and [WithFaultSeed] add fault rules once it is open.
//
// Stop the session when done with it: Stop ends the renewals and closes the
// session (saving a recording). The default session
// (WithSession(DefaultSession)) is not closed by Stop, only its cassette
// ended.
func (c *Client) OpenSession(ctx context.Context, name string, opts ...Option) (*Session, error) {
	o := collectOptions(opts)
	mode := ModeUnspecified // the server's default
	if o.hasMode {
		mode = o.mode
	}
	if !o.hasSession {
		o.newSession = true
		if o.lease == 0 {
			o.lease = DefaultLease
		}
		if !o.hasOwner {
			o.owner = truncateUTF8(fmt.Sprintf("go %s pid %d", filepath.Base(os.Args[0]), os.Getpid()), MaxOwnerBytes)
		}
	} else {
		o.newSession = false
	}
	// The CA first: a failure here leaves no session behind.
	roots, err := c.trustedRoots(ctx)
	if err != nil {
		return nil, err
	}
	info, err := c.UseCassette(ctx, name, mode, func(p *options) { *p = o })
	if err != nil {
		return nil, err
	}
	s := &Session{c: c, id: info.ID, info: info, expiresAt: info.LeaseExpiresAt, renewEnd: make(chan struct{})}
	if s.id == "" && o.hasSession {
		s.id = o.session
	}
	if s.id == "" || (o.newSession && s.id == DefaultSession) {
		// A server that predates sessions ignores new_session: the cassette
		// went into the default session, shared by everyone: end it.
		_, _ = c.StopRecording(context.WithoutCancel(ctx), WithSession(o.session))
		return nil, fmt.Errorf("matgto: OpenSession %q: the server at %s opened no session of its own (id %q): it predates sessions (issue 9)", name, c.addr, info.ID)
	}
	if s.proxy, err = c.proxyURLFor(info.ProxyAddress); err != nil {
		_, _ = c.StopRecording(context.WithoutCancel(ctx), WithSession(s.id))
		return nil, err
	}
	s.tr = newProxyTransport(s.proxy, roots)
	if len(o.faults) > 0 || o.faultSeed != 0 {
		if _, err := c.AddFaults(ctx, s.id, o.faultSeed, o.faults...); err != nil {
			if o.newSession || s.id == DefaultSession {
				_, _ = c.StopRecording(context.WithoutCancel(ctx), WithSession(s.id))
			}
			return nil, err
		}
	}

	var renewCtx context.Context
	renewCtx, s.cancel = context.WithCancel(context.Background())
	if o.newSession && o.lease > 0 {
		s.lease = o.lease
		if info.Lease > 0 {
			s.lease = info.Lease // what the server granted
		}
		go s.renewLoop(renewCtx)
	} else {
		close(s.renewEnd)
	}
	return s, nil
}

// renewLoop renews the lease every lease/3 until ctx ends or a renewal finds
// the session gone (NOT_FOUND). Other failures (the server briefly
// unreachable) are retried at the next tick: the lease has two more.
func (s *Session) renewLoop(ctx context.Context) {
	defer close(s.renewEnd)
	every := s.lease / 3
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		rctx, cancel := context.WithTimeout(ctx, every)
		exp, err := s.c.RenewSession(rctx, s.id)
		cancel()
		switch {
		case err == nil:
			s.mu.Lock()
			s.expiresAt = exp
			s.mu.Unlock()
		case ctx.Err() != nil:
			return // stopped while renewing
		case errors.Is(err, ErrSessionNotFound):
			s.mu.Lock()
			s.lost = fmt.Errorf("%w: session %s (cassette %q) ended on the server before it was stopped (lease %v): %w",
				ErrSessionLost, s.id, s.info.Cassette, s.lease, err)
			s.mu.Unlock()
			return
		}
	}
}

// ID is the session's id ("s-" and 16 hex digits; "default" for the default
// session).
func (s *Session) ID() string { return s.id }

// Info is the session as it was opened: cassette, effective mode (AUTO
// resolved), options, proxy addresses, lease. [Session.Status] is fresh.
func (s *Session) Info() *SessionInfo { return s.info }

// Client is the client the session was opened with.
func (s *Session) Client() *Client { return s.c }

// ProxyURL is the session's own proxy, "http://" + its proxy address: any
// HTTP client uses it unchanged (HTTP_PROXY, http.ProxyURL...). Every
// request sent through it belongs to this session only.
func (s *Session) ProxyURL() *url.URL {
	u := *s.proxy
	return &u
}

// SharedProxyURL is the server's shared proxy port with the session named as
// proxy user ("http://s-…:matgto@127.0.0.1:8888"; the server ignores the
// password), for HTTP clients that must all use one proxy address; Go's
// transport sends the user as Proxy-Authorization: Basic. Nil when the
// server gives none.
func (s *Session) SharedProxyURL() *url.URL {
	if s.info.ProxyURL == "" {
		return nil
	}
	u, err := url.Parse(s.info.ProxyURL)
	if err != nil {
		return nil
	}
	return u
}

// HTTPTransport is the session's transport: every request goes through the
// session's own proxy, and HTTPS trusts the server's CA on top of the
// system roots. Stop closes its idle connections.
func (s *Session) HTTPTransport() *http.Transport { return s.tr }

// HTTPClient is an *http.Client on [Session.HTTPTransport], for the code
// under test.
func (s *Session) HTTPClient() *http.Client { return &http.Client{Transport: s.tr} }

// Lease is the session's lease, 0 when it has none (and is not renewed).
func (s *Session) Lease() time.Duration { return s.lease }

// LeaseExpiresAt is when the lease ends unless renewed again, as of the
// last renewal; zero without a lease.
func (s *Session) LeaseExpiresAt() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.expiresAt
}

// Err is nil while the session is fine, and an error wrapping
// [ErrSessionLost] once a renewal found it gone.
func (s *Session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lost
}

// Renew renews the lease now (the background renewal does it every
// lease/3) and returns when it expires.
func (s *Session) Renew(ctx context.Context) (time.Time, error) {
	exp, err := s.c.RenewSession(ctx, s.id)
	if err != nil {
		return time.Time{}, err
	}
	s.mu.Lock()
	s.expiresAt = exp
	s.mu.Unlock()
	return exp, nil
}

// Status is a fresh snapshot of the session from the server; it fails with
// [ErrSessionNotFound] when the session is not open.
func (s *Session) Status(ctx context.Context) (*SessionInfo, error) {
	st, err := s.c.Status(ctx)
	if err != nil {
		return nil, err
	}
	if si := st.FindSession(s.id); si != nil {
		return si, nil
	}
	return nil, &Error{Op: "Status", Code: codes.NotFound,
		Message: fmt.Sprintf("session %s is not open on the server", s.id)}
}

// Stop ends the renewals (waiting for the goroutine to return), then ends
// the session's cassette, saving a recording, and closes the session. It
// returns the summary: counters, misses, where the recording was saved.
//
// When the session was lost (a renewal, or Stop itself, found it gone: its
// lease expired, or someone else stopped it), Stop returns an error
// wrapping [ErrSessionLost] and, when the server still lists the session
// among its ended ones, that summary (EndReason says why) rather than nil.
// Later calls return what the first one did.
func (s *Session) Stop(ctx context.Context) (*Summary, error) {
	s.stopOnce.Do(func() {
		s.cancel()
		<-s.renewEnd
		if s.tr != nil {
			defer s.tr.CloseIdleConnections()
		}
		s.stopSum, s.stopErr = s.stop(ctx)
	})
	return s.stopSum, s.stopErr
}

func (s *Session) stop(ctx context.Context) (*Summary, error) {
	lost := s.Err()
	if lost == nil {
		sum, err := s.c.StopRecording(ctx, WithSession(s.id))
		if err == nil || !errors.Is(err, ErrSessionNotFound) || s.id == DefaultSession {
			return sum, err
		}
		lost = fmt.Errorf("%w: session %s (cassette %q) had ended on the server before Stop: %w",
			ErrSessionLost, s.id, s.info.Cassette, err)
		s.mu.Lock()
		s.lost = lost
		s.mu.Unlock()
	}
	// The session is gone; the server may still tell how it ended.
	if st, err := s.c.Status(ctx); err == nil {
		if sum := st.FindEndedSession(s.id); sum != nil {
			return sum, fmt.Errorf("%w (end reason %q)", lost, sum.EndReason)
		}
	}
	return nil, lost
}

// String is "session ID (cassette NAME)".
func (s *Session) String() string {
	return "session " + s.id + " (cassette " + strconv.Quote(s.info.Cassette) + ")"
}

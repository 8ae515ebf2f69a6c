package matgto_test

// WatchEvents against a real server and upstream: a session's exchange and
// miss arrive with their details, cancelling ends the stream, and a server
// that wants tokens refuses a watcher without one.

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	matgto "github.com/matgto/matgto-serge/clients/go"
)

// nextEvent reads one event, failing the test after 20s.
func nextEvent(t *testing.T, s *matgto.EventStream) *matgto.Event {
	t.Helper()
	type got struct {
		e   *matgto.Event
		err error
	}
	ch := make(chan got, 1)
	go func() { e, err := s.Recv(); ch <- got{e, err} }()
	select {
	case g := <-ch:
		if g.err != nil {
			t.Fatalf("Recv: %v", g.err)
		}
		return g.e
	case <-time.After(20 * time.Second):
		t.Fatal("no event within 20s")
		return nil
	}
}

func TestWatchEventsOfASession(t *testing.T) {
	srv := startServer(t, t.TempDir())
	c := dial(t, srv)
	up := newUpstream(t)
	ctx := ctxFor(t)

	rec, err := c.OpenSession(ctx, "watch/one", matgto.WithMode(matgto.ModeRecord), matgto.WithoutLease())
	if err != nil {
		t.Fatal(err)
	}
	do(t, rec.HTTPClient(), http.MethodGet, up.URL+"/known", nil)
	if _, err := rec.Stop(ctx); err != nil {
		t.Fatal(err)
	}

	s, err := c.OpenSession(ctx, "watch/one", matgto.WithMode(matgto.ModeReplay), matgto.WithoutLease())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop(ctx)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events, err := s.WatchEvents(wctx)
	if err != nil {
		t.Fatalf("WatchEvents: %v", err)
	}
	hc := s.HTTPClient()

	if r := do(t, hc, http.MethodGet, up.URL+"/known", nil); r.Status != 200 {
		t.Fatalf("replayed GET /known: %d", r.Status)
	}
	e := nextEvent(t, events)
	x := e.Exchange
	if x == nil {
		t.Fatalf("first event %+v is not an exchange", e)
	}
	if x.Session != s.ID() || x.Cassette != "watch/one" || x.Method != "GET" || x.URL != up.URL+"/known" ||
		x.Status != 200 || x.Result != matgto.ResultReplayed || x.Mode != matgto.ModeReplay || e.Time.IsZero() {
		t.Errorf("exchange event %+v at %v: want GET %s/known 200 RESULT_REPLAYED in session %s", x, e.Time, up.URL, s.ID())
	}

	if r := do(t, hc, http.MethodGet, up.URL+"/unknown", nil); r.Status != 599 {
		t.Fatalf("GET /unknown in replay: %d, want 599", r.Status)
	}
	var miss *matgto.MissEvent
	var missed *matgto.ExchangeEvent
	for miss == nil || missed == nil {
		e := nextEvent(t, events)
		switch {
		case e.Miss != nil:
			miss = e.Miss
		case e.Exchange != nil:
			missed = e.Exchange
		default:
			t.Fatalf("unexpected event %+v", e)
		}
	}
	if missed.Status != 599 || missed.Result != matgto.ResultMissed || missed.URL != up.URL+"/unknown" {
		t.Errorf("missed exchange %+v: want 599 RESULT_MISSED", missed)
	}
	if miss.Session != s.ID() || miss.Miss.Method != "GET" || miss.Miss.URL != up.URL+"/unknown" ||
		miss.Miss.Reason != matgto.MissNoMatch || len(miss.Miss.Closest) == 0 || miss.Miss.Closest[0].URL != up.URL+"/known" {
		t.Errorf("miss event %+v: want GET /unknown no-match, closest /known", miss)
	}
	if !strings.Contains(miss.Explanation, "/unknown") || !strings.Contains(miss.Explanation, "/known") {
		t.Errorf("miss explanation %q names neither the request nor the closest one", miss.Explanation)
	}

	// Cancelling ends the stream: a waiting Recv returns io.EOF.
	done := make(chan error, 1)
	go func() { _, err := events.Recv(); done <- err }()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, io.EOF) {
			t.Errorf("Recv after cancel: %v, want io.EOF", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Recv still blocked 10s after cancel")
	}
	if _, err := events.Recv(); !errors.Is(err, io.EOF) {
		t.Errorf("Recv again after cancel: %v, want io.EOF", err)
	}
}

func TestWatchEventsCloseEndsTheStream(t *testing.T) {
	srv := startServer(t, t.TempDir())
	events, err := dial(t, srv).WatchEvents(ctxFor(t), matgto.EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := events.Recv(); done <- err }()
	_ = events.Close()
	select {
	case err := <-done:
		if !errors.Is(err, io.EOF) {
			t.Errorf("Recv after Close: %v, want io.EOF", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Recv still blocked 10s after Close")
	}
}

func TestWatchEventsNeedsAToken(t *testing.T) {
	t.Setenv(matgto.EnvToken, "")
	p := newControlPKI(t, t.TempDir())
	srv := startSecured(t, p, false)
	_, err := dialSecured(t, srv, p, "").WatchEvents(shortCtx(t), matgto.EventFilter{})
	wantErr(t, "WatchEvents without a token", err, matgto.ErrUnauthenticated)
	// Refused by WatchEvents itself (GetStatus is allowed): a prefix token
	// asking for a cassette outside its prefix.
	_, err = dialSecured(t, srv, p, "team").WatchEvents(shortCtx(t), matgto.EventFilter{Cassette: "elsewhere/x"})
	wantErr(t, "WatchEvents outside the token's prefix", err, matgto.ErrPermissionDenied)
	var me *matgto.Error
	if !errors.As(err, &me) || me.Op != "WatchEvents" {
		t.Errorf("error %#v is not a *matgto.Error of WatchEvents", err)
	}
	events, err := dialSecured(t, srv, p, "read").WatchEvents(shortCtx(t), matgto.EventFilter{Session: "default"})
	if err != nil {
		t.Fatalf("WatchEvents with a read token: %v", err)
	}
	_ = events.Close()
}

package matgto_test

// Tests against the real matgto server ($MATGTO_BIN).

import (
	"bytes"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	matgto "github.com/matgto/matgto-serge/clients/go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

type call struct {
	method, path string
	body         []byte
}

var calls = []call{
	{"GET", "/a", nil},
	{"GET", "/b?x=1&y=two", nil},
	{"POST", "/c", []byte("hello \x00\xff upstream")},
}

func TestRecordThenReplay(t *testing.T) {
	srv := startServer(t, t.TempDir())
	c := dial(t, srv)
	up := newUpstream(t)
	hc := proxiedClient(t, c)
	ctx := ctxFor(t)
	const name = "flow/record-then-replay"

	sess, err := c.StartRecording(ctx, name)
	if err != nil {
		t.Fatalf("StartRecording: %v", err)
	}
	if sess.Cassette != name || sess.Mode != matgto.ModeRecord {
		t.Errorf("StartRecording session = %+v, want cassette %q in mode record", sess, name)
	}
	recorded := make([]response, len(calls))
	for i, cl := range calls {
		recorded[i] = do(t, hc, cl.method, up.URL+cl.path, cl.body)
		if recorded[i].Status != http.StatusOK {
			t.Fatalf("recording %s %s: status %d, body %q", cl.method, cl.path, recorded[i].Status, recorded[i].Body)
		}
		if !bytes.Contains(recorded[i].Body, []byte(cl.method+" "+cl.path)) {
			t.Errorf("recording %s %s: the upstream answered %q", cl.method, cl.path, recorded[i].Body)
		}
	}
	if got := up.calls.Load(); got != int64(len(calls)) {
		t.Fatalf("the upstream saw %d calls while recording, want %d", got, len(calls))
	}
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	if st.Session == nil || st.Session.Cassette != name || st.Session.Recorded != uint64(len(calls)) {
		t.Errorf("Status().Session while recording = %+v, want %d recorded in %q", st.Session, len(calls), name)
	}

	sum, err := c.StopRecording(ctx)
	if err != nil {
		t.Fatalf("StopRecording: %v", err)
	}
	if sum.Session == nil || sum.Session.Recorded != uint64(len(calls)) {
		t.Errorf("StopRecording summary session = %+v, want %d recorded", sum.Session, len(calls))
	}
	if sum.SavedPath == "" {
		t.Errorf("StopRecording after a recording: empty saved_path")
	} else {
		p := sum.SavedPath
		if !filepath.IsAbs(p) {
			p = filepath.Join(srv.CassetteDir, p)
		}
		if _, err := os.Stat(p); err != nil {
			t.Errorf("saved_path %q: %v", sum.SavedPath, err)
		}
	}

	up.Close() // replay must not need the upstream
	sess, err = c.Replay(ctx, name)
	if err != nil {
		t.Fatalf("Replay: %v", err)
	}
	if sess.Mode != matgto.ModeReplay || sess.Interactions != uint64(len(calls)) {
		t.Errorf("Replay session = %+v, want mode replay with %d interactions", sess, len(calls))
	}
	for i, cl := range calls {
		got := do(t, hc, cl.method, up.URL+cl.path, cl.body)
		if got.Status != recorded[i].Status {
			t.Errorf("replay %s %s: status %d, recorded %d (body %q)", cl.method, cl.path, got.Status, recorded[i].Status, got.Body)
		}
		if !bytes.Equal(got.Body, recorded[i].Body) {
			t.Errorf("replay %s %s: body\n %q\nrecorded\n %q", cl.method, cl.path, got.Body, recorded[i].Body)
		}
		if g, w := got.Header.Get("X-Upstream-Call"), recorded[i].Header.Get("X-Upstream-Call"); g != w {
			t.Errorf("replay %s %s: X-Upstream-Call %q, recorded %q", cl.method, cl.path, g, w)
		}
	}
	if got := up.calls.Load(); got != int64(len(calls)) {
		t.Errorf("the upstream saw %d calls in all, want %d (replay must not forward)", got, len(calls))
	}

	miss := do(t, hc, "GET", up.URL+"/never-recorded", nil)
	if miss.Status != 599 || miss.Header.Get("X-Matgto-Error") != "no-match" {
		t.Errorf("unrecorded request in replay: status %d, X-Matgto-Error %q; want 599 no-match",
			miss.Status, miss.Header.Get("X-Matgto-Error"))
	}
	if pe, err := matgto.ParseProxyError(miss.Body); err != nil {
		t.Errorf("the 599 body is not a ProxyError in JSON: %v; body %q", err, miss.Body)
	} else if pe.GetError() != "no-match" || pe.GetCassette() != name || !strings.Contains(pe.GetMiss().GetUrl(), "/never-recorded") {
		t.Errorf("the 599 body = %v, want error no-match, cassette %q and the missed URL", pe, name)
	}

	sum, err = c.StopRecording(ctx)
	if err != nil {
		t.Fatalf("StopRecording after replay: %v", err)
	}
	s := sum.Session
	if s == nil || s.Replayed != uint64(len(calls)) || s.Missed != 1 {
		t.Fatalf("replay summary session = %+v, want %d replayed and 1 missed", s, len(calls))
	}
	if len(s.Misses) != 1 || !strings.Contains(s.Misses[0].URL, "/never-recorded") || s.Misses[0].Reason != "no-match" {
		t.Errorf("replay misses = %+v, want one no-match for /never-recorded", s.Misses)
	}
}

func TestReplayExhaustedPolicyOption(t *testing.T) {
	srv := startServer(t, t.TempDir())
	c := dial(t, srv)
	up := newUpstream(t)
	hc := proxiedClient(t, c)
	ctx := ctxFor(t)
	const name = "flow/exhausted"

	if _, err := c.StartRecording(ctx, name); err != nil {
		t.Fatalf("StartRecording: %v", err)
	}
	first := do(t, hc, "GET", up.URL+"/once", nil)
	if _, err := c.StopRecording(ctx); err != nil {
		t.Fatalf("StopRecording: %v", err)
	}

	// Default policy: the last answer repeats.
	if _, err := c.Replay(ctx, name); err != nil {
		t.Fatalf("Replay: %v", err)
	}
	for i := 0; i < 2; i++ {
		if got := do(t, hc, "GET", up.URL+"/once", nil); got.Status != first.Status || !bytes.Equal(got.Body, first.Body) {
			t.Errorf("default replay, request %d: status %d body %q, want the recorded answer", i, got.Status, got.Body)
		}
	}
	if _, err := c.StopRecording(ctx); err != nil {
		t.Fatalf("StopRecording: %v", err)
	}

	// EXHAUSTED_ERROR for this session: the second identical request misses.
	sess, err := c.Replay(ctx, name, matgto.WithOnExhausted(matgto.ExhaustedError))
	if err != nil {
		t.Fatalf("Replay(WithOnExhausted(ExhaustedError)): %v", err)
	}
	if sess.OnExhausted != matgto.ExhaustedError {
		t.Errorf("Replay session options: on_exhausted %v, want error", sess.OnExhausted)
	}
	if got := do(t, hc, "GET", up.URL+"/once", nil); !bytes.Equal(got.Body, first.Body) {
		t.Errorf("first replayed answer %q, want %q", got.Body, first.Body)
	}
	if got := do(t, hc, "GET", up.URL+"/once", nil); got.Status != 599 {
		t.Errorf("exhausted request: status %d, want 599", got.Status)
	}
	sum, err := c.StopRecording(ctx)
	if err != nil {
		t.Fatalf("StopRecording: %v", err)
	}
	if s := sum.Session; s == nil || len(s.Misses) != 1 || s.Misses[0].Reason != "exhausted" {
		t.Errorf("misses = %+v, want one with reason exhausted", sum.Session)
	}
}

func TestUseCassetteAutoMethod(t *testing.T) {
	srv := startServer(t, t.TempDir())
	c := dial(t, srv)
	up := newUpstream(t)
	hc := proxiedClient(t, c)
	ctx := ctxFor(t)
	const name = "auto/method"

	sess, err := c.UseCassette(ctx, name, matgto.ModeAuto)
	if err != nil {
		t.Fatalf("UseCassette(auto) of a new cassette: %v", err)
	}
	if sess.Mode != matgto.ModeRecord || sess.RequestedMode != matgto.ModeAuto {
		t.Errorf("new cassette in auto: mode %v requested %v, want record / auto", sess.Mode, sess.RequestedMode)
	}
	rec := do(t, hc, "GET", up.URL+"/auto", nil)
	if _, err := c.StopRecording(ctx); err != nil {
		t.Fatalf("StopRecording: %v", err)
	}
	sess, err = c.UseCassette(ctx, name, matgto.ModeAuto)
	if err != nil {
		t.Fatalf("UseCassette(auto) of an existing cassette: %v", err)
	}
	if sess.Mode != matgto.ModeReplay || sess.RequestedMode != matgto.ModeAuto || sess.Interactions != 1 {
		t.Errorf("existing cassette in auto: %+v, want mode replay, requested auto, 1 interaction", sess)
	}
	if got := do(t, hc, "GET", up.URL+"/auto", nil); !bytes.Equal(got.Body, rec.Body) {
		t.Errorf("auto replay body %q, recorded %q", got.Body, rec.Body)
	}
	if _, err := c.StopRecording(ctx); err != nil {
		t.Fatalf("StopRecording: %v", err)
	}
}

// An unspecified mode means the server's default mode (--mode).
func TestUseCassetteUnspecifiedModeUsesServerDefault(t *testing.T) {
	c := dial(t, startServer(t, t.TempDir()))
	ctx := ctxFor(t)
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	sess, err := c.UseCassette(ctx, "default/mode", matgto.ModeUnspecified)
	if err != nil {
		t.Fatalf("UseCassette(unspecified): %v", err)
	}
	if sess.RequestedMode != st.DefaultMode || sess.RequestedMode == matgto.ModeUnspecified {
		t.Errorf("UseCassette(unspecified): requested mode %v, want the server default %v", sess.RequestedMode, st.DefaultMode)
	}

	strict := dial(t, startServer(t, t.TempDir(), "--mode", "replay"))
	if st, err := strict.Status(ctx); err != nil || st.DefaultMode != matgto.ModeReplay {
		t.Fatalf("Status of a --mode replay server: %+v, %v; want default mode replay", st, err)
	}
	if _, err := strict.UseCassette(ctx, "absent", matgto.ModeUnspecified); !errors.Is(err, matgto.ErrCassetteNotFound) {
		t.Errorf("UseCassette(absent, unspecified) on a --mode replay server = %v, want ErrCassetteNotFound", err)
	}
	// The test helper follows the server's default too.
	f := runFake(func(tb testing.TB) { matgto.UseCassette(tb, "absent", matgto.WithClient(strict)) })
	if len(f.fatals) != 1 || !strings.Contains(f.fatals[0], "NOT_FOUND") {
		t.Errorf("helper on a --mode replay server, absent cassette: fatals %q, want one NOT_FOUND", f.fatals)
	}
}

func TestReplayUnknownCassetteIsNotFound(t *testing.T) {
	c := dial(t, startServer(t, t.TempDir()))
	ctx := ctxFor(t)

	_, err := c.Replay(ctx, "nope")
	if !errors.Is(err, matgto.ErrCassetteNotFound) {
		t.Fatalf("Replay(nope) = %v, want ErrCassetteNotFound", err)
	}
	if errors.Is(err, matgto.ErrInvalidArgument) || errors.Is(err, matgto.ErrIncompatibleServer) {
		t.Errorf("Replay(nope) = %v matches other sentinels too", err)
	}
	var me *matgto.Error
	if !errors.As(err, &me) || me.Code != codes.NotFound || me.Op != "Replay" {
		t.Errorf("Replay(nope) = %#v, want *matgto.Error{Op: Replay, Code: NotFound}", err)
	}
	if status.Code(err) != codes.NotFound {
		t.Errorf("status.Code(Replay(nope) error) = %v, want NotFound", status.Code(err))
	}
	if _, err := c.UseCassette(ctx, "nope", matgto.ModeReplay); !errors.Is(err, matgto.ErrCassetteNotFound) {
		t.Errorf("UseCassette(nope, replay) = %v, want ErrCassetteNotFound", err)
	}
}

func TestInvalidCassetteName(t *testing.T) {
	c := dial(t, startServer(t, t.TempDir()))
	ctx := ctxFor(t)
	for _, name := range []string{"../x", "", "/abs", "a/../../b"} {
		if _, err := c.StartRecording(ctx, name); !errors.Is(err, matgto.ErrInvalidArgument) {
			t.Errorf("StartRecording(%q) = %v, want ErrInvalidArgument", name, err)
		}
		if _, err := c.Replay(ctx, name); !errors.Is(err, matgto.ErrInvalidArgument) {
			t.Errorf("Replay(%q) = %v, want ErrInvalidArgument", name, err)
		}
		if _, err := c.UseCassette(ctx, name, matgto.ModeAuto); !errors.Is(err, matgto.ErrInvalidArgument) {
			t.Errorf("UseCassette(%q, auto) = %v, want ErrInvalidArgument", name, err)
		}
	}
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	if st.Session != nil {
		t.Errorf("a rejected call left a cassette in use: %+v", st.Session)
	}
}

func TestStopWhenIdleIsFailedPrecondition(t *testing.T) {
	c := dial(t, startServer(t, t.TempDir()))
	ctx := ctxFor(t)
	_, err := c.StopRecording(ctx)
	if !errors.Is(err, matgto.ErrNoCassette) {
		t.Fatalf("StopRecording while idle = %v, want ErrNoCassette", err)
	}
	var me *matgto.Error
	if !errors.As(err, &me) || me.Code != codes.FailedPrecondition {
		t.Errorf("StopRecording while idle = %#v, want code FailedPrecondition", err)
	}
	// And again after a session ended.
	if _, err := c.StartRecording(ctx, "idle/again"); err != nil {
		t.Fatalf("StartRecording: %v", err)
	}
	if _, err := c.StopRecording(ctx); err != nil {
		t.Fatalf("StopRecording: %v", err)
	}
	if _, err := c.StopRecording(ctx); !errors.Is(err, matgto.ErrNoCassette) {
		t.Errorf("second StopRecording = %v, want ErrNoCassette", err)
	}
}

func TestStatus(t *testing.T) {
	srv := startServer(t, t.TempDir())
	c := dial(t, srv)
	st, err := c.Status(ctxFor(t))
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	if st.APIVersion != matgto.APIVersion {
		t.Errorf("APIVersion = %d, want %d", st.APIVersion, matgto.APIVersion)
	}
	if !regexp.MustCompile(`^\d+\.\d+\.\d+`).MatchString(st.Version) {
		t.Errorf("Version = %q, want semver", st.Version)
	}
	if st.ProxyAddress != srv.ProxyAddress || st.ControlAddress != srv.ControlAddress {
		t.Errorf("Status addresses proxy %q control %q; the ready file said %q and %q",
			st.ProxyAddress, st.ControlAddress, srv.ProxyAddress, srv.ControlAddress)
	}
	if !sameDir(st.CassetteDir, srv.CassetteDir) {
		t.Errorf("CassetteDir = %q, want %q", st.CassetteDir, srv.CassetteDir)
	}
	if st.Session != nil {
		t.Errorf("Session while idle = %+v, want nil", st.Session)
	}
	if st.Uptime < 0 || st.Uptime > time.Hour {
		t.Errorf("Uptime = %v", st.Uptime)
	}
	u, err := c.ProxyURL(ctxFor(t))
	if err != nil || u.String() != "http://"+srv.ProxyAddress {
		t.Errorf("ProxyURL = %v, %v; want http://%s", u, err, srv.ProxyAddress)
	}
}

func sameDir(a, b string) bool {
	ra, errA := filepath.EvalSymlinks(a)
	rb, errB := filepath.EvalSymlinks(b)
	return errA == nil && errB == nil && ra == rb
}

func TestNoCassetteAnswers503(t *testing.T) {
	srv := startServer(t, t.TempDir())
	c := dial(t, srv)
	up := newUpstream(t)
	st, err := c.Status(ctxFor(t))
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	if st.DefaultMode == matgto.ModePassthrough {
		t.Skip("default mode is passthrough: the proxy forwards without a cassette")
	}
	got := do(t, proxiedClient(t, c), "GET", up.URL+"/x", nil)
	if got.Status != http.StatusServiceUnavailable || got.Header.Get("X-Matgto-Error") != "no-cassette" {
		t.Errorf("no cassette in use: status %d, X-Matgto-Error %q; want 503 no-cassette", got.Status, got.Header.Get("X-Matgto-Error"))
	}
	if up.calls.Load() != 0 {
		t.Errorf("the upstream was called without a cassette in use")
	}
}

func TestShutdownSavesActiveRecording(t *testing.T) {
	dir := t.TempDir()
	srv := startServer(t, dir)
	c := dial(t, srv)
	up := newUpstream(t)
	hc := proxiedClient(t, c)
	ctx := ctxFor(t)
	const name = "shutdown/saved"

	if _, err := c.StartRecording(ctx, name); err != nil {
		t.Fatalf("StartRecording: %v", err)
	}
	rec := do(t, hc, "GET", up.URL+"/before-shutdown", nil)
	hc.CloseIdleConnections()
	if err := c.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := waitExit(t, srv, 20*time.Second); err != nil {
		t.Errorf("the server exited with %v after Shutdown, want status 0", err)
	}
	up.Close()

	srv2 := startServer(t, dir)
	c2 := dial(t, srv2)
	sess, err := c2.Replay(ctx, name)
	if err != nil {
		t.Fatalf("Replay of the recording active at Shutdown: %v", err)
	}
	if sess.Interactions != 1 {
		t.Errorf("replayed cassette has %d interactions, want 1", sess.Interactions)
	}
	if got := do(t, proxiedClient(t, c2), "GET", up.URL+"/before-shutdown", nil); !bytes.Equal(got.Body, rec.Body) {
		t.Errorf("replay after restart: body %q, recorded %q", got.Body, rec.Body)
	}
}

func TestHTTPTransportUsesProxy(t *testing.T) {
	srv := startServer(t, t.TempDir())
	c := dial(t, srv)
	tr, err := c.HTTPTransport(ctxFor(t))
	if err != nil {
		t.Fatalf("HTTPTransport: %v", err)
	}
	req, _ := http.NewRequest("GET", "http://example.invalid/x", nil)
	u, err := tr.Proxy(req)
	if err != nil || u == nil || u.String() != "http://"+srv.ProxyAddress {
		t.Errorf("transport proxy = %v, %v; want http://%s", u, err, srv.ProxyAddress)
	}
}

package matgto_test

import (
	"bytes"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	matgto "github.com/matgto/matgto-serge/clients/go"
)

var sessionIDPattern = regexp.MustCompile(`^s-[0-9a-f]{16}$`)

func TestUseCassetteHelper(t *testing.T) {
	srv := startServer(t, t.TempDir())
	c := dial(t, srv)
	up := newUpstream(t)
	const name = "helper/auto"
	var recorded []byte
	var firstID string

	t.Run("records a new cassette in a session of its own", func(t *testing.T) {
		s := matgto.UseCassette(t, name, matgto.WithClient(c))
		if s.Client() != c {
			t.Errorf("UseCassette with WithClient uses another client")
		}
		firstID = s.ID()
		if !sessionIDPattern.MatchString(s.ID()) {
			t.Errorf("session id %q, want s- and 16 hex digits", s.ID())
		}
		st, err := c.Status(ctxFor(t))
		if err != nil {
			t.Fatalf("Status: %v", err)
		}
		if st.Session != nil {
			t.Errorf("the helper put a cassette in the default session: %+v", st.Session)
		}
		si := st.FindSession(s.ID())
		wantOwner := fmt.Sprintf("go test %s pid %d", t.Name(), os.Getpid())
		if si == nil || si.Cassette != name || si.Mode != matgto.ModeRecord || si.RequestedMode != matgto.ModeAuto ||
			si.Owner != wantOwner || si.Lease != matgto.DefaultLease || si.LeaseExpiresAt.IsZero() || si.OpenedAt.IsZero() {
			t.Fatalf("session %+v; want %q recording, requested auto, owner %q, lease 30s", si, name, wantOwner)
		}
		if si.ProxyAddress == srv.ProxyAddress || "http://"+si.ProxyAddress != s.ProxyURL().String() {
			t.Errorf("session proxy %q (shared port %s), ProxyURL %s: want a listener of its own", si.ProxyAddress, srv.ProxyAddress, s.ProxyURL())
		}
		recorded = do(t, s.HTTPClient(), "GET", up.URL+"/helper", nil).Body
	})
	st, err := c.Status(ctxFor(t))
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	if st.FindSession(firstID) != nil {
		t.Fatalf("the helper did not stop its session at the end of the test: %+v", st.Sessions)
	}
	if e := st.FindEndedSession(firstID); e == nil || e.EndReason != "stopped" || e.Session.Recorded != 1 {
		t.Errorf("ended session %s = %+v, want end reason stopped with 1 recorded", firstID, e)
	}
	up.Close()

	t.Run("replays it, dialing $MATGTO_SERVER", func(t *testing.T) {
		t.Setenv(matgto.EnvServer, srv.ControlAddress)
		s := matgto.UseCassette(t, name)
		if s.Client() == c {
			t.Fatalf("UseCassette without WithClient uses the test's client, want one of its own")
		}
		if s.Info().Mode != matgto.ModeReplay || s.ID() == firstID {
			t.Fatalf("session = %+v, want a new one replaying", s.Info())
		}
		if got := do(t, s.HTTPClient(), "GET", up.URL+"/helper", nil); !bytes.Equal(got.Body, recorded) {
			t.Errorf("replayed %q, recorded %q", got.Body, recorded)
		}
	})

	t.Run("WithMode and WithServer", func(t *testing.T) {
		s := matgto.UseCassette(t, name, matgto.WithServer(srv.ControlAddress), matgto.WithMode(matgto.ModeReplay))
		si, err := s.Status(ctxFor(t))
		if err != nil {
			t.Fatalf("Status: %v", err)
		}
		if si.RequestedMode != matgto.ModeReplay {
			t.Fatalf("session = %+v, want requested mode replay", si)
		}
	})

	t.Run("default name: t.Name() #1", func(t *testing.T) {
		s := matgto.UseCassette(t, "", matgto.WithClient(c), matgto.WithMode(matgto.ModeRecord))
		if want := matgto.CassetteName(t.Name()); s.Info().Cassette != want || !strings.HasPrefix(want, "TestUseCassetteHelper/default_name__t.Name____1,h") {
			t.Errorf("cassette %q, want %q", s.Info().Cassette, want)
		}
	})
	if infos, err := c.ListCassettes(ctxFor(t), "TestUseCassetteHelper/"); err != nil || len(infos) != 1 {
		t.Errorf("ListCassettes(TestUseCassetteHelper/) = %+v, %v; want the cassette named after the subtest", infos, err)
	}

	t.Run("WithSession(DefaultSession) uses the shared proxy port", func(t *testing.T) {
		s := matgto.UseCassette(t, name, matgto.WithClient(c), matgto.WithSession(matgto.DefaultSession))
		if s.ID() != matgto.DefaultSession || s.ProxyURL().Host != srv.ProxyAddress || s.Lease() != 0 {
			t.Errorf("session %s proxy %s lease %v, want the default one on %s without lease", s.ID(), s.ProxyURL(), s.Lease(), srv.ProxyAddress)
		}
		st, err := c.Status(ctxFor(t))
		if err != nil || st.Session == nil || st.Session.Cassette != name {
			t.Errorf("default session = %+v, %v", st.Session, err)
		}
	})
	if st, err := c.Status(ctxFor(t)); err != nil || st.Session != nil {
		t.Errorf("the default session still has a cassette after the test: %+v, %v", st.Session, err)
	}

	t.Run("fails the test on a bad name", func(t *testing.T) {
		f := runFake(func(tb testing.TB) { matgto.UseCassette(tb, "../bad", matgto.WithClient(c)) })
		if len(f.fatals) != 1 || !strings.Contains(f.fatals[0], "../bad") || !strings.Contains(f.fatals[0], "INVALID_ARGUMENT") {
			t.Errorf("fatals = %q, want one naming ../bad and INVALID_ARGUMENT", f.fatals)
		}
	})

	t.Run("fails the test when its session was stopped by someone else", func(t *testing.T) {
		var s *matgto.Session
		f := runFake(func(tb testing.TB) { s = matgto.UseCassette(tb, name, matgto.WithClient(c)) })
		if len(f.fatals) != 0 {
			t.Fatalf("fatals = %q", f.fatals)
		}
		if _, err := c.StopRecording(ctxFor(t), matgto.WithSession(s.ID())); err != nil {
			t.Fatalf("StopRecording(%s): %v", s.ID(), err)
		}
		f.runCleanups()
		if len(f.errors) != 1 || !strings.Contains(f.errors[0], "session lost") || !strings.Contains(f.errors[0], s.ID()) {
			t.Errorf("errors = %q, want one saying session %s was lost", f.errors, s.ID())
		}
	})

	t.Run("fails the test when the server is unreachable", func(t *testing.T) {
		f := runFake(func(tb testing.TB) { matgto.UseCassette(tb, name, matgto.WithServer(up.Listener.Addr().String())) })
		if len(f.fatals) != 1 || !strings.Contains(f.fatals[0], "UNAVAILABLE") {
			t.Errorf("fatals = %q, want one UNAVAILABLE", f.fatals)
		}
		f.runCleanups()
	})
}

// A replay miss fails the test, with its explanation; WithMissesAsWarnings
// only logs it; a miss that the miss policy forwards is no failure.
func TestUseCassetteReplayMissFailsTheTest(t *testing.T) {
	srv := startServer(t, t.TempDir())
	c := dial(t, srv)
	up := newUpstream(t)
	const name = "helper/misses"
	t.Run("record", func(t *testing.T) {
		s := matgto.UseCassette(t, name, matgto.WithClient(c))
		hc := s.HTTPClient()
		do(t, hc, "GET", up.URL+"/recorded?page=1", nil)
		do(t, hc, "GET", up.URL+"/once", nil)
	})

	replayAndMiss := func(t *testing.T, opts ...matgto.Option) *fakeTB {
		t.Helper()
		f := runFakeNamed(t.Name(), func(tb testing.TB) {
			s := matgto.UseCassette(tb, name, append([]matgto.Option{matgto.WithClient(c)}, opts...)...)
			hc := s.HTTPClient()
			if got := do(t, hc, "GET", up.URL+"/recorded?page=2", nil); got.Status != 599 {
				t.Errorf("unrecorded request: status %d, want 599", got.Status)
			}
			do(t, hc, "GET", up.URL+"/once", nil)
			do(t, hc, "GET", up.URL+"/once", nil) // exhausted with ExhaustedError
		})
		if len(f.fatals) != 0 {
			t.Fatalf("fatals = %q", f.fatals)
		}
		f.runCleanups()
		return f
	}

	t.Run("a miss fails the test", func(t *testing.T) {
		up.Close() // replay needs no upstream
		f := replayAndMiss(t, matgto.WithOnExhausted(matgto.ExhaustedError))
		if len(f.errors) != 1 {
			t.Fatalf("errors = %q, want one failure listing the misses", f.errors)
		}
		msg := f.errors[0]
		for _, want := range []string{
			"2 request(s) found no recorded answer",
			"GET " + up.URL + "/recorded?page=2 (no-match)",
			"closest recorded #0: GET " + up.URL + "/recorded?page=1",
			`query: recorded "page=1", live "page=2"`,
			"GET " + up.URL + "/once (exhausted)",
		} {
			if !strings.Contains(msg, want) {
				t.Errorf("failure lacks %q:\n%s", want, msg)
			}
		}
	})

	t.Run("warn only", func(t *testing.T) {
		f := replayAndMiss(t, matgto.WithOnExhausted(matgto.ExhaustedError), matgto.WithMissesAsWarnings())
		if len(f.errors) != 0 {
			t.Fatalf("errors = %q, want none (warnings only)", f.errors)
		}
		logs := strings.Join(f.logs, "\n")
		if !strings.Contains(logs, "warning:") || !strings.Contains(logs, "/recorded?page=2 (no-match)") {
			t.Errorf("logs = %q, want the misses as a warning", f.logs)
		}
	})

	t.Run("a miss the policy forwards is no failure", func(t *testing.T) {
		up2 := newUpstream(t)
		f := runFakeNamed(t.Name(), func(tb testing.TB) {
			s := matgto.UseCassette(tb, name, matgto.WithClient(c), matgto.WithOnMiss(matgto.MissPassthrough))
			if got := do(t, s.HTTPClient(), "GET", up2.URL+"/live", nil); got.Status != 200 {
				t.Errorf("forwarded miss: status %d", got.Status)
			}
		})
		f.runCleanups()
		if len(f.fatals)+len(f.errors) != 0 {
			t.Errorf("fatals %q errors %q, want none", f.fatals, f.errors)
		}
	})
}

// Parallel subtests record through one shared server, each in its own
// session; then they replay with the upstream gone. Every cassette holds
// exactly its own exchanges.
func TestUseCassetteParallelSubtests(t *testing.T) {
	srv := startServer(t, t.TempDir())
	c := dial(t, srv)
	up := newUpstream(t)
	const n = 10
	const perTest = 3
	names := make([]string, n)
	recorded := make([][]response, n)
	// As many subtests as `go test -parallel` lets run at once meet here
	// with their sessions open, so that the sessions do overlap.
	meet := newBarrier(min(n, testParallelism()))

	path := func(i, j int) string { return fmt.Sprintf("/case/%d/req/%d", i, j) }
	t.Run("record", func(t *testing.T) {
		for i := 0; i < n; i++ {
			t.Run(fmt.Sprintf("case %d", i), func(t *testing.T) {
				t.Parallel()
				s := matgto.UseCassette(t, "", matgto.WithServer(srv.ControlAddress))
				names[i] = s.Info().Cassette
				if s.Info().Mode != matgto.ModeRecord {
					t.Errorf("mode %s, want record", s.Info().Mode)
				}
				if !meet.wait(30 * time.Second) {
					t.Errorf("the parallel subtests did not meet within 30s")
				}
				hc := s.HTTPClient()
				for j := 0; j < perTest; j++ {
					r := do(t, hc, "POST", up.URL+path(i, j), []byte(fmt.Sprintf("body %d/%d", i, j)))
					if r.Status != 200 || !bytes.Contains(r.Body, []byte(path(i, j))) {
						t.Errorf("recording %s: %d %q", path(i, j), r.Status, r.Body)
					}
					recorded[i] = append(recorded[i], r)
				}
			})
		}
	})
	if t.Failed() {
		t.FailNow()
	}
	if got := up.calls.Load(); got != n*perTest {
		t.Fatalf("the upstream saw %d calls, want %d", got, n*perTest)
	}
	up.Close()

	for i := 0; i < n; i++ {
		if want := matgto.CassetteName(fmt.Sprintf("TestUseCassetteParallelSubtests/record/case_%d", i)); names[i] != want {
			t.Errorf("case %d: cassette %q, want %q (from t.Name())", i, names[i], want)
		}
		cas, err := c.GetCassette(ctxFor(t), names[i])
		if err != nil {
			t.Fatalf("GetCassette(%s): %v", names[i], err)
		}
		var got []string
		for _, it := range cas.GetInteractions() {
			got = append(got, it.GetHttp().GetRequest().GetUrl())
		}
		var want []string
		for j := 0; j < perTest; j++ {
			want = append(want, up.URL+path(i, j))
		}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("cassette %s holds %q, want exactly %q", names[i], got, want)
		}
	}

	t.Run("replay", func(t *testing.T) {
		for i := 0; i < n; i++ {
			t.Run(fmt.Sprintf("case %d", i), func(t *testing.T) {
				t.Parallel()
				s := matgto.UseCassette(t, names[i], matgto.WithServer(srv.ControlAddress))
				if s.Info().Mode != matgto.ModeReplay {
					t.Fatalf("mode %s, want replay", s.Info().Mode)
				}
				hc := s.HTTPClient()
				for j := 0; j < perTest; j++ {
					r := do(t, hc, "POST", up.URL+path(i, j), []byte(fmt.Sprintf("body %d/%d", i, j)))
					if r.Status != 200 || !bytes.Equal(r.Body, recorded[i][j].Body) {
						t.Errorf("replay %s: %d %q, recorded %q", path(i, j), r.Status, r.Body, recorded[i][j].Body)
					}
				}
				si, err := s.Status(ctxFor(t))
				if err != nil || si.Replayed != perTest || si.Missed != 0 {
					t.Errorf("session = %+v, %v; want %d replayed, no miss", si, err, perTest)
				}
			})
		}
	})
	st, err := c.Status(ctxFor(t))
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	if len(st.Sessions) != 0 {
		t.Errorf("sessions still open after the tests: %+v", st.Sessions)
	}
	if n := renewGoroutines(); n != 0 {
		t.Errorf("%d renewal goroutines left after the tests", n)
	}
}

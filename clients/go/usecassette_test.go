package matgto_test

import (
	"bytes"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"

	matgto "github.com/matgto/matgto-serge/clients/go"
)

func TestUseCassetteHelper(t *testing.T) {
	srv := startServer(t, t.TempDir())
	c := dial(t, srv)
	up := newUpstream(t)
	const name = "helper/auto"
	var recorded []byte

	t.Run("records a new cassette", func(t *testing.T) {
		got := matgto.UseCassette(t, name, matgto.WithClient(c))
		if got != c {
			t.Errorf("UseCassette with WithClient returned another client")
		}
		st, err := c.Status(ctxFor(t))
		if err != nil {
			t.Fatalf("Status: %v", err)
		}
		// The helper asks for the server's default mode: auto, here.
		if st.Session == nil || st.Session.Cassette != name || st.Session.Mode != matgto.ModeRecord ||
			st.Session.RequestedMode != matgto.ModeAuto || st.DefaultMode != matgto.ModeAuto {
			t.Fatalf("status = %+v, session %+v; want %q recording, requested auto (the default)", st, st.Session, name)
		}
		recorded = do(t, proxiedClient(t, c), "GET", up.URL+"/helper", nil).Body
	})
	st, err := c.Status(ctxFor(t))
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	if st.Session != nil {
		t.Fatalf("the helper did not stop the cassette at the end of the test: %+v", st.Session)
	}
	up.Close()

	t.Run("replays it, dialing $MATGTO_SERVER", func(t *testing.T) {
		t.Setenv(matgto.EnvServer, srv.Control)
		hc := matgto.UseCassette(t, name)
		if hc == nil || hc == c {
			t.Fatalf("UseCassette without WithClient returned %p, want a client of its own", hc)
		}
		st, err := hc.Status(ctxFor(t))
		if err != nil {
			t.Fatalf("Status: %v", err)
		}
		if st.Session == nil || st.Session.Mode != matgto.ModeReplay {
			t.Fatalf("session in use = %+v, want replay", st.Session)
		}
		if got := do(t, proxiedClient(t, hc), "GET", up.URL+"/helper", nil); !bytes.Equal(got.Body, recorded) {
			t.Errorf("replayed %q, recorded %q", got.Body, recorded)
		}
	})

	t.Run("WithMode and WithServer", func(t *testing.T) {
		hc := matgto.UseCassette(t, name, matgto.WithServer(srv.Control), matgto.WithMode(matgto.ModeReplay))
		st, err := hc.Status(ctxFor(t))
		if err != nil {
			t.Fatalf("Status: %v", err)
		}
		if st.Session == nil || st.Session.RequestedMode != matgto.ModeReplay {
			t.Fatalf("session in use = %+v, want requested mode replay", st.Session)
		}
	})

	t.Run("fails the test on a bad name", func(t *testing.T) {
		f := runFake(func(tb testing.TB) { matgto.UseCassette(tb, "../bad", matgto.WithClient(c)) })
		if len(f.fatals) != 1 || !strings.Contains(f.fatals[0], "../bad") || !strings.Contains(f.fatals[0], "INVALID_ARGUMENT") {
			t.Errorf("fatals = %q, want one naming ../bad and INVALID_ARGUMENT", f.fatals)
		}
	})

	t.Run("fails the test when the stop fails", func(t *testing.T) {
		f := runFake(func(tb testing.TB) { matgto.UseCassette(tb, name, matgto.WithClient(c)) })
		if len(f.fatals) != 0 {
			t.Fatalf("fatals = %q", f.fatals)
		}
		// Someone else ends the cassette: the helper's own stop must fail.
		if _, err := c.StopRecording(ctxFor(t)); err != nil {
			t.Fatalf("StopRecording: %v", err)
		}
		f.runCleanups()
		if len(f.errors) != 1 || !strings.Contains(f.errors[0], "FAILED_PRECONDITION") {
			t.Errorf("errors = %q, want one FAILED_PRECONDITION", f.errors)
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

// fakeTB records what the helper does to a test.
type fakeTB struct {
	testing.TB // not implemented: calling anything else panics
	mu         sync.Mutex
	fatals     []string
	errors     []string
	cleanups   []func()
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.fatals = append(f.fatals, fmt.Sprintf(format, args...))
	f.mu.Unlock()
	runtime.Goexit()
}

func (f *fakeTB) Errorf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errors = append(f.errors, fmt.Sprintf(format, args...))
}

func (f *fakeTB) Logf(string, ...any) {}

func (f *fakeTB) Cleanup(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cleanups = append(f.cleanups, fn)
}

func (f *fakeTB) runCleanups() {
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
	f.cleanups = nil
}

// runFake runs body with a fake test in a goroutine of its own (Fatalf ends
// it, as in a real test).
func runFake(body func(testing.TB)) *fakeTB {
	f := &fakeTB{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		body(f)
	}()
	<-done
	return f
}

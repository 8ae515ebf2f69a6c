package matgto

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"
)

// helperTimeout bounds each control call made by the test helper.
const helperTimeout = 30 * time.Second

// UseCassette gives the test t a cassette session of its own on a shared
// matgto server, and ends it when the test ends (t.Cleanup). It works with
// t.Parallel(): every test has its own session, proxy port and cassette.
//
//   - The cassette is name, or, when name is "", [CassetteName](t.Name())
//     ("TestOrders/create" for a subtest: one cassette per (sub)test).
//   - The session is new ([Client.OpenSession]), in the mode given with
//     [WithMode], else the server's default mode (`matgto serve --mode`,
//     which is [ModeAuto] unless set: replay the cassette when it exists,
//     record it otherwise; a CI server started with --mode replay thus
//     fails a test whose cassette is missing instead of recording it, and
//     --mode record re-records every cassette), with a lease of [DefaultLease] renewed in
//     the background ([WithLease], [WithoutLease]) and the owner
//     "go test <test name> pid <pid>" ([WithOwner]). [WithSession] uses an
//     existing session instead (e.g. [DefaultSession], the shared proxy
//     port: not for parallel tests).
//   - The returned Session's HTTPClient, HTTPTransport and ProxyURL send
//     requests through this session's own proxy listener; hand them to the
//     code under test.
//   - At the end, the test fails (t.Errorf) when the session could not be
//     stopped or saved, or lost its lease, and when replay could not answer
//     a request (a miss "no-match", "exhausted" or "ws-mismatch"), with
//     each miss explained: request, reason, closest recorded request and
//     the fields that differ. With [WithMissesAsWarnings] misses are only
//     logged.
//
// It dials the server as Dial(ctx, "") does ($MATGTO_SERVER, else
// 127.0.0.1:8889), or the one given with [WithServer], unless [WithClient]
// passes a client. Cassette options apply as for [Client.UseCassette]. A
// failure to start the session ends the test (t.Fatalf).
func UseCassette(t testing.TB, name string, opts ...Option) *Session {
	t.Helper()
	o := collectOptions(opts)
	if name == "" {
		name = CassetteName(t.Name())
	}
	mode := ModeUnspecified // the server's default
	if o.hasMode {
		mode = o.mode
	}
	ctx, cancel := context.WithTimeout(context.Background(), helperTimeout)
	defer cancel()

	c := o.client
	if c == nil {
		var err error
		c, err = Dial(ctx, o.server)
		if err != nil {
			t.Fatalf("matgto: cassette %q: %v", name, err)
			return nil
		}
		// Registered first, so it runs after the session is stopped.
		t.Cleanup(func() { _ = c.Close() })
	}
	openOpts := []Option{WithMode(mode)}
	if !o.hasOwner {
		openOpts = append(openOpts, WithOwner(fmt.Sprintf("go test %s pid %d", t.Name(), os.Getpid())))
	}
	s, err := c.OpenSession(ctx, name, append(openOpts, opts...)...)
	if err != nil {
		modeName := mode.String()
		if mode == ModeUnspecified {
			modeName = "the server's default"
		}
		t.Fatalf("matgto: cannot use cassette %q (mode %s): %v", name, modeName, err)
		return nil
	}
	t.Cleanup(func() {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), helperTimeout)
		defer cancel()
		sum, err := s.Stop(ctx)
		if err != nil {
			t.Errorf("matgto: cannot stop cassette %q (%s): %v", name, s.ID(), err)
		}
		if sum == nil {
			return
		}
		if sum.SaveError != "" {
			t.Errorf("matgto: cassette %q (%s): the recording could not be saved: %s", name, s.ID(), sum.SaveError)
		}
		si := sum.Session
		if failed := si.FailedMisses(); len(failed) > 0 {
			msg := explainMisses(si, failed)
			if o.warnOnly {
				t.Logf("warning: %s", msg)
			} else {
				t.Errorf("%s", msg)
			}
		}
		if si != nil && si.PassedThrough > 0 && si.Mode == ModeReplay {
			t.Logf("matgto: cassette %q: %d request(s) missed and were forwarded live by the miss policy", name, si.PassedThrough)
		}
	})
	return s
}

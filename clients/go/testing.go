package matgto

import (
	"context"
	"strings"
	"testing"
	"time"
)

// helperTimeout bounds each control call made by the test helper.
const helperTimeout = 30 * time.Second

// UseCassette starts cassette name for the test t and ends it in t.Cleanup,
// failing the test when either fails. The mode is the one given with
// [WithMode], else the server's default mode (`matgto serve --mode`, by
// default [ModeAuto]: replay when the cassette exists, record it otherwise),
// so that a server started with --mode record re-records every cassette. It
// dials the server as Dial(ctx, "") does, or the one given with [WithServer],
// unless [WithClient] passes a client; it returns the client used, whose
// HTTPTransport routes requests through the proxy.
//
// Requests that replay could not answer are logged when the cassette ends.
func UseCassette(t testing.TB, name string, opts ...Option) *Client {
	t.Helper()
	o := collectOptions(opts)
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
		// Registered first, so it runs after the cassette is stopped.
		t.Cleanup(func() { _ = c.Close() })
	}
	if _, err := c.UseCassette(ctx, name, o.mode, opts...); err != nil {
		t.Fatalf("matgto: cannot use cassette %q (mode %s): %v", name, o.mode, err)
		return nil
	}
	t.Cleanup(func() {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), helperTimeout)
		defer cancel()
		sum, err := c.StopRecording(ctx)
		if err != nil {
			t.Errorf("matgto: cannot stop cassette %q: %v", name, err)
			return
		}
		if s := sum.Session; s != nil && len(s.Misses) > 0 {
			var b strings.Builder
			for _, m := range s.Misses {
				b.WriteString("\n  " + m.Method + " " + m.URL + " (" + m.Reason + ")")
			}
			t.Logf("matgto: cassette %q: %d request(s) found no recorded answer:%s", name, s.Missed, b.String())
		}
	})
	return c
}

package matgto_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	matgto "github.com/matgto/matgto-serge/clients/go"
)

// startServer starts a real `matgto serve` for the test with the public
// launcher ([matgto.StartServer]: $MATGTO_BIN, ports picked by the server,
// the ready-file contract, an interception CA of its own), cassettes in
// dir, extra more serve flags; it is stopped when the test ends.
// run-tests.sh sets $MATGTO_BIN (default <repo>/build/dev/bin/matgto).
func startServer(t *testing.T, dir string, extra ...string) *matgto.Server {
	t.Helper()
	return matgto.StartServer(t, matgto.WithCassetteDir(dir), matgto.WithServeArgs(extra...))
}

// waitExit waits for the server to exit by itself.
func waitExit(t *testing.T, s *matgto.Server, timeout time.Duration) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := s.Wait(ctx)
	if ctx.Err() != nil {
		t.Fatalf("the server did not exit within %v", timeout)
	}
	return err
}

// dial returns a client of s, closed when the test ends.
func dial(t *testing.T, s *matgto.Server) *matgto.Client {
	t.Helper()
	c, err := matgto.Dial(ctxFor(t), s.ControlAddress)
	if err != nil {
		t.Fatalf("Dial(%s): %v", s.ControlAddress, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// ctxFor is a context bounded to 30s and to the test.
func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// upstream is a real HTTP server whose every answer is different: a call
// counter and random bytes, so that a replayed answer cannot be a fresh one.
type upstream struct {
	*httptest.Server
	calls atomic.Int64
}

func newUpstream(t *testing.T) *upstream {
	t.Helper()
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := u.calls.Add(1)
		reqBody, _ := io.ReadAll(r.Body)
		noise := make([]byte, 32)
		_, _ = rand.Read(noise)
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("X-Upstream-Call", strconv.FormatInt(n, 10))
		w.WriteHeader(http.StatusOK)
		fmt.Fprintf(w, "call %d: %s %s body=%q noise=", n, r.Method, r.URL.RequestURI(), reqBody)
		_, _ = w.Write(noise) // binary, to prove byte-identical replay
	}))
	t.Cleanup(u.Close)
	return u
}

// response is what a request through the proxy gave.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// do sends method url (with body, if any) through hc.
func do(t *testing.T, hc *http.Client, method, url string, body []byte) response {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctxFor(t), method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s through the proxy: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, url, err)
	}
	return response{Status: resp.StatusCode, Header: resp.Header, Body: data}
}

// proxiedClient is an HTTP client that goes through c's proxy.
func proxiedClient(t *testing.T, c *matgto.Client) *http.Client {
	t.Helper()
	tr, err := c.HTTPTransport(ctxFor(t))
	if err != nil {
		t.Fatalf("HTTPTransport: %v", err)
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

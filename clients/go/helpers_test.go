package matgto_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	matgto "github.com/matgto/matgto-serge/clients/go"
)

// matgtoBin is the server binary under test: $MATGTO_BIN, else
// <repo>/build/dev/bin/matgto (the tests run in clients/go).
func matgtoBin(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("MATGTO_BIN")
	if bin == "" {
		abs, err := filepath.Abs(filepath.Join("..", "..", "build", "dev", "bin", "matgto"))
		if err != nil {
			t.Fatal(err)
		}
		bin = abs
	}
	if st, err := os.Stat(bin); err != nil || st.IsDir() {
		t.Fatalf("matgto server binary not found at %s (build the server, or set MATGTO_BIN): %v", bin, err)
	}
	return bin
}

// syncBuffer collects the server's output from two pipes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testServer is a real matgto server started for one test.
type testServer struct {
	Proxy   string // from the ready file
	Control string
	Dir     string

	cmd     *exec.Cmd
	out     *syncBuffer
	done    chan struct{}
	waitErr error
}

type readyFile struct {
	Proxy   string `json:"proxy"`
	Control string `json:"control"`
	PID     int    `json:"pid"`
}

// startServer starts `matgto serve` on free ports with cassettes in dir (and
// an interception CA of its own), and waits for its ready file; extra are
// more serve flags. The server is stopped
// when the test ends.
func startServer(t *testing.T, dir string, extra ...string) *testServer {
	t.Helper()
	bin := matgtoBin(t)
	ready := filepath.Join(t.TempDir(), "ready.json")
	s := &testServer{Dir: dir, out: &syncBuffer{}, done: make(chan struct{})}
	args := []string{"serve", "--proxy-port", "0", "--control-port", "0",
		"--cassette-dir", dir, "--ready-file", ready}
	if !slices.Contains(extra, "--ca-dir") && !slices.Contains(extra, "--ca-cert") {
		// A throwaway interception CA, so that tests never touch ~/.matgto.
		args = append(args, "--ca-dir", filepath.Join(t.TempDir(), "ca"))
	}
	args = append(args, extra...)
	s.cmd = exec.Command(bin, args...)
	s.cmd.Stdout = s.out
	s.cmd.Stderr = s.out
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Logf("matgto server output:\n%s", s.out.String())
		}
	})

	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-s.done:
			t.Fatalf("matgto serve exited before writing its ready file (%v); output:\n%s", s.waitErr, s.out.String())
		default:
		}
		data, err := os.ReadFile(ready)
		if err == nil {
			var rf readyFile
			if err := json.Unmarshal(data, &rf); err != nil {
				t.Fatalf("ready file %s is not the JSON object of the contract (%v): %q", ready, err, data)
			}
			if rf.Proxy == "" || rf.Control == "" {
				t.Fatalf("ready file lacks proxy or control address: %q", data)
			}
			if rf.PID != s.cmd.Process.Pid {
				t.Errorf("ready file says pid %d, the server process is %d", rf.PID, s.cmd.Process.Pid)
			}
			s.Proxy, s.Control = rf.Proxy, rf.Control
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("no ready file after 30s; output:\n%s", s.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop ends the server: SIGTERM, then SIGKILL after 5s.
func (s *testServer) stop() {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// waitExit waits for the server to exit by itself.
func (s *testServer) waitExit(t *testing.T, timeout time.Duration) error {
	t.Helper()
	select {
	case <-s.done:
		return s.waitErr
	case <-time.After(timeout):
		t.Fatalf("the server did not exit within %v", timeout)
		return nil
	}
}

// dial returns a client of s, closed when the test ends.
func dial(t *testing.T, s *testServer) *matgto.Client {
	t.Helper()
	c, err := matgto.Dial(ctxFor(t), s.Control)
	if err != nil {
		t.Fatalf("Dial(%s): %v", s.Control, err)
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

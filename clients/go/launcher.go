package matgto

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"
)

// EnvBinary names the matgto server binary that [StartServer] and
// [LaunchServer] run when [WithBinary] does not name one.
const EnvBinary = "MATGTO_BIN"

// Server is a local `matgto serve` process started by [StartServer] or
// [LaunchServer], on ports the server picked (--proxy-port 0 --control-port
// 0), with addresses read from its ready file.
type Server struct {
	// ProxyAddress is the shared proxy port, "127.0.0.1:PORT".
	ProxyAddress string
	// ControlAddress is the control API, "127.0.0.1:PORT": give it to
	// [Dial], [WithServer], or $MATGTO_SERVER of a child process.
	ControlAddress string
	// CassetteDir is where the cassettes are.
	CassetteDir string
	// PID is the server's process id, from the ready file.
	PID int

	cmd     *exec.Cmd
	out     *lockedBuffer
	tmp     string // removed by Stop
	done    chan struct{}
	waitErr error
	stop    sync.Once
	stopErr error
}

// ServerOption configures [StartServer] and [LaunchServer].
type ServerOption func(*serverOptions)

type serverOptions struct {
	binary      string
	cassetteDir string
	args        []string
	timeout     time.Duration
}

// WithBinary runs this matgto binary (default: $MATGTO_BIN, else matgto on
// PATH).
func WithBinary(path string) ServerOption {
	return func(o *serverOptions) { o.binary = path }
}

// WithCassetteDir keeps the cassettes in dir (default: a temporary folder
// that Stop removes).
func WithCassetteDir(dir string) ServerOption {
	return func(o *serverOptions) { o.cassetteDir = dir }
}

// WithServeArgs adds `matgto serve` flags, e.g. "--mode", "replay". Unless
// they name a CA (--ca-dir or --ca-cert), the server gets a throwaway
// interception CA of its own, so tests never touch ~/.matgto.
func WithServeArgs(args ...string) ServerOption {
	return func(o *serverOptions) { o.args = append(o.args, args...) }
}

// WithStartTimeout bounds the wait for the ready file (default 30s).
func WithStartTimeout(d time.Duration) ServerOption {
	return func(o *serverOptions) { o.timeout = d }
}

// StartServer starts a local matgto server for the test t and stops it in
// t.Cleanup; a failure to start ends the test (t.Fatalf) with the server's
// output. When the test failed, the server's output is logged at the end.
//
//	srv := matgto.StartServer(t)
//	s := matgto.UseCassette(t, "", matgto.WithServer(srv.ControlAddress))
//
// For one server shared by a whole test package, call [LaunchServer] in
// TestMain instead.
func StartServer(t testing.TB, opts ...ServerOption) *Server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := LaunchServer(ctx, opts...)
	if err != nil {
		t.Fatalf("matgto: %v", err)
		return nil
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Logf("matgto: stopping the server (pid %d): %v", s.PID, err)
		}
		if t.Failed() {
			t.Logf("matgto server output:\n%s", s.Output())
		}
	})
	return s
}

// FindBinary returns the matgto server binary: explicit when not empty,
// else $MATGTO_BIN, else matgto on PATH.
func FindBinary(explicit string) (string, error) {
	bin, from := explicit, "WithBinary"
	if bin == "" {
		bin, from = os.Getenv(EnvBinary), "$"+EnvBinary
	}
	if bin == "" {
		p, err := exec.LookPath("matgto")
		if err != nil {
			return "", errors.New("no matgto server binary: pass WithBinary(path), set $" + EnvBinary + ", or put matgto on PATH")
		}
		bin, from = p, "PATH"
	}
	st, err := os.Stat(bin)
	if err != nil {
		return "", fmt.Errorf("the matgto server binary %s (from %s): %w", bin, from, err)
	}
	if st.IsDir() {
		return "", fmt.Errorf("the matgto server binary %s (from %s) is a directory", bin, from)
	}
	return filepath.Abs(bin)
}

// LaunchServer starts a local matgto server and waits for its ready file;
// the caller stops it with [Server.Stop]. ctx bounds the start only (with
// [WithStartTimeout]), not the server's life.
func LaunchServer(ctx context.Context, opts ...ServerOption) (*Server, error) {
	o := serverOptions{timeout: 30 * time.Second}
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	bin, err := FindBinary(o.binary)
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "matgto-go-")
	if err != nil {
		return nil, err
	}
	s := &Server{CassetteDir: o.cassetteDir, out: &lockedBuffer{}, tmp: tmp, done: make(chan struct{})}
	if s.CassetteDir == "" {
		s.CassetteDir = filepath.Join(tmp, "cassettes")
	}
	if s.CassetteDir, err = filepath.Abs(s.CassetteDir); err == nil {
		err = os.MkdirAll(s.CassetteDir, 0o755)
	}
	if err != nil {
		_ = os.RemoveAll(tmp)
		return nil, err
	}
	ready := filepath.Join(tmp, "ready.json")
	args := []string{"serve", "--proxy-port", "0", "--control-port", "0",
		"--cassette-dir", s.CassetteDir, "--ready-file", ready}
	if !slices.Contains(o.args, "--ca-dir") && !slices.Contains(o.args, "--ca-cert") {
		args = append(args, "--ca-dir", filepath.Join(tmp, "ca"))
	}
	args = append(args, o.args...)
	s.cmd = exec.Command(bin, args...)
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	s.cmd.SysProcAttr = serverProcAttr()
	if err := s.cmd.Start(); err != nil {
		_ = os.RemoveAll(tmp)
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.done)
	}()

	timer := time.NewTimer(o.timeout)
	defer timer.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		data, err := os.ReadFile(ready)
		if err == nil {
			if err := s.readReady(ready, data); err != nil {
				_ = s.Stop()
				return nil, err
			}
			return s, nil
		}
		select {
		case <-s.done:
			_ = s.Stop()
			return nil, fmt.Errorf("%s serve exited (%v) before writing its ready file; output:\n%s", bin, s.waitErr, s.Output())
		case <-timer.C:
			_ = s.Stop()
			return nil, fmt.Errorf("%s serve wrote no ready file within %v; output:\n%s", bin, o.timeout, s.Output())
		case <-ctx.Done():
			_ = s.Stop()
			return nil, fmt.Errorf("starting %s serve: %w", bin, ctx.Err())
		case <-tick.C:
		}
	}
}

// readReady takes the addresses from the ready file's JSON object
// {"proxy","control","pid"} (written atomically by the server).
func (s *Server) readReady(path string, data []byte) error {
	var rf struct {
		Proxy   string `json:"proxy"`
		Control string `json:"control"`
		PID     int    `json:"pid"`
	}
	if err := json.Unmarshal(data, &rf); err != nil {
		return fmt.Errorf("the ready file %s is not the JSON object of the contract (%v): %q", path, err, data)
	}
	if rf.Proxy == "" || rf.Control == "" {
		return fmt.Errorf("the ready file %s lacks the proxy or control address: %q", path, data)
	}
	if rf.PID != s.cmd.Process.Pid {
		return fmt.Errorf("the ready file %s names pid %d; the server process is %d", path, rf.PID, s.cmd.Process.Pid)
	}
	s.ProxyAddress, s.ControlAddress, s.PID = rf.Proxy, rf.Control, rf.PID
	return nil
}

// ProxyURL is "http://" + ProxyAddress, the shared proxy port (the default
// session).
func (s *Server) ProxyURL() *url.URL {
	return &url.URL{Scheme: "http", Host: s.ProxyAddress}
}

// Dial returns a client of the server's control API ([Dial] with
// ControlAddress); close it when done.
func (s *Server) Dial(ctx context.Context, opts ...DialOption) (*Client, error) {
	return Dial(ctx, s.ControlAddress, opts...)
}

// Output is what the server printed so far (stdout and stderr).
func (s *Server) Output() string { return s.out.String() }

// Done is closed once the server process has exited.
func (s *Server) Done() <-chan struct{} { return s.done }

// Wait waits until the server exits by itself (after [Client.Shutdown],
// say) and returns its exit status (nil for 0), or ctx's error first.
func (s *Server) Wait(ctx context.Context) error {
	select {
	case <-s.done:
		return s.waitErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stop ends the server (SIGTERM: it saves an active recording; SIGKILL
// after 10s) and removes its temporary folder, with the cassettes unless
// [WithCassetteDir] named the folder. It returns the exit status of a
// server that had already exited abnormally, else nil. Stop may be called
// more than once.
func (s *Server) Stop() error {
	s.stop.Do(func() {
		select {
		case <-s.done:
			s.stopErr = s.waitErr
		default:
			_ = s.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-s.done:
			case <-time.After(10 * time.Second):
				_ = s.cmd.Process.Kill()
				<-s.done
				s.stopErr = fmt.Errorf("the server (pid %d) ignored SIGTERM for 10s and was killed", s.cmd.Process.Pid)
			}
		}
		_ = os.RemoveAll(s.tmp)
	})
	return s.stopErr
}

// lockedBuffer collects the server's output from two pipes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

package matgto_test

// The public launcher (StartServer, LaunchServer), the control channel's
// indifference to HTTP(S)_PROXY, and UseProxyEnv.

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	matgto "github.com/matgto/matgto-serge/clients/go"
)

func TestStartServerAnswersAndStops(t *testing.T) {
	var srv *matgto.Server
	t.Run("server", func(t *testing.T) {
		srv = matgto.StartServer(t)
		c := dial(t, srv)
		st, err := c.Status(ctxFor(t))
		if err != nil {
			t.Fatalf("Status: %v", err)
		}
		if st.ProxyAddress != srv.ProxyAddress || st.ControlAddress != srv.ControlAddress {
			t.Errorf("status proxy %s control %s; the ready file said %s and %s", st.ProxyAddress, st.ControlAddress, srv.ProxyAddress, srv.ControlAddress)
		}
		if !sameDir(st.CassetteDir, srv.CassetteDir) {
			t.Errorf("CassetteDir = %q, want the launcher's temporary %q", st.CassetteDir, srv.CassetteDir)
		}
		if srv.PID <= 0 || srv.ProxyURL().String() != "http://"+srv.ProxyAddress {
			t.Errorf("PID %d, ProxyURL %s", srv.PID, srv.ProxyURL())
		}
	})
	// The subtest's cleanup stopped the server and removed its folder.
	select {
	case <-srv.Done():
	default:
		t.Fatalf("the server (pid %d) still runs after its test ended", srv.PID)
	}
	if _, err := os.Stat(srv.CassetteDir); !os.IsNotExist(err) {
		t.Errorf("the temporary cassette folder %s is still there (%v)", srv.CassetteDir, err)
	}
	if err := srv.Stop(); err != nil {
		t.Errorf("a second Stop: %v", err)
	}
}

func TestLaunchServerBinaryFromPathAndOption(t *testing.T) {
	bin, err := matgto.FindBinary("")
	if err != nil {
		t.Fatalf("FindBinary with $MATGTO_BIN set: %v", err)
	}
	// From PATH when $MATGTO_BIN is empty.
	dir := t.TempDir()
	if err := os.Symlink(bin, filepath.Join(dir, "matgto")); err != nil {
		t.Fatal(err)
	}
	t.Setenv("MATGTO_BIN", "")
	t.Setenv("PATH", dir)
	if got, err := matgto.FindBinary(""); err != nil || got != filepath.Join(dir, "matgto") {
		t.Errorf("FindBinary from PATH = %q, %v; want %s", got, err, filepath.Join(dir, "matgto"))
	}
	srv := matgto.StartServer(t, matgto.WithServeArgs("--mode", "replay"))
	if _, err := dial(t, srv).Status(ctxFor(t)); err != nil {
		t.Errorf("Status of the server found on PATH: %v", err)
	}

	t.Setenv("PATH", t.TempDir())
	if _, err := matgto.FindBinary(""); err == nil || !strings.Contains(err.Error(), "MATGTO_BIN") {
		t.Errorf("FindBinary with no binary anywhere: %v, want an error naming MATGTO_BIN", err)
	}
	_, err = matgto.LaunchServer(ctxFor(t), matgto.WithBinary(filepath.Join(dir, "missing")))
	if err == nil || !strings.Contains(err.Error(), "missing") || !strings.Contains(err.Error(), "WithBinary") {
		t.Errorf("LaunchServer of a missing binary: %v, want an error naming it", err)
	}
}

func TestLaunchServerReportsAnEarlyExit(t *testing.T) {
	_, err := matgto.LaunchServer(ctxFor(t), matgto.WithServeArgs("--no-such-flag"))
	if err == nil || !strings.Contains(err.Error(), "before writing its ready file") || !strings.Contains(err.Error(), "no-such-flag") {
		t.Errorf("LaunchServer with a bad flag: %v, want the exit and the server's output", err)
	}
}

func TestLaunchServerKeepsANamedCassetteDir(t *testing.T) {
	dir := t.TempDir()
	srv, err := matgto.LaunchServer(ctxFor(t), matgto.WithCassetteDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, srv)
	mustRecordEmpty(t, c, "kept/one")
	if err := srv.Stop(); err != nil {
		t.Errorf("Stop: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "kept", "one.pb")); err != nil {
		t.Errorf("the cassette in the named folder is gone after Stop: %v", err)
	}
}

// mustRecordEmpty records cassette name with no exchange.
func mustRecordEmpty(t *testing.T, c *matgto.Client, name string) {
	t.Helper()
	if _, err := c.StartRecording(ctxFor(t), name); err != nil {
		t.Fatalf("StartRecording %s: %v", name, err)
	}
	if _, err := c.StopRecording(ctxFor(t)); err != nil {
		t.Fatalf("StopRecording %s: %v", name, err)
	}
}

// deadProxy is a proxy URL where nothing listens (port 9, discard).
const deadProxy = "http://127.0.0.1:9"

func TestControlChannelIgnoresProxyEnvironment(t *testing.T) {
	srv := startServer(t, t.TempDir())
	for _, k := range []string{"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "grpc_proxy"} {
		t.Setenv(k, deadProxy)
	}
	t.Setenv("NO_PROXY", "")
	t.Setenv("no_proxy", "")
	// Go's proxy rules never proxy loopback addresses and "localhost"; the
	// unspecified address 0.0.0.0 (Linux connects it to 127.0.0.1) is not
	// one, so a client that followed HTTPS_PROXY would go to the dead proxy.
	_, port, _ := net.SplitHostPort(srv.ControlAddress)
	for _, addr := range []string{srv.ControlAddress, net.JoinHostPort("0.0.0.0", port)} {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		c, err := matgto.Dial(ctx, addr)
		if err != nil {
			t.Fatalf("Dial(%s): %v", addr, err)
		}
		if _, err := c.Status(ctx); err != nil {
			t.Errorf("Status via %s with HTTPS_PROXY=%s: %v (the control channel must not use the proxy)", addr, deadProxy, err)
		}
		_ = c.Close()
		cancel()
	}
}

func TestUseProxyEnvSetsAndRestores(t *testing.T) {
	srv := startServer(t, t.TempDir())
	c := dial(t, srv)
	up := newUpstream(t)
	watched := []string{"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "NO_PROXY", "no_proxy",
		"SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "NODE_EXTRA_CA_CERTS"}
	t.Setenv("NO_PROXY", "example.internal") // must be emptied, then restored
	before := map[string]string{}
	for _, k := range watched {
		before[k] = os.Getenv(k)
	}
	prevTransport := http.DefaultTransport
	const name = "proxyenv/default-client"

	t.Run("inside", func(t *testing.T) {
		s := matgto.UseCassette(t, name, matgto.WithClient(c), matgto.WithMode(matgto.ModeRecord))
		matgto.UseProxyEnv(t, s)
		proxy := s.ProxyURL().String()
		for _, k := range []string{"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"} {
			if got := os.Getenv(k); got != proxy {
				t.Errorf("%s = %q, want %s", k, got, proxy)
			}
		}
		if got := os.Getenv("NO_PROXY"); got != "" {
			t.Errorf("NO_PROXY = %q, want empty", got)
		}
		// The bundle holds the server's CA: HTTPS through the proxy is trusted
		// by anything reading SSL_CERT_FILE.
		pem, err := c.CACertificate(ctxFor(t))
		if err != nil {
			t.Fatalf("CACertificate: %v", err)
		}
		for _, k := range []string{"SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "NODE_EXTRA_CA_CERTS"} {
			data, err := os.ReadFile(os.Getenv(k))
			if err != nil || !strings.Contains(string(data), strings.TrimSpace(string(pem))) {
				t.Errorf("%s = %q (%v): does not hold the server's CA", k, os.Getenv(k), err)
			}
		}
		// The test process's default client goes through the session.
		resp, err := http.Get(up.URL + "/via-default-client")
		if err != nil {
			t.Fatalf("http.Get through the session: %v", err)
		}
		resp.Body.Close()
		// A child process (curl reads http_proxy) goes through it too.
		if curl, err := exec.LookPath("curl"); err == nil {
			out, err := exec.Command(curl, "-sS", "-o", "/dev/null", "-w", "%{http_code}", up.URL+"/via-curl").CombinedOutput()
			if err != nil || string(out) != "200" {
				t.Errorf("curl through http_proxy: %q, %v", out, err)
			}
		} else {
			t.Log("curl not found: the child-process half is not checked")
		}
		si, err := s.Status(ctxFor(t))
		if err != nil {
			t.Fatalf("Status: %v", err)
		}
		want := uint64(1)
		if _, err := exec.LookPath("curl"); err == nil {
			want = 2
		}
		if si.Recorded != want {
			t.Errorf("the session recorded %d exchanges, want %d (the default client and curl went elsewhere)", si.Recorded, want)
		}
	})
	for _, k := range watched {
		if got := os.Getenv(k); got != before[k] {
			t.Errorf("after the test %s = %q, want it restored to %q", k, got, before[k])
		}
	}
	if http.DefaultTransport != prevTransport {
		t.Errorf("http.DefaultTransport was not restored")
	}
	if n := up.calls.Load(); n < 1 {
		t.Errorf("the upstream saw %d calls", n)
	}
}

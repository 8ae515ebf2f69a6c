package matgtotc_test

// Run against a real container engine (DOCKER_HOST; make testcontainers-test points it
// at podman system service) and a real upstream on the host's loopback.

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	matgto "github.com/matgto/matgto-serge/clients/go"
	matgtotc "github.com/matgto/matgto-serge/clients/testcontainers/go"
	"github.com/testcontainers/testcontainers-go"
)

var body = func() []byte {
	b := make([]byte, 50_000)
	_, _ = rand.Read(b)
	return b
}()

func needEngine(t *testing.T) {
	t.Helper()
	if os.Getenv("DOCKER_HOST") == "" {
		if _, err := os.Stat("/var/run/docker.sock"); err != nil {
			t.Skip("no container engine: set DOCKER_HOST (make testcontainers-test starts podman's)")
		}
	}
}

func upstream(t *testing.T) (*httptest.Server, *atomic.Int32) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func viaProxy(t *testing.T, proxy, target string) *http.Response {
	t.Helper()
	u, err := url.Parse(proxy)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(u)}, Timeout: 10 * time.Second}
	resp, err := hc.Get(target)
	if err != nil {
		t.Fatalf("GET %s via %s: %v", target, proxy, err)
	}
	return resp
}

func read(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func run(t *testing.T, opts ...testcontainers.ContainerCustomizer) *matgtotc.Container {
	t.Helper()
	c, err := matgtotc.Run(context.Background(), "", opts...)
	testcontainers.CleanupContainer(t, c)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRecordThenReplayInANewContainerWithTheUpstreamGone(t *testing.T) {
	needEngine(t)
	ctx := context.Background()
	up, hits := upstream(t)
	dir := filepath.Join(t.TempDir(), "cassettes")

	c := run(t, matgtotc.WithCassetteDir(dir, false))
	client, err := c.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s, err := client.OpenSession(ctx, "tc/go", matgto.WithMode(matgto.ModeRecord))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := s.HTTPClient().Get(up.URL + "/blob")
	if err != nil {
		t.Fatal(err)
	}
	if got := read(t, resp); resp.StatusCode != 200 || !bytes.Equal(got, body) {
		t.Fatalf("recording: status %d, %d bytes; want 200 and the upstream's %d", resp.StatusCode, len(got), len(body))
	}
	sum, err := s.Stop(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Session.Recorded != 1 {
		t.Fatalf("recorded %d, want 1", sum.Session.Recorded)
	}
	if err := c.Terminate(ctx); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, "tc", "go.pb"))
	if err != nil {
		t.Fatalf("no cassette on the host: %v", err)
	}
	if fi.Sys().(*syscall.Stat_t).Uid != uint32(os.Getuid()) {
		t.Errorf("cassette owned by uid %d, want the directory owner's %d", fi.Sys().(*syscall.Stat_t).Uid, os.Getuid())
	}

	up.Close()
	if _, err := (&http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 2 * time.Second}).Get(up.URL + "/blob"); err == nil {
		t.Fatal("upstream still answering")
	}

	// A new container, the same host directory, read-only: replayed on the shared port.
	c2 := run(t, matgtotc.WithCassetteDir(dir, true))
	client2, err := c2.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client2.Replay(ctx, "tc/go"); err != nil {
		t.Fatal(err)
	}
	resp = viaProxy(t, c2.ProxyURL(), up.URL+"/blob")
	if got := read(t, resp); resp.StatusCode != 200 || !bytes.Equal(got, body) {
		t.Fatalf("replay: status %d, %d bytes; want 200 and the recorded %d", resp.StatusCode, len(got), len(body))
	}
	sum, err = client2.StopRecording(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Session.Replayed != 1 || hits.Load() != 1 {
		t.Fatalf("replayed %d, upstream hits %d; want 1 and 1", sum.Session.Replayed, hits.Load())
	}
}

func TestPortsAdminAndNoCassette(t *testing.T) {
	needEngine(t)
	ctx := context.Background()
	up, hits := upstream(t)
	c := run(t)
	if c.ProxyURL() == "" || c.ProxyPort == c.ControlPort || c.AdminPort == c.ControlPort {
		t.Fatalf("ports %d %d %d", c.ProxyPort, c.ControlPort, c.AdminPort)
	}
	direct := &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 5 * time.Second}
	resp, err := direct.Get(c.AdminURL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	if m := read(t, resp); !strings.Contains(string(m), "matgto_") {
		t.Fatalf("/metrics: %.200s", m)
	}
	resp = viaProxy(t, c.ProxyURL(), up.URL+"/blob")
	read(t, resp)
	if resp.StatusCode != 503 || resp.Header.Get("X-Matgto-Error") == "" {
		t.Fatalf("without a cassette: %d %q, want 503 with X-Matgto-Error", resp.StatusCode, resp.Header.Get("X-Matgto-Error"))
	}
	info, err := c.Inspect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.HostConfig.NetworkMode != "host" || info.Config.Labels[matgtotc.Label] != "true" {
		t.Fatalf("network %q, labels %v", info.HostConfig.NetworkMode, info.Config.Labels)
	}
	client, err := c.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pem, err := client.CACertificate(ctx)
	if err != nil || !bytes.HasPrefix(pem, []byte("-----BEGIN CERTIFICATE-----")) {
		t.Fatalf("CA: %v %.40q", err, pem)
	}
	if hits.Load() != 0 {
		t.Fatalf("upstream reached %d times", hits.Load())
	}
}

func TestServerFlagsFromTheTest(t *testing.T) {
	needEngine(t)
	ctx := context.Background()
	up, _ := upstream(t)
	dir := t.TempDir()
	c := run(t, matgtotc.WithCassetteDir(dir, false))
	client, err := c.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.StartRecording(ctx, "boot"); err != nil {
		t.Fatal(err)
	}
	read(t, viaProxy(t, c.ProxyURL(), up.URL+"/blob"))
	if _, err := client.StopRecording(ctx); err != nil {
		t.Fatal(err)
	}
	up.Close()
	// Cassette in use from the start, replay mode: no control call needed.
	c2 := run(t, matgtotc.WithCassetteDir(dir, false), testcontainers.WithCmdArgs("--mode", "replay", "--cassette", "boot"))
	resp := viaProxy(t, c2.ProxyURL(), up.URL+"/blob")
	if got := read(t, resp); resp.StatusCode != 200 || !bytes.Equal(got, body) {
		t.Fatalf("replay from the start: status %d, %d bytes", resp.StatusCode, len(got))
	}
}

func TestAServerThatCannotStartFailsRunWithItsLog(t *testing.T) {
	needEngine(t)
	c, err := matgtotc.Run(context.Background(), "", testcontainers.WithCmdArgs("--no-such-flag"))
	testcontainers.CleanupContainer(t, c)
	if err == nil || !strings.Contains(err.Error(), "no-such-flag") {
		t.Fatalf("Run: %v; want an error quoting the server's complaint about --no-such-flag", err)
	}
}

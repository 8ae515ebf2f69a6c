// Package matgtotc is a Testcontainers module for matgto-serge, the record/replay
// proxy for tests: it starts the matgto image and hands the test a connected client
// and the proxy URL.
//
//	import matgtotc "github.com/matgto/matgto-serge/clients/testcontainers/go"
//
//	c, err := matgtotc.Run(ctx, "", matgtotc.WithCassetteDir("testdata/cassettes", false))
//	testcontainers.CleanupContainer(t, c)
//	require.NoError(t, err)
//	client, err := c.Client(ctx)             // a connected *matgto.Client, closed on Terminate
//	s, err := client.OpenSession(ctx, "users/get-1")
//	resp, err := s.HTTPClient().Get("http://127.0.0.1:8080/users/1")
//
// The container runs with the host network: the proxy must reach the services under
// test where they listen (usually 127.0.0.1 on the host), and every session a client
// opens gets a proxy listener of its own on an ephemeral port, which a port mapping
// cannot follow. The server binds 127.0.0.1 on free ports picked on the host (proxy,
// control, admin), set through its MATGTO_* variables (override them with
// testcontainers.WithEnv); it is ready when the admin port's /readyz answers 200, and
// Run fails at once, with the server's log, if the container stops before that.
package matgtotc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	matgto "github.com/matgto/matgto-serge/clients/go"
	"github.com/moby/moby/api/types/container"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
)

const (
	// DefaultImage is the image deploy/test-image.sh and make testcontainers-test build.
	DefaultImage = "localhost/matgto:test"
	// ImageEnv names the image when Run is given "".
	ImageEnv = "MATGTO_IMAGE"
	// Label is set to "true" on every container this module starts.
	Label = "dev.matgto.testcontainers"
	// CassettesInContainer is where WithCassetteDir mounts the host directory.
	CassettesInContainer = "/cassettes"
	host                 = "127.0.0.1"
)

// Container is a running matgto server.
type Container struct {
	*testcontainers.DockerContainer
	ProxyPort, ControlPort, AdminPort int

	mu      sync.Mutex
	clients []*matgto.Client
}

// Run starts image ("" for $MATGTO_IMAGE, else DefaultImage) with `matgto serve`;
// opts may add server flags (testcontainers.WithCmdArgs), MATGTO_* variables
// (testcontainers.WithEnv), WithCassetteDir, and any other customizer.
func Run(ctx context.Context, image string, opts ...testcontainers.ContainerCustomizer) (*Container, error) {
	if image == "" {
		image = os.Getenv(ImageEnv)
	}
	if image == "" {
		image = DefaultImage
	}
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	req := testcontainers.GenericContainerRequest{
		ContainerRequest: testcontainers.ContainerRequest{
			Image: image,
			// Replaces the image's default command, which binds 0.0.0.0 (the whole host here).
			Cmd: []string{"serve"},
			Env: map[string]string{
				"MATGTO_PROXY_PORT":   strconv.Itoa(ports[0]),
				"MATGTO_CONTROL_PORT": strconv.Itoa(ports[1]),
				"MATGTO_ADMIN_PORT":   strconv.Itoa(ports[2]),
				"MATGTO_BIND":         host,
				"MATGTO_CONTROL_BIND": host,
				"MATGTO_ADMIN_BIND":   host,
				"MATGTO_CASSETTE_DIR": CassettesInContainer,
			},
			Labels: map[string]string{Label: "true"},
			HostConfigModifier: func(hc *container.HostConfig) {
				hc.NetworkMode = "host"
			},
		},
		Started: true,
	}
	for _, opt := range opts {
		if err := opt.Customize(&req); err != nil {
			return nil, fmt.Errorf("matgto container option: %w", err)
		}
	}
	c := &Container{}
	for _, p := range []struct {
		env string
		dst *int
	}{{"MATGTO_PROXY_PORT", &c.ProxyPort}, {"MATGTO_CONTROL_PORT", &c.ControlPort}, {"MATGTO_ADMIN_PORT", &c.AdminPort}} {
		if *p.dst, err = strconv.Atoi(req.Env[p.env]); err != nil || *p.dst <= 0 {
			return nil, fmt.Errorf("matgto container: %s=%q is not a port (the module needs fixed ports)", p.env, req.Env[p.env])
		}
	}
	req.Env["MATGTO_SERVER"] = c.ControlAddress() // the image's HEALTHCHECK asks this address
	if req.WaitingFor == nil {
		req.WaitingFor = ForReady(c.AdminURL()).WithStartupTimeout(60 * time.Second)
	}
	ctr, err := testcontainers.GenericContainer(ctx, req)
	if ctr != nil {
		c.DockerContainer, _ = ctr.(*testcontainers.DockerContainer)
	}
	if err != nil {
		return c, fmt.Errorf("matgto container: %w", err)
	}
	return c, nil
}

// WithCassetteDir mounts dir (created if missing) as the server's cassette directory,
// so recordings outlive the container. The server then runs as dir's owner, so the
// cassettes it writes are yours (the image's user, 10001, could not write into a
// directory of yours), and its interception CA lives in the container's /tmp.
func WithCassetteDir(dir string, readOnly bool) testcontainers.CustomizeRequestOption {
	return func(req *testcontainers.GenericContainerRequest) error {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(abs, 0o755); err != nil {
			return fmt.Errorf("cassette directory: %w", err)
		}
		fi, err := os.Stat(abs)
		if err != nil {
			return fmt.Errorf("cassette directory: %w", err)
		}
		mode := "rw"
		if readOnly {
			mode = "ro"
		}
		bind := abs + ":" + CassettesInContainer + ":" + mode
		prev := req.HostConfigModifier
		req.HostConfigModifier = func(hc *container.HostConfig) {
			if prev != nil {
				prev(hc)
			}
			hc.Binds = append(hc.Binds, bind)
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			prevCfg := req.ConfigModifier
			req.ConfigModifier = func(cfg *container.Config) {
				if prevCfg != nil {
					prevCfg(cfg)
				}
				cfg.User = fmt.Sprintf("%d:%d", st.Uid, st.Gid)
			}
			req.Env["MATGTO_CA_DIR"] = "/tmp/matgto-ca"
			req.Env["MATGTO_CACHE_DIR"] = "/tmp/matgto-cache"
		}
		return nil
	}
}

// ControlAddress is HOST:PORT of the gRPC control API (what matgto.Dial takes).
func (c *Container) ControlAddress() string {
	return net.JoinHostPort(host, strconv.Itoa(c.ControlPort))
}

// ProxyURL is http://HOST:PORT of the shared proxy port (the server's default session).
func (c *Container) ProxyURL() string {
	return "http://" + net.JoinHostPort(host, strconv.Itoa(c.ProxyPort))
}

// AdminURL is http://HOST:PORT of the admin port (/metrics, /healthz, /readyz).
func (c *Container) AdminURL() string {
	return "http://" + net.JoinHostPort(host, strconv.Itoa(c.AdminPort))
}

// Client dials the control API; the client is closed by Terminate.
func (c *Container) Client(ctx context.Context, opts ...matgto.DialOption) (*matgto.Client, error) {
	cl, err := matgto.Dial(ctx, c.ControlAddress(), opts...)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.clients = append(c.clients, cl)
	c.mu.Unlock()
	return cl, nil
}

// Terminate closes the clients Client gave, then removes the container.
func (c *Container) Terminate(ctx context.Context, opts ...testcontainers.TerminateOption) error {
	c.mu.Lock()
	for _, cl := range c.clients {
		_ = cl.Close()
	}
	c.clients = nil
	c.mu.Unlock()
	if c.DockerContainer == nil {
		return nil
	}
	return c.DockerContainer.Terminate(ctx, opts...)
}

// ReadyStrategy waits until GET URL/readyz answers 200, and fails at once, with the
// container's log, when the container stops first.
type ReadyStrategy struct {
	url     string
	timeout time.Duration
}

// ForReady waits on adminURL + "/readyz" (60 s unless WithStartupTimeout).
func ForReady(adminURL string) *ReadyStrategy {
	return &ReadyStrategy{url: adminURL + "/readyz", timeout: 60 * time.Second}
}

// WithStartupTimeout sets how long to wait.
func (s *ReadyStrategy) WithStartupTimeout(d time.Duration) *ReadyStrategy {
	s.timeout = d
	return s
}

var _ wait.Strategy = (*ReadyStrategy)(nil)

// WaitUntilReady implements wait.Strategy.
func (s *ReadyStrategy) WaitUntilReady(ctx context.Context, target wait.StrategyTarget) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	// Loopback: never through a proxy from the environment.
	hc := &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 2 * time.Second}
	last := "no answer yet"
	for {
		state, err := target.State(ctx)
		if err == nil && !state.Running {
			return fmt.Errorf("matgto container stopped (%s, exit %d) before %s answered; its log:\n%s",
				state.Status, state.ExitCode, s.url, logs(target))
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
		if err != nil {
			return err
		}
		if resp, err := hc.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("matgto container not ready after %s (%s: %s); its log:\n%s",
				s.timeout, s.url, last, logs(target))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func logs(target wait.StrategyTarget) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := target.Logs(ctx)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil && !errors.Is(err, io.EOF) {
		return string(b) + "\n(log cut: " + err.Error() + ")"
	}
	return string(b)
}

// freePorts asks the kernel for n ports free on the host's loopback now.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return nil, fmt.Errorf("matgto container: no free port on %s: %w", host, err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// The program that clients/go/install-test.sh builds in a module outside the
// repository: it imports the client by its module path (with the alias the
// docs show: the package is "matgto", the path ends in "go"), starts a real
// server with the public launcher ($MATGTO_BIN), and records one exchange
// through a session. The script runs it with HTTP(S)_PROXY pointing at a dead
// proxy: the control channel must not use it.
package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"time"

	matgto "github.com/matgto/matgto-serge/clients/go"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "installcheck:", err)
		os.Exit(1)
	}
	fmt.Println("installcheck: ok")
}

func run() error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv, err := matgto.LaunchServer(ctx)
	if err != nil {
		return err
	}
	defer srv.Stop()

	// 0.0.0.0 reaches the loopback listener on Linux, and unlike 127.0.0.1 Go's
	// proxy rules do not exempt it: a control channel that followed
	// HTTPS_PROXY would fail here.
	_, port, _ := net.SplitHostPort(srv.ControlAddress)
	c, err := matgto.Dial(ctx, net.JoinHostPort("0.0.0.0", port))
	if err != nil {
		return err
	}
	defer c.Close()
	if os.Getenv("HTTPS_PROXY") == "" {
		return fmt.Errorf("run me with HTTPS_PROXY set to a dead proxy")
	}

	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s", r.URL.Path)
	}))
	defer up.Close()
	s, err := c.OpenSession(ctx, "installcheck/hello", matgto.WithMode(matgto.ModeRecord))
	if err != nil {
		return fmt.Errorf("OpenSession (control channel with HTTPS_PROXY=%s): %w", os.Getenv("HTTPS_PROXY"), err)
	}
	resp, err := s.HTTPClient().Get(up.URL + "/x")
	if err != nil {
		return err
	}
	resp.Body.Close()
	sum, err := s.Stop(ctx)
	if err != nil {
		return err
	}
	if sum.Session.Recorded != 1 {
		return fmt.Errorf("recorded %d exchanges, want 1", sum.Session.Recorded)
	}
	return nil
}

package matgto_test

// WebSocket faults against the real server: the rule is listed with its
// fields, leaves plain HTTP requests alone, and drops or slows the messages
// of a WebSocket connection through the session's proxy.

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	matgto "github.com/matgto/matgto-serge/clients/go"
	"golang.org/x/net/websocket"
)

// newWSEcho is a 127.0.0.1 WebSocket server echoing every message.
func newWSEcho(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(websocket.Server{Handler: func(ws *websocket.Conn) {
		for {
			var msg string
			if err := websocket.Message.Receive(ws, &msg); err != nil {
				return
			}
			if err := websocket.Message.Send(ws, msg); err != nil {
				return
			}
		}
	}})
	t.Cleanup(srv.Close)
	return srv
}

// dialWSThroughProxy opens a WebSocket to wsURL ("http://127.0.0.1:p/ws")
// through the HTTP proxy at proxyAddr: the upgrade is sent in absolute
// form, as to any HTTP proxy.
func dialWSThroughProxy(t *testing.T, proxyAddr, target string) *websocket.Conn {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	config, err := websocket.NewConfig("ws://"+u.Host+u.Path, "http://"+u.Host)
	if err != nil {
		t.Fatal(err)
	}
	// Opaque "//host/path" makes the request line "GET http://host/path".
	config.Location = &url.URL{Scheme: "http", Host: u.Host, Opaque: "//" + u.Host + u.Path}
	conn, err := net.DialTimeout("tcp", proxyAddr, 5*time.Second)
	if err != nil {
		t.Fatalf("dialing the proxy: %v", err)
	}
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	ws, err := websocket.NewClient(config, conn)
	if err != nil {
		conn.Close()
		t.Fatalf("WebSocket handshake through the proxy: %v", err)
	}
	t.Cleanup(func() { ws.Close() })
	return ws
}

func echo(ws *websocket.Conn, msg string) (string, error) {
	if err := websocket.Message.Send(ws, msg); err != nil {
		return "", err
	}
	var got string
	err := websocket.Message.Receive(ws, &got)
	return got, err
}

func TestWebSocketFaultIsListedAndLeavesHTTPAlone(t *testing.T) {
	srv := startServer(t, t.TempDir())
	c := dial(t, srv)
	up := newUpstream(t)
	s := matgto.UseCassette(t, "", matgto.WithClient(c), matgto.WithMode(matgto.ModeRecord))
	ctx := ctxFor(t)
	f, err := s.AddFault(ctx, matgto.WebSocketFault(2, 250*time.Millisecond), matgto.URL("/ws"))
	if err != nil {
		t.Fatalf("AddFault(WebSocketFault): %v", err)
	}
	if f.ID == "" || f.Action.Kind != matgto.FaultWebSocket || f.Action.DropAfterMessages != 2 ||
		f.Action.MessageDelay != 250*time.Millisecond || f.URLPattern != "/ws" {
		t.Errorf("added %v, want a websocket fault dropping after 2, delaying 250ms, on /ws", f)
	}
	all, err := s.AddFaults(ctx, matgto.NewFault(matgto.DelayMessages(time.Second)))
	if err != nil || len(all) != 1 || all[0].Action.DropAfterMessages != 0 || all[0].Action.MessageDelay != time.Second {
		t.Fatalf("AddFaults(DelayMessages(1s)) = %v, %v", all, err)
	}
	// Plain HTTP, even on a matching URL, is not touched by WebSocket rules.
	for _, p := range []string{"/ws", "/other"} {
		start := time.Now()
		if r := do(t, s.HTTPClient(), "GET", up.URL+p, nil); r.Status != http.StatusOK || !strings.HasPrefix(string(r.Body), "call ") {
			t.Errorf("GET %s with WebSocket faults: %d %q", p, r.Status, r.Body)
		}
		if d := time.Since(start); d > 900*time.Millisecond {
			t.Errorf("GET %s took %v: a WebSocket delay applied to HTTP", p, d)
		}
	}
	si, err := s.Status(ctx)
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	if len(si.Faults) != 2 {
		t.Fatalf("status faults %v, want 2", si.Faults)
	}
	got := si.Faults[0]
	if got.ID != f.ID || got.Action.Kind != matgto.FaultWebSocket || got.Action.DropAfterMessages != 2 ||
		got.Action.MessageDelay != 250*time.Millisecond || got.URLPattern != "/ws" || got.Applied != 0 {
		t.Errorf("status lists %v, want %v not applied", got, f)
	}
	if a := si.Faults[1].Action; a.Kind != matgto.FaultWebSocket || a.DropAfterMessages != 0 || a.MessageDelay != time.Second || si.Faults[1].Applied != 0 {
		t.Errorf("status lists %v, want DelayMessages(1s) not applied", si.Faults[1])
	}
}

func TestWebSocketFaultDropsAndDelaysMessages(t *testing.T) {
	srv := startServer(t, t.TempDir())
	c := dial(t, srv)
	up := newWSEcho(t)
	s := matgto.UseCassette(t, "", matgto.WithClient(c), matgto.WithMode(matgto.ModeRecord))
	ctx := ctxFor(t)
	proxy := s.ProxyURL().Host

	// Without a fault the echo goes through.
	ws := dialWSThroughProxy(t, proxy, up.URL+"/ws")
	for _, m := range []string{"a", "b", "c"} {
		if got, err := echo(ws, m); err != nil || got != m {
			t.Fatalf("echo %q without a fault: %q, %v", m, got, err)
		}
	}
	ws.Close()

	f, err := s.AddFault(ctx, matgto.DropAfterMessages(2))
	if err != nil {
		t.Fatalf("AddFault(DropAfterMessages(2)): %v", err)
	}
	ws = dialWSThroughProxy(t, proxy, up.URL+"/ws")
	for _, m := range []string{"one", "two"} {
		if got, err := echo(ws, m); err != nil || got != m {
			t.Fatalf("echo %q before the drop: %q, %v", m, got, err)
		}
	}
	if got, err := echo(ws, "three"); err == nil {
		t.Fatalf("third echo %q: the connection was not dropped after 2 messages", got)
	} else if ne := (net.Error)(nil); errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("third echo timed out instead of the connection dropping: %v", err)
	}
	ws.Close()
	if _, err := s.ClearFaults(ctx, f.ID); err != nil {
		t.Fatalf("ClearFaults: %v", err)
	}

	const delay = 300 * time.Millisecond
	if _, err := s.AddFault(ctx, matgto.DelayMessages(delay)); err != nil {
		t.Fatalf("AddFault(DelayMessages): %v", err)
	}
	ws = dialWSThroughProxy(t, proxy, up.URL+"/ws")
	start := time.Now()
	for _, m := range []string{"x", "y"} {
		if got, err := echo(ws, m); err != nil || got != m {
			t.Fatalf("echo %q with a delay: %q, %v", m, got, err)
		}
	}
	took := time.Since(start)
	t.Logf("two echoes with %v per message: %v", delay, took)
	if took < 2*delay-50*time.Millisecond || took > 8*time.Second {
		t.Errorf("two delayed echoes took %v, want about %v", took, 2*delay)
	}
	ws.Close()

	si, err := s.Status(ctx)
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	if len(si.Faults) != 1 || si.Faults[0].Action.Kind != matgto.FaultWebSocket || si.Faults[0].Applied != 1 {
		t.Errorf("status faults %v, want the message delay applied to one connection", si.Faults)
	}
}

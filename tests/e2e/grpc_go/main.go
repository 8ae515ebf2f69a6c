// A stock grpc-go client for the end-to-end tests (tests/e2e/test_grpc.py):
// it makes every kind of call to the test.Echo service through matgto and
// prints what came back as JSON, so that a recording and its replay can be
// compared. Messages are raw bytes (a codec that passes them through), so
// no .proto is needed.
//
// grpc-go reaches a proxy through HTTPS_PROXY, but never for loopback
// addresses (Go's proxy rules), and these tests bind only 127.0.0.1: the
// dialer below opens the same CONNECT tunnel grpc-go's proxy dialer would.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*(v.(*[]byte)) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

func tunnel(proxy string) func(context.Context, string) (net.Conn, error) {
	return func(ctx context.Context, addr string) (net.Conn, error) {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", proxy)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(conn, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", addr, addr)
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
		if err != nil {
			conn.Close()
			return nil, err
		}
		if resp.StatusCode != http.StatusOK || br.Buffered() != 0 {
			conn.Close()
			return nil, fmt.Errorf("CONNECT %s: %s", addr, resp.Status)
		}
		return conn, nil
	}
}

func main() {
	proxy := flag.String("proxy", "", "matgto's proxy host:port")
	target := flag.String("target", "", "the gRPC server host:port")
	miss := flag.Bool("miss", false, "also make a call that was never recorded")
	flag.Parse()
	conn, err := grpc.NewClient("passthrough:///"+*target,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(tunnel(*proxy)),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{})))
	if err != nil {
		fail(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out := map[string]any{}

	// Unary, with metadata both ways.
	var header, trailer metadata.MD
	req, resp := []byte("hello"), []byte(nil)
	octx := metadata.AppendToOutgoingContext(ctx, "x-client", "go")
	if err := conn.Invoke(octx, "/test.Echo/Unary", &req, &resp, grpc.Header(&header),
		grpc.Trailer(&trailer)); err != nil {
		fail(err)
	}
	out["unary"] = []string{string(resp), first(header, "x-upstream"), first(trailer, "x-trailer")}

	both := &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}
	out["server_stream"] = call(ctx, conn, "/test.Echo/ServerStream", both, [][]byte{[]byte("s")})
	out["client_stream"] = call(ctx, conn, "/test.Echo/ClientStream", both,
		[][]byte{[]byte("a"), []byte("b"), []byte("c")})
	out["bidi"] = call(ctx, conn, "/test.Echo/Bidi", both, [][]byte{[]byte("x"), []byte("y")})
	out["ping_pong"] = pingPong(ctx, conn, "/test.Echo/Bidi", both,
		[][]byte{[]byte("ping"), []byte("pong"), []byte("done")})

	// A non-OK status with trailing metadata.
	trailer = nil
	req = []byte("thing")
	err = conn.Invoke(ctx, "/test.Echo/Fail", &req, &resp, grpc.Trailer(&trailer))
	st, _ := status.FromError(err)
	out["fail"] = []string{st.Code().String(), st.Message(), first(trailer, "x-why")}

	if *miss {
		// Never recorded: what matgto answers in replay.
		req = []byte("never sent")
		err = conn.Invoke(ctx, "/test.Echo/Unary", &req, &resp)
		st, _ = status.FromError(err)
		out["miss"] = []string{st.Code().String(), st.Message()}
	}

	json.NewEncoder(os.Stdout).Encode(out)
}

// Sends `messages`, half-closes, and returns every message received.
func call(ctx context.Context, conn *grpc.ClientConn, method string, desc *grpc.StreamDesc,
	messages [][]byte) []string {
	s, err := conn.NewStream(ctx, desc, method)
	if err != nil {
		fail(err)
	}
	for _, m := range messages {
		m := m
		if err := s.SendMsg(&m); err != nil {
			fail(err)
		}
	}
	if err := s.CloseSend(); err != nil {
		fail(err)
	}
	got := []string{}
	for {
		var m []byte
		err := s.RecvMsg(&m)
		if errors.Is(err, io.EOF) {
			return got
		}
		if err != nil {
			fail(err)
		}
		got = append(got, string(m))
	}
}

// Sends each message only once the answer to the one before arrived (a
// turn-based conversation), then half-closes; every message received.
func pingPong(ctx context.Context, conn *grpc.ClientConn, method string, desc *grpc.StreamDesc,
	messages [][]byte) []string {
	s, err := conn.NewStream(ctx, desc, method)
	if err != nil {
		fail(err)
	}
	got := []string{}
	for _, m := range messages {
		m := m
		if err := s.SendMsg(&m); err != nil {
			fail(err)
		}
		var answer []byte
		if err := s.RecvMsg(&answer); err != nil {
			fail(err)
		}
		got = append(got, string(answer))
	}
	if err := s.CloseSend(); err != nil {
		fail(err)
	}
	var extra []byte
	if err := s.RecvMsg(&extra); !errors.Is(err, io.EOF) {
		fail(fmt.Errorf("after the last answer: %v", err))
	}
	return got
}

func first(md metadata.MD, key string) string {
	if v := md.Get(key); len(v) > 0 {
		return v[0]
	}
	return ""
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "grpc_go:", err)
	os.Exit(1)
}

package matgto_test

// Tests that need no matgto binary: an in-process fake of the control service.

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"

	matgto "github.com/matgto/matgto-serge/clients/go"
	pb "github.com/matgto/matgto-serge/clients/go/matgtov1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestCheckAPIVersion(t *testing.T) {
	if err := matgto.CheckAPIVersion(1); err != nil {
		t.Errorf("CheckAPIVersion(1) = %v, want nil", err)
	}
	for _, v := range []uint32{0, 2, 100} {
		err := matgto.CheckAPIVersion(v)
		if !errors.Is(err, matgto.ErrIncompatibleServer) {
			t.Errorf("CheckAPIVersion(%d) = %v, want ErrIncompatibleServer", v, err)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, "version 1") {
			t.Errorf("CheckAPIVersion(%d) message %q does not say which version this client speaks", v, msg)
		}
	}
	if err := matgto.CheckAPIVersion(2); err == nil || !strings.Contains(err.Error(), "version 2") {
		t.Errorf("CheckAPIVersion(2) = %v, which does not say which version the server speaks", err)
	}
}

// fakeControl answers GetStatus with apiVersion and every Replay with
// replayErr, counting calls.
type fakeControl struct {
	pb.UnimplementedProxyControlServer
	apiVersion  uint32
	replayErr   error
	statusCalls atomic.Int32
	replayCalls atomic.Int32
}

func (f *fakeControl) GetStatus(context.Context, *pb.GetStatusRequest) (*pb.GetStatusResponse, error) {
	f.statusCalls.Add(1)
	return &pb.GetStatusResponse{Version: "9.9.9", ApiVersion: f.apiVersion, ProxyAddress: "0.0.0.0:7777"}, nil
}

func (f *fakeControl) Replay(_ context.Context, r *pb.ReplayRequest) (*pb.ReplayResponse, error) {
	f.replayCalls.Add(1)
	if f.replayErr != nil {
		return nil, f.replayErr
	}
	return &pb.ReplayResponse{Session: &pb.SessionInfo{Cassette: r.GetName(), Mode: pb.Mode_REPLAY}}, nil
}

// startFake serves f on a free loopback port and returns a client of it.
func startFake(t *testing.T, f pb.ProxyControlServer) *matgto.Client {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	pb.RegisterProxyControlServer(gs, f)
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	c, err := matgto.Dial(ctxFor(t), lis.Addr().String())
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestIncompatibleServerIsRefused(t *testing.T) {
	f := &fakeControl{apiVersion: 2}
	c := startFake(t, f)
	ctx := ctxFor(t)

	_, err := c.Replay(ctx, "x")
	if !errors.Is(err, matgto.ErrIncompatibleServer) {
		t.Fatalf("Replay against an api_version 2 server = %v, want ErrIncompatibleServer", err)
	}
	if !strings.Contains(err.Error(), "version 2") || !strings.Contains(err.Error(), c.Address()) {
		t.Errorf("error %q should name the server and its version", err)
	}
	if n := f.replayCalls.Load(); n != 0 {
		t.Errorf("the client sent %d Replay calls to an incompatible server", n)
	}
	if _, err := c.Status(ctx); !errors.Is(err, matgto.ErrIncompatibleServer) {
		t.Errorf("Status = %v, want ErrIncompatibleServer", err)
	}
	if _, err := c.StopRecording(ctx); !errors.Is(err, matgto.ErrIncompatibleServer) {
		t.Errorf("StopRecording = %v, want ErrIncompatibleServer", err)
	}
	if _, err := c.HTTPTransport(ctx); !errors.Is(err, matgto.ErrIncompatibleServer) {
		t.Errorf("HTTPTransport = %v, want ErrIncompatibleServer", err)
	}
}

func TestCompatibleServerIsCheckedOnce(t *testing.T) {
	f := &fakeControl{apiVersion: 1}
	c := startFake(t, f)
	ctx := ctxFor(t)
	for i := 0; i < 3; i++ {
		s, err := c.Replay(ctx, "cassette")
		if err != nil {
			t.Fatalf("Replay: %v", err)
		}
		if s.Cassette != "cassette" || s.Mode != matgto.ModeReplay {
			t.Errorf("Replay session = %+v", s)
		}
	}
	if n := f.statusCalls.Load(); n != 1 {
		t.Errorf("%d GetStatus calls for 3 Replays, want 1 (the version check, once)", n)
	}
	if n := f.replayCalls.Load(); n != 3 {
		t.Errorf("%d Replay calls reached the server, want 3", n)
	}
	// A proxy listening on all interfaces is reached at the control host.
	u, err := c.ProxyURL(ctx)
	if err != nil || u.String() != "http://127.0.0.1:7777" {
		t.Errorf("ProxyURL = %v, %v; want http://127.0.0.1:7777", u, err)
	}
}

func TestErrorCodesMapToSentinels(t *testing.T) {
	sentinels := map[string]error{
		"ErrCassetteNotFound": matgto.ErrCassetteNotFound,
		"ErrInvalidArgument":  matgto.ErrInvalidArgument,
		"ErrNoCassette":       matgto.ErrNoCassette,
		"ErrCorruptCassette":  matgto.ErrCorruptCassette,
		"ErrUnavailable":      matgto.ErrUnavailable,
		"ErrUnimplemented":    matgto.ErrUnimplemented,
		"ErrTooManySessions":  matgto.ErrTooManySessions,
		"ErrUnauthenticated":  matgto.ErrUnauthenticated,
		"ErrPermissionDenied": matgto.ErrPermissionDenied,
	}
	for _, tc := range []struct {
		code codes.Code
		want string // sentinel name, "" for none
	}{
		{codes.NotFound, "ErrCassetteNotFound"},
		{codes.InvalidArgument, "ErrInvalidArgument"},
		{codes.FailedPrecondition, "ErrNoCassette"},
		{codes.DataLoss, "ErrCorruptCassette"},
		{codes.Unavailable, "ErrUnavailable"},
		{codes.Unimplemented, "ErrUnimplemented"},
		{codes.ResourceExhausted, "ErrTooManySessions"},
		{codes.Unauthenticated, "ErrUnauthenticated"},
		{codes.PermissionDenied, "ErrPermissionDenied"},
		{codes.Internal, ""},
	} {
		f := &fakeControl{apiVersion: 1, replayErr: status.Error(tc.code, "told by the fake")}
		c := startFake(t, f)
		_, err := c.Replay(ctxFor(t), "x")
		var me *matgto.Error
		if !errors.As(err, &me) || me.Code != tc.code || me.Message != "told by the fake" || me.Op != "Replay" {
			t.Errorf("%v: error %#v, want *matgto.Error{Op: Replay, Code: %v, Message: told by the fake}", tc.code, err, tc.code)
			continue
		}
		if status.Code(err) != tc.code {
			t.Errorf("%v: status.Code(err) = %v", tc.code, status.Code(err))
		}
		for name, s := range sentinels {
			if got := errors.Is(err, s); got != (name == tc.want) {
				t.Errorf("%v: errors.Is(err, %s) = %v", tc.code, name, got)
			}
		}
		if errors.Is(err, matgto.ErrIncompatibleServer) {
			t.Errorf("%v: matches ErrIncompatibleServer", tc.code)
		}
		if got := errors.Is(err, matgto.ErrFailedPrecondition); got != (tc.code == codes.FailedPrecondition) {
			t.Errorf("%v: errors.Is(err, ErrFailedPrecondition) = %v", tc.code, got)
		}
		if got := errors.Is(err, matgto.ErrSessionNotFound); got != (tc.code == codes.NotFound) {
			t.Errorf("%v: errors.Is(err, ErrSessionNotFound) = %v", tc.code, got)
		}
		if errors.Is(err, matgto.ErrSessionLost) {
			t.Errorf("%v: a server error matches ErrSessionLost (a client-side condition)", tc.code)
		}
	}
}

func TestCanceledContextIsContextError(t *testing.T) {
	c := startFake(t, &fakeControl{apiVersion: 1})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Replay(ctx, "x"); !errors.Is(err, context.Canceled) {
		t.Errorf("Replay with a canceled context = %v, want context.Canceled", err)
	}
	if _, err := matgto.Dial(ctx, "127.0.0.1:1"); !errors.Is(err, context.Canceled) {
		t.Errorf("Dial with a canceled context = %v, want context.Canceled", err)
	}
}

func TestUnreachableServerIsUnavailable(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	c, err := matgto.Dial(ctxFor(t), addr)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer c.Close()
	if _, err := c.Status(ctxFor(t)); !errors.Is(err, matgto.ErrUnavailable) {
		t.Errorf("Status of a closed port = %v, want ErrUnavailable", err)
	}
}

func TestDialDefaultAddress(t *testing.T) {
	t.Setenv(matgto.EnvServer, "")
	c, err := matgto.Dial(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if c.Address() != matgto.DefaultAddress {
		t.Errorf("Dial(\"\") address %q, want %q", c.Address(), matgto.DefaultAddress)
	}
	t.Setenv(matgto.EnvServer, "127.0.0.1:4242")
	c, err = matgto.Dial(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if c.Address() != "127.0.0.1:4242" {
		t.Errorf("Dial(\"\") with $MATGTO_SERVER: address %q", c.Address())
	}
}

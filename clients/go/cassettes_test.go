package matgto_test

// Cassette management (list, get, put, delete) against the real server.

import (
	"bytes"
	"errors"
	"net/http"
	"strconv"
	"testing"

	matgto "github.com/matgto/matgto-serge/clients/go"
	pb "github.com/matgto/matgto-serge/clients/go/matgtov1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

func TestCassetteManagement(t *testing.T) {
	srv := startServer(t, t.TempDir())
	c := dial(t, srv)
	up := newUpstream(t)
	hc := proxiedClient(t, c)
	ctx := ctxFor(t)

	if _, err := c.StartRecording(ctx, "mgmt/original"); err != nil {
		t.Fatalf("StartRecording: %v", err)
	}
	a := do(t, hc, "GET", up.URL+"/a", nil)
	b := do(t, hc, "POST", up.URL+"/b", []byte("payload \x00\xff"))
	if _, err := c.StopRecording(ctx); err != nil {
		t.Fatalf("StopRecording: %v", err)
	}
	if _, err := c.StartRecording(ctx, "other/one"); err != nil {
		t.Fatalf("StartRecording: %v", err)
	}
	if _, err := c.StopRecording(ctx); err != nil {
		t.Fatalf("StopRecording: %v", err)
	}

	list, err := c.ListCassettes(ctx, "mgmt/")
	if err != nil {
		t.Fatalf("ListCassettes(mgmt/): %v", err)
	}
	if len(list) != 1 || list[0].Name != "mgmt/original" || list[0].Interactions != 2 ||
		list[0].SizeBytes == 0 || list[0].Format != "binary" || list[0].UpdatedAt.IsZero() {
		t.Fatalf("ListCassettes(mgmt/) = %+v, want mgmt/original: 2 interactions, binary, a size and a time", list)
	}
	all, err := c.ListCassettes(ctx, "")
	if err != nil || len(all) != 2 {
		t.Errorf("ListCassettes(\"\") = %+v, %v; want 2 cassettes", all, err)
	}

	orig, err := c.GetCassette(ctx, "mgmt/original")
	if err != nil {
		t.Fatalf("GetCassette: %v", err)
	}
	if orig.GetName() != "mgmt/original" || orig.GetSchemaVersion() != 1 || !orig.GetComplete() || len(orig.GetInteractions()) != 2 {
		t.Fatalf("GetCassette = name %q schema %d complete %v with %d interactions",
			orig.GetName(), orig.GetSchemaVersion(), orig.GetComplete(), len(orig.GetInteractions()))
	}
	if body := orig.GetInteractions()[1].GetHttp().GetResponse().GetBody(); !bytes.Equal(body, b.Body) {
		t.Errorf("stored response body %q, the client saw %q", body, b.Body)
	}

	info, err := c.PutCassette(ctx, "mgmt/copy", orig)
	if err != nil {
		t.Fatalf("PutCassette(mgmt/copy): %v", err)
	}
	if info.Name != "mgmt/copy" || info.Interactions != 2 {
		t.Errorf("PutCassette info = %+v, want mgmt/copy with 2 interactions", info)
	}
	if orig.GetName() != "mgmt/original" {
		t.Errorf("PutCassette modified the caller's message")
	}
	copied, err := c.GetCassette(ctx, "mgmt/copy")
	if err != nil {
		t.Fatalf("GetCassette(mgmt/copy): %v", err)
	}
	if copied.GetName() != "mgmt/copy" || !proto.Equal(copied.GetInteractions()[0], orig.GetInteractions()[0]) {
		t.Errorf("the copy differs: name %q", copied.GetName())
	}
	if list, err := c.ListCassettes(ctx, "mgmt/"); err != nil || len(list) != 2 {
		t.Errorf("ListCassettes(mgmt/) after the put = %+v, %v; want 2", list, err)
	}

	// The copy replays without the upstream.
	up.Close()
	if _, err := c.Replay(ctx, "mgmt/copy"); err != nil {
		t.Fatalf("Replay(mgmt/copy): %v", err)
	}
	if got := do(t, hc, "GET", up.URL+"/a", nil); !bytes.Equal(got.Body, a.Body) {
		t.Errorf("replayed copy /a = %q, want %q", got.Body, a.Body)
	}
	if got := do(t, hc, "POST", up.URL+"/b", []byte("payload \x00\xff")); !bytes.Equal(got.Body, b.Body) {
		t.Errorf("replayed copy /b = %q, want %q", got.Body, b.Body)
	}

	// Not while it is in use.
	err = c.DeleteCassette(ctx, "mgmt/copy")
	if !errors.Is(err, matgto.ErrFailedPrecondition) {
		t.Fatalf("DeleteCassette of the cassette in use = %v, want ErrFailedPrecondition", err)
	}
	if _, err := c.PutCassette(ctx, "mgmt/copy", orig); !errors.Is(err, matgto.ErrFailedPrecondition) {
		t.Errorf("PutCassette over the cassette in use = %v, want ErrFailedPrecondition", err)
	}
	if _, err := c.StopRecording(ctx); err != nil {
		t.Fatalf("StopRecording: %v", err)
	}
	if err := c.DeleteCassette(ctx, "mgmt/copy"); err != nil {
		t.Fatalf("DeleteCassette(mgmt/copy): %v", err)
	}
	if err := c.DeleteCassette(ctx, "mgmt/copy"); !errors.Is(err, matgto.ErrCassetteNotFound) {
		t.Errorf("second DeleteCassette = %v, want ErrCassetteNotFound", err)
	}
	if _, err := c.GetCassette(ctx, "mgmt/copy"); !errors.Is(err, matgto.ErrCassetteNotFound) {
		t.Errorf("GetCassette of a deleted cassette = %v, want ErrCassetteNotFound", err)
	}
	if _, err := c.Replay(ctx, "mgmt/copy"); !errors.Is(err, matgto.ErrCassetteNotFound) {
		t.Errorf("Replay of a deleted cassette = %v, want ErrCassetteNotFound", err)
	}
	if list, err := c.ListCassettes(ctx, "mgmt/"); err != nil || len(list) != 1 {
		t.Errorf("ListCassettes(mgmt/) after the delete = %+v, %v; want 1", list, err)
	}
}

func TestCassetteManagementBadInput(t *testing.T) {
	c := dial(t, startServer(t, t.TempDir()))
	ctx := ctxFor(t)
	if _, err := c.GetCassette(ctx, "../x"); !errors.Is(err, matgto.ErrInvalidArgument) {
		t.Errorf("GetCassette(../x) = %v, want ErrInvalidArgument", err)
	}
	if err := c.DeleteCassette(ctx, "../x"); !errors.Is(err, matgto.ErrInvalidArgument) {
		t.Errorf("DeleteCassette(../x) = %v, want ErrInvalidArgument", err)
	}
	if _, err := c.PutCassette(ctx, "../x", &pb.Cassette{}); !errors.Is(err, matgto.ErrInvalidArgument) {
		t.Errorf("PutCassette(../x) = %v, want ErrInvalidArgument", err)
	}
	if _, err := c.PutCassette(ctx, "ok", nil); !errors.Is(err, matgto.ErrInvalidArgument) {
		t.Errorf("PutCassette(nil) = %v, want ErrInvalidArgument", err)
	}
	// Bytes that are not a cassette, sent through the generated client.
	stream, err := c.Control().PutCassette(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&pb.CassetteChunk{Name: "garbage", Data: []byte("\xff\xff\xff not a cassette")}); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.CloseAndRecv(); status.Code(err) != codes.InvalidArgument {
		t.Errorf("PutCassette of garbage bytes = %v, want INVALID_ARGUMENT", err)
	}
}

// A cassette larger than a chunk, built by hand: PutCassette sends it in
// several chunks, GetCassette reassembles them, and replay serves it.
func TestPutCassetteInChunks(t *testing.T) {
	srv := startServer(t, t.TempDir())
	c := dial(t, srv)
	hc := proxiedClient(t, c)
	ctx := ctxFor(t)

	big := bytes.Repeat([]byte("0123456789abcdef"), (5*matgto.ChunkSize/2)/16) // 2.5 MiB
	big = append(big, 0x00, 0xff)
	const url = "http://big.example.test/blob"
	cas := &pb.Cassette{ // no schema_version, no complete: PutCassette fills them in
		Interactions: []*pb.Interaction{{
			Index: 0,
			Kind: &pb.Interaction_Http{Http: &pb.HttpExchange{
				Request: &pb.HttpRequest{Method: "GET", Url: url, HttpVersion: "HTTP/1.1"},
				Response: &pb.HttpResponse{Status: 200, Reason: "OK", HttpVersion: "HTTP/1.1",
					Headers: []*pb.Header{
						{Name: "Content-Type", Value: "application/octet-stream"},
						{Name: "Content-Length", Value: strconv.Itoa(len(big))},
					},
					Body: big},
			}},
		}},
	}
	info, err := c.PutCassette(ctx, "big/blob", cas)
	if err != nil {
		t.Fatalf("PutCassette of a %d-byte cassette: %v", proto.Size(cas), err)
	}
	if info.SizeBytes < uint64(len(big)) || info.Interactions != 1 {
		t.Errorf("PutCassette info = %+v, want 1 interaction and at least %d bytes", info, len(big))
	}
	back, err := c.GetCassette(ctx, "big/blob")
	if err != nil {
		t.Fatalf("GetCassette: %v", err)
	}
	if got := back.GetInteractions()[0].GetHttp().GetResponse().GetBody(); !bytes.Equal(got, big) {
		t.Errorf("GetCassette body: %d bytes, want the %d put", len(got), len(big))
	}
	if _, err := c.Replay(ctx, "big/blob"); err != nil {
		t.Fatalf("Replay: %v", err)
	}
	got := do(t, hc, "GET", url, nil)
	if got.Status != http.StatusOK || !bytes.Equal(got.Body, big) {
		t.Errorf("replayed: status %d, %d bytes; want 200 and the %d bytes put", got.Status, len(got.Body), len(big))
	}
}

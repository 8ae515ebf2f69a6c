package matgto_test

// Chunking of GetCassette and PutCassette, against an in-process fake.

import (
	"bytes"
	"errors"
	"io"
	"sync"
	"testing"

	matgto "github.com/matgto/matgto-serge/clients/go"
	pb "github.com/matgto/matgto-serge/clients/go/matgtov1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

type chunkFake struct {
	fakeControl
	send [][]byte // what GetCassette streams

	mu       sync.Mutex
	received []*pb.CassetteChunk // what PutCassette got
}

func (f *chunkFake) GetCassette(_ *pb.GetCassetteRequest, stream grpc.ServerStreamingServer[pb.CassetteChunk]) error {
	for _, d := range f.send {
		if err := stream.Send(&pb.CassetteChunk{Data: d}); err != nil {
			return err
		}
	}
	return nil
}

func (f *chunkFake) PutCassette(stream grpc.ClientStreamingServer[pb.CassetteChunk, pb.PutCassetteResponse]) error {
	var name string
	for {
		chunk, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		f.mu.Lock()
		f.received = append(f.received, chunk)
		f.mu.Unlock()
		if name == "" {
			name = chunk.GetName()
		}
	}
	return stream.SendAndClose(&pb.PutCassetteResponse{Cassette: &pb.CassetteInfo{Name: name, Interactions: 1}})
}

func bigCassette() *pb.Cassette {
	return &pb.Cassette{
		SchemaVersion: 1,
		Name:          "ignored",
		Interactions: []*pb.Interaction{{Kind: &pb.Interaction_Http{Http: &pb.HttpExchange{
			Response: &pb.HttpResponse{Status: 200, Body: bytes.Repeat([]byte{0xab}, 2*matgto.ChunkSize+10)},
		}}}},
	}
}

func TestPutCassetteSendsChunks(t *testing.T) {
	f := &chunkFake{fakeControl: fakeControl{apiVersion: 1}}
	c := startFake(t, f)
	cas := bigCassette()
	info, err := c.PutCassette(ctxFor(t), "chunks/big", cas)
	if err != nil {
		t.Fatalf("PutCassette: %v", err)
	}
	if info.Name != "chunks/big" {
		t.Errorf("info = %+v", info)
	}
	f.mu.Lock()
	received := f.received
	f.received = nil
	f.mu.Unlock()
	if len(received) != 3 {
		t.Fatalf("the server got %d chunks, want 3", len(received))
	}
	var all []byte
	for i, ch := range received {
		if (i == 0) != (ch.GetName() == "chunks/big") || (i > 0 && ch.GetName() != "") {
			t.Errorf("chunk %d names %q; only the first must name the cassette", i, ch.GetName())
		}
		if len(ch.GetData()) > matgto.ChunkSize {
			t.Errorf("chunk %d holds %d bytes, more than ChunkSize", i, len(ch.GetData()))
		}
		all = append(all, ch.GetData()...)
	}
	var got pb.Cassette
	if err := proto.Unmarshal(all, &got); err != nil {
		t.Fatalf("the chunks are not a cassette: %v", err)
	}
	if !got.GetComplete() || got.GetSchemaVersion() != 1 {
		t.Errorf("sent cassette: complete %v schema %d, want true / 1", got.GetComplete(), got.GetSchemaVersion())
	}
	if cas.GetComplete() {
		t.Errorf("PutCassette modified the caller's message")
	}

	// An empty cassette still goes in one chunk, which names it.
	_, err = c.PutCassette(ctxFor(t), "chunks/empty", &pb.Cassette{})
	f.mu.Lock()
	defer f.mu.Unlock()
	if err != nil || len(f.received) != 1 || f.received[0].GetName() != "chunks/empty" {
		t.Errorf("PutCassette(empty) = %v with chunks %v; want one naming chunks/empty", err, f.received)
	}
}

func TestGetCassetteJoinsChunks(t *testing.T) {
	data, err := proto.Marshal(bigCassette())
	if err != nil {
		t.Fatal(err)
	}
	f := &chunkFake{fakeControl: fakeControl{apiVersion: 1}}
	for off := 0; off < len(data); off += 1000 * 1000 {
		f.send = append(f.send, data[off:min(off+1000*1000, len(data))])
	}
	c := startFake(t, f)
	got, err := c.GetCassette(ctxFor(t), "x")
	if err != nil {
		t.Fatalf("GetCassette: %v", err)
	}
	if !proto.Equal(got, bigCassette()) {
		t.Errorf("GetCassette reassembled another cassette")
	}

	f.send = [][]byte{{0xff, 0xff, 0xff}}
	if _, err := c.GetCassette(ctxFor(t), "x"); !errors.Is(err, matgto.ErrCorruptCassette) {
		t.Errorf("GetCassette of garbage bytes = %v, want ErrCorruptCassette", err)
	}
}

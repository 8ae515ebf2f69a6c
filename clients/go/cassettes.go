package matgto

import (
	"context"
	"errors"
	"fmt"
	"io"

	pb "github.com/matgto/matgto-serge/clients/go/matgtov1"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
)

// ChunkSize is the size of the chunks PutCassette sends (the server sends
// GetCassette in chunks of the same size): cassettes may exceed a gRPC
// message.
const ChunkSize = 1 << 20

// CassetteSchemaVersion is the cassette schema version this client writes
// when a cassette given to PutCassette has none.
const CassetteSchemaVersion uint32 = 1

// ListCassettes lists the stored cassettes whose names start with prefix
// ("" for all).
func (c *Client) ListCassettes(ctx context.Context, prefix string) ([]CassetteInfo, error) {
	if err := c.ensureCompatible(ctx); err != nil {
		return nil, err
	}
	resp, err := c.rpc.ListCassettes(ctx, &pb.ListCassettesRequest{Prefix: prefix})
	if err != nil {
		return nil, toError("ListCassettes", err)
	}
	out := make([]CassetteInfo, 0, len(resp.GetCassettes()))
	for _, i := range resp.GetCassettes() {
		out = append(out, cassetteInfoFromProto(i))
	}
	return out, nil
}

// GetCassette downloads cassette name, as stored (timestamps and written_by
// kept). It fails with [ErrCassetteNotFound] when it does not exist and
// [ErrCorruptCassette] when it cannot be read.
func (c *Client) GetCassette(ctx context.Context, name string) (*pb.Cassette, error) {
	if err := c.ensureCompatible(ctx); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the stream if we stop reading early
	stream, err := c.rpc.GetCassette(ctx, &pb.GetCassetteRequest{Name: name})
	if err != nil {
		return nil, toError("GetCassette", err)
	}
	var data []byte
	for {
		chunk, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, toError("GetCassette", err)
		}
		data = append(data, chunk.GetData()...)
	}
	var cas pb.Cassette
	if err := proto.Unmarshal(data, &cas); err != nil {
		return nil, &Error{Op: "GetCassette", Code: codes.DataLoss,
			Message: fmt.Sprintf("the %d bytes received for cassette %q are not a cassette: %v", len(data), name, err)}
	}
	return &cas, nil
}

// PutCassette stores cas as cassette name, replacing an existing one
// atomically; the cassette's own name field is ignored (the server sets it
// to name). A copy of cas is sent, with SchemaVersion set to
// [CassetteSchemaVersion] when it is 0 and Complete set (the message is sent
// whole), in chunks of [ChunkSize] bytes. It fails with [ErrInvalidArgument]
// for a bad name or a cassette the server cannot read, and with
// [ErrFailedPrecondition] when name is the cassette in use.
func (c *Client) PutCassette(ctx context.Context, name string, cas *pb.Cassette) (*CassetteInfo, error) {
	if cas == nil {
		return nil, &Error{Op: "PutCassette", Code: codes.InvalidArgument, Message: "nil cassette"}
	}
	if err := c.ensureCompatible(ctx); err != nil {
		return nil, err
	}
	out := proto.Clone(cas).(*pb.Cassette)
	if out.GetSchemaVersion() == 0 {
		out.SchemaVersion = CassetteSchemaVersion
	}
	out.Complete = true
	data, err := proto.MarshalOptions{Deterministic: true}.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("matgto: PutCassette %q: %w", name, err)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.rpc.PutCassette(ctx)
	if err != nil {
		return nil, toError("PutCassette", err)
	}
	for off := 0; off == 0 || off < len(data); off += ChunkSize {
		chunk := &pb.CassetteChunk{Data: data[off:min(off+ChunkSize, len(data))]}
		if off == 0 {
			chunk.Name = name
		}
		if err := stream.Send(chunk); err != nil {
			if errors.Is(err, io.EOF) {
				break // the server ended the call: CloseAndRecv has its status
			}
			return nil, toError("PutCassette", err)
		}
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return nil, toError("PutCassette", err)
	}
	info := cassetteInfoFromProto(resp.GetCassette())
	return &info, nil
}

// DeleteCassette deletes cassette name. It fails with [ErrCassetteNotFound]
// when it does not exist and with [ErrFailedPrecondition] while it is in
// use.
func (c *Client) DeleteCassette(ctx context.Context, name string) error {
	if err := c.ensureCompatible(ctx); err != nil {
		return err
	}
	if _, err := c.rpc.DeleteCassette(ctx, &pb.DeleteCassetteRequest{Name: name}); err != nil {
		return toError("DeleteCassette", err)
	}
	return nil
}

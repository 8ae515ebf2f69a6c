package matgto

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Sentinel errors, for use with errors.Is. Every error that the server
// returns is an [*Error]; errors.Is(err, ErrCassetteNotFound) is true when
// its code is NOT_FOUND, and so on.
var (
	// ErrCassetteNotFound: Replay (or UseCassette in REPLAY mode),
	// GetCassette or DeleteCassette of a cassette that does not exist.
	// gRPC code NOT_FOUND.
	ErrCassetteNotFound error = &codeError{codes.NotFound, "cassette not found"}
	// ErrSessionNotFound: a session id (WithSession, RenewSession,
	// StopRecording) that names no open session: it was stopped, its lease
	// expired, or it never existed. gRPC code NOT_FOUND (the same code as
	// ErrCassetteNotFound).
	ErrSessionNotFound error = &codeError{codes.NotFound, "session not found"}
	// ErrFaultNotFound: ClearFaults of a fault id that the session does
	// not have. gRPC code NOT_FOUND (the same code as ErrCassetteNotFound).
	ErrFaultNotFound error = &codeError{codes.NotFound, "fault not found"}
	// ErrTooManySessions: a new session beyond the server's --max-sessions,
	// or no free port left in its --session-ports. gRPC code
	// RESOURCE_EXHAUSTED.
	ErrTooManySessions error = &codeError{codes.ResourceExhausted, "too many sessions"}
	// ErrInvalidArgument: a bad cassette name (empty, absolute, containing
	// "..", ...), a bad match or redaction rule (RE2 pattern, JSON pointer),
	// or bytes given to PutCassette that are not a cassette.
	// gRPC code INVALID_ARGUMENT.
	ErrInvalidArgument error = &codeError{codes.InvalidArgument, "invalid argument"}
	// ErrNoCassette: StopRecording while no cassette is in use.
	// gRPC code FAILED_PRECONDITION (the same code as ErrFailedPrecondition).
	ErrNoCassette error = &codeError{codes.FailedPrecondition, "no cassette in use"}
	// ErrFailedPrecondition: the server is not in a state for the call, e.g.
	// DeleteCassette or PutCassette of the cassette in use, StopRecording
	// while none is, or recording a cassette that another session records
	// (the message names that session). gRPC code FAILED_PRECONDITION.
	ErrFailedPrecondition error = &codeError{codes.FailedPrecondition, "failed precondition"}
	// ErrCorruptCassette: the cassette file is corrupt or truncated.
	// gRPC code DATA_LOSS.
	ErrCorruptCassette error = &codeError{codes.DataLoss, "cassette file is corrupt"}
	// ErrUnavailable: the server cannot be reached or is shutting down.
	// gRPC code UNAVAILABLE.
	ErrUnavailable error = &codeError{codes.Unavailable, "server unavailable"}
	// ErrUnimplemented: the server does not offer this call (yet), e.g.
	// CACertificate before HTTPS interception exists. gRPC code UNIMPLEMENTED.
	ErrUnimplemented error = &codeError{codes.Unimplemented, "not implemented by the server"}
	// ErrUnauthenticated: the server wants a bearer token and got none or
	// one it does not know ([WithToken], $MATGTO_TOKEN). gRPC code
	// UNAUTHENTICATED.
	ErrUnauthenticated error = &codeError{codes.Unauthenticated, "unauthenticated"}
	// ErrPermissionDenied: the token is valid but its scope does not allow
	// the call: recording with a read token, Shutdown without admin, or a
	// cassette outside the token's name prefix. gRPC code PERMISSION_DENIED.
	ErrPermissionDenied error = &codeError{codes.PermissionDenied, "permission denied"}
)

// ErrIncompatibleServer is returned (wrapped, with both versions in the
// message) by every call when the server speaks another generation of the
// control API than this client (see [APIVersion]).
var ErrIncompatibleServer = errors.New("matgto: incompatible server")

// ErrSessionLost is returned (wrapped, with the server's answer) by
// [Session.Err] and [Session.Stop] when a renewal of the session's lease
// found the session gone: its lease expired (or someone stopped it) before
// it was stopped through the Session, so traffic sent to its proxy since
// then was refused.
var ErrSessionLost = errors.New("matgto: session lost")

// codeError is the type of the code sentinels: an *Error matches it when the
// codes are equal.
type codeError struct {
	code codes.Code
	msg  string
}

func (e *codeError) Error() string { return "matgto: " + e.msg }

// Error is an error answered by the matgto server (or by gRPC on its way
// there). Use errors.As to get at the code, or errors.Is with the sentinels.
type Error struct {
	// Op is the client method that failed, e.g. "Replay".
	Op string
	// Code is the gRPC status code.
	Code codes.Code
	// Message is the server's explanation.
	Message string

	st *status.Status
}

func (e *Error) Error() string {
	return fmt.Sprintf("matgto: %s: %s: %s", e.Op, codeName(e.Code), e.Message)
}

// Is reports whether target is the sentinel for e's code. It also matches
// context.Canceled and context.DeadlineExceeded for the codes CANCELLED and
// DEADLINE_EXCEEDED.
func (e *Error) Is(target error) bool {
	switch t := target.(type) {
	case *codeError:
		return t.code == e.Code
	}
	switch target {
	case context.Canceled:
		return e.Code == codes.Canceled
	case context.DeadlineExceeded:
		return e.Code == codes.DeadlineExceeded
	}
	return false
}

// GRPCStatus returns the gRPC status behind e, so that status.FromError and
// status.Code work on matgto errors.
func (e *Error) GRPCStatus() *status.Status {
	if e.st != nil {
		return e.st
	}
	return status.New(e.Code, e.Message)
}

// toError converts an error from a gRPC call into an *Error (nil stays nil).
func toError(op string, err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		// Not a status: a context error raised before the call, for example.
		st = status.FromContextError(err)
	}
	return &Error{Op: op, Code: st.Code(), Message: st.Message(), st: st}
}

// codeName spells a code the way the proto files and the server do.
func codeName(c codes.Code) string {
	switch c {
	case codes.OK:
		return "OK"
	case codes.Canceled:
		return "CANCELLED"
	case codes.Unknown:
		return "UNKNOWN"
	case codes.InvalidArgument:
		return "INVALID_ARGUMENT"
	case codes.DeadlineExceeded:
		return "DEADLINE_EXCEEDED"
	case codes.NotFound:
		return "NOT_FOUND"
	case codes.AlreadyExists:
		return "ALREADY_EXISTS"
	case codes.PermissionDenied:
		return "PERMISSION_DENIED"
	case codes.ResourceExhausted:
		return "RESOURCE_EXHAUSTED"
	case codes.FailedPrecondition:
		return "FAILED_PRECONDITION"
	case codes.Aborted:
		return "ABORTED"
	case codes.OutOfRange:
		return "OUT_OF_RANGE"
	case codes.Unimplemented:
		return "UNIMPLEMENTED"
	case codes.Internal:
		return "INTERNAL"
	case codes.Unavailable:
		return "UNAVAILABLE"
	case codes.DataLoss:
		return "DATA_LOSS"
	case codes.Unauthenticated:
		return "UNAUTHENTICATED"
	}
	return c.String()
}

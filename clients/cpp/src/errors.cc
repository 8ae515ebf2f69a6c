// Maps a gRPC status to the matgto::Error subclass that names it.
#include "matgto/errors.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace matgto {

Error::Error(std::string op, absl::StatusCode code, std::string message)
    : std::runtime_error(absl::StrCat(
          "matgto: ", op, ": ", std::string(CodeName(code)), ": ", message)),
      op_(std::move(op)),
      code_(code),
      message_(std::move(message)) {}

std::string_view CodeName(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return "OK";
    case absl::StatusCode::kCancelled:
      return "CANCELLED";
    case absl::StatusCode::kUnknown:
      return "UNKNOWN";
    case absl::StatusCode::kInvalidArgument:
      return "INVALID_ARGUMENT";
    case absl::StatusCode::kDeadlineExceeded:
      return "DEADLINE_EXCEEDED";
    case absl::StatusCode::kNotFound:
      return "NOT_FOUND";
    case absl::StatusCode::kAlreadyExists:
      return "ALREADY_EXISTS";
    case absl::StatusCode::kPermissionDenied:
      return "PERMISSION_DENIED";
    case absl::StatusCode::kResourceExhausted:
      return "RESOURCE_EXHAUSTED";
    case absl::StatusCode::kFailedPrecondition:
      return "FAILED_PRECONDITION";
    case absl::StatusCode::kAborted:
      return "ABORTED";
    case absl::StatusCode::kOutOfRange:
      return "OUT_OF_RANGE";
    case absl::StatusCode::kUnimplemented:
      return "UNIMPLEMENTED";
    case absl::StatusCode::kInternal:
      return "INTERNAL";
    case absl::StatusCode::kUnavailable:
      return "UNAVAILABLE";
    case absl::StatusCode::kDataLoss:
      return "DATA_LOSS";
    case absl::StatusCode::kUnauthenticated:
      return "UNAUTHENTICATED";
    default:
      return "CODE_UNKNOWN";
  }
}

void ThrowError(std::string op, absl::StatusCode code, std::string message) {
  using C = absl::StatusCode;
  switch (code) {
    case C::kNotFound:
      // The server's messages say what is missing: "no open session has
      // id ...", "session '...' has ended", "this session has no fault
      // rule ...", "cassette '...' does not exist".
      if (absl::StrContains(message, "fault rule")) {
        throw FaultNotFound(std::move(op), code, std::move(message));
      }
      if (absl::StartsWith(message, "session '") ||
          absl::StrContains(message, "open session")) {
        throw SessionNotFound(std::move(op), code, std::move(message));
      }
      throw CassetteNotFound(std::move(op), code, std::move(message));
    case C::kFailedPrecondition:
      if (op == "StopRecording" && absl::StrContains(message, "no cassette")) {
        throw NoCassette(std::move(op), code, std::move(message));
      }
      throw FailedPrecondition(std::move(op), code, std::move(message));
    case C::kInvalidArgument:
      throw InvalidArgument(std::move(op), code, std::move(message));
    case C::kResourceExhausted:
      throw TooManySessions(std::move(op), code, std::move(message));
    case C::kDataLoss:
      throw CorruptCassette(std::move(op), code, std::move(message));
    case C::kUnavailable:
      throw Unavailable(std::move(op), code, std::move(message));
    case C::kUnimplemented:
      throw Unimplemented(std::move(op), code, std::move(message));
    case C::kUnauthenticated:
      throw Unauthenticated(std::move(op), code, std::move(message));
    case C::kPermissionDenied:
      throw PermissionDenied(std::move(op), code, std::move(message));
    case C::kDeadlineExceeded:
      throw DeadlineExceeded(std::move(op), code, std::move(message));
    default:
      throw Error(std::move(op), code, std::move(message));
  }
}

}  // namespace matgto

#include "server/core/grpc.h"

#include <array>
#include <cstdint>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace matgto::core {
namespace {

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string PercentDecode(absl::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      const int hi = HexDigit(s[i + 1]);
      const int lo = HexDigit(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

}  // namespace

bool IsGrpc(const HttpRequest& request) {
  const std::string* type = FindHeader(request.headers, "content-type");
  return type != nullptr &&
         absl::StartsWithIgnoreCase(*type, "application/grpc");
}

absl::StatusOr<std::vector<GrpcMessage>> SplitGrpcMessages(
    absl::string_view body) {
  std::vector<GrpcMessage> out;
  size_t at = 0;
  while (at < body.size()) {
    if (body.size() - at < 5) {
      return absl::InvalidArgumentError(
          absl::StrCat("gRPC body ends inside a message prefix at byte ", at));
    }
    const auto* p = reinterpret_cast<const unsigned char*>(body.data() + at);
    const uint32_t length = (uint32_t{p[1]} << 24) | (uint32_t{p[2]} << 16) |
                            (uint32_t{p[3]} << 8) | uint32_t{p[4]};
    if (body.size() - at - 5 < length) {
      return absl::InvalidArgumentError(
          absl::StrCat("gRPC message at byte ", at, " says ", length,
                       " bytes but ", body.size() - at - 5, " follow"));
    }
    out.push_back(GrpcMessage{p[0] != 0, body.substr(at + 5, length)});
    at += 5 + length;
  }
  return out;
}

GrpcStatus GrpcStatusOf(const HttpResponse& response) {
  GrpcStatus status;
  for (const Headers* fields : {&response.trailers, &response.headers}) {
    const std::string* code = FindHeader(*fields, "grpc-status");
    if (code == nullptr) continue;
    if (!absl::SimpleAtoi(*code, &status.code)) status.code = -1;
    if (const std::string* m = FindHeader(*fields, "grpc-message")) {
      status.message = PercentDecode(*m);
    }
    break;
  }
  return status;
}

std::string EncodeGrpcMessage(absl::string_view text) {
  constexpr size_t kMax = 2048;
  if (text.size() > kMax) text = text.substr(0, kMax);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) {
    text.remove_suffix(1);
  }
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (c >= 0x20 && c <= 0x7e && c != '%') {
      out.push_back(static_cast<char>(c));
    } else {
      absl::StrAppend(&out, "%", absl::Hex(c, absl::kZeroPad2));
    }
  }
  return out;
}

std::string GrpcCodeName(int code) {
  static constexpr std::array<const char*, 17> kNames = {"OK",
                                                         "CANCELLED",
                                                         "UNKNOWN",
                                                         "INVALID_ARGUMENT",
                                                         "DEADLINE_EXCEEDED",
                                                         "NOT_FOUND",
                                                         "ALREADY_EXISTS",
                                                         "PERMISSION_DENIED",
                                                         "RESOURCE_EXHAUSTED",
                                                         "FAILED_PRECONDITION",
                                                         "ABORTED",
                                                         "OUT_OF_RANGE",
                                                         "UNIMPLEMENTED",
                                                         "INTERNAL",
                                                         "UNAVAILABLE",
                                                         "DATA_LOSS",
                                                         "UNAUTHENTICATED"};
  if (code >= 0 && code < static_cast<int>(kNames.size())) return kNames[code];
  return absl::StrCat(code);
}

}  // namespace matgto::core

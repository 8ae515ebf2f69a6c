// Helpers shared by the wire tests (wire_request_test.cc,
// wire_response_test.cc).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "server/core/url.h"
#include "server/proxy/wire.h"

namespace matgto::proxy::wire_testing {

// The header lines of a Beast message, in order.
template <class Message>
std::vector<std::pair<std::string, std::string>> Fields(const Message& m) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& f : m) {
    out.emplace_back(std::string(f.name_string()), std::string(f.value()));
  }
  return out;
}
using F = std::pair<std::string, std::string>;

inline core::UrlParts Parse(const std::string& url) {
  auto parts = core::ParseAbsoluteUrl(url);
  EXPECT_TRUE(parts.ok()) << parts.status();
  return parts.ok() ? *parts : core::UrlParts{};
}

// ToWire for a response that must be sendable.
inline WireResponse Wire(const core::HttpResponse& response, int client_version,
                         bool keep_alive, bool head_request = false) {
  absl::StatusOr<WireResponse> out =
      ToWire(response, client_version, keep_alive, head_request);
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? std::move(*out) : WireResponse{};
}

}  // namespace matgto::proxy::wire_testing

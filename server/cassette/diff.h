// What changed between two cassettes (`matgto cassette diff A B`).
//
// Interactions are paired by kind, method and URL and, among equal ones, by
// occurrence order (the 2nd GET /x of A with the 2nd GET /x of B), so that a
// request inserted in the middle shows as one addition rather than as every
// later interaction changing. For a changed pair the parts that differ are
// named: status, request/response headers (which names), bodies (sizes),
// and for WebSocket sessions the messages and the close.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "matgto/v1/cassette.pb.h"

namespace matgto::cassette {

struct InteractionChange {
  enum class Kind { kAdded, kRemoved, kChanged };
  Kind kind;
  // "GET http://h/x", with " (occurrence 2)" for the second one and on;
  // "WebSocket ws://h/chat" for sessions.
  std::string label;
  // Index in A (removed, changed) and in B (added, changed); -1 when none.
  int64_t index_a = -1;
  int64_t index_b = -1;
  // For kChanged: one entry per differing part, e.g. "status 200 -> 404",
  // "response headers: date, etag", "response body: 12 -> 15 bytes".
  std::vector<std::string> differences;
};

struct CassetteDiff {
  // Removed and changed in A's order, then added in B's order.
  std::vector<InteractionChange> changes;
  // Pairs that are identical.
  int unchanged = 0;
  bool identical() const { return changes.empty(); }
};

CassetteDiff DiffCassettes(const v1::Cassette& a, const v1::Cassette& b);

}  // namespace matgto::cassette

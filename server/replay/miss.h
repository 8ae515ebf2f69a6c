// What replay does when nothing recorded answers a request, in one place:
// the miss report a session keeps (the closest recordings and what
// differed), the 599 reply whose ProxyError JSON body explains the miss to
// the test that made the request, and the on_miss policy that may forward
// the request instead. Everything here works on values: tested without a
// socket.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "matgto/v1/cassette.pb.h"
#include "matgto/v1/control.pb.h"
#include "server/core/exchange_handler.h"
#include "server/core/http.h"
#include "server/core/websocket.h"
#include "server/replay/player.h"
#include "server/replay/policy.h"

namespace matgto::replay {

// Misses a session keeps for SessionInfo (all are counted).
inline constexpr int kMaxMissesKept = 100;
// Status of a replay miss: outside the range retry policies usually watch.
inline constexpr int kMissStatus = 599;

// A session's misses: every one counted, the first kMaxMissesKept kept.
// Thread-safety: none; the owning session's mutex guards it.
class MissLog {
 public:
  void Add(v1::Miss miss);
  uint64_t count() const { return count_; }
  const std::vector<v1::Miss>& kept() const { return kept_; }
  // The latest miss (for the live event stream); empty before the first.
  const v1::Miss& last() const { return last_; }

 private:
  uint64_t count_ = 0;
  v1::Miss last_;
  std::vector<v1::Miss> kept_;
};

// A recording a miss may name as close.
struct RecordedRequest {
  uint64_t interaction_index = 0;
  const core::HttpRequest* request = nullptr;
};
// The recording behind candidate i of a Player::Miss (i indexes the
// player's recordings).
using RecordedAt = std::function<RecordedRequest(size_t)>;

// The report of `miss` for the live request: reason, and each closest
// candidate named by its interaction with the fields that differed.
v1::Miss MissReport(const core::HttpRequest& live, const Player::Miss& miss,
                    const RecordedAt& recorded);

// One or two sentences a failing test can print as they are: what was
// asked, why nothing answered, and how the closest recording differs.
// `recorded_count`: how many recordings were candidates.
std::string ExplainMiss(const v1::Miss& report, absl::string_view cassette,
                        size_t recorded_count);

// The reply to a miss: kMissStatus "Matgto No Match", X-Matgto-Error set to
// the reason, and a v1::ProxyError JSON body (error, message, cassette,
// miss) with proto field names.
core::Reply MissReply(v1::Miss report, absl::string_view cassette,
                      size_t recorded_count);

// The report of a client WebSocket message that differs from the recording
// (`expected` null: the recording had ended).
v1::Miss WsMismatchReport(const std::string& url, uint64_t interaction,
                          size_t message_index, const core::WsMessage* expected,
                          const core::WsMessage& got);
// A streamed request (a gRPC call replayed while it was still arriving)
// whose live body parted from the recorded one: reason "stream-mismatch",
// the first differing bytes on each side.
v1::Miss StreamMismatchReport(const core::HttpRequest& live,
                              uint64_t interaction,
                              absl::string_view recorded_body,
                              absl::string_view live_body);

// What one replay session does with a miss, under its on_miss policy.
// Thread-safety: immutable; the MissLog passed in is the caller's to guard.
class MissHandler {
 public:
  // `ticket` goes into the Forward of a forwarded miss.
  MissHandler(OnMiss on_miss, std::string cassette, uint64_t ticket);

  OnMiss on_miss() const { return on_miss_; }

  // An HTTP request nothing answered. kError: the 599 reply that explains
  // it. kPassthrough and kRecord: a Forward (under kRecord the session
  // appends the exchange when it comes back). `log` gets the miss either way.
  core::Decision OnHttpMiss(const core::HttpRequest& live,
                            const Player::Miss& miss, size_t recorded_count,
                            const RecordedAt& recorded, MissLog& log) const;

  // A WebSocket upgrade nothing answered: the 599 reply whatever on_miss
  // says (a missed WebSocket session is never relayed).
  core::Reply OnWsMiss(const core::HttpRequest& upgrade,
                       const Player::Miss& miss, size_t recorded_count,
                       const RecordedAt& recorded, MissLog& log) const;

 private:
  core::Reply ErrorReply(const core::HttpRequest& live,
                         const Player::Miss& miss, size_t recorded_count,
                         const RecordedAt& recorded, MissLog& log) const;

  const OnMiss on_miss_;
  const std::string cassette_;
  const uint64_t ticket_;
};

}  // namespace matgto::replay

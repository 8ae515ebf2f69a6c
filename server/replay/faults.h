// A session's fault rules (issue 16): which requests they hit, how often,
// and what the hit does to the decision the session's mode made. Modelled on
// Toxiproxy's toxics, but per request and per session. No I/O: the proxy
// carries out the core::Delivery this sets.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "matgto/v1/control.pb.h"
#include "re2/re2.h"
#include "server/core/exchange_handler.h"

namespace matgto::replay {

// Thread-safety: every method is safe to call concurrently; `mu_` guards
// the rules, their counters and the generator, and is held for in-memory
// work only. Apply returns at once when there is no rule.
class FaultSet {
 public:
  // `seed` 0: a random one.
  explicit FaultSet(uint64_t seed = 0);

  // Adds rules (ids assigned here) and, when `seed` is not 0, reseeds the
  // generator. INVALID_ARGUMENT (nothing added) for a rule with no action,
  // a bad RE2 pattern, a probability outside 0..1, a zero N, a status
  // outside 100..999 or a zero bandwidth. Returns every rule.
  absl::StatusOr<std::vector<v1::Fault>> Add(
      const std::vector<v1::Fault>& faults, uint64_t seed);
  // Removes the rules named (all when `ids` is empty); NOT_FOUND for an id
  // it does not have (then nothing is removed). Returns what is left.
  absl::StatusOr<std::vector<v1::Fault>> Clear(
      const std::vector<std::string>& ids);

  std::vector<v1::Fault> List() const;
  uint64_t seed() const;

  // The first rule that hits `request` (counted as applied), if any:
  // among the WebSocket rules for an upgrade, the others for a request.
  std::optional<v1::Fault> Pick(const core::HttpRequest& request,
                                bool websocket = false);

 private:
  struct Rule {
    v1::Fault fault;  // as given, with its id and `applied`
    std::unique_ptr<RE2> url;
    uint64_t matched = 0;  // requests it matched (for every_nth/first_n)
  };

  // Whether `rule` hits this matching request (counts it).
  bool Selects(Rule& rule) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  std::vector<Rule> rules_ ABSL_GUARDED_BY(mu_);
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t seed_ ABSL_GUARDED_BY(mu_);
  std::mt19937_64 generator_ ABSL_GUARDED_BY(mu_);
  // rules_ is not empty (read without the lock on the request path).
  std::atomic<bool> any_{false};
};

// "f1 status 503", "f2 delay 2s", "f3 reset after-headers"...
std::string DescribeFault(const v1::Fault& fault);

// Whether `fault` answers in place of the session (a status, a hang, a
// reset before anything is sent): then neither the cassette nor the
// upstream is asked, so no recorded answer is used up and nothing is
// recorded.
bool ReplacesAnswer(const v1::Fault& fault);
// The decision such a fault makes.
core::Decision Replacement(const v1::Fault& fault);
// Shapes the delivery of what the session decided (delay, bandwidth, a
// reset after the headers or mid-body); a forward notes the fault so the
// recording says so.
void Shape(const v1::Fault& fault, core::Decision& decision);
// A WebSocket rule's effect on a relayed or replayed session.
void ShapeWebSocket(const v1::Fault& fault, core::WsDecision& decision);

}  // namespace matgto::replay

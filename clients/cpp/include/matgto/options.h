// What a cassette session is opened with: cassette options (matching,
// redaction, replay policies, latency), fault rules, and the session's own
// fields (mode, lease, owner). Builders over the generated messages, so that
// every field the server knows stays reachable (CassetteOptions::Raw).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "matgto/v1/control.pb.h"

namespace matgto {

// The lease of the sessions Client::Record/Replay/Use and the test helpers
// open: renewed every lease/3 (10 s); the server ends a session 30 s after
// its last renewal, saving what it recorded.
inline constexpr std::chrono::milliseconds kDefaultLease{30000};

// Cassette options (`matgto record --help`). A recording stores them with
// the cassette; on replay the fields set here override the stored ones for
// that session only. Setters chain:
//   matgto::CassetteOptions().MatchBody(v1::BODY_JSON).OnMiss(v1::MISS_RECORD)
class CassetteOptions {
 public:
  CassetteOptions() = default;
  // Escape hatch: replaces everything set so far by `raw` (later setters
  // modify it).
  static CassetteOptions Raw(const v1::CassetteOptions& raw);

  CassetteOptions& OnExhausted(v1::ExhaustedPolicy p);
  CassetteOptions& Repeat(v1::RepeatPolicy p);
  CassetteOptions& OnMiss(v1::MissPolicy p);
  CassetteOptions& StoreDecoded();
  // Bodies stored as sent (the server's default); given to a replay, it
  // overrides a cassette stored with decoded bodies.
  CassetteOptions& StoreAsSent();
  CassetteOptions& WsTiming(v1::WsTiming t);
  CassetteOptions& WsSpeed(double speed);
  // Replay pacing of streamed bodies (Server-Sent Events, chunked bodies).
  CassetteOptions& StreamTiming(v1::WsTiming t);
  CassetteOptions& StreamSpeed(double speed);
  // Matching.
  CassetteOptions& MatchFields(std::vector<v1::MatchField> fields);
  CassetteOptions& MatchHeaders(std::vector<std::string> names);
  CassetteOptions& MatchBody(v1::BodyMatch body);
  CassetteOptions& IgnoreQueryParams(std::vector<std::string> names);
  CassetteOptions& QueryOrderInsensitive();
  // These imply BODY_JSON / BODY_FORM matching unless MatchBody chose one
  // (in any order of calls).
  CassetteOptions& IgnoreJsonPointers(std::vector<std::string> pointers);
  CassetteOptions& IgnoreFormFields(std::vector<std::string> fields);
  CassetteOptions& UrlRewrite(std::string re2_pattern, std::string replacement);
  // Redaction (on top of the defaults unless DisableDefaultRedaction).
  CassetteOptions& RedactHeaders(std::vector<std::string> names);
  CassetteOptions& RedactQueryParams(std::vector<std::string> names);
  CassetteOptions& RedactJsonPointers(std::vector<std::string> pointers);
  CassetteOptions& RedactJsonKeys(std::vector<std::string> keys);
  CassetteOptions& RedactFormFields(std::vector<std::string> fields);
  CassetteOptions& RedactBodyPatterns(std::vector<std::string> re2_patterns);
  CassetteOptions& DisableDefaultRedaction();
  CassetteOptions& OnUnredactable(v1::UnredactablePolicy p);
  // Replay latency.
  CassetteOptions& LatencyFast();
  CassetteOptions& LatencyAsRecorded(double scale = 1.0);
  CassetteOptions& LatencyFixed(std::chrono::milliseconds fixed,
                                std::chrono::milliseconds jitter = {});

  // Nothing set: the request carries no options (the server keeps the
  // stored ones).
  bool empty() const { return !set_; }
  const v1::CassetteOptions& proto() const { return proto_; }

 private:
  v1::CassetteOptions proto_;
  bool set_ = false;
};

// One fault rule: an action (a static factory) narrowed by chained
// selectors.
//   matgto::Fault::Status(503).Url("/orders/.*").FirstN(2)
class Fault {
 public:
  // Answer this instead (nothing forwarded or recorded).
  static Fault Status(
      uint32_t code,
      std::vector<std::pair<std::string, std::string>> headers = {},
      std::string body = {});
  static Fault Delay(std::chrono::milliseconds delay);
  static Fault Hang();
  static Fault Reset(
      v1::ResetFault::When when = v1::ResetFault::BEFORE_HEADERS);
  static Fault Bandwidth(uint64_t bytes_per_second);
  // WebSocket upgrades only: drop after that many messages to the client
  // (0: never), hold each message to the client that long.
  static Fault WebSocket(uint32_t drop_after_messages,
                         std::chrono::milliseconds message_delay = {});
  // Escape hatch.
  static Fault Raw(const v1::Fault& raw);

  Fault& Method(std::string method);
  // RE2, searched in the request's absolute URL.
  Fault& Url(std::string re2_pattern);
  Fault& FirstN(uint32_t n);
  Fault& EveryNth(uint32_t n);
  Fault& Probability(double p);

  const v1::Fault& proto() const { return proto_; }

 private:
  v1::Fault proto_;
};

// How Client::Record/Replay/Use open a session.
struct SessionOptions {
  // The cassette options.
  CassetteOptions cassette{};
  // Client::Use only: the mode; MODE_UNSPECIFIED means the server's default
  // (`matgto serve --mode`, AUTO unless set: replay when the cassette
  // exists, record it otherwise).
  v1::Mode mode = v1::MODE_UNSPECIFIED;
  // The lease of the new session, renewed in the background every lease/3;
  // zero: no lease (the session lives until stopped, even if the process
  // dies).
  std::chrono::milliseconds lease = kDefaultLease;
  // Who opens it, shown by `matgto status` (at most 256 bytes). Empty:
  // "c++ <program> pid <pid>".
  std::string owner{};
  // Put the cassette in this existing session instead of opening a new one
  // ("default": the default session, the shared proxy port; not for
  // parallel tests). No lease is renewed then.
  std::string session{};
  // Fault rules added as soon as the session is open, and their seed.
  std::vector<Fault> faults{};
  uint64_t fault_seed = 0;
};

}  // namespace matgto

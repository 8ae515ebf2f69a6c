// Plain value types for WebSocket sessions and the seam through which the
// proxy's WebSocket code asks what to do with an upgrade. No I/O here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "absl/time/time.h"
#include "server/core/delivery.h"
#include "server/core/http.h"

namespace matgto::core {

enum class WsDirection { kClientToServer, kServerToClient };
enum class WsKind { kText, kBinary, kPing, kPong };

// The message storage a replayed WebSocket session keeps between client
// messages (buffers reused per message); a larger message's is given back.
inline constexpr size_t kKeptWsMessageBytes = 64 * 1024;

struct WsMessage {
  WsDirection direction = WsDirection::kClientToServer;
  WsKind kind = WsKind::kText;
  std::string payload;
  // Since the upgrade completed.
  absl::Duration since_open;
};

struct WsClose {
  // Who sent the first close frame.
  WsDirection initiator = WsDirection::kClientToServer;
  int code = 1000;
  std::string reason;
  absl::Duration since_open;
};

// Receives a relayed session as it happens, to record it. Thread-safety:
// called from one connection strand, in order; must not block.
class WsSessionSink {
 public:
  virtual ~WsSessionSink() = default;
  virtual void OnUpgraded(const HttpResponse& upgrade_response) = 0;
  virtual void OnMessage(const WsMessage& message) = 0;
  virtual void OnClose(const WsClose& close) = 0;
};

// One step of a replayed session.
struct WsStep {
  enum class Kind {
    kSend,              // send `message` to the client
    kExpect,            // wait for a client message, then Check() it
    kClose,             // send the recorded close frame `close`
    kAwaitClientClose,  // the client closed first in the recording: wait
    kEnd,               // nothing recorded after this point: wait for close
  };
  Kind kind = Kind::kEnd;
  const WsMessage* message = nullptr;
  const WsClose* close = nullptr;
  // How long to wait before this step (AS_RECORDED timing); zero otherwise.
  absl::Duration delay;
};

// A recorded session played back as a server. Thread-safety: used by one
// connection strand; implementations report to shared state with their own
// locking and never block.
class WsPlayback {
 public:
  virtual ~WsPlayback() = default;
  virtual const HttpResponse& upgrade_response() const = 0;
  // The next step; advances the script.
  virtual WsStep Next() = 0;
  // Compares a client message with the expected one of the last kExpect
  // step. Returns the close reason (sent with code 1008) when it differs.
  virtual std::optional<std::string> Check(const WsMessage& got) = 0;
};

// Answer the upgrade from a recording.
struct WsReplay {
  std::unique_ptr<WsPlayback> playback;
  WsFaults faults{};
};
// Connect to the upstream and relay; `sink` (may be null) sees everything.
struct WsRelay {
  uint64_t ticket = 0;
  std::shared_ptr<WsSessionSink> sink;
  WsFaults faults{};
};

}  // namespace matgto::core

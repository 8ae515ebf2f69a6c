// How the proxy delivers a response to the client: when it starts, how fast
// its body goes, and whether the connection is broken on purpose. Replay
// latency and injected faults are decided in replay/ and carried out by the
// proxy, which knows only this value.
#pragma once

#include <cstdint>

#include "absl/time/time.h"

namespace matgto::core {

struct Delivery {
  enum class Break {
    kNone,
    // Never answer; hold the connection until the client closes it.
    kHang,
    // TCP RST before anything is sent.
    kResetBeforeHeaders,
    // Status line and headers, then RST.
    kResetAfterHeaders,
    // Half the body, then RST.
    kResetMidBody,
  };

  // Wait before the status line.
  absl::Duration first_byte_delay = absl::ZeroDuration();
  // Spread the body over this long after the headers (0: at once).
  absl::Duration body_duration = absl::ZeroDuration();
  // At most this many body bytes per second (0: no limit).
  uint64_t bytes_per_second = 0;
  Break breaks = Break::kNone;
  // A streamed body (HttpResponse::chunks): 0 sends its recorded pieces one
  // after the other at once; > 0 waits each piece's recorded time divided
  // by this.
  double stream_speed = 0;

  // Whole and at once: the proxy's fast path.
  bool Immediate() const {
    return first_byte_delay <= absl::ZeroDuration() &&
           body_duration <= absl::ZeroDuration() && bytes_per_second == 0 &&
           breaks == Break::kNone;
  }
};

// Injected faults for a WebSocket session (relayed or replayed).
struct WsFaults {
  // Drop the client's connection (no close frame) once it got this many
  // messages; 0: never.
  uint32_t drop_after_messages = 0;
  // Each message to the client waits this long first.
  absl::Duration message_delay = absl::ZeroDuration();
};

}  // namespace matgto::core

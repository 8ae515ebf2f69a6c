// The seam through which the session manager gives a session a proxy
// listener of its own without knowing about sockets: app/ implements it
// over proxy::ProxyServer; requests arriving on such a listener carry its
// key in core::Route::listener.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace matgto::core {

// An open listener. Destroying it stops accepting and closes every
// connection that arrived on it (cancelled, not drained): the session it
// served has ended. Never blocks.
class SessionListener {
 public:
  virtual ~SessionListener() = default;
  // "127.0.0.1:41234" as bound.
  virtual std::string address() const = 0;
};

// Thread-safety: Open may be called from any thread (control threads).
class SessionListeners {
 public:
  virtual ~SessionListeners() = default;
  // Opens a listener whose connections are routed with `key` (never 0).
  // RESOURCE_EXHAUSTED when no port of the configured range is free,
  // UNAVAILABLE when binding fails otherwise. May bind a socket; never
  // waits on the network.
  virtual absl::StatusOr<std::unique_ptr<SessionListener>> Open(
      uint64_t key) = 0;
  // The shared proxy port ("127.0.0.1:8888"), which routes by credential.
  virtual std::string shared_address() const = 0;
};

}  // namespace matgto::core

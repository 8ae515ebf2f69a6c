// Name lookups with a deadline, none waiting behind another.
//
// Asio's tcp::resolver runs getaddrinfo on one private thread per
// io_context, so a single slow lookup delays every other upstream connect of
// the process, and it cannot be timed out. Here each lookup runs on a thread
// of its own (at most kMaxLookupsInFlight at once) and signals the waiting
// coroutine through an eventfd, so a lookup that outlives its deadline (or
// the io_context) touches nothing but its own state.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <string>

#include "absl/time/time.h"

namespace matgto::proxy {

struct ResolveOutcome {
  boost::asio::ip::tcp::resolver::results_type endpoints;
  // Empty on success; otherwise the X-Matgto-Error the client gets
  // (`upstream-unreachable` when the name does not resolve, `dns-timeout`
  // past the deadline, `dns-busy` when too many lookups are in flight),
  // with `status` (502 or 504) and a message naming the host.
  std::string error_code;
  int status = 0;
  std::string message;
};

// At most this many lookups run at once in the process; beyond, 502.
inline constexpr int kMaxLookupsInFlight = 256;

// Resolves `host`:`port` within `timeout`. Never blocks the caller's thread.
boost::asio::awaitable<ResolveOutcome> Resolve(
    boost::asio::any_io_executor executor, const std::string& host,
    uint16_t port, absl::Duration timeout);

}  // namespace matgto::proxy

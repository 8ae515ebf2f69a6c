// Small helpers shared by the proxy's coroutines.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>

#include "absl/time/time.h"

namespace matgto::proxy {

// co_await op(..., kAwait) yields a tuple (error_code, ...) instead of
// throwing: errors are values on every I/O path.
inline constexpr auto kAwait =
    boost::asio::as_tuple(boost::asio::use_awaitable);

inline std::chrono::milliseconds Chrono(absl::Duration d) {
  return absl::ToChronoMilliseconds(d);
}

}  // namespace matgto::proxy

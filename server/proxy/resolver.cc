#include "server/proxy/resolver.h"

#include <netdb.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/core/thread_name.h"
#include "server/proxy/coro.h"

namespace matgto::proxy {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

std::atomic<int> lookups_in_flight{0};

// Shared by the waiting coroutine and the lookup thread. The eventfd
// belongs to the coroutine (its stream_descriptor closes it); the thread
// writes to it under `mu` and only while `abandoned` is false, which the
// coroutine sets (under `mu`) before it lets go of the descriptor: a lookup
// that outlives its deadline never touches a closed (or reused) fd number.
// The coroutine trusts `ready`, not the wake-up alone: epoll can report
// readiness for a descriptor number whose previous owner just closed.
struct Lookup {
  explicit Lookup(int event_fd) : fd(event_fd) {}
  const int fd;
  std::mutex mu;
  bool ready = false;
  bool abandoned = false;
  tcp::resolver::results_type endpoints;
  int gai_error = 0;
};

void RunLookup(const std::shared_ptr<Lookup>& lookup, const std::string& host,
               const std::string& port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_ADDRCONFIG;
  addrinfo* list = nullptr;
  const int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &list);
  {
    std::lock_guard<std::mutex> lock(lookup->mu);
    lookup->gai_error = rc;
    std::vector<tcp::endpoint> endpoints;
    for (const addrinfo* a = list; rc == 0 && a != nullptr; a = a->ai_next) {
      if (a->ai_family != AF_INET && a->ai_family != AF_INET6) continue;
      tcp::endpoint e;
      e.resize(a->ai_addrlen);
      std::memcpy(e.data(), a->ai_addr, a->ai_addrlen);
      endpoints.push_back(e);
    }
    lookup->endpoints = tcp::resolver::results_type::create(
        endpoints.begin(), endpoints.end(), host, port);
    lookup->ready = true;
    if (!lookup->abandoned) {
      const uint64_t one = 1;
      [[maybe_unused]] ssize_t n = ::write(lookup->fd, &one, sizeof one);
    }
  }
  if (list != nullptr) ::freeaddrinfo(list);
}

}  // namespace

asio::awaitable<ResolveOutcome> Resolve(asio::any_io_executor executor,
                                        const std::string& host, uint16_t port,
                                        absl::Duration timeout) {
  ResolveOutcome out;
  // An address needs no lookup.
  boost::system::error_code not_ip;
  const asio::ip::address ip = asio::ip::make_address(host, not_ip);
  if (!not_ip) {
    out.endpoints = tcp::resolver::results_type::create(
        tcp::endpoint(ip, port), host, std::to_string(port));
    co_return out;
  }
  if (lookups_in_flight.fetch_add(1) >= kMaxLookupsInFlight) {
    lookups_in_flight.fetch_sub(1);
    out.status = 502;
    out.error_code = "dns-busy";
    out.message =
        absl::StrCat("matgto: cannot resolve ", host, ": ", kMaxLookupsInFlight,
                     " name lookups are already in flight");
    co_return out;
  }
  const int event_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (event_fd < 0) {
    lookups_in_flight.fetch_sub(1);
    out.status = 502;
    out.error_code = "dns-busy";
    out.message = absl::StrCat("matgto: cannot resolve ", host,
                               ": out of file descriptors");
    co_return out;
  }
  auto lookup = std::make_shared<Lookup>(event_fd);
  std::thread([lookup, host, service = std::to_string(port)] {
    core::NameThisThread("matgto-dns");
    RunLookup(lookup, host, service);
    lookups_in_flight.fetch_sub(1);
  }).detach();

  asio::posix::stream_descriptor done(executor, event_fd);
  asio::steady_timer deadline(executor, Chrono(timeout));
  using namespace asio::experimental::awaitable_operators;
  bool ready = false;
  bool expired = false;
  while (!ready && !expired) {
    auto first = co_await (
        done.async_wait(asio::posix::descriptor_base::wait_read, kAwait) ||
        deadline.async_wait(kAwait));
    std::lock_guard<std::mutex> lock(lookup->mu);
    ready = lookup->ready;
    expired = !ready && first.index() == 1;
    if (!ready && !expired) {
      // A wake-up without a result: wait again, until the same deadline.
      uint64_t count = 0;
      [[maybe_unused]] ssize_t n = ::read(event_fd, &count, sizeof count);
    }
    if (expired) lookup->abandoned = true;
  }
  if (expired) {
    out.status = 504;
    out.error_code = "dns-timeout";
    out.message =
        absl::StrCat("matgto: resolving ", host, " took longer than ",
                     absl::FormatDuration(timeout), " (--dns-timeout)");
    co_return out;
  }
  std::lock_guard<std::mutex> lock(lookup->mu);
  if (lookup->gai_error != 0) {
    out.status = 502;
    out.error_code = "upstream-unreachable";
    out.message = absl::StrCat("matgto: cannot resolve ", host, ": ",
                               ::gai_strerror(lookup->gai_error));
    co_return out;
  }
  out.endpoints = std::move(lookup->endpoints);
  co_return out;
}

}  // namespace matgto::proxy

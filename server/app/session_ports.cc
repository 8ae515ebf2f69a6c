#include "server/app/session_ports.h"

#include <atomic>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace matgto::app {
namespace {

// A session's listener: closing it cancels its connections.
class SessionPort final : public core::SessionListener {
 public:
  explicit SessionPort(std::shared_ptr<proxy::ProxyServer> server)
      : server_(std::move(server)), address_(server_->address()) {}
  ~SessionPort() override { server_->Close(); }
  std::string address() const override { return address_; }

 private:
  const std::shared_ptr<proxy::ProxyServer> server_;
  const std::string address_;
};

}  // namespace

absl::StatusOr<PortRange> ParsePortRange(absl::string_view text) {
  std::vector<absl::string_view> parts = absl::StrSplit(text, '-');
  uint32_t low = 0, high = 0;
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &low) ||
      !absl::SimpleAtoi(parts[1], &high) || low == 0 || high > 65535 ||
      low > high) {
    return absl::InvalidArgumentError(
        absl::StrCat("--session-ports must be LOW-HIGH with 1 <= LOW <= HIGH "
                     "<= 65535, e.g. 20000-20999; got '",
                     text, "'"));
  }
  return PortRange{static_cast<uint16_t>(low), static_cast<uint16_t>(high)};
}

ProxySessionListeners::ProxySessionListeners(proxy::IoPool& pool,
                                             proxy::ProxyConfig config,
                                             proxy::TlsServices tls,
                                             PortRange range)
    : pool_(pool), config_(std::move(config)), tls_(tls), range_(range) {}

void ProxySessionListeners::Bind(core::ExchangeHandler& handler,
                                 std::string shared_address) {
  absl::MutexLock lock(&mu_);
  handler_ = &handler;
  shared_address_ = std::move(shared_address);
}

std::string ProxySessionListeners::shared_address() const {
  absl::MutexLock lock(&mu_);
  return shared_address_;
}

absl::StatusOr<std::unique_ptr<core::SessionListener>>
ProxySessionListeners::Open(uint64_t key) {
  absl::MutexLock lock(&mu_);
  if (handler_ == nullptr) {
    return absl::FailedPreconditionError("session listeners are not wired");
  }
  proxy::ProxyConfig config = config_;
  std::shared_ptr<proxy::ProxyServer> server;
  if (range_.low == 0) {
    config.port = 0;
    absl::StatusOr<std::shared_ptr<proxy::ProxyServer>> created =
        proxy::ProxyServer::Create(pool_, config, tls_, *handler_, key);
    if (!created.ok()) return created.status();
    server = *std::move(created);
  } else {
    const uint32_t size = uint32_t{range_.high} - range_.low + 1;
    for (uint32_t i = 0; i < size && server == nullptr; ++i) {
      const uint32_t offset = (cursor_ + i) % size;
      config.port = static_cast<uint16_t>(range_.low + offset);
      bool in_use = false;
      absl::StatusOr<std::shared_ptr<proxy::ProxyServer>> created =
          proxy::ProxyServer::Create(pool_, config, tls_, *handler_, key,
                                     &in_use);
      if (created.ok()) {
        server = *std::move(created);
        cursor_ = (offset + 1) % size;
      } else if (!in_use) {
        return created.status();
      }
    }
    if (server == nullptr) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "no free port left in --session-ports ", range_.low, "-", range_.high,
          " for a new session's proxy listener; stop sessions "
          "that are done, or widen the range"));
    }
  }
  server->Start();
  // Forget listeners that have gone.
  std::erase_if(open_, [](const std::weak_ptr<proxy::ProxyServer>& w) {
    return w.expired();
  });
  open_.push_back(server);
  return std::make_unique<SessionPort>(std::move(server));
}

void ProxySessionListeners::Drain(absl::Duration grace) {
  std::vector<std::shared_ptr<proxy::ProxyServer>> live;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& w : open_) {
      if (auto s = w.lock()) live.push_back(std::move(s));
    }
  }
  if (live.empty()) return;
  struct Pending {
    absl::Mutex mu;
    int left ABSL_GUARDED_BY(mu) = 0;
  };
  auto pending = std::make_shared<Pending>();
  {
    absl::MutexLock lock(&pending->mu);
    pending->left = static_cast<int>(live.size());
  }
  for (const auto& s : live) {
    s->Shutdown(grace, [pending] {
      absl::MutexLock lock(&pending->mu);
      --pending->left;
    });
  }
  // Each Shutdown calls back by its grace deadline (connections still busy
  // then are cancelled); the extra second covers the cancellations.
  absl::MutexLock lock(&pending->mu);
  pending->mu.AwaitWithTimeout(
      absl::Condition(
          +[](int* left) { return *left == 0; }, &pending->left),
      grace + absl::Seconds(1));
}

}  // namespace matgto::app

#include "server/proxy/io_pool.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "server/core/thread_name.h"

namespace matgto::proxy {

IoPool::IoPool(int threads) {
  const int n = std::max(1, threads);
  contexts_.reserve(n);
  for (int i = 0; i < n; ++i) {
    // One thread per context: the hint lets Asio skip the locking a
    // multi-threaded scheduler needs between its own threads.
    contexts_.push_back(std::make_unique<boost::asio::io_context>(1));
    guards_.push_back(boost::asio::make_work_guard(*contexts_.back()));
  }
}

IoPool::~IoPool() { Stop(); }

boost::asio::io_context& IoPool::Next() {
  const uint32_t i = next_.fetch_add(1, std::memory_order_relaxed);
  return *contexts_[i % contexts_.size()];
}

void IoPool::Start() {
  if (!threads_.empty()) return;
  threads_.reserve(contexts_.size());
  for (size_t i = 0; i < contexts_.size(); ++i) {
    threads_.emplace_back([ctx = contexts_[i].get(), i] {
      core::NameThisThread(absl::StrCat("matgto-io-", i));
      ctx->run();
    });
  }
}

void IoPool::Stop() {
  guards_.clear();
  for (auto& c : contexts_) c->stop();
  for (std::thread& t : threads_) t.join();
  threads_.clear();
}

}  // namespace matgto::proxy

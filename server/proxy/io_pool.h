// The proxy's I/O threads: one io_context per thread, as nginx runs one
// event loop per worker. A connection lives on one context from accept to
// close, so its handlers never hop threads, never need a strand, and never
// contend with the other threads for the scheduler's lock.
//
// Thread-safety: Next() and context() may be called from any thread; the
// contexts themselves are thread-safe for post/dispatch. Start() and Join()
// are called by the owner (the main thread) once each.
#pragma once

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <memory>
#include <thread>
#include <vector>

namespace matgto::proxy {

class IoPool {
 public:
  // `threads` >= 1 contexts, each run by one thread once Start() is called.
  explicit IoPool(int threads);
  ~IoPool();
  IoPool(const IoPool&) = delete;
  IoPool& operator=(const IoPool&) = delete;

  int size() const { return static_cast<int>(contexts_.size()); }
  boost::asio::io_context& context(int i) { return *contexts_[i]; }
  // The context for the next connection, in turn.
  boost::asio::io_context& Next();

  // Runs every context on a thread of its own until Stop().
  void Start();
  // Lets the contexts run out of work and stop; joins the threads.
  void Stop();

 private:
  using Guard =
      boost::asio::executor_work_guard<boost::asio::io_context::executor_type>;
  std::vector<std::unique_ptr<boost::asio::io_context>> contexts_;
  std::vector<Guard> guards_;
  std::vector<std::thread> threads_;
  std::atomic<uint32_t> next_{0};
};

}  // namespace matgto::proxy

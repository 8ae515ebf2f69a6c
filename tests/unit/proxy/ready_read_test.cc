// ReadyReader on real loopback sockets: after a short read that ends a
// header block the next read waits for readiness; no bytes and no end of
// stream may be missed, whenever they arrive.
#include "server/proxy/ready_read.h"

#include <array>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <thread>

#include "gtest/gtest.h"

namespace matgto::proxy {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;

struct Result {
  error_code ec;
  std::string bytes;
};

class ReadyReadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tcp::acceptor acceptor(
        io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    peer_.connect(acceptor.local_endpoint());
    acceptor.accept(socket_);
  }

  // Starts a read of up to `room` bytes; the result is set when it
  // completes.
  void Read(size_t room, std::optional<Result>& out) {
    out.reset();
    reader_.ReadSome(socket_, asio::buffer(buffer_.data(), room),
                     [this, &out](error_code ec, size_t n) {
                       out = Result{ec, std::string(buffer_.data(), n)};
                     });
  }

  // Runs the loop until `out` is set (or two seconds have passed).
  void RunUntil(const std::optional<Result>& out) {
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (!out.has_value() && std::chrono::steady_clock::now() < deadline) {
      io_.run_for(std::chrono::milliseconds(5));
      io_.restart();
    }
  }

  void Send(const std::string& bytes) {
    asio::write(peer_, asio::buffer(bytes));
  }

  asio::io_context io_;
  tcp::socket socket_{io_};
  tcp::socket peer_{io_};
  ReadyReader reader_;
  std::array<char, 64> buffer_{};
};

constexpr char kRequest[] = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n";

TEST_F(ReadyReadTest, AWholeRequestThenTheNextOneLater) {
  std::optional<Result> got;
  Send(kRequest);
  Read(64, got);
  RunUntil(got);
  ASSERT_TRUE(got.has_value());
  EXPECT_FALSE(got->ec);
  EXPECT_EQ(got->bytes, kRequest);

  // Nothing is there: the read waits, and completes when bytes come.
  Read(64, got);
  io_.run_for(std::chrono::milliseconds(30));
  io_.restart();
  EXPECT_FALSE(got.has_value());
  Send("def");
  RunUntil(got);
  ASSERT_TRUE(got.has_value());
  EXPECT_FALSE(got->ec);
  EXPECT_EQ(got->bytes, "def");
}

TEST_F(ReadyReadTest, BytesThatArriveBetweenTwoReadsAreNotMissed) {
  for (int i = 0; i < 50; ++i) {
    std::optional<Result> got;
    const std::string first =
        "GET /" + std::to_string(i) + " HTTP/1.1\r\nHost: h\r\n\r\n";
    Send(first);
    Read(64, got);
    RunUntil(got);
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->bytes, first);
    // Sent after the short read completed and before the next read
    // starts: the readiness event comes while no read waits.
    const std::string second = "second-" + std::to_string(i);
    Send(second);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    io_.poll();  // the event is handled with no read queued
    io_.restart();
    Read(64, got);
    RunUntil(got);
    ASSERT_TRUE(got.has_value()) << "round " << i;
    EXPECT_FALSE(got->ec);
    EXPECT_EQ(got->bytes, second);
  }
}

// Bytes and the end of the stream that arrived together are one readiness
// event: after a request cut short, the next read must still see the end.
TEST_F(ReadyReadTest, ARequestCutShortThenClosedEndsTheNextRead) {
  Send("GET /a HTTP/1.1\r\nHo");
  peer_.shutdown(tcp::socket::shutdown_send);
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  io_.poll();  // both are seen before the read starts
  io_.restart();
  std::optional<Result> got;
  Read(64, got);
  RunUntil(got);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->bytes, "GET /a HTTP/1.1\r\nHo");
  Read(64, got);
  RunUntil(got);
  ASSERT_TRUE(got.has_value()) << "the end of the stream was missed";
  EXPECT_EQ(got->ec, asio::error::eof);
}

// A header block whose body has yet to come: the body's bytes are a new
// event, and a short read that is not a header block's end (the body) is
// read at once after.
TEST_F(ReadyReadTest, ABodyAfterItsHeaderBlockIsRead) {
  const std::string head =
      "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\n";
  Send(head);
  std::optional<Result> got;
  Read(64, got);
  RunUntil(got);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->bytes, head);
  Read(64, got);
  Send("body");
  RunUntil(got);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->bytes, "body");
  peer_.shutdown(tcp::socket::shutdown_send);
  Read(64, got);
  RunUntil(got);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->ec, asio::error::eof);
}

TEST_F(ReadyReadTest, AFullReadLeavesTheRestToTheNextRead) {
  Send(std::string(16, 'a') + std::string(10, 'b'));
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  std::optional<Result> got;
  Read(16, got);
  RunUntil(got);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->bytes, std::string(16, 'a'));
  Read(16, got);
  RunUntil(got);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->bytes, std::string(10, 'b'));
}

TEST_F(ReadyReadTest, ThePeerClosingEndsTheRead) {
  std::optional<Result> got;
  Send("last");
  Read(16, got);
  RunUntil(got);
  ASSERT_TRUE(got.has_value());
  Read(16, got);
  peer_.close();
  RunUntil(got);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->ec, asio::error::eof);
}

TEST_F(ReadyReadTest, CancellingTheSocketAbortsAWaitingRead) {
  std::optional<Result> got;
  Send("x");
  Read(16, got);
  RunUntil(got);
  Read(16, got);
  asio::steady_timer timer(io_, std::chrono::milliseconds(10));
  timer.async_wait([this](error_code) { socket_.cancel(); });
  RunUntil(got);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->ec, asio::error::operation_aborted);
}

TEST_F(ReadyReadTest, APerOperationCancellationAbortsTheRead) {
  asio::cancellation_signal signal;
  std::optional<Result> got;
  reader_.ReadSome(socket_, asio::buffer(buffer_),
                   asio::bind_cancellation_slot(signal.slot(),
                                                [&got](error_code ec, size_t) {
                                                  got = Result{ec, ""};
                                                }));
  io_.run_for(std::chrono::milliseconds(10));
  io_.restart();
  EXPECT_FALSE(got.has_value());
  signal.emit(asio::cancellation_type::terminal);
  RunUntil(got);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->ec, asio::error::operation_aborted);
  // The socket still reads afterwards.
  Send("after");
  Read(16, got);
  RunUntil(got);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->bytes, "after");
}

}  // namespace
}  // namespace matgto::proxy

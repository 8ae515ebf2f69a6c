// ReadyReader on real loopback sockets: after a short read that ends a
// whole message (a request's header block; a response with its
// Content-Length body) the next read waits for readiness; no bytes and no
// end of stream may be missed, whenever they arrive. And what it takes for
// a whole response, against Beast's parser.
#include "server/proxy/ready_read.h"

#include <array>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

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

  // Starts a read of up to `room` bytes of a request (ReadSome) or of a
  // response (ReadResponse); `out` is set when it completes.
  enum class Of { kRequest, kResponse };
  void Start(Of of, size_t room, std::optional<Result>& out) {
    out.reset();
    auto done = [this, &out](error_code ec, size_t n) {
      out = Result{ec, std::string(buffer_.data(), n)};
    };
    const asio::mutable_buffer into(buffer_.data(), room);
    if (of == Of::kRequest) {
      reader_.ReadSome(socket_, into, done);
    } else {
      reader_.ReadResponse(socket_, into, done);
    }
  }
  // Starts a read and runs the loop until it completes (nullopt if it
  // has not after two seconds).
  std::optional<Result> ReadNow(Of of, size_t room) {
    std::optional<Result> got;
    Start(of, room, got);
    RunUntil(got);
    return got;
  }
  // The next read returns `bytes`, and the one after it sees the end of the
  // stream.
  void ExpectBytesThenTheEnd(Of of, const std::string& bytes) {
    std::optional<Result> got = ReadNow(of, 128);
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->bytes, bytes);
    got = ReadNow(of, 128);
    ASSERT_TRUE(got.has_value()) << "the end of the stream was missed";
    EXPECT_EQ(got->ec, asio::error::eof);
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

  // Sends `bytes`, then ends the peer's side (shutting down its sending
  // side, or closing it entirely), and lets the loop see both before any
  // read starts: one readiness event, with no read waiting.
  enum class End { kShutdown, kClose };
  void SendThenEnd(const std::string& bytes, End end) {
    Send(bytes);
    if (end == End::kShutdown) {
      peer_.shutdown(tcp::socket::shutdown_send);
    } else {
      peer_.close();
    }
    HandleEventsNow();
  }

  // Lets the bytes sent arrive, and the loop take their readiness event
  // while no read waits. (A work guard: without outstanding work, poll()
  // returns at once and leaves the event for the next read's run.)
  void HandleEventsNow() {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    auto work = asio::make_work_guard(io_);
    io_.poll();
    io_.restart();
  }

  asio::io_context io_;
  tcp::socket socket_{io_};
  tcp::socket peer_{io_};
  ReadyReader reader_;
  std::array<char, 128> buffer_{};
};

constexpr char kRequest[] = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n";

TEST_F(ReadyReadTest, AWholeRequestThenTheNextOneLater) {
  std::optional<Result> got;
  Send(kRequest);
  got = ReadNow(Of::kRequest, 64);
  ASSERT_TRUE(got.has_value());
  EXPECT_FALSE(got->ec);
  EXPECT_EQ(got->bytes, kRequest);

  // Nothing is there: the read waits, and completes when bytes come.
  Start(Of::kRequest, 64, got);
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
    got = ReadNow(Of::kRequest, 64);
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->bytes, first);
    // Sent after the short read completed and before the next read
    // starts: the readiness event comes while no read waits.
    const std::string second = "second-" + std::to_string(i);
    Send(second);
    HandleEventsNow();
    got = ReadNow(Of::kRequest, 64);
    ASSERT_TRUE(got.has_value()) << "round " << i;
    EXPECT_FALSE(got->ec);
    EXPECT_EQ(got->bytes, second);
  }
}

// Bytes and the end of the stream that arrived together are one readiness
// event: after a request cut short, the next read must still see the end.
TEST_F(ReadyReadTest, ARequestCutShortThenClosedEndsTheNextRead) {
  SendThenEnd("GET /a HTTP/1.1\r\nHo", End::kShutdown);
  ExpectBytesThenTheEnd(Of::kRequest, "GET /a HTTP/1.1\r\nHo");
}

// A header block whose body has yet to come: the body's bytes are a new
// event, and a short read that is not a header block's end (the body) is
// read at once after.
TEST_F(ReadyReadTest, ABodyAfterItsHeaderBlockIsRead) {
  const std::string head =
      "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\n";
  Send(head);
  std::optional<Result> got;
  got = ReadNow(Of::kRequest, 64);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->bytes, head);
  Start(Of::kRequest, 64, got);
  Send("body");
  RunUntil(got);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->bytes, "body");
  peer_.shutdown(tcp::socket::shutdown_send);
  got = ReadNow(Of::kRequest, 64);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->ec, asio::error::eof);
}

TEST_F(ReadyReadTest, AFullReadLeavesTheRestToTheNextRead) {
  Send(std::string(16, 'a') + std::string(10, 'b'));
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  std::optional<Result> got;
  got = ReadNow(Of::kRequest, 16);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->bytes, std::string(16, 'a'));
  got = ReadNow(Of::kRequest, 16);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->bytes, std::string(10, 'b'));
}

TEST_F(ReadyReadTest, ThePeerClosingEndsTheRead) {
  std::optional<Result> got;
  Send("last");
  got = ReadNow(Of::kRequest, 16);
  ASSERT_TRUE(got.has_value());
  Start(Of::kRequest, 16, got);
  peer_.close();
  RunUntil(got);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->ec, asio::error::eof);
}

TEST_F(ReadyReadTest, CancellingTheSocketAbortsAWaitingRead) {
  std::optional<Result> got;
  Send("x");
  got = ReadNow(Of::kRequest, 16);
  Start(Of::kRequest, 16, got);
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
  got = ReadNow(Of::kRequest, 16);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->bytes, "after");
}

// --- responses ---------------------------------------------------------

constexpr char kResponse[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

TEST_F(ReadyReadTest, AWholeResponseThenTheNextOneLater) {
  std::optional<Result> got;
  Send(kResponse);
  got = ReadNow(Of::kResponse, 128);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->bytes, kResponse);
  // The next response's read waits, and completes when it comes.
  Start(Of::kResponse, 128, got);
  io_.run_for(std::chrono::milliseconds(30));
  io_.restart();
  EXPECT_FALSE(got.has_value());
  Send(kResponse);
  RunUntil(got);
  ASSERT_TRUE(got.has_value());
  EXPECT_FALSE(got->ec);
  EXPECT_EQ(got->bytes, kResponse);
}

TEST_F(ReadyReadTest, AResponseArrivingBeforeItsReadStartsIsNotMissed) {
  for (int i = 0; i < 50; ++i) {
    std::optional<Result> got;
    Send(kResponse);
    got = ReadNow(Of::kResponse, 128);
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->bytes, kResponse);
    // The next response arrives (and its event is handled) before its read
    // starts, as when the upstream answers while the proxy is busy.
    Send(kResponse);
    HandleEventsNow();
    got = ReadNow(Of::kResponse, 128);
    ASSERT_TRUE(got.has_value()) << "round " << i;
    EXPECT_EQ(got->bytes, kResponse);
  }
}

// A response delimited by the end of the stream, sent with its end: one
// event. Not taken for whole, so the next read sees the end.
TEST_F(ReadyReadTest, AResponseUntilTheEndOfTheStreamEndsItsNextRead) {
  SendThenEnd("HTTP/1.1 200 OK\r\n\r\nuntil close", End::kShutdown);
  ExpectBytesThenTheEnd(Of::kResponse, "HTTP/1.1 200 OK\r\n\r\nuntil close");
}

// A header block whose body is still to come: the body is read at once
// after (and a body cut short by the end of the stream ends the read).
TEST_F(ReadyReadTest, AResponseBodyCutShortThenClosedEndsTheNextRead) {
  const std::string cut = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\ncut";
  SendThenEnd(cut, End::kShutdown);
  ExpectBytesThenTheEnd(Of::kResponse, cut);
}

// The upstream answered whole and closed at once (no `Connection: close`):
// its end came with the response, in one event. The next request written
// to it provokes a reset, which ends the next read (the proxy then retries
// on a fresh connection).
TEST_F(ReadyReadTest, AnUpstreamThatClosedWithItsAnswerIsSeenAtTheNextRequest) {
  SendThenEnd(kResponse, End::kClose);
  std::optional<Result> got;
  got = ReadNow(Of::kResponse, 128);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->bytes, kResponse);
  asio::write(socket_, asio::buffer(std::string_view(kRequest)));
  got = ReadNow(Of::kResponse, 128);
  ASSERT_TRUE(got.has_value()) << "the reset was missed";
  EXPECT_TRUE(got->ec == asio::error::connection_reset ||
              got->ec == asio::error::eof)
      << got->ec.message();
}

// What Beast makes of `bytes` fed whole: whether it would read more of
// the response (rather than end it: whole, or an error that drops the
// connection anyway).
bool BeastWantsMore(std::string_view bytes) {
  boost::beast::http::response_parser<boost::beast::http::string_body> parser;
  parser.eager(true);
  boost::beast::error_code ec;
  parser.put(asio::buffer(bytes.data(), bytes.size()), ec);
  return ec == boost::beast::http::error::need_more ||
         (!ec && !parser.is_done());
}

TEST(EndsAWholeResponseTest, NeverTakesForWholeWhatBeastWouldReadMoreOf) {
  const std::vector<std::pair<std::string, bool>> cases = {
      {kResponse, true},
      {"HTTP/1.1 404 Not Found\r\nServer: nginx\r\nDate: x\r\n"
       "content-LENGTH:  5 \r\nConnection: keep-alive\r\n\r\nhello",
       true},
      {"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n", true},
      {"HTTP/1.1 200 OK\r\nContent-Length:\t3\r\n\r\nabc", true},
      // A byte more or less than the length.
      {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokX", false},
      {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\no", false},
      // The next response already behind it.
      {std::string(kResponse) + kResponse, false},
      // Interim responses, with or without the final one after them.
      {"HTTP/1.1 100 Continue\r\n\r\n", false},
      {"HTTP/1.1 103 Early Hints\r\nContent-Length: 0\r\n\r\n", false},
      // Other framings.
      {"HTTP/1.1 200 OK\r\n\r\nuntil close", false},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", false},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: "
       "5\r\n\r\n0\r\n\r\n",
       false},
      {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n"
       "ok",
       false},
      {"HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nok", false},
      {"HTTP/1.1 200 OK\r\nContent-Length: 2x\r\n\r\nok", false},
      {"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
       false},
      {"HTTP/1.1 200 OK\r\nX-Content-Length: 2\r\n\r\nok", false},
      {"HTTP/1.1 200 OK\r\nX-A: 1\r\n Content-Length: 2\r\n\r\nok", false},
      {"HTTP/1.1 200 OK\r\nCache\r\nContent-Length: 2\r\n\r\nok", false},
      {"HTTP/1.1 200 OK\r\nContent-Length: 2\n\r\nok", false},
      // Other lines are not looked into: a bad one is Beast's error.
      {"HTTP/1.1 200 OK\r\nNo colon\r\nContent-Length: 2\r\n\r\nok", true},
      // Not HTTP/1.1, or a header block cut short.
      {"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", false},
      {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n", false},
      {"HTTP/1.1 2\r\n\r\n", false},
      {"", false},
  };
  for (const auto& [bytes, whole] : cases) {
    EXPECT_EQ(EndsAWholeResponse(bytes), whole) << bytes;
    // What it takes for whole, Beast reads no more of.
    if (EndsAWholeResponse(bytes)) {
      EXPECT_FALSE(BeastWantsMore(bytes)) << bytes;
    }
  }
  // And every prefix of a whole one is not whole.
  const std::string whole =
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
      "11\r\n\r\nhello world";
  for (size_t n = 0; n < whole.size(); ++n) {
    EXPECT_FALSE(EndsAWholeResponse(whole.substr(0, n))) << n;
    EXPECT_TRUE(BeastWantsMore(whole.substr(0, n))) << n;
  }
  EXPECT_TRUE(EndsAWholeResponse(whole));
}

TEST(EndsARequestHeadTest, IsTheBlankLineAtTheEnd) {
  EXPECT_TRUE(EndsARequestHead(kRequest));
  EXPECT_FALSE(EndsARequestHead("GET / HTTP/1.1\r\nHost: h\r\n"));
  EXPECT_FALSE(EndsARequestHead("\r\n\r"));
}

}  // namespace
}  // namespace matgto::proxy

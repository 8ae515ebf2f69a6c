// Reads the first bytes of an HTTP message on a plain TCP socket the way
// nginx does: once a read returned a whole message and nothing after it,
// the peer waits for our move (the client for our answer, the upstream for
// our next request), so the next read waits for the socket to become
// readable instead of trying recv() at once.
//
// Asio tries every read at once ("speculative" read) unless the last one
// returned 0 bytes. On a keep-alive connection the next request is almost
// never there yet when the response goes out, nor the response when the
// request goes out, so that read is a recv() failing with EAGAIN: one per
// request on each side.
//
// The reactor already has the switch (`try_speculative_`, cleared when an
// operation reports `done_and_exhausted`, set again by the next readiness
// event, both under the descriptor's lock, so no event is lost between
// them); its receive operation reports that only for an empty read. The
// operation here reports it for a short read that ends a whole message
// too: for a client's request, a header block (ReadSome); for an
// upstream's response, a header block and the Content-Length body after it
// (ReadResponse, see EndsAWholeResponse).
//
// Why only then: epoll reports a socket's state changes as edges, and
// bytes and an end of stream that arrived together are one edge. After a
// short read the peer may already have closed; a read that then waits for
// the next edge waits for ever. nginx knows from EPOLLRDHUP; Asio does not
// ask for it. A peer whose message is whole waits for ours, and whatever it
// does next is a new edge: a client's next request, or its close, which our
// answer provokes when it has closed entirely; an upstream's answer to our
// next request, or the reset our request provokes when it had closed. A
// client that half-closed after a whole request keeps its connection until
// --idle-timeout; an upstream that half-closed after a whole keep-alive
// response (without `Connection: close`) while still reading is given our
// next request and answers nothing, so that request ends at
// --upstream-timeout instead of being retried on a new connection. A
// message cut short, or a body still to come, is not a short read that
// ends a message: the next read is tried at once, as before. A response
// delimited by the end of the stream (no Content-Length) is never taken
// for whole.
//
// Written against the epoll reactor of the Boost release this project
// builds with (Debian 12's 1.81); anywhere else (another Boost, another
// reactor, a socket not yet non-blocking, an empty buffer) it is
// async_read_some.
#pragma once

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/execution/context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/query.hpp>
#include <boost/system/error_code.hpp>
#include <boost/version.hpp>
#include <cstddef>
#include <string_view>
#include <utility>

#if BOOST_VERSION == 108100 && defined(BOOST_ASIO_HAS_EPOLL) && \
    !defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT) &&             \
    !defined(BOOST_ASIO_DISABLE_EPOLL)
#define MATGTO_READY_READ 1
#include <boost/asio/detail/bind_handler.hpp>
#include <boost/asio/detail/fenced_block.hpp>
#include <boost/asio/detail/handler_alloc_helpers.hpp>
#include <boost/asio/detail/handler_cont_helpers.hpp>
#include <boost/asio/detail/handler_work.hpp>
#include <boost/asio/detail/memory.hpp>
#include <boost/asio/detail/reactor.hpp>
#include <boost/asio/detail/reactor_op.hpp>
#include <boost/asio/detail/socket_ops.hpp>
#else
#define MATGTO_READY_READ 0
#endif

namespace matgto::proxy {

// Whether `bytes` (all a read returned into an empty buffer) are a request
// header block and nothing after it: its last four bytes are the blank
// line. (A body, or the next request, may follow later.)
bool EndsARequestHead(std::string_view bytes);

// Whether `bytes` (all a read returned into an empty buffer) are exactly
// one final HTTP/1.1 response: a header block with one Content-Length and
// no Transfer-Encoding, and that many bytes of body after it. Not a parse
// (Beast parses the response): a shape it pays to recognise, where any
// doubt (an interim status, two lengths, a chunked or close-delimited body,
// a byte more or less) answers false, which costs one recv() at most.
bool EndsAWholeResponse(std::string_view bytes);

#if MATGTO_READY_READ
namespace ready_read_internal {

namespace detail = boost::asio::detail;

// The socket's implementation (its descriptor, state and reactor data),
// protected in basic_socket: reached through a pointer to member formed in
// a derived class, which the language allows.
struct SocketAccess : boost::asio::ip::tcp::socket {
  static constexpr auto kImpl = &SocketAccess::impl_;
};

// The receive operation: Asio's reactive_socket_recv_op with one
// difference, a short read that ends a message (as `ends` says) reports
// done_and_exhausted.
template <class Handler, class IoExecutor>
class RecvOp : public detail::reactor_op {
 public:
  BOOST_ASIO_DEFINE_HANDLER_PTR(RecvOp);

  RecvOp(int socket, boost::asio::mutable_buffer buffer,
         bool (*ends)(std::string_view), Handler& handler,
         const IoExecutor& io_ex)
      : detail::reactor_op(boost::system::error_code(), &RecvOp::DoPerform,
                           &RecvOp::DoComplete),
        socket_(socket),
        buffer_(buffer),
        ends_(ends),
        handler_(std::move(handler)),
        work_(handler_, io_ex) {}

  static status DoPerform(detail::reactor_op* base) {
    auto* o = static_cast<RecvOp*>(base);
    if (!detail::socket_ops::non_blocking_recv1(
            o->socket_, o->buffer_.data(), o->buffer_.size(), 0,
            /*is_stream=*/true, o->ec_, o->bytes_transferred_)) {
      return not_done;  // EAGAIN: wait for the next readiness event
    }
    if (o->ec_) return done;
    // The end of the stream (as Asio's own operation), or a whole message
    // and nothing after it (see the file comment).
    const size_t n = o->bytes_transferred_;
    if (n == 0) return done_and_exhausted;
    return n < o->buffer_.size() &&
                   o->ends_(std::string_view(
                       static_cast<const char*>(o->buffer_.data()), n))
               ? done_and_exhausted
               : done;
  }

  static void DoComplete(void* owner, detail::operation* base,
                         const boost::system::error_code&, std::size_t) {
    auto* o = static_cast<RecvOp*>(base);
    ptr p = {boost::asio::detail::addressof(o->handler_), o, o};
    detail::handler_work<Handler, IoExecutor> w(std::move(o->work_));
    // The handler is moved out before the operation's memory is freed (a
    // part of the handler may own that memory), then called.
    detail::binder2<Handler, boost::system::error_code, std::size_t> handler(
        o->handler_, o->ec_, o->bytes_transferred_);
    p.h = boost::asio::detail::addressof(handler.handler_);
    p.reset();
    if (owner != nullptr) {
      detail::fenced_block b(detail::fenced_block::half);
      w.complete(handler, handler.handler_);
    }
  }

 private:
  int socket_;
  boost::asio::mutable_buffer buffer_;
  bool (*ends_)(std::string_view);
  Handler handler_;
  detail::handler_work<Handler, IoExecutor> work_;
};

// Per-operation cancellation (a cancellation slot's handler): cancels the
// read operations on the descriptor that were started with this key.
class Cancellation {
 public:
  Cancellation(detail::reactor* reactor,
               detail::reactor::per_descriptor_data* data, int descriptor)
      : reactor_(reactor), data_(data), descriptor_(descriptor) {}

  void operator()(boost::asio::cancellation_type_t type) {
    if (!!(type & (boost::asio::cancellation_type::terminal |
                   boost::asio::cancellation_type::partial |
                   boost::asio::cancellation_type::total))) {
      reactor_->cancel_ops_by_key(descriptor_, *data_, detail::reactor::read_op,
                                  this);
    }
  }

 private:
  detail::reactor* reactor_;
  detail::reactor::per_descriptor_data* data_;
  int descriptor_;
};

}  // namespace ready_read_internal
#endif

// One per connection (a client's, an upstream client's): holds the reactor
// of the context its socket runs on, looked up once.
class ReadyReader {
 public:
  // async_read_some on `socket` into `buffer` for a client's request,
  // completing with (error, bytes) as it does; see the file comment for the
  // difference.
  template <class Token>
  auto ReadSome(boost::asio::ip::tcp::socket& socket,
                boost::asio::mutable_buffer buffer, Token&& token) {
    return Read(socket, buffer, &EndsARequestHead, std::forward<Token>(token));
  }
  // The same for an upstream's response, the first read into an empty
  // buffer.
  template <class Token>
  auto ReadResponse(boost::asio::ip::tcp::socket& socket,
                    boost::asio::mutable_buffer buffer, Token&& token) {
    return Read(socket, buffer, &EndsAWholeResponse,
                std::forward<Token>(token));
  }
  // Any other stream (TLS, whose records go through its own operations):
  // its own async_read_some.
  template <class Stream, class Token>
  auto ReadSome(Stream& stream, boost::asio::mutable_buffer buffer,
                Token&& token) {
    return stream.async_read_some(buffer, std::forward<Token>(token));
  }
  template <class Stream, class Token>
  auto ReadResponse(Stream& stream, boost::asio::mutable_buffer buffer,
                    Token&& token) {
    return stream.async_read_some(buffer, std::forward<Token>(token));
  }

 private:
  template <class Token>
  auto Read(boost::asio::ip::tcp::socket& socket,
            boost::asio::mutable_buffer buffer, bool (*ends)(std::string_view),
            Token&& token) {
#if MATGTO_READY_READ
    return boost::asio::async_initiate<Token, void(boost::system::error_code,
                                                   std::size_t)>(
        Initiate{this, &socket, ends}, token, buffer);
#else
    (void)ends;
    return socket.async_read_some(buffer, std::forward<Token>(token));
#endif
  }

#if MATGTO_READY_READ
  struct Initiate {
    ReadyReader* self;
    boost::asio::ip::tcp::socket* socket;
    bool (*ends)(std::string_view);

    template <class Handler>
    void operator()(Handler&& handler,
                    boost::asio::mutable_buffer buffer) const {
      namespace detail = boost::asio::detail;
      using Op = ready_read_internal::RecvOp<std::decay_t<Handler>,
                                             boost::asio::any_io_executor>;
      auto& io = (*socket).*ready_read_internal::SocketAccess::kImpl;
      auto& impl = io.get_implementation();
      boost::system::error_code ec;
      if (buffer.size() == 0 ||
          ((impl.state_ & detail::socket_ops::non_blocking) == 0 &&
           !detail::socket_ops::set_internal_non_blocking(
               impl.socket_, impl.state_, true, ec))) {
        socket->async_read_some(buffer, std::forward<Handler>(handler));
        return;
      }
      detail::reactor& reactor = self->ReactorOf(io.get_executor());
      const bool is_continuation =
          boost_asio_handler_cont_helpers::is_continuation(handler);
      auto slot = boost::asio::get_associated_cancellation_slot(handler);
      typename Op::ptr p = {detail::addressof(handler),
                            Op::ptr::allocate(handler), nullptr};
      p.p =
          new (p.v) Op(impl.socket_, buffer, ends, handler, io.get_executor());
      if (slot.is_connected()) {
        p.p->cancellation_key_ =
            &slot.template emplace<ready_read_internal::Cancellation>(
                &reactor, &impl.reactor_data_, impl.socket_);
      }
      reactor.start_op(detail::reactor::read_op, impl.socket_,
                       impl.reactor_data_, p.p, is_continuation,
                       /*allow_speculative=*/true);
      p.v = p.p = nullptr;
    }
  };

  boost::asio::detail::reactor& ReactorOf(
      const boost::asio::any_io_executor& ex) {
    auto& context = boost::asio::query(ex, boost::asio::execution::context);
    if (&context != context_) {
      reactor_ =
          &boost::asio::use_service<boost::asio::detail::reactor>(context);
      context_ = &context;
    }
    return *reactor_;
  }

  boost::asio::execution_context* context_ = nullptr;
  boost::asio::detail::reactor* reactor_ = nullptr;
#endif
};

}  // namespace matgto::proxy

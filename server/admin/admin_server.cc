#include "server/admin/admin_server.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/pct_string_view.hpp>
#include <chrono>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"
#include "server/admin/page.h"
#include "server/core/thread_name.h"
#include "server/core/url.h"

namespace matgto::admin {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);
constexpr auto kReadTimeout = std::chrono::seconds(10);
constexpr uint32_t kMaxRequestBytes = 16 * 1024;
// How often an event stream looks for events, and sends a keep-alive.
constexpr auto kEventPoll = std::chrono::milliseconds(200);
constexpr int kKeepAlivePolls = 75;  // 15 s

}  // namespace

struct AdminServer::State {
  explicit State(AdminHandlers h) : handlers(std::move(h)) {}
  AdminHandlers handlers;
  asio::io_context ioc{1};
  tcp::acceptor acceptor{ioc};
};

namespace {

constexpr absl::string_view kText = "text/plain; charset=utf-8";

int HttpStatusOf(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kInvalidArgument:
      return 400;
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kAlreadyExists:
      return 409;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kUnavailable:
      return 503;
    default:
      return 500;
  }
}

AdminResponse ErrorResponse(const absl::Status& status) {
  return {HttpStatusOf(status), std::string(kText),
          absl::StrCat(status.message(), "\n")};
}

// Query parameter `key` of `target` (decoded), or empty.
std::string QueryParam(absl::string_view target, absl::string_view key) {
  auto url = boost::urls::parse_origin_form(
      boost::core::string_view(target.data(), target.size()));
  if (!url.has_value()) return "";
  auto it =
      url->params().find(boost::core::string_view(key.data(), key.size()));
  if (it == url->params().end()) return "";
  return std::string((*it).value);
}

// Whether an Origin header value names the host the request was sent to
// ("http://127.0.0.1:9000" and Host "127.0.0.1:9000").
bool SameOrigin(absl::string_view origin, absl::string_view host) {
  for (absl::string_view scheme : {"http://", "https://"}) {
    if (absl::StartsWith(origin, scheme)) {
      return !host.empty() && origin.substr(scheme.size()) == host;
    }
  }
  return false;
}

AdminResponse CassetteRequest(const AdminHandlers& handlers,
                              const AdminRequest& request,
                              absl::string_view raw_name, AdminAccess access) {
  auto decoded = boost::urls::make_pct_string_view(
      boost::core::string_view(raw_name.data(), raw_name.size()));
  if (!decoded.has_value() || decoded->empty()) {
    return {400, std::string(kText), "bad cassette name\n"};
  }
  const std::string name = decoded->decode();
  if (request.method == "DELETE") {
    if (!handlers.delete_cassette) {
      return {405, std::string(kText), "deleting is not enabled here\n"};
    }
    if (access != AdminAccess::kWrite) {
      return {403, std::string(kText),
              absl::StrCat("deleting cassette '", name,
                           "' needs a token with scope 'write'\n")};
    }
    if (!request.origin.empty() && !SameOrigin(request.origin, request.host)) {
      return {403, std::string(kText),
              "refusing a delete sent from another site's page (Origin "
              "differs from Host)\n"};
    }
    absl::Status st = handlers.delete_cassette(name);
    if (!st.ok()) return ErrorResponse(st);
    return {200, "application/json", absl::StrCat("{\"deleted\":true}\n")};
  }
  const std::string format = QueryParam(request.target, "download");
  if (format.empty()) {
    if (!handlers.cassette_json) return {404, std::string(kText), "no API\n"};
    absl::StatusOr<std::string> json = handlers.cassette_json(name);
    if (!json.ok()) return ErrorResponse(json.status());
    return {200, "application/json", *std::move(json)};
  }
  if (format != "json" && format != "har") {
    return {
        400, std::string(kText),
        absl::StrCat("unknown download format '", format, "' (json or har)\n")};
  }
  if (!handlers.cassette_download) {
    return {404, std::string(kText), "downloads are not enabled here\n"};
  }
  absl::StatusOr<std::string> file = handlers.cassette_download(name, format);
  if (!file.ok()) return ErrorResponse(file.status());
  // The last path segment, with characters a file name should not hold
  // replaced.
  std::string base = name.substr(name.rfind('/') + 1);
  for (char& c : base) {
    if (c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20) c = '_';
  }
  return {200, "application/json", *std::move(file),
          absl::StrCat(base, format == "har" ? ".har" : ".json")};
}

}  // namespace

AdminResponse HandleAdminRequest(const AdminHandlers& handlers,
                                 const AdminRequest& request) {
  const absl::string_view method = request.method;
  const absl::string_view target = request.target;
  const absl::string_view path = target.substr(0, target.find('?'));
  constexpr absl::string_view kCassette = "/api/cassettes/";
  const bool is_delete =
      method == "DELETE" && absl::StartsWith(path, kCassette);
  if (method != "GET" && method != "HEAD" && !is_delete) {
    return {405, std::string(kText),
            "only GET and HEAD (and DELETE of /api/cassettes/NAME)\n"};
  }
  if (path == "/healthz") return {200, std::string(kText), "ok\n"};
  if (path == "/readyz") {
    absl::Status ready = handlers.ready ? handlers.ready() : absl::OkStatus();
    if (ready.ok()) return {200, std::string(kText), "ready\n"};
    return {503, std::string(kText),
            absl::StrCat("not ready: ", ready.message(), "\n")};
  }
  // The page's files hold no data: open, so that a browser (which cannot
  // send a token with a navigation) loads the page, which then asks for one.
  if (const PageFile* file = FindPageFile(path); file != nullptr) {
    return {200, std::string(file->content_type), std::string(file->body)};
  }
  const AdminAccess access = handlers.authorize
                                 ? handlers.authorize(request.authorization)
                                 : AdminAccess::kWrite;
  if (access == AdminAccess::kNone) {
    return {401, std::string(kText),
            "matgto: this admin path needs `Authorization: Bearer TOKEN` "
            "with a token of the control API\n"};
  }
  if (path == "/metrics") {
    return {200, "text/plain; version=0.0.4; charset=utf-8",
            handlers.metrics ? handlers.metrics() : ""};
  }
  if (path == "/api/access") {
    return {200, "application/json",
            access == AdminAccess::kWrite ? "{\"access\":\"write\"}\n"
                                          : "{\"access\":\"read\"}\n"};
  }
  if (path == "/api/sessions" && handlers.sessions_json) {
    return {200, "application/json", handlers.sessions_json()};
  }
  if (path == "/api/cassettes" && handlers.cassettes_json) {
    absl::StatusOr<std::string> json = handlers.cassettes_json();
    if (!json.ok()) return ErrorResponse(json.status());
    return {200, "application/json", *std::move(json)};
  }
  if (absl::StartsWith(path, kCassette)) {
    return CassetteRequest(handlers, request, path.substr(kCassette.size()),
                           access);
  }
  return {404, std::string(kText),
          absl::StrCat("no admin page at ", path, "\n")};
}

AdminResponse HandleAdminRequest(const AdminHandlers& handlers,
                                 absl::string_view method,
                                 absl::string_view target,
                                 absl::string_view authorization) {
  return HandleAdminRequest(
      handlers,
      AdminRequest{
          .method = method, .target = target, .authorization = authorization});
}

namespace {

// /events: server-sent events from the bus until the client goes or the
// server stops. The bus never waits for this client: a slow one loses
// events and the next message carries `dropped`.
asio::awaitable<void> StreamEvents(AdminServer::State* state,
                                   beast::tcp_stream& stream,
                                   std::string target, int version) {
  observe::EventBus& bus = *state->handlers.events;
  std::shared_ptr<observe::Subscription> sub = bus.Subscribe(
      observe::EventFilter{.session = QueryParam(target, "session"),
                           .cassette = QueryParam(target, "cassette")});
  http::response<http::empty_body> head{http::status::ok, version};
  head.set(http::field::content_type, "text/event-stream");
  head.set(http::field::cache_control, "no-store");
  head.keep_alive(false);
  http::response_serializer<http::empty_body> sr(head);
  stream.expires_never();
  auto [ec, n] = co_await http::async_write_header(stream, sr, kAwait);
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  asio::steady_timer timer(stream.get_executor());
  int idle = 0;
  // A first comment, so the client knows it is subscribed.
  std::string out = ": subscribed\n\n";
  while (!ec && !sub->closed()) {
    while (std::optional<v1::Event> e = sub->Next(absl::Now())) {
      std::string json;
      if (google::protobuf::util::MessageToJsonString(*e, &json, options)
              .ok()) {
        absl::StrAppend(&out, "data: ", json, "\n\n");
      }
    }
    if (out.empty() && ++idle >= kKeepAlivePolls) out = ": keep-alive\n\n";
    if (!out.empty()) {
      idle = 0;
      stream.expires_after(kReadTimeout);
      auto [wec, wn] =
          co_await asio::async_write(stream, asio::buffer(out), kAwait);
      if (wec) break;
      stream.expires_never();
      out.clear();
    }
    timer.expires_after(kEventPoll);
    auto [tec] = co_await timer.async_wait(kAwait);
    if (tec) break;
  }
  bus.Unsubscribe(sub);
}

// `state` outlives every coroutine: they are destroyed with its io_context.
asio::awaitable<void> Serve(AdminServer::State* state, tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::empty_body> parser;
    parser.header_limit(kMaxRequestBytes);
    parser.body_limit(kMaxRequestBytes);
    stream.expires_after(kReadTimeout);
    auto [ec, n] = co_await http::async_read(stream, buffer, parser, kAwait);
    if (ec) break;
    const auto& req = parser.get();
    const std::string target(req.target());
    if (state->handlers.events != nullptr &&
        target.substr(0, target.find('?')) == "/events" &&
        (!state->handlers.authorize ||
         state->handlers.authorize(std::string(
             req[http::field::authorization])) != AdminAccess::kNone)) {
      co_await StreamEvents(state, stream, target, req.version());
      break;
    }
    const std::string method(req.method_string());
    const std::string authorization(req[http::field::authorization]);
    const std::string origin(req[http::field::origin]);
    const std::string host(req[http::field::host]);
    AdminResponse r = HandleAdminRequest(
        state->handlers, AdminRequest{.method = method,
                                      .target = target,
                                      .authorization = authorization,
                                      .origin = origin,
                                      .host = host});
    http::response<http::string_body> res{static_cast<http::status>(r.status),
                                          req.version()};
    res.set(http::field::content_type, r.content_type);
    res.set(http::field::cache_control, "no-store");
    if (r.status == 401) res.set(http::field::www_authenticate, "Bearer");
    if (!r.download_name.empty()) {
      res.set(http::field::content_disposition,
              absl::StrCat("attachment; filename=\"", r.download_name, "\""));
    }
    res.keep_alive(req.keep_alive());
    if (req.method() == http::verb::head) {
      res.content_length(r.body.size());
    } else {
      res.body() = std::move(r.body);
      res.prepare_payload();
    }
    stream.expires_after(kReadTimeout);
    http::response_serializer<http::string_body> sr(res);
    if (req.method() == http::verb::head) {
      auto [wec, wn] = co_await http::async_write_header(stream, sr, kAwait);
      if (wec) break;
    } else {
      auto [wec, wn] = co_await http::async_write(stream, sr, kAwait);
      if (wec) break;
    }
    if (!res.keep_alive()) break;
  }
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

asio::awaitable<void> Accept(AdminServer::State* state) {
  for (;;) {
    auto [ec, socket] = co_await state->acceptor.async_accept(kAwait);
    if (ec) {
      if (ec == asio::error::operation_aborted || !state->acceptor.is_open()) {
        co_return;
      }
      continue;
    }
    asio::co_spawn(state->ioc, Serve(state, std::move(socket)), asio::detached);
  }
}

}  // namespace

AdminServer::AdminServer(std::shared_ptr<State> state)
    : state_(std::move(state)) {}

AdminServer::~AdminServer() { Stop(); }

absl::StatusOr<std::unique_ptr<AdminServer>> AdminServer::Start(
    const AdminConfig& config, AdminHandlers handlers) {
  auto state = std::make_shared<State>(std::move(handlers));
  boost::system::error_code ec;
  const asio::ip::address address =
      asio::ip::make_address(config.bind_address, ec);
  if (ec) {
    return absl::InvalidArgumentError(absl::StrCat(
        "bad admin bind address '", config.bind_address, "': ", ec.message()));
  }
  const tcp::endpoint endpoint(address, config.port);
  state->acceptor.open(endpoint.protocol(), ec);
  if (!ec) state->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) state->acceptor.bind(endpoint, ec);
  if (!ec)
    state->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on ", core::HostPort(config.bind_address, config.port),
        " for the admin port: ", ec.message()));
  }
  const tcp::endpoint bound = state->acceptor.local_endpoint(ec);
  std::unique_ptr<AdminServer> server(new AdminServer(state));
  server->address_ = core::HostPort(bound.address().to_string(), bound.port());
  asio::co_spawn(state->ioc, Accept(state.get()), asio::detached);
  server->thread_ = std::thread([raw = state.get()] {
    core::NameThisThread("matgto-admin");
    raw->ioc.run();
  });
  return server;
}

void AdminServer::Stop() {
  if (!thread_.joinable()) return;
  // Connections are dropped with the io_context: stopping it abandons their
  // coroutines, which the io_context destroys with the state.
  asio::post(state_->ioc, [state = state_.get()] {
    boost::system::error_code ignored;
    state->acceptor.close(ignored);
    state->ioc.stop();
  });
  thread_.join();
}

}  // namespace matgto::admin

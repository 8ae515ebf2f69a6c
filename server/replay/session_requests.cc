// SessionManager's request path, the core::ExchangeHandler the proxy calls
// from its I/O threads: a route resolves to a session under the reader
// lock, then the session decides. Nothing here blocks. (The control side,
// which opens, ends and lists sessions, is session_manager.cc.)
#include "absl/strings/str_cat.h"
#include "server/core/url.h"
#include "server/replay/session_manager.h"

namespace matgto::replay {

SessionManager::Resolved SessionManager::Resolve(
    const core::Route& route) const {
  absl::ReaderMutexLock lock(&mu_);
  if (route.listener != 0) {
    auto it = by_route_.find(route.listener);
    if (it == by_route_.end()) return {};
    return Resolved{true, it->second->cassette, it->second->faults,
                    it->second->id};
  }
  const OpenSession* s = nullptr;
  if (route.credential.empty()) {
    s = by_route_.at(0);
  } else {
    auto it = sessions_.find(route.credential);
    if (it == sessions_.end()) return {};
    s = it->second.get();
  }
  return Resolved{true, s->cassette, s->faults, s->id};
}

std::optional<core::Reply> SessionManager::OnConnect(
    const core::Route& route, const core::ConnectTarget& target) {
  Resolved to = Resolve(route);
  if (!to.known)
    return core::Reply{unknown_session_response_, "unknown-session"};
  // An intercepted tunnel's requests each come to OnRequest.
  if (!target.relayed) return std::nullopt;
  const std::string authority = core::HostPort(target.host, target.port);
  if (to.cassette == nullptr) {
    if (options_.default_mode == v1::PASSTHROUGH) return std::nullopt;
    return core::Reply{
        std::make_shared<const core::HttpResponse>(core::MakeErrorResponse(
            503, "no-cassette",
            absl::StrCat(
                "matgto: no cassette is in use, so the tunnel to ", authority,
                " (--no-intercept: relayed byte for byte) was not opened. "
                "Start one with `matgto record NAME` or `matgto use NAME "
                "--mode passthrough`, or run the server with --mode "
                "passthrough.\n"))),
        "no-cassette"};
  }
  if (to.cassette->mode() == v1::REPLAY) {
    return core::Reply{
        std::make_shared<const core::HttpResponse>(core::MakeErrorResponse(
            403, "no-intercept-refused",
            absl::StrCat(
                "matgto: ", authority,
                " matches --no-intercept, so its tunnel would be relayed to "
                "the network byte for byte and could not be recorded; replay "
                "never touches the network, so it is refused. Remove the "
                "host from --no-intercept to record and replay it.\n"))),
        "no-intercept-refused"};
  }
  return std::nullopt;
}

core::Decision SessionManager::OnRequest(const core::Route& route,
                                         const core::HttpRequest& request) {
  Resolved to = Resolve(route);
  if (!to.known) {
    return core::Reply{unknown_session_response_, "unknown-session"};
  }
  // A fault that answers instead is decided first, so that it uses up no
  // recorded answer; the others shape what the session decided.
  const std::optional<v1::Fault> fault = to.faults->Pick(request);
  core::Decision decision;
  if (fault.has_value() && ReplacesAnswer(*fault)) {
    decision = Replacement(*fault);
  } else if (to.cassette != nullptr) {
    decision = to.cassette->OnRequest(request);
  } else if (options_.default_mode == v1::PASSTHROUGH) {
    decision = core::Forward{0};
  } else {
    decision = core::Reply{no_cassette_response_, "no-cassette"};
  }
  if (fault.has_value()) {
    if (!ReplacesAnswer(*fault)) Shape(*fault, decision);
    Log({absl::StrCat("session ", to.session_id, ": fault ",
                      DescribeFault(*fault), " on ", request.method, " ",
                      request.url)});
  }
  return decision;
}

void SessionManager::OnForwarded(const core::Forward& ticket,
                                 const core::HttpRequest& request,
                                 const core::HttpResponse& response,
                                 const core::ExchangeTiming& timing) {
  std::shared_ptr<CassetteSession> session;
  {
    absl::ReaderMutexLock lock(&mu_);
    auto it = by_ticket_.find(ticket.ticket);
    if (it != by_ticket_.end()) session = it->second;
  }
  // An exchange whose session has ended is not recorded into another one.
  if (session == nullptr) return;
  if (ticket.fault.empty()) {
    session->OnForwarded(request, response, timing);
    return;
  }
  core::ExchangeTiming noted = timing;
  noted.fault = ticket.fault;
  session->OnForwarded(request, response, noted);
}

core::WsDecision SessionManager::OnWebSocket(const core::Route& route,
                                             const core::HttpRequest& upgrade) {
  Resolved to = Resolve(route);
  if (!to.known) {
    return core::Reply{unknown_session_response_, "unknown-session"};
  }
  core::WsDecision decision;
  if (to.cassette != nullptr) {
    decision = to.cassette->OnWebSocket(upgrade);
  } else if (options_.default_mode == v1::PASSTHROUGH) {
    decision = core::WsRelay{0, nullptr};
  } else {
    return core::Reply{no_cassette_response_, "no-cassette"};
  }
  if (std::holds_alternative<core::Reply>(decision)) return decision;
  if (std::optional<v1::Fault> fault =
          to.faults->Pick(upgrade, /*websocket=*/true)) {
    ShapeWebSocket(*fault, decision);
    Log({absl::StrCat("session ", to.session_id, ": fault ",
                      DescribeFault(*fault), " on ", upgrade.url)});
  }
  return decision;
}

void SessionManager::OnForwardFailed(const core::Forward& ticket,
                                     const core::HttpRequest&,
                                     const std::string&) {
  std::shared_ptr<CassetteSession> session;
  {
    absl::ReaderMutexLock lock(&mu_);
    auto it = by_ticket_.find(ticket.ticket);
    if (it != by_ticket_.end()) session = it->second;
  }
  if (session != nullptr) session->OnForwardFailed();
}

}  // namespace matgto::replay

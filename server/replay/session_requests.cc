// SessionManager's request path, the core::ExchangeHandler the proxy calls
// from its I/O threads: a route resolves to a session under the reader
// lock, then the session decides. Nothing here blocks. (The control side,
// which opens, ends and lists sessions, is session_manager.cc,
// session_end.cc and session_status.cc.)
#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/core/url.h"
#include "server/replay/miss.h"
#include "server/replay/session_manager.h"

namespace matgto::replay {
namespace {

v1::SessionEvent FaultNote(const std::string& session, std::string message) {
  v1::SessionEvent note;
  note.set_kind(v1::SessionEvent::KIND_NOTE);
  note.set_session(session);
  note.set_message(std::move(message));
  return note;
}

// A failed forward's status as the proxy sends it (the reason is its
// X-Matgto-Error code).
int FailedStatus(absl::string_view reason) {
  return absl::StrContains(reason, "timeout") ? 504 : 502;
}

}  // namespace

void SessionManager::Observe(const Resolved& to,
                             const core::HttpRequest& request,
                             const core::Reply* reply,
                             const CassetteSession::Note& note,
                             absl::Time started, bool websocket) const {
  observe::Observer& observer = *options_.observer;
  const std::string& cassette =
      to.cassette != nullptr ? to.cassette->name() : std::string();
  if (note.miss.has_value()) {
    v1::Miss miss = observe::SanitizeMiss(*note.miss);
    std::string explanation = ExplainMiss(miss, cassette, note.recordings);
    observer.OnMiss(to.session_id, cassette, std::move(miss),
                    std::move(explanation));
  }
  // A forward is reported when it completes (OnForwarded/OnForwardFailed).
  if (reply == nullptr && !websocket) return;
  observe::ExchangeRecord record{
      .session = to.session_id,
      .cassette = cassette,
      .mode = to.cassette != nullptr                     ? to.cassette->mode()
              : options_.default_mode == v1::PASSTHROUGH ? v1::PASSTHROUGH
                                                         : v1::MODE_UNSPECIFIED,
      .request = &request,
      .duration = absl::Now() - started,
      .websocket = websocket};
  if (reply != nullptr) {
    record.status = reply->response != nullptr ? reply->response->status : 0;
    record.bytes_out =
        reply->response != nullptr ? reply->response->body.size() : 0;
    record.error = reply->error;
    record.result = reply->error.empty()    ? v1::RESULT_REPLAYED
                    : note.miss.has_value() ? v1::RESULT_MISSED
                                            : v1::RESULT_ERROR;
  } else {
    // A WebSocket session replayed or relayed: its upgrade.
    record.status = 101;
    record.result = record.mode == v1::REPLAY   ? v1::RESULT_REPLAYED
                    : record.mode == v1::RECORD ? v1::RESULT_RECORDED
                                                : v1::RESULT_PASSED_THROUGH;
  }
  observer.OnExchange(record);
}

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
  const absl::Time started =
      options_.observer != nullptr ? absl::Now() : absl::Time();
  CassetteSession::Note note;
  const std::optional<v1::Fault> fault = to.faults->Pick(request);
  core::Decision decision;
  bool replaced = false;
  if (fault.has_value() && ReplacesAnswer(*fault)) {
    decision = Replacement(*fault);
    replaced = true;
  } else if (to.cassette != nullptr) {
    decision = to.cassette->OnRequest(
        request, options_.observer != nullptr ? &note : nullptr);
  } else if (options_.default_mode == v1::PASSTHROUGH) {
    decision = core::Forward{.ticket = 0, .store = false};
  } else {
    decision = core::Reply{no_cassette_response_, "no-cassette"};
  }
  Conclude(to, request, fault, replaced, note, started, decision);
  return decision;
}

std::optional<core::Decision> SessionManager::OnPartialRequest(
    const core::Route& route, const core::HttpRequest& partial) {
  Resolved to = Resolve(route);
  if (!to.known) {
    return core::Decision(
        core::Reply{unknown_session_response_, "unknown-session"});
  }
  const absl::Time started =
      options_.observer != nullptr ? absl::Now() : absl::Time();
  CassetteSession::Note note;
  std::optional<core::Decision> decision;
  if (to.cassette != nullptr) {
    decision = to.cassette->OnPartialRequest(
        partial, options_.observer != nullptr ? &note : nullptr);
  } else if (options_.default_mode == v1::PASSTHROUGH) {
    decision = core::Forward{.ticket = 0, .store = false};
  } else {
    decision = core::Reply{no_cassette_response_, "no-cassette"};
  }
  if (!decision.has_value()) return std::nullopt;
  // Faults apply once the stream is decided: one that answers instead
  // then replaces a recording already taken for it.
  const std::optional<v1::Fault> fault = to.faults->Pick(partial);
  const bool replaced = fault.has_value() && ReplacesAnswer(*fault);
  if (replaced) decision = Replacement(*fault);
  Conclude(to, partial, fault, replaced, note, started, *decision);
  return decision;
}

void SessionManager::Conclude(const Resolved& to,
                              const core::HttpRequest& request,
                              const std::optional<v1::Fault>& fault,
                              bool replaced, const CassetteSession::Note& note,
                              absl::Time started, core::Decision& decision) {
  if (fault.has_value()) {
    if (!ReplacesAnswer(*fault)) Shape(*fault, decision);
    Log({FaultNote(
        to.session_id,
        absl::StrCat("session ", to.session_id, ": fault ",
                     DescribeFault(*fault), " on ", request.method, " ",
                     observe::RedactQueryValues(request.url)))});
  }
  if (options_.observer != nullptr) {
    core::Reply* reply = std::get_if<core::Reply>(&decision);
    if (replaced && reply != nullptr && reply->error.empty()) {
      // The fault's own answer: not a replay.
      core::Reply shown = *reply;
      shown.error = "fault";
      Observe(to, request, &shown, note, started, false);
    } else {
      Observe(to, request, reply, note, started, false);
    }
  }
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
  if (options_.observer != nullptr) {
    const bool records = session != nullptr && session->records_forwards();
    options_.observer->OnExchange(observe::ExchangeRecord{
        .session = session != nullptr ? absl::string_view(session->session_id())
                                      : kDefaultSessionId,
        .cassette = session != nullptr ? absl::string_view(session->name())
                                       : absl::string_view(),
        .mode = session != nullptr ? session->mode() : v1::PASSTHROUGH,
        .request = &request,
        .status = response.status,
        .result = records ? v1::RESULT_RECORDED : v1::RESULT_PASSED_THROUGH,
        .duration = timing.total,
        .bytes_out =
            std::max<uint64_t>(response.body.size(), timing.relayed_bytes),
        .error = ticket.fault.empty() ? absl::string_view() : "fault",
        .forwarded = true});
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
  const absl::Time started =
      options_.observer != nullptr ? absl::Now() : absl::Time();
  CassetteSession::Note note;
  core::WsDecision decision;
  if (to.cassette != nullptr) {
    decision = to.cassette->OnWebSocket(
        upgrade, options_.observer != nullptr ? &note : nullptr);
  } else if (options_.default_mode == v1::PASSTHROUGH) {
    decision = core::WsRelay{0, nullptr};
  } else {
    decision = core::Reply{no_cassette_response_, "no-cassette"};
  }
  if (options_.observer != nullptr) {
    Observe(to, upgrade, std::get_if<core::Reply>(&decision), note, started,
            true);
  }
  if (std::holds_alternative<core::Reply>(decision)) return decision;
  if (std::optional<v1::Fault> fault =
          to.faults->Pick(upgrade, /*websocket=*/true)) {
    ShapeWebSocket(*fault, decision);
    Log({FaultNote(to.session_id,
                   absl::StrCat("session ", to.session_id, ": fault ",
                                DescribeFault(*fault), " on ",
                                observe::RedactQueryValues(upgrade.url)))});
  }
  return decision;
}

void SessionManager::OnNotStored(const core::Forward& ticket,
                                 const core::HttpRequest& request,
                                 const std::string& why) {
  const std::shared_ptr<CassetteSession> session =
      ReportForwardFailed(ticket, request, "response-too-large-to-store");
  if (session != nullptr) session->OnNotStored(request, why);
}

void SessionManager::OnForwardFailed(const core::Forward& ticket,
                                     const core::HttpRequest& request,
                                     const std::string& reason) {
  const std::shared_ptr<CassetteSession> session =
      ReportForwardFailed(ticket, request, reason);
  if (session != nullptr) session->OnForwardFailed();
}

std::shared_ptr<CassetteSession> SessionManager::ReportForwardFailed(
    const core::Forward& ticket, const core::HttpRequest& request,
    const std::string& reason) {
  std::shared_ptr<CassetteSession> session;
  {
    absl::ReaderMutexLock lock(&mu_);
    auto it = by_ticket_.find(ticket.ticket);
    if (it != by_ticket_.end()) session = it->second;
  }
  if (options_.observer != nullptr) {
    options_.observer->OnExchange(observe::ExchangeRecord{
        .session = session != nullptr ? absl::string_view(session->session_id())
                                      : kDefaultSessionId,
        .cassette = session != nullptr ? absl::string_view(session->name())
                                       : absl::string_view(),
        .mode = session != nullptr ? session->mode() : v1::PASSTHROUGH,
        .request = &request,
        .status = FailedStatus(reason),
        .result = v1::RESULT_ERROR,
        .error = reason,
        .forwarded = true});
  }
  return session;
}

}  // namespace matgto::replay

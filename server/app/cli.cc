#include "server/app/cli.h"

#include <algorithm>
#include <cstdio>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"
#include "matgto/v1/control.grpc.pb.h"
#include "server/app/modes.h"

namespace matgto::app {
namespace {

using google::protobuf::util::TimeUtil;

std::unique_ptr<v1::ProxyControl::Stub> Connect(const CliTarget& target) {
  return ConnectControl(target);
}

void Prepare(grpc::ClientContext& ctx, const CliTarget& target) {
  PrepareCall(ctx, target);
}

int Fail(const CliTarget& target, const grpc::Status& status) {
  return ReportCallError(target, status);
}

std::string Counts(const v1::SessionInfo& s) {
  return absl::StrCat("recorded ", s.recorded(), ", replayed ", s.replayed(),
                      ", missed ", s.missed(), ", passed through ",
                      s.passed_through());
}

bool IsDefaultSession(const v1::SessionInfo& s) {
  return s.id().empty() || s.id() == "default";
}

void PrintSession(const v1::SessionInfo& s) {
  if (!IsDefaultSession(s)) {
    std::printf("session   %s (proxy http://%s%s%s)\n", s.id().c_str(),
                s.proxy_address().c_str(), s.owner().empty() ? "" : ", owner ",
                s.owner().c_str());
  }
  std::printf("cassette  %s\n", s.cassette().c_str());
  std::printf("mode      %s", ModeName(s.mode()).c_str());
  if (s.requested_mode() != s.mode()) {
    std::printf(" (asked for %s)", ModeName(s.requested_mode()).c_str());
  }
  std::printf("\n");
  if (s.mode() == v1::REPLAY) {
    std::printf("recorded interactions  %llu\n",
                static_cast<unsigned long long>(s.interactions()));
  }
  std::printf("exchanges %s\n", Counts(s).c_str());
  if (s.misses_size() > 0) {
    std::printf("misses:\n");
    for (const v1::Miss& m : s.misses()) {
      std::printf("  %s %s  [%s]\n", m.method().c_str(), m.url().c_str(),
                  m.reason().c_str());
      for (const v1::Candidate& c : m.closest()) {
        std::vector<std::string> diffs;
        for (const v1::FieldDifference& d : c.differences()) {
          diffs.push_back(absl::StrCat(d.field(), ": recorded '", d.recorded(),
                                       "', live '", d.live(), "'"));
        }
        std::printf("    closest #%llu %s %s%s%s\n",
                    static_cast<unsigned long long>(c.interaction_index()),
                    c.method().c_str(), c.url().c_str(),
                    diffs.empty() ? "" : " -- ",
                    absl::StrJoin(diffs, "; ").c_str());
      }
    }
  }
}

void PrintJson(const google::protobuf::Message& message) {
  std::string out;
  google::protobuf::util::JsonPrintOptions opts;
  opts.add_whitespace = true;
  opts.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(message, &out, opts);
  std::printf("%s", out.c_str());
}

int PrintStarted(const v1::SessionInfo& s, bool json) {
  if (json) {
    PrintJson(s);
    return 0;
  }
  if (!IsDefaultSession(s))
    std::printf("matgto: session %s: ", s.id().c_str());
  else
    std::printf("matgto: ");
  std::printf("cassette '%s' in use, mode %s", s.cassette().c_str(),
              ModeName(s.mode()).c_str());
  if (s.mode() == v1::REPLAY) {
    std::printf(" (%llu recorded interactions)",
                static_cast<unsigned long long>(s.interactions()));
  }
  std::printf("\n");
  if (!IsDefaultSession(s)) {
    std::printf("id     %s\nproxy  http://%s\n", s.id().c_str(),
                s.proxy_address().c_str());
    if (!s.proxy_url().empty())
      std::printf("or     %s\n", s.proxy_url().c_str());
    if (s.has_lease()) {
      std::printf("lease  %s (renew with RenewSession)\n",
                  absl::FormatDuration(
                      absl::Seconds(TimeUtil::DurationToSeconds(s.lease())))
                      .c_str());
    } else {
      std::printf("stop it with: matgto stop --session %s\n", s.id().c_str());
    }
  }
  return 0;
}

template <class Request>
void SetTarget(Request& req, const CliSession& session) {
  req.set_session(session.id);
  req.set_new_session(session.new_session);
  if (session.lease.has_value()) {
    *req.mutable_lease() = TimeUtil::NanosecondsToDuration(
        absl::ToInt64Nanoseconds(*session.lease));
  }
  req.set_owner(session.owner);
}

std::string Age(const google::protobuf::Duration& d) {
  return absl::FormatDuration(absl::Trunc(
      absl::Seconds(TimeUtil::DurationToSeconds(d)), absl::Seconds(1)));
}

}  // namespace

std::optional<absl::Duration> ParseCliDuration(const std::string& text) {
  absl::Duration d;
  if (absl::ParseDuration(text, &d)) return d;
  double seconds = 0;
  if (absl::SimpleAtod(text, &seconds)) return absl::Seconds(seconds);
  return std::nullopt;
}

int CliRecord(const CliTarget& target, const std::string& name,
              const v1::CassetteOptions& options, const CliSession& session) {
  auto stub = Connect(target);
  grpc::ClientContext ctx;
  Prepare(ctx, target);
  v1::StartRecordingRequest req;
  req.set_name(name);
  *req.mutable_options() = options;
  SetTarget(req, session);
  v1::StartRecordingResponse res;
  grpc::Status st = stub->StartRecording(&ctx, req, &res);
  if (!st.ok()) return Fail(target, st);
  return PrintStarted(res.session(), session.json);
}

// How long `matgto stop` waits for the save at least (--timeout raises it).
constexpr absl::Duration kStopSaveTimeout = absl::Minutes(10);

int CliStop(const CliTarget& target, const CliSession& session) {
  auto stub = Connect(target);
  // Stop returns once the recording is saved, which takes seconds for a
  // recording of a million exchanges: the call gets at least
  // kStopSaveTimeout, and says what it waits for when it takes a while.
  CliTarget saving = target;
  saving.timeout = std::max(target.timeout, kStopSaveTimeout);
  grpc::ClientContext ctx;
  Prepare(ctx, saving);
  v1::StopRecordingRequest req;
  req.set_session(session.id);
  v1::StopRecordingResponse res;
  absl::Notification returned;
  std::thread progress([&returned] {
    absl::Duration waited;
    while (!returned.WaitForNotificationWithTimeout(absl::Seconds(2))) {
      waited += absl::Seconds(2);
      std::fprintf(stderr, "matgto: saving the recording (%s)...\n",
                   absl::FormatDuration(waited).c_str());
    }
  });
  grpc::Status st = stub->StopRecording(&ctx, req, &res);
  returned.Notify();
  progress.join();
  if (!st.ok()) return Fail(saving, st);
  const v1::SessionSummary& s = res.summary();
  if (session.json) {
    PrintJson(s);
    return 0;
  }
  std::printf("matgto: stopped %scassette '%s' (%s)\n",
              IsDefaultSession(s.session())
                  ? ""
                  : absl::StrCat("session ", s.session().id(), ", ").c_str(),
              s.session().cassette().c_str(), Counts(s.session()).c_str());
  if (!s.saved_path().empty())
    std::printf("saved to %s\n", s.saved_path().c_str());
  if (s.unused_interactions_size() > 0) {
    std::printf("never used: interactions %s\n",
                absl::StrJoin(s.unused_interactions(), ", ").c_str());
  }
  for (const std::string& w : s.warnings()) {
    std::printf("warning: %s\n", w.c_str());
  }
  if (s.session().misses_size() > 0) PrintSession(s.session());
  return 0;
}

int CliReplay(const CliTarget& target, const std::string& name,
              const v1::CassetteOptions& options, const CliSession& session) {
  auto stub = Connect(target);
  grpc::ClientContext ctx;
  Prepare(ctx, target);
  v1::ReplayRequest req;
  req.set_name(name);
  *req.mutable_options() = options;
  SetTarget(req, session);
  v1::ReplayResponse res;
  grpc::Status st = stub->Replay(&ctx, req, &res);
  if (!st.ok()) return Fail(target, st);
  return PrintStarted(res.session(), session.json);
}

int CliUse(const CliTarget& target, const std::string& name, v1::Mode mode,
           const v1::CassetteOptions& options, const CliSession& session) {
  auto stub = Connect(target);
  grpc::ClientContext ctx;
  Prepare(ctx, target);
  v1::UseCassetteRequest req;
  req.set_name(name);
  req.set_mode(mode);
  *req.mutable_options() = options;
  SetTarget(req, session);
  v1::UseCassetteResponse res;
  grpc::Status st = stub->UseCassette(&ctx, req, &res);
  if (!st.ok()) return Fail(target, st);
  return PrintStarted(res.session(), session.json);
}

int CliSessions(const CliTarget& target, bool json) {
  auto stub = Connect(target);
  grpc::ClientContext ctx;
  Prepare(ctx, target);
  v1::GetStatusResponse res;
  grpc::Status st = stub->GetStatus(&ctx, {}, &res);
  if (!st.ok()) return Fail(target, st);
  if (json) {
    v1::GetStatusResponse only;
    *only.mutable_sessions() = res.sessions();
    *only.mutable_ended_sessions() = res.ended_sessions();
    only.set_max_sessions(res.max_sessions());
    PrintJson(only);
    return 0;
  }
  int open = 0;
  for (const v1::SessionInfo& s : res.sessions()) open += !IsDefaultSession(s);
  std::printf("%d open session%s (limit %u) besides the default one\n", open,
              open == 1 ? "" : "s", res.max_sessions());
  if (res.sessions_size() > 0) {
    std::printf("%-20s %-22s %-8s %-6s %-9s %-8s %-9s %s\n", "ID", "PROXY",
                "MODE", "AGE", "LEASE", "COUNTS", "CASSETTE", "OWNER");
  }
  for (const v1::SessionInfo& s : res.sessions()) {
    std::printf(
        "%-20s %-22s %-8s %-6s %-9s %-8s %-9s %s\n", s.id().c_str(),
        s.proxy_address().c_str(), ModeName(s.mode()).c_str(),
        Age(s.age()).c_str(), s.has_lease() ? Age(s.lease()).c_str() : "none",
        absl::StrCat(s.recorded(), "/", s.replayed(), "/", s.missed()).c_str(),
        s.cassette().c_str(), s.owner().c_str());
  }
  if (res.ended_sessions_size() > 0) {
    std::printf("recently ended:\n");
    for (const v1::SessionSummary& e : res.ended_sessions()) {
      std::printf("  %-20s %-13s %s  cassette '%s' (%s)%s%s\n",
                  e.session().id().c_str(), e.end_reason().c_str(),
                  TimeUtil::ToString(e.ended_at()).c_str(),
                  e.session().cassette().c_str(), Counts(e.session()).c_str(),
                  e.saved_path().empty() ? "" : ", saved to ",
                  e.saved_path().c_str());
    }
  }
  std::printf("(COUNTS: recorded/replayed/missed)\n");
  return 0;
}

int CliStatus(const CliTarget& target, bool json, const std::string& session) {
  auto stub = Connect(target);
  grpc::ClientContext ctx;
  Prepare(ctx, target);
  v1::GetStatusResponse res;
  grpc::Status st = stub->GetStatus(&ctx, {}, &res);
  if (!st.ok()) return Fail(target, st);
  if (!session.empty()) {
    for (const v1::SessionInfo& s : res.sessions()) {
      if (s.id() != session) continue;
      if (json) {
        PrintJson(s);
      } else {
        PrintSession(s);
      }
      return 0;
    }
    for (const v1::SessionSummary& e : res.ended_sessions()) {
      if (e.session().id() != session) continue;
      if (json) {
        PrintJson(e);
        return 0;
      }
      std::printf("session %s ended (%s at %s)\n", session.c_str(),
                  e.end_reason().c_str(),
                  TimeUtil::ToString(e.ended_at()).c_str());
      PrintSession(e.session());
      return 0;
    }
    std::fprintf(stderr, "matgto: NOT_FOUND: no open session has id '%s'\n",
                 session.c_str());
    return 1;
  }
  if (json) {
    PrintJson(res);
    return 0;
  }
  std::printf(
      "matgto %s (control API v%u), up %s\n", res.version().c_str(),
      res.api_version(),
      absl::FormatDuration(
          absl::Trunc(absl::Seconds(TimeUtil::DurationToSeconds(res.uptime())),
                      absl::Seconds(1)))
          .c_str());
  std::printf("proxy     %s\ncontrol   %s\ncassettes %s\ndefault   %s\n",
              res.proxy_address().c_str(), res.control_address().c_str(),
              res.cassette_dir().c_str(), ModeName(res.default_mode()).c_str());
  if (res.has_session()) {
    PrintSession(res.session());
  } else {
    std::printf("cassette  (none in use: the proxy %s)\n",
                res.default_mode() == v1::PASSTHROUGH
                    ? "forwards requests without recording"
                    : "answers 503 no-cassette");
  }
  for (const v1::SessionInfo& s : res.sessions()) {
    if (IsDefaultSession(s)) continue;
    std::printf("\n");
    PrintSession(s);
  }
  return 0;
}

int CliShutdown(const CliTarget& target, absl::Duration grace, bool json) {
  auto stub = Connect(target);
  grpc::ClientContext ctx;
  Prepare(ctx, target);
  v1::ShutdownRequest req;
  *req.mutable_grace() =
      TimeUtil::NanosecondsToDuration(absl::ToInt64Nanoseconds(grace));
  v1::ShutdownResponse res;
  grpc::Status st = stub->Shutdown(&ctx, req, &res);
  if (!st.ok()) return Fail(target, st);
  if (json) {
    std::printf("{\"shutting_down\": true}\n");
    return 0;
  }
  std::printf("matgto: server at %s is shutting down\n", target.server.c_str());
  return 0;
}

int CliCaExport(const CliTarget& target, bool json) {
  auto stub = Connect(target);
  grpc::ClientContext ctx;
  Prepare(ctx, target);
  v1::GetCACertificateResponse res;
  grpc::Status st = stub->GetCACertificate(&ctx, {}, &res);
  if (!st.ok()) return Fail(target, st);
  if (json) {
    PrintJson(res);
    return 0;
  }
  std::printf("%s", res.pem().c_str());
  return 0;
}

}  // namespace matgto::app

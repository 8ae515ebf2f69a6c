#include "server/app/tail_cli.h"

#include <grpcpp/client_context.h>

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"
#include "matgto/v1/control.grpc.pb.h"
#include "server/observe/observer.h"

namespace matgto::app {
namespace {

using google::protobuf::util::TimeUtil;

std::string Clock(const google::protobuf::Timestamp& t) {
  return absl::FormatTime(
      "%H:%M:%E3S", absl::FromUnixNanos(TimeUtil::TimestampToNanoseconds(t)),
      absl::UTCTimeZone());
}

std::string Where(const std::string& session, const std::string& cassette) {
  return cassette.empty() ? session : absl::StrCat(session, "/", cassette);
}

}  // namespace

std::string FormatEventLine(const v1::Event& event) {
  std::string line;
  if (event.dropped() > 0) {
    absl::StrAppend(&line, "(", event.dropped(),
                    " events lost: this watcher read too slowly)\n");
  }
  absl::StrAppend(&line, Clock(event.time()), " ");
  switch (event.kind_case()) {
    case v1::Event::kExchange: {
      const v1::ExchangeEvent& e = event.exchange();
      absl::StrAppend(
          &line, Where(e.session(), e.cassette()), " ", e.method(), " ",
          e.url(), " -> ", e.status(), " ", observe::ResultLabel(e.result()),
          e.error().empty() ? "" : absl::StrCat(" (", e.error(), ")"), " ",
          absl::FormatDuration(
              absl::Nanoseconds(TimeUtil::DurationToNanoseconds(e.duration()))),
          ", ", e.bytes_in(), " B in, ", e.bytes_out(), " B out");
      break;
    }
    case v1::Event::kMiss:
      absl::StrAppend(&line, "MISS ",
                      Where(event.miss().session(), event.miss().cassette()),
                      ": ", event.miss().explanation());
      break;
    case v1::Event::kSession:
      absl::StrAppend(&line, event.session().message());
      break;
    case v1::Event::KIND_NOT_SET:
      absl::StrAppend(&line, "(an event this client does not know)");
      break;
  }
  return line;
}

int CliTail(const CliTarget& target, const std::string& session,
            const std::string& cassette, bool json) {
  std::unique_ptr<v1::ProxyControl::Stub> stub = ConnectControl(target);
  grpc::ClientContext ctx;  // no deadline: it follows until stopped
  AddToken(ctx, target);
  v1::WatchEventsRequest request;
  request.set_session(session);
  request.set_cassette(cassette);
  std::unique_ptr<grpc::ClientReader<v1::Event>> reader =
      stub->WatchEvents(&ctx, request);
  reader->WaitForInitialMetadata();
  v1::Event event;
  bool announced = false;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  while (true) {
    if (!announced) {
      // Subscribed (or failed, which Finish tells): the line scripts wait
      // for before they drive traffic.
      std::fprintf(
          stderr, "matgto: following events of %s%s%s\n",
          session.empty() ? "every session" : ("session " + session).c_str(),
          cassette.empty() ? "" : ", cassette ", cassette.c_str());
      std::fflush(stderr);
      announced = true;
    }
    if (!reader->Read(&event)) break;
    std::string line;
    if (json) {
      if (!google::protobuf::util::MessageToJsonString(event, &line, options)
               .ok()) {
        continue;
      }
    } else {
      line = FormatEventLine(event);
    }
    std::fprintf(stdout, "%s\n", line.c_str());
    std::fflush(stdout);
  }
  grpc::Status status = reader->Finish();
  if (status.ok()) {
    std::fprintf(stderr, "matgto: the server ended the event stream\n");
    return 0;
  }
  return ReportCallError(target, status);
}

}  // namespace matgto::app

// `matgto cassette ls` and `show`: the cassettes of a side in a table, and
// the interactions of one (kind, method, URL, status, body sizes, time;
// then a summary of its WebSocket session or gRPC call, and with
// descriptors its gRPC messages as JSON).
#include <algorithm>
#include <array>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "google/protobuf/util/time_util.h"
#include "server/app/cassette_cli.h"
#include "server/app/cassettes.h"
#include "server/app/grpc_cli.h"
#include "server/cassette/codec.h"
#include "server/core/grpc.h"
#include "server/core/url.h"

namespace matgto::app {
namespace {

using google::protobuf::util::TimeUtil;

std::string FormatTime(const google::protobuf::Timestamp& t) {
  if (t.seconds() == 0 && t.nanos() == 0) return "-";
  google::protobuf::Timestamp seconds;
  seconds.set_seconds(t.seconds());
  return TimeUtil::ToString(seconds);
}

std::string FormatDuration(const google::protobuf::Duration& d) {
  const absl::Duration duration =
      absl::Nanoseconds(TimeUtil::DurationToNanoseconds(d));
  if (duration == absl::ZeroDuration()) return "-";
  return absl::FormatDuration(absl::Trunc(duration, absl::Microseconds(1)));
}

std::string Status(const v1::HttpResponse& res) {
  return res.status() == 0 ? std::string("-") : absl::StrCat(res.status());
}

// One row of `show`: index, kind, method, URL, status, request body bytes,
// response body bytes, time; then free text.
struct Row {
  std::array<std::string, 8> cells;
  std::string extra;
  // Lines printed under the row (gRPC messages as JSON).
  std::vector<std::string> details{};
};

std::string WsSummary(const v1::WebSocketSession& ws) {
  int client = 0, server = 0, text = 0, binary = 0, control = 0;
  for (const v1::WsMessage& m : ws.messages()) {
    (m.direction() == v1::CLIENT_TO_SERVER ? client : server)++;
    if (m.kind() == v1::WS_TEXT) {
      ++text;
    } else if (m.kind() == v1::WS_BINARY) {
      ++binary;
    } else {
      ++control;
    }
  }
  std::string out = absl::StrCat(ws.messages_size(), " messages (", client,
                                 " from client, ", server, " from server; ",
                                 text, " text, ", binary, " binary");
  if (control > 0) absl::StrAppend(&out, ", ", control, " ping/pong");
  absl::StrAppend(&out, ")");
  if (ws.has_close()) {
    absl::StrAppend(&out, ", close ", ws.close().code());
    if (!ws.close().reason().empty()) {
      absl::StrAppend(&out, " '", ws.close().reason(), "'");
    }
    absl::StrAppend(&out, " by ",
                    ws.close().initiator() == v1::CLIENT_TO_SERVER   ? "client"
                    : ws.close().initiator() == v1::SERVER_TO_CLIENT ? "server"
                                                                     : "?");
  } else {
    absl::StrAppend(&out, ", no close");
  }
  return out;
}

// "1 message (5 B)", "3 messages (3, 3, 3 B)", or why the body does not
// split into gRPC messages.
std::string GrpcMessages(absl::string_view body) {
  absl::StatusOr<std::vector<core::GrpcMessage>> messages =
      core::SplitGrpcMessages(body);
  if (!messages.ok()) return std::string(messages.status().message());
  std::vector<size_t> sizes;
  for (const core::GrpcMessage& m : *messages) sizes.push_back(m.data.size());
  return absl::StrCat(sizes.size(),
                      sizes.size() == 1 ? " message" : " messages",
                      sizes.empty() ? "" : " (", absl::StrJoin(sizes, ", "),
                      sizes.empty() ? "" : " B)");
}

// A gRPC call: service/method, its messages each way, its status.
std::string GrpcSummary(const core::HttpRequest& request,
                        const core::HttpResponse& response) {
  std::string method = request.url;
  if (auto parts = core::ParseAbsoluteUrl(request.url); parts.ok()) {
    method = parts->path.size() > 1 ? parts->path.substr(1) : parts->path;
  }
  const core::GrpcStatus status = core::GrpcStatusOf(response);
  std::string out = absl::StrCat(method, ": sent ", GrpcMessages(request.body),
                                 ", got ", GrpcMessages(response.body));
  if (status.code < 0) {
    absl::StrAppend(&out, ", no grpc-status");
  } else {
    absl::StrAppend(&out, ", ", core::GrpcCodeName(status.code));
    if (!status.message.empty()) {
      absl::StrAppend(&out, " \"", status.message, "\"");
    }
  }
  return out;
}

Row RowFor(const v1::Interaction& it) {
  if (it.has_websocket()) {
    const v1::WebSocketSession& ws = it.websocket();
    return Row{
        {absl::StrCat(it.index()), "ws", ws.upgrade_request().method(),
         ws.upgrade_request().url(), Status(ws.upgrade_response()), "-", "-",
         FormatDuration(ws.has_close() ? ws.close().since_open()
                                       : ws.timing().total())},
        WsSummary(ws)};
  }
  const v1::HttpExchange& http = it.http();
  const core::HttpRequest request = cassette::FromProto(http.request());
  const bool grpc = core::IsGrpc(request);
  const char* kind = grpc                                         ? "grpc"
                     : http.response().http_version() == "HTTP/2" ? "h2"
                                                                  : "http";
  return Row{
      {absl::StrCat(it.index()), kind, http.request().method(),
       http.request().url(), Status(http.response()),
       absl::StrCat(http.request().body().size()),
       absl::StrCat(http.response().body().size()),
       FormatDuration(http.timing().total())},
      grpc ? GrpcSummary(request, cassette::FromProto(http.response())) : ""};
}

}  // namespace

int CliCassetteList(const CassetteCliTarget& target,
                    const std::string& prefix) {
  auto cassettes = OpenCassettes(target);
  if (!cassettes.ok()) return ReportCassetteError(target, cassettes.status());
  auto list = (*cassettes)->List(prefix);
  if (!list.ok()) return ReportCassetteError(target, list.status());
  if (list->empty()) {
    std::printf("no cassettes%s in %s\n",
                prefix.empty()
                    ? ""
                    : absl::StrCat(" starting with '", prefix, "'").c_str(),
                (*cassettes)->Where().c_str());
    return 0;
  }
  size_t width = 4;
  for (const v1::CassetteInfo& c : *list)
    width = std::max(width, c.name().size());
  std::printf("%-*s  %12s  %10s  %-6s  %s\n", static_cast<int>(width), "NAME",
              "INTERACTIONS", "BYTES", "FORMAT", "UPDATED");
  for (const v1::CassetteInfo& c : *list) {
    std::printf("%-*s  %12llu  %10llu  %-6s  %s\n", static_cast<int>(width),
                c.name().c_str(),
                static_cast<unsigned long long>(c.interactions()),
                static_cast<unsigned long long>(c.size_bytes()),
                c.format().c_str(), FormatTime(c.updated_at()).c_str());
  }
  return 0;
}

int CliCassetteShow(const CassetteCliTarget& target, const std::string& name,
                    const std::string& descriptor_set) {
  auto cassettes = OpenCassettes(target);
  if (!cassettes.ok()) return ReportCassetteError(target, cassettes.status());
  auto c = (*cassettes)->Get(name);
  if (!c.ok()) return ReportCassetteError(target, c.status());
  auto decoder = GrpcDecoderFor(*c, descriptor_set);
  if (!decoder.ok()) return ReportCassetteError(target, decoder.status());
  std::printf("cassette     %s (schema %u, written by %s)\n", c->name().c_str(),
              c->schema_version(),
              c->written_by().empty() ? "?" : c->written_by().c_str());
  std::printf("created      %s\nupdated      %s\n",
              FormatTime(c->created_at()).c_str(),
              FormatTime(c->updated_at()).c_str());
  std::printf("interactions %d\n", c->interactions_size());
  if (c->interactions_size() == 0) return 0;

  const Row header{{"#", "KIND", "METHOD", "URL", "STATUS", "REQ BYTES",
                    "RESP BYTES", "TIME"},
                   ""};
  std::vector<Row> rows;
  for (const v1::Interaction& it : c->interactions()) {
    rows.push_back(RowFor(it));
    if (*decoder != nullptr && rows.back().cells[1] == "grpc") {
      rows.back().details = GrpcDetails(**decoder, it.http());
    }
  }
  std::array<size_t, 8> width{};
  auto measure = [&width](const Row& r) {
    for (size_t i = 0; i < width.size(); ++i) {
      width[i] = std::max(width[i], r.cells[i].size());
    }
  };
  measure(header);
  for (const Row& r : rows) measure(r);
  // Numbers right-aligned, text left-aligned.
  constexpr std::array<bool, 8> kRight = {true, false, false, false,
                                          true, true,  true,  true};
  auto print = [&](const Row& r) {
    std::string line;
    for (size_t i = 0; i < width.size(); ++i) {
      const std::string& cell = r.cells[i];
      const std::string pad(width[i] - cell.size(), ' ');
      absl::StrAppend(&line, i == 0 ? "" : "  ", kRight[i] ? pad : "", cell,
                      kRight[i] ? "" : pad);
    }
    if (!r.extra.empty()) absl::StrAppend(&line, "  ", r.extra);
    line.erase(line.find_last_not_of(' ') + 1);  // no trailing blanks
    std::printf("%s\n", line.c_str());
    for (const std::string& d : r.details) std::printf("%s\n", d.c_str());
  };
  std::printf("\n");
  print(header);
  for (const Row& r : rows) print(r);
  return 0;
}

}  // namespace matgto::app

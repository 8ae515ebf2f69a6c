#include "server/app/fault_cli.h"

#include <cstdio>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "google/protobuf/util/json_util.h"
#include "server/cassette/proto_time.h"
#include "server/replay/faults.h"

namespace matgto::app {
namespace {

void PrintFaults(const google::protobuf::RepeatedPtrField<v1::Fault>& faults,
                 uint64_t seed) {
  if (faults.empty()) std::printf("no fault rules\n");
  for (const v1::Fault& f : faults) {
    std::printf("%s  (applied %llu)\n", replay::DescribeFault(f).c_str(),
                static_cast<unsigned long long>(f.applied()));
  }
  if (seed != 0) {
    std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
  }
}

void PrintJson(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions opts;
  opts.add_whitespace = true;
  opts.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(m, &out, opts);
  std::printf("%s", out.c_str());
}

int Report(const CliTarget& target, const grpc::Status& status) {
  return ReportCallError(target, status);
}

}  // namespace

absl::StatusOr<uint64_t> ParseBytes(absl::string_view text) {
  absl::string_view t = absl::StripAsciiWhitespace(text);
  size_t digits = 0;
  while (digits < t.size() &&
         (absl::ascii_isdigit(t[digits]) || t[digits] == '.')) {
    ++digits;
  }
  double number = 0;
  if (digits == 0 || !absl::SimpleAtod(t.substr(0, digits), &number)) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", text, "' is not a size such as 100KiB or 1MB"));
  }
  const std::string unit =
      absl::AsciiStrToLower(absl::StripAsciiWhitespace(t.substr(digits)));
  double factor = 0;
  if (unit.empty() || unit == "b") factor = 1;
  if (unit == "kb" || unit == "k") factor = 1e3;
  if (unit == "kib") factor = 1024;
  if (unit == "mb" || unit == "m") factor = 1e6;
  if (unit == "mib") factor = 1024.0 * 1024;
  if (unit == "gb") factor = 1e9;
  if (unit == "gib") factor = 1024.0 * 1024 * 1024;
  if (factor == 0) {
    return absl::InvalidArgumentError(absl::StrCat("unknown size unit '", unit,
                                                   "' in '", text,
                                                   "' (B, KB, KiB, MB, MiB)"));
  }
  return static_cast<uint64_t>(number * factor);
}

void FaultFlags::AddTo(CLI::App* cmd) {
  cmd->add_option("--method", method, "only requests with this method");
  cmd->add_option("--url", url, "only URLs this RE2 pattern finds a match in");
  cmd->add_option("--probability", probability,
                  "hit each matching request with this probability (0..1), "
                  "from the session's seeded generator");
  cmd->add_option("--every", every, "hit every Nth matching request");
  cmd->add_option("--first", first, "hit the first N matching requests");
  cmd->add_option("--seed", seed,
                  "reseed the session's generator (re-run a failing test "
                  "with the same sequence)");
  cmd->add_option("--status", status,
                  "answer this status instead (nothing is forwarded)");
  cmd->add_option("--header", headers,
                  "with --status: a header 'Name: value' (repeatable)");
  cmd->add_option("--body", body, "with --status: the body");
  cmd->add_option("--delay", delay,
                  "wait this long before the response starts (2s, 150ms)");
  cmd->add_flag("--hang", hang, "never answer: hold until the client gives up");
  cmd->add_flag("--reset", reset, "break the connection with a TCP RST");
  cmd->add_option("--reset-when", reset_when,
                  "with --reset: before-headers (default), after-headers or "
                  "mid-body")
      ->check(CLI::IsMember({"before-headers", "after-headers", "mid-body"}));
  cmd->add_option("--bandwidth", bandwidth,
                  "send the body at most this fast per second (100KiB, 1MB)");
  cmd->add_option("--ws-drop-after", ws_drop_after,
                  "WebSocket: drop the connection after the client got N "
                  "messages");
  cmd->add_option("--ws-delay", ws_delay,
                  "WebSocket: delay every message to the client (100ms)");
}

absl::StatusOr<v1::Fault> FaultFlags::Build() const {
  v1::Fault f;
  f.set_method(method);
  f.set_url_pattern(url);
  int selectors = (probability >= 0) + (every > 0) + (first > 0);
  if (selectors > 1) {
    return absl::InvalidArgumentError(
        "give at most one of --probability, --every and --first");
  }
  if (probability >= 0) f.set_probability(probability);
  if (every > 0) f.set_every_nth(every);
  if (first > 0) f.set_first_n(first);
  const bool ws = ws_drop_after > 0 || !ws_delay.empty();
  int actions =
      (status != 0) + !delay.empty() + hang + reset + !bandwidth.empty() + ws;
  if (actions != 1) {
    return absl::InvalidArgumentError(
        "give exactly one action: --status, --delay, --hang, --reset, "
        "--bandwidth, or --ws-drop-after/--ws-delay");
  }
  if (ws) {
    f.mutable_websocket()->set_drop_after_messages(ws_drop_after);
    if (!ws_delay.empty()) {
      std::optional<absl::Duration> d = ParseCliDuration(ws_delay);
      if (!d.has_value()) {
        return absl::InvalidArgumentError(
            absl::StrCat("--ws-delay must be a duration such as 100ms, got '",
                         ws_delay, "'"));
      }
      *f.mutable_websocket()->mutable_message_delay() =
          cassette::ToProtoDuration(*d);
    }
  }
  if (status != 0) {
    v1::StatusFault* s = f.mutable_status();
    s->set_code(status);
    s->set_body(body);
    for (const std::string& h : headers) {
      const size_t colon = h.find(':');
      if (colon == std::string::npos || colon == 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("--header must be 'Name: value', got '", h, "'"));
      }
      v1::Header* out = s->add_headers();
      out->set_name(
          std::string(absl::StripAsciiWhitespace(h.substr(0, colon))));
      out->set_value(
          std::string(absl::StripAsciiWhitespace(h.substr(colon + 1))));
    }
  }
  if (!delay.empty()) {
    std::optional<absl::Duration> d = ParseCliDuration(delay);
    if (!d.has_value()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--delay must be a duration such as 2s, got '", delay, "'"));
    }
    *f.mutable_delay() = cassette::ToProtoDuration(*d);
  }
  if (hang) f.mutable_hang();
  if (reset) {
    f.mutable_reset()->set_when(
        reset_when == "after-headers" ? v1::ResetFault::AFTER_HEADERS
        : reset_when == "mid-body"    ? v1::ResetFault::MID_BODY
                                      : v1::ResetFault::BEFORE_HEADERS);
  }
  if (!bandwidth.empty()) {
    absl::StatusOr<uint64_t> bytes = ParseBytes(bandwidth);
    if (!bytes.ok()) return bytes.status();
    f.set_bandwidth_bytes_per_second(*bytes);
  }
  return f;
}

int CliFaultAdd(const CliTarget& target, const std::string& session,
                const v1::Fault& fault, uint64_t seed, bool json) {
  auto stub = ConnectControl(target);
  grpc::ClientContext ctx;
  PrepareCall(ctx, target);
  v1::SetFaultsRequest req;
  req.set_session(session);
  req.set_seed(seed);
  *req.add_faults() = fault;
  v1::SetFaultsResponse res;
  grpc::Status st = stub->SetFaults(&ctx, req, &res);
  if (!st.ok()) return Report(target, st);
  if (json) {
    PrintJson(res);
    return 0;
  }
  std::printf("matgto: added fault %s\n",
              res.faults().empty()
                  ? "?"
                  : replay::DescribeFault(*res.faults().rbegin()).c_str());
  PrintFaults(res.faults(), res.seed());
  return 0;
}

int CliFaultList(const CliTarget& target, const std::string& session,
                 bool json) {
  auto stub = ConnectControl(target);
  grpc::ClientContext ctx;
  PrepareCall(ctx, target);
  // SetFaults with no rule changes nothing and returns the session's rules.
  v1::SetFaultsRequest req;
  req.set_session(session);
  v1::SetFaultsResponse res;
  grpc::Status st = stub->SetFaults(&ctx, req, &res);
  if (!st.ok()) return Report(target, st);
  if (json) {
    PrintJson(res);
    return 0;
  }
  PrintFaults(res.faults(), res.seed());
  return 0;
}

int CliFaultRemove(const CliTarget& target, const std::string& session,
                   const std::vector<std::string>& ids, bool json) {
  auto stub = ConnectControl(target);
  grpc::ClientContext ctx;
  PrepareCall(ctx, target);
  v1::ClearFaultsRequest req;
  req.set_session(session);
  for (const std::string& id : ids) req.add_ids(id);
  v1::ClearFaultsResponse res;
  grpc::Status st = stub->ClearFaults(&ctx, req, &res);
  if (!st.ok()) return Report(target, st);
  if (json) {
    PrintJson(res);
    return 0;
  }
  PrintFaults(res.faults(), 0);
  return 0;
}

}  // namespace matgto::app

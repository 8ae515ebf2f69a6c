#include "server/replay/faults.h"

#include <algorithm>

#include "absl/random/random.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/cassette/proto_time.h"

namespace matgto::replay {
namespace {

std::string ResetWhen(v1::ResetFault::When when) {
  switch (when) {
    case v1::ResetFault::AFTER_HEADERS:
      return "after-headers";
    case v1::ResetFault::MID_BODY:
      return "mid-body";
    default:
      return "before-headers";
  }
}

absl::Status Check(const v1::Fault& f) {
  const std::string which = absl::StrCat("fault rule ", DescribeFault(f));
  switch (f.action_case()) {
    case v1::Fault::ACTION_NOT_SET:
      return absl::InvalidArgumentError(
          "a fault rule needs an action: status, delay, hang, reset, "
          "bandwidth or websocket");
    case v1::Fault::kStatus:
      if (f.status().code() < 100 || f.status().code() > 999) {
        return absl::InvalidArgumentError(
            absl::StrCat(which, ": status must be 100..999"));
      }
      break;
    case v1::Fault::kDelay:
      if (f.delay().seconds() < 0 || f.delay().nanos() < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat(which, ": delay cannot be negative"));
      }
      break;
    case v1::Fault::kWebsocket:
      if (f.websocket().drop_after_messages() == 0 &&
          !(cassette::FromProtoDuration(f.websocket().message_delay()) >
            absl::ZeroDuration())) {
        return absl::InvalidArgumentError(absl::StrCat(
            which,
            ": a WebSocket fault drops after N messages or delays them"));
      }
      break;
    case v1::Fault::kBandwidthBytesPerSecond:
      if (f.bandwidth_bytes_per_second() == 0) {
        return absl::InvalidArgumentError(
            absl::StrCat(which, ": bandwidth must be at least 1 byte/s"));
      }
      break;
    default:
      break;
  }
  switch (f.selector_case()) {
    case v1::Fault::kProbability:
      if (!(f.probability() >= 0 && f.probability() <= 1)) {
        return absl::InvalidArgumentError(
            absl::StrCat(which, ": probability must be between 0 and 1, got ",
                         f.probability()));
      }
      break;
    case v1::Fault::kEveryNth:
      if (f.every_nth() == 0) {
        return absl::InvalidArgumentError(
            absl::StrCat(which, ": every_nth must be at least 1"));
      }
      break;
    case v1::Fault::kFirstN:
      if (f.first_n() == 0) {
        return absl::InvalidArgumentError(
            absl::StrCat(which, ": first_n must be at least 1"));
      }
      break;
    default:
      break;
  }
  return absl::OkStatus();
}

core::HttpResponse StatusResponse(const v1::Fault& f) {
  core::HttpResponse r;
  r.status = static_cast<int>(f.status().code());
  r.version = 11;
  for (const v1::Header& h : f.status().headers()) {
    r.headers.push_back({h.name(), h.value()});
  }
  r.headers.push_back({"X-Matgto-Fault", f.id()});
  r.body = f.status().body();
  r.headers.push_back({"Content-Length", std::to_string(r.body.size())});
  return r;
}

}  // namespace

std::string DescribeFault(const v1::Fault& f) {
  std::string action;
  switch (f.action_case()) {
    case v1::Fault::kStatus:
      action = absl::StrCat("status ", f.status().code());
      break;
    case v1::Fault::kDelay:
      action = absl::StrCat(
          "delay ",
          absl::FormatDuration(cassette::FromProtoDuration(f.delay())));
      break;
    case v1::Fault::kHang:
      action = "hang";
      break;
    case v1::Fault::kReset:
      action = absl::StrCat("reset ", ResetWhen(f.reset().when()));
      break;
    case v1::Fault::kBandwidthBytesPerSecond:
      action =
          absl::StrCat("bandwidth ", f.bandwidth_bytes_per_second(), " B/s");
      break;
    case v1::Fault::kWebsocket: {
      std::vector<std::string> ws;
      if (f.websocket().drop_after_messages() > 0) {
        ws.push_back(
            absl::StrCat("drop after ", f.websocket().drop_after_messages()));
      }
      const absl::Duration d =
          cassette::FromProtoDuration(f.websocket().message_delay());
      if (d > absl::ZeroDuration()) {
        ws.push_back(absl::StrCat("delay ", absl::FormatDuration(d)));
      }
      action = absl::StrCat("websocket ", absl::StrJoin(ws, ", "));
      break;
    }
    default:
      action = "(no action)";
  }
  std::vector<std::string> parts;
  if (!f.id().empty()) parts.push_back(f.id());
  parts.push_back(action);
  if (!f.method().empty()) parts.push_back(absl::StrCat("method ", f.method()));
  if (!f.url_pattern().empty()) {
    parts.push_back(absl::StrCat("url ~ ", f.url_pattern()));
  }
  switch (f.selector_case()) {
    case v1::Fault::kProbability:
      parts.push_back(absl::StrCat("probability ", f.probability()));
      break;
    case v1::Fault::kEveryNth:
      parts.push_back(absl::StrCat("every ", f.every_nth()));
      break;
    case v1::Fault::kFirstN:
      parts.push_back(absl::StrCat("first ", f.first_n()));
      break;
    default:
      break;
  }
  return absl::StrJoin(parts, " ");
}

FaultSet::FaultSet(uint64_t seed) {
  if (seed == 0) {
    absl::BitGen gen;
    seed = absl::Uniform<uint64_t>(absl::IntervalClosed, gen, 1,
                                   std::numeric_limits<uint32_t>::max());
  }
  seed_ = seed;
  generator_.seed(seed);
}

absl::StatusOr<std::vector<v1::Fault>> FaultSet::Add(
    const std::vector<v1::Fault>& faults, uint64_t seed) {
  // Validated and compiled before the lock.
  std::vector<Rule> fresh;
  for (const v1::Fault& f : faults) {
    if (absl::Status st = Check(f); !st.ok()) return st;
    Rule rule;
    rule.fault = f;
    rule.fault.set_applied(0);
    if (!f.url_pattern().empty()) {
      rule.url = std::make_unique<RE2>(f.url_pattern(), RE2::Quiet);
      if (!rule.url->ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("fault rule ", DescribeFault(f), ": bad RE2 pattern '",
                         f.url_pattern(), "': ", rule.url->error()));
      }
    }
    fresh.push_back(std::move(rule));
  }
  absl::MutexLock lock(&mu_);
  if (seed != 0) {
    seed_ = seed;
    generator_.seed(seed);
  }
  for (Rule& rule : fresh) {
    rule.fault.set_id(absl::StrCat("f", next_id_++));
    rules_.push_back(std::move(rule));
  }
  any_.store(!rules_.empty());
  std::vector<v1::Fault> out;
  for (const Rule& r : rules_) out.push_back(r.fault);
  return out;
}

absl::StatusOr<std::vector<v1::Fault>> FaultSet::Clear(
    const std::vector<std::string>& ids) {
  absl::MutexLock lock(&mu_);
  if (ids.empty()) {
    rules_.clear();
  } else {
    for (const std::string& id : ids) {
      if (std::none_of(rules_.begin(), rules_.end(),
                       [&](const Rule& r) { return r.fault.id() == id; })) {
        return absl::NotFoundError(
            absl::StrCat("this session has no fault rule '", id, "'"));
      }
    }
    std::erase_if(rules_, [&](const Rule& r) {
      return std::find(ids.begin(), ids.end(), r.fault.id()) != ids.end();
    });
  }
  any_.store(!rules_.empty());
  std::vector<v1::Fault> out;
  for (const Rule& r : rules_) out.push_back(r.fault);
  return out;
}

std::vector<v1::Fault> FaultSet::List() const {
  absl::MutexLock lock(&mu_);
  std::vector<v1::Fault> out;
  for (const Rule& r : rules_) out.push_back(r.fault);
  return out;
}

uint64_t FaultSet::seed() const {
  absl::MutexLock lock(&mu_);
  return seed_;
}

bool FaultSet::Selects(Rule& rule) {
  const uint64_t n = ++rule.matched;
  const v1::Fault& f = rule.fault;
  switch (f.selector_case()) {
    case v1::Fault::kProbability:
      return std::uniform_real_distribution<double>(0, 1)(generator_) <
             f.probability();
    case v1::Fault::kEveryNth:
      return n % f.every_nth() == 0;
    case v1::Fault::kFirstN:
      return n <= f.first_n();
    default:
      return true;
  }
}

std::optional<v1::Fault> FaultSet::Pick(const core::HttpRequest& request,
                                        bool websocket) {
  if (!any_.load(std::memory_order_relaxed)) return std::nullopt;
  absl::MutexLock lock(&mu_);
  for (Rule& rule : rules_) {
    const v1::Fault& f = rule.fault;
    if (f.has_websocket() != websocket) continue;
    if (!f.method().empty() &&
        !absl::EqualsIgnoreCase(f.method(), request.method)) {
      continue;
    }
    if (rule.url != nullptr && !RE2::PartialMatch(request.url, *rule.url)) {
      continue;
    }
    if (Selects(rule)) {
      rule.fault.set_applied(rule.fault.applied() + 1);
      return rule.fault;
    }
  }
  return std::nullopt;
}

bool ReplacesAnswer(const v1::Fault& f) {
  return f.has_status() || f.has_hang() ||
         (f.has_reset() && f.reset().when() != v1::ResetFault::AFTER_HEADERS &&
          f.reset().when() != v1::ResetFault::MID_BODY);
}

core::Decision Replacement(const v1::Fault& f) {
  if (f.has_status()) {
    return core::Reply{
        std::make_shared<const core::HttpResponse>(StatusResponse(f)), ""};
  }
  // The client gets nothing, so nothing is asked of the upstream.
  core::Reply reply{std::make_shared<const core::HttpResponse>(),
                    "fault-injected"};
  reply.delivery.breaks = f.has_hang()
                              ? core::Delivery::Break::kHang
                              : core::Delivery::Break::kResetBeforeHeaders;
  return reply;
}

void ShapeWebSocket(const v1::Fault& f, core::WsDecision& decision) {
  core::WsFaults faults{
      .drop_after_messages = f.websocket().drop_after_messages(),
      .message_delay =
          cassette::FromProtoDuration(f.websocket().message_delay())};
  if (auto* relay = std::get_if<core::WsRelay>(&decision)) {
    relay->faults = faults;
  } else if (auto* replay = std::get_if<core::WsReplay>(&decision)) {
    replay->faults = faults;
  }
}

void Shape(const v1::Fault& f, core::Decision& decision) {
  core::Delivery* delivery = nullptr;
  if (auto* forward = std::get_if<core::Forward>(&decision)) {
    forward->fault = DescribeFault(f);
    delivery = &forward->delivery;
  } else {
    delivery = &std::get<core::Reply>(decision).delivery;
  }
  switch (f.action_case()) {
    case v1::Fault::kDelay:
      delivery->first_byte_delay += cassette::FromProtoDuration(f.delay());
      break;
    case v1::Fault::kReset:
      delivery->breaks = f.reset().when() == v1::ResetFault::AFTER_HEADERS
                             ? core::Delivery::Break::kResetAfterHeaders
                             : core::Delivery::Break::kResetMidBody;
      break;
    case v1::Fault::kBandwidthBytesPerSecond:
      delivery->bytes_per_second = f.bandwidth_bytes_per_second();
      break;
    default:
      break;
  }
}

}  // namespace matgto::replay

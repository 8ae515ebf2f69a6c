#include "server/replay/recorder.h"

#include "google/protobuf/util/time_util.h"
#include "server/cassette/codec.h"

namespace matgto::replay {
namespace {

google::protobuf::Timestamp ToTimestamp(absl::Time t) {
  return google::protobuf::util::TimeUtil::NanosecondsToTimestamp(
      absl::ToUnixNanos(t));
}

}  // namespace

Recorder::Recorder(std::string name, v1::CassetteOptions options,
                   const cassette::Redactor& redactor, const core::Clock& clock)
    : redactor_(redactor), clock_(clock) {
  cassette_.set_name(std::move(name));
  *cassette_.mutable_options() = std::move(options);
  *cassette_.mutable_created_at() = ToTimestamp(clock_.Now());
}

void Recorder::AddHttp(const core::HttpRequest& request,
                       const core::HttpResponse& response,
                       const core::ExchangeTiming& timing) {
  core::HttpRequest req = request;
  core::HttpResponse res = response;
  redactor_.Redact(req);
  redactor_.Redact(res);
  v1::Interaction* interaction = cassette_.add_interactions();
  interaction->set_index(static_cast<uint64_t>(cassette_.interactions_size() - 1));
  *interaction->mutable_recorded_at() = ToTimestamp(clock_.Now());
  v1::HttpExchange* http = interaction->mutable_http();
  cassette::ToProto(req, *http->mutable_request());
  cassette::ToProto(res, *http->mutable_response());
  cassette::ToProto(timing, *http->mutable_timing());
}

v1::Cassette Recorder::Snapshot() const {
  v1::Cassette out = cassette_;
  *out.mutable_updated_at() = ToTimestamp(clock_.Now());
  return out;
}

}  // namespace matgto::replay

// WatchEvents: follows the event bus for one watcher. The watcher's queue
// is bounded (EventBus drops and counts for a slow one); this handler waits
// on it in slices so that a cancelled call or a closing server ends it
// promptly.
#include "absl/time/time.h"
#include "server/control/control_service.h"
#include "server/control/grpc_status.h"

namespace matgto::control {
namespace {

constexpr absl::Duration kPollSlice = absl::Milliseconds(250);

}  // namespace

grpc::Status ControlService::WatchEvents(
    grpc::ServerContext* context, const v1::WatchEventsRequest* request,
    grpc::ServerWriter<v1::Event>* writer) {
  absl::StatusOr<Grant> grant = Authorize(*context, "WatchEvents");
  if (!grant.ok()) return ToGrpcStatus(grant.status());
  if (!request->cassette().empty()) {
    if (absl::Status allowed =
            CheckCassette(*grant, request->cassette(), "WatchEvents");
        !allowed.ok()) {
      return ToGrpcStatus(allowed);
    }
  }
  if (events_ == nullptr) {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                        "this server publishes no events");
  }
  std::shared_ptr<observe::Subscription> sub = events_->Subscribe(
      observe::EventFilter{.session = request->session(),
                           .cassette = request->cassette(),
                           .cassette_prefix = grant->prefix});
  // Headers go out now, so the watcher knows it is subscribed before the
  // first event (a test can drive traffic right after).
  writer->SendInitialMetadata();
  while (!context->IsCancelled()) {
    std::optional<v1::Event> event = sub->Next(absl::Now() + kPollSlice);
    if (!event.has_value()) {
      if (sub->closed()) break;
      continue;
    }
    if (!writer->Write(*event)) break;
  }
  events_->Unsubscribe(sub);
  return grpc::Status::OK;
}

}  // namespace matgto::control

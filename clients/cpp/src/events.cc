// EventReader: the blocking reader of WatchEvents (client.cc starts the
// call). Cancel uses ClientContext::TryCancel, which is thread-safe and
// makes a blocked Read return false.
#include "event_reader_state.h"

namespace matgto {

EventReader::EventReader(std::unique_ptr<State> state)
    : state_(std::move(state)) {}
EventReader::EventReader(EventReader&&) noexcept = default;

EventReader& EventReader::operator=(EventReader&& other) noexcept {
  if (this != &other) {
    EventReader old(std::move(*this));  // cancels the current call
    state_ = std::move(other.state_);
  }
  return *this;
}

EventReader::~EventReader() {
  if (state_ == nullptr || state_->finished) return;
  Cancel();
  v1::Event ignored;
  while (state_->reader->Read(&ignored)) {
  }
  state_->reader->Finish();  // CANCELLED: ours
}

void EventReader::Cancel() {
  if (state_ == nullptr) return;
  state_->cancelled.store(true);
  state_->ctx.TryCancel();
}

bool EventReader::Next(v1::Event* event) {
  if (state_ == nullptr || state_->finished) return false;
  if (state_->reader->Read(event)) return true;
  state_->finished = true;
  grpc::Status st = state_->reader->Finish();
  if (st.ok() || state_->cancelled.load()) return false;
  ThrowError("WatchEvents", static_cast<absl::StatusCode>(st.error_code()),
             st.error_message());
}

}  // namespace matgto

// A recorded HTTP interaction written straight to protobuf's wire format,
// without building its messages: the bytes ToProto and SerializeToString
// give for the same values (interaction_wire_test.cc holds the two
// together), for the recording journal's hot path.
//
// Filling the messages, then serializing them, was a quarter of a recorded
// exchange's user-space instructions: each string copied in, checked as
// UTF-8 by protobuf's serializer (which only logs what it finds), sized,
// and copied out again.
// Here the record is written back to front, as upb does: a message's
// fields first, last field first, then its length and tag in front of
// them, so each value is checked and copied once, in one pass, and no
// size is computed ahead. protobuf's own helpers size and write the
// varints; what is hand-written is which field goes where, the layout of
// v1::JournalEntry, v1::Interaction, v1::HttpExchange and their parts in
// proto/matgto/v1/cassette.proto: a field added there and to ToProto must
// be added here too (the test fills every field ToProto sets).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/core/http.h"

namespace matgto::cassette {

// One journal record for an HTTP interaction (see Journal::AppendRecord),
// encoded in two steps: SetHttp with the exchange (what a recording drafts
// before its session's lock), then Finish with the index and time only
// the lock can give. Reused from one exchange to the next: a warm one
// does not allocate.
class HttpInteractionRecord {
 public:
  // Encodes the interaction's fields after its index and recorded_at:
  // fault (when not empty) and http, whose request, response and timing
  // are what ToProto(request), ToProto(response) and ToProto(timing) would
  // set. Drops what an earlier call encoded.
  void SetHttp(const core::HttpRequest& request,
               const core::HttpResponse& response,
               const core::ExchangeTiming& timing, absl::string_view fault);

  // The whole record: the varint length, then a v1::JournalEntry whose
  // interaction has `index`, `recorded_at` and the fields SetHttp
  // encoded. Valid until the next call on this object; may be called
  // again (with other values) for the same SetHttp.
  absl::string_view Finish(uint64_t index, absl::Time recorded_at);

  // Gives back its storage when it is over `keep` bytes (after an exchange
  // with a large body).
  void Trim(size_t keep);

 private:
  // The encoding sits at the end of buffer_; the fields SetHttp wrote are
  // its last fields_ bytes, with room for Finish's in front of them.
  std::string buffer_;
  size_t fields_ = 0;
};

}  // namespace matgto::cassette

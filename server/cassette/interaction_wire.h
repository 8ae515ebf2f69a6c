// A recorded HTTP interaction written straight to protobuf's wire format,
// without building its messages: the bytes ToProto and SerializeToString
// give for the same values (interaction_wire_test.cc holds the two
// together), for the recording journal's hot path.
//
// Filling the messages, then serializing them, was a quarter of a recorded
// exchange's user-space instructions: each string copied in, checked as
// UTF-8 by protobuf's serializer (which only logs what it finds), sized,
// and copied out again.
// Here each value is sized and copied once. protobuf's own helpers write
// the tags and varints; what is hand-written is which field goes where,
// the layout of v1::Interaction, v1::HttpExchange and their parts in
// proto/matgto/v1/cassette.proto: a field added there and to ToProto must
// be added here too (the test fills every field ToProto sets).
#pragma once

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/core/http.h"

namespace matgto::cassette {

// Appends to `out` the fields of a v1::Interaction after its index and
// recorded_at: fault (when not empty) and http, whose request, response and
// timing are what ToProto(request), ToProto(response) and ToProto(timing)
// would set.
void AppendHttpInteractionTail(const core::HttpRequest& request,
                               const core::HttpResponse& response,
                               const core::ExchangeTiming& timing,
                               absl::string_view fault, std::string& out);

// Appends to `out` a journal record (see Journal::AppendInteraction): the
// varint length, then a v1::JournalEntry whose interaction has `index`,
// `recorded_at` and the fields `tail` holds (AppendHttpInteractionTail's).
void AppendJournalInteractionRecord(uint64_t index, absl::Time recorded_at,
                                    absl::string_view tail, std::string& out);

}  // namespace matgto::cassette

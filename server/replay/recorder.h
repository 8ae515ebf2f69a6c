// Accumulates recorded interactions, redacted, into a cassette.
#pragma once

#include <string>

#include "matgto/v1/cassette.pb.h"
#include "server/cassette/redact.h"
#include "server/core/clock.h"
#include "server/core/http.h"

namespace matgto::replay {

// Thread-safety: none; the owning session serialises calls.
class Recorder {
 public:
  Recorder(std::string name, v1::CassetteOptions options,
           const cassette::Redactor& redactor, const core::Clock& clock);

  // Redacts copies of the request and response and appends the exchange.
  void AddHttp(const core::HttpRequest& request,
               const core::HttpResponse& response,
               const core::ExchangeTiming& timing);

  size_t size() const { return static_cast<size_t>(cassette_.interactions_size()); }
  // The cassette as it stands, ready to save.
  v1::Cassette Snapshot() const;

 private:
  const cassette::Redactor& redactor_;
  const core::Clock& clock_;
  v1::Cassette cassette_;
};

}  // namespace matgto::replay

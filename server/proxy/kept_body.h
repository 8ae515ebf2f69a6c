// A response body relayed to the client as it arrives, as it is kept to be
// recorded: in memory, then (past core::kSpoolBodyBytes or --max-body-bytes,
// when the forward has a spooler) in a spool file; given up past the limit
// on what is stored (--max-stored-body-bytes with a spooler, else
// --max-body-bytes), or when the file cannot be written. The client gets
// the whole body either way. Lives in one exchange, on its strand.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "server/core/http.h"
#include "server/core/spool.h"
#include "server/proxy/config.h"

namespace matgto::proxy {

class KeptBody {
 public:
  // `keep`: whether the body is to be kept at all (false: passed through).
  KeptBody(const ProxyConfig& config, bool keep, core::BodySpooler* spooler);

  bool keeping() const { return keep_ && why_not_.empty(); }
  // FetchOutcome::not_stored for it: empty (it was kept, or none was to
  // be), or the sentence that says the client got the response but it was
  // not recorded, and why.
  std::string NotStored() const;

  // The next piece, from `authority` (named in NotStored()): appended to
  // `whole.body`, or to the spool file.
  void Add(std::string_view bytes, core::HttpResponse& whole,
           const std::string& authority);
  // Once the body is whole: a spooled one goes into `whole.spooled`.
  void Finish(core::HttpResponse& whole);

 private:
  void Spool(std::string_view bytes, core::HttpResponse& whole);
  void GiveUp(core::HttpResponse& whole, std::string why);

  const bool keep_;
  core::BodySpooler* const spooler_;
  const uint64_t limit_;
  const uint64_t in_memory_;
  uint64_t size_ = 0;
  std::unique_ptr<core::BodySpool> spool_;
  std::string why_not_;
};

}  // namespace matgto::proxy

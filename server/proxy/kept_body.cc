#include "server/proxy/kept_body.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace matgto::proxy {

KeptBody::KeptBody(const ProxyConfig& config, bool keep,
                   core::BodySpooler* spooler)
    : keep_(keep),
      spooler_(spooler),
      limit_(spooler_ != nullptr ? config.max_stored_body_bytes
                                 : config.max_body_bytes),
      in_memory_(
          std::min<uint64_t>(core::kSpoolBodyBytes, config.max_body_bytes)) {}

std::string KeptBody::NotStored() const {
  if (why_not_.empty()) return "";
  return absl::StrCat("matgto: ", why_not_,
                      ": the response was passed to the client whole, and not "
                      "recorded");
}

void KeptBody::Add(std::string_view bytes, core::HttpResponse& whole,
                   const std::string& authority) {
  if (!keeping()) return;
  if (size_ + bytes.size() > limit_) {
    GiveUp(whole, absl::StrCat(
                      "the response body from ", authority, " exceeds ", limit_,
                      spooler_ != nullptr ? " bytes (--max-stored-body-bytes)"
                                          : " bytes (--max-body-bytes)",
                      ", the most matgto stores"));
    return;
  }
  size_ += bytes.size();
  if (spool_ == nullptr && spooler_ != nullptr && size_ > in_memory_) {
    absl::StatusOr<std::unique_ptr<core::BodySpool>> opened = spooler_->Open();
    if (!opened.ok()) {
      GiveUp(whole, absl::StrCat("spooling the response body to disk failed: ",
                                 opened.status().message()));
      return;
    }
    spool_ = *std::move(opened);
    Spool(whole.body, whole);
    std::string().swap(whole.body);
  }
  if (spool_ != nullptr) {
    Spool(bytes, whole);
  } else {
    whole.body.append(bytes);
  }
}

void KeptBody::Finish(core::HttpResponse& whole) {
  if (spool_ == nullptr || !keeping()) return;
  absl::StatusOr<std::shared_ptr<const core::SpooledBody>> done =
      spool_->Finish();
  if (!done.ok()) {
    GiveUp(whole, absl::StrCat("spooling the response body to disk failed: ",
                               done.status().message()));
    return;
  }
  whole.spooled = *std::move(done);
}

void KeptBody::Spool(std::string_view bytes, core::HttpResponse& whole) {
  if (!keeping() || bytes.empty()) return;
  absl::Status st = spool_->Append(bytes);
  if (!st.ok()) {
    GiveUp(whole, absl::StrCat("spooling the response body to disk failed: ",
                               st.message()));
  }
}

void KeptBody::GiveUp(core::HttpResponse& whole, std::string why) {
  why_not_ = std::move(why);
  std::string().swap(whole.body);
  whole.chunks.clear();
  spool_.reset();
}

}  // namespace matgto::proxy

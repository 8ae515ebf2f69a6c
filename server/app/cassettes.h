// Where a `matgto cassette` command's cassettes are: a server (through the
// cassette management RPCs) or a local directory. `push`/`pull` copy
// between two of them.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "matgto/v1/cassette.pb.h"
#include "matgto/v1/control.pb.h"
#include "server/app/cli.h"
#include "server/cassette/store.h"

namespace matgto::app {

// Errors are absl statuses whatever the side, so that each command reports
// them once.
class Cassettes {
 public:
  // Bytes moved so far of one Get or Put; `total` is 0 when not known.
  using Progress = std::function<void(uint64_t done, uint64_t total)>;

  virtual ~Cassettes() = default;
  // With CassetteInfo.content_sha256 filled.
  virtual absl::StatusOr<std::vector<v1::CassetteInfo>> List(
      absl::string_view prefix) = 0;
  // Text bodies normalized into `body`.
  virtual absl::StatusOr<v1::Cassette> Get(absl::string_view name) = 0;
  // Stores `cassette` under its name, replacing one that exists.
  virtual absl::StatusOr<v1::CassetteInfo> Put(
      const v1::Cassette& cassette) = 0;
  virtual absl::Status Delete(absl::string_view name) = 0;
  // "server 127.0.0.1:8889" or "directory ./cassettes", for messages.
  virtual std::string Where() const = 0;

  // Called as a transfer of the following Get/Put calls goes (a server's
  // chunks); sides that move no bytes never call it.
  void set_progress(Progress progress) { progress_ = std::move(progress); }

 protected:
  void ReportProgress(uint64_t done, uint64_t total) const {
    if (progress_) progress_(done, total);
  }

 private:
  Progress progress_;
};

}  // namespace matgto::app

// An in-memory cassette::CassetteStore for tests. It stores the serialized
// bytes (SerializeCassette) and parses them back on Load (ParseCassette), so a
// cassette goes through the same encoding as on disk. Saves can be made to
// fail, and every call can be counted; a hook can run during a save (to
// play what happens meanwhile), and journals can be made to fail.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "server/cassette/codec.h"
#include "server/cassette/name.h"
#include "server/cassette/store.h"
#include "server/core/status_macros.h"

namespace matgto::testing {

class MemoryCassetteStore final : public cassette::CassetteStore {
 public:
  absl::StatusOr<bool> Exists(absl::string_view name) const override {
    RETURN_IF_ERROR(cassette::ValidateCassetteName(name));
    absl::MutexLock lock(&mu_);
    return files_.count(std::string(name)) > 0;
  }

  absl::StatusOr<v1::Cassette> Load(absl::string_view name) const override {
    RETURN_IF_ERROR(cassette::ValidateCassetteName(name));
    absl::MutexLock lock(&mu_);
    auto it = files_.find(std::string(name));
    if (it == files_.end()) {
      return absl::NotFoundError(
          absl::StrCat("cassette '", name, "' does not exist"));
    }
    return cassette::ParseCassette(it->second, Describe(name));
  }

  absl::StatusOr<std::string> Save(const v1::Cassette& cassette) override {
    RETURN_IF_ERROR(cassette::ValidateCassetteName(cassette.name()));
    absl::MutexLock lock(&mu_);
    ++save_calls_;
    if (during_save_) {
      // Without the lock: the hook may call back into the code under test.
      std::function<void()> hook = during_save_;
      mu_.Unlock();
      hook();
      mu_.Lock();
    }
    if (!save_error_.ok()) return save_error_;
    files_[cassette.name()] = cassette::SerializeCassette(cassette);
    return Describe(cassette.name());
  }

  std::string Describe(absl::string_view name) const override {
    return absl::StrCat("memory:", name);
  }

  absl::StatusOr<std::unique_ptr<cassette::Journal>> StartJournal(
      absl::string_view name) override {
    absl::MutexLock lock(&mu_);
    if (!journal_error_.ok()) return journal_error_;
    return std::unique_ptr<cassette::Journal>();
  }

  // Test controls.
  void FailJournalsWith(absl::Status status) {
    absl::MutexLock lock(&mu_);
    journal_error_ = std::move(status);
  }
  // Runs `hook` inside every Save, before it stores anything.
  void DuringSave(std::function<void()> hook) {
    absl::MutexLock lock(&mu_);
    during_save_ = std::move(hook);
  }
  void FailSavesWith(absl::Status status) {
    absl::MutexLock lock(&mu_);
    save_error_ = std::move(status);
  }
  void PutBytes(std::string name, std::string bytes) {
    absl::MutexLock lock(&mu_);
    files_[std::move(name)] = std::move(bytes);
  }
  int save_calls() const {
    absl::MutexLock lock(&mu_);
    return save_calls_;
  }

 private:
  mutable absl::Mutex mu_;
  std::map<std::string, std::string> files_ ABSL_GUARDED_BY(mu_);
  absl::Status save_error_ ABSL_GUARDED_BY(mu_);
  absl::Status journal_error_ ABSL_GUARDED_BY(mu_);
  std::function<void()> during_save_ ABSL_GUARDED_BY(mu_);
  int save_calls_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace matgto::testing

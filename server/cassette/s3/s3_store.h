// Cassettes as objects in an S3-compatible store: s3://BUCKET/PREFIX/<name>.pb
// (or .json with CassetteFormat::kJson; loads read either, the configured
// format first).
//
//  - Saves are conditional on what this store last saw of the object
//    (etag_book.h): If-Match: <etag> to replace the version a recording
//    started from, If-None-Match: * for a cassette that did not exist. A
//    412/409 means another writer got there first: the save fails with
//    ABORTED naming s3://bucket/key and the cassette, and the recording is
//    kept in <cache-dir>/conflicts/<name>-<UTC time>.pb (the path is in the
//    message and in the kRecordingKeptPayload payload), never lost.
//  - Reads go through a local cache (object_cache.h) revalidated by ETag: a
//    conditional GET answered 304, or a HEAD (Exists) less than
//    kRevalidatedFor ago that saw the cached ETag, serves the cached bytes.
//    With `stale_cache`, an unreachable store serves a cached copy, with a
//    warning.
//  - Recording journals stay local (<cache-dir>/journals/...), with the
//    version the recording started from beside them; RecoverJournals
//    uploads what a crash left, conditionally.
//  - Errors: unreachable -> UNAVAILABLE (after retries), 403 ->
//    PERMISSION_DENIED, 404 -> NOT_FOUND, 412/409 -> ABORTED, a truncated or
//    corrupt object -> DATA_LOSS; messages name s3://bucket/key and what the
//    store said.
//
// Thread-safety: as CassetteStore. The members are the HTTP client (its own
// pool lock), the ETag book (its own mutex, see there), the cache (atomic
// renames) and the journal store (thread-safe); no lock is held across a
// request.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "server/cassette/s3/etag_book.h"
#include "server/cassette/s3/object_cache.h"
#include "server/cassette/s3/s3_client.h"
#include "server/cassette/s3/s3_config.h"
#include "server/cassette/store.h"

namespace matgto::cassette::s3 {

struct S3StoreOptions {
  S3Config s3;
  // Required: the cache, the journals and the kept conflicting recordings.
  std::string cache_dir{};
  // Serve a cached copy when the store cannot be reached.
  bool stale_cache = false;
  CassetteFormat format = CassetteFormat::kBinary;
  mode_t file_mode = kDefaultFileMode;
  // Warnings (a stale copy served, a cache that cannot be written); default:
  // stderr.
  std::function<void(const std::string&)> warn{};
};

class S3CassetteStore final : public CassetteStore {
 public:
  // How recently a HEAD must have seen the cached ETag for Load to skip
  // its own revalidation (Exists then Load, as starting a replay does).
  static constexpr absl::Duration kRevalidatedFor = absl::Seconds(2);

  // Creates the cache directories; makes no request. INVALID_ARGUMENT for
  // an empty cache directory or one that cannot be created.
  static absl::StatusOr<std::unique_ptr<S3CassetteStore>> Create(
      S3StoreOptions options);

  absl::StatusOr<bool> Exists(absl::string_view name) const override;
  absl::StatusOr<v1::Cassette> Load(absl::string_view name) const override;
  absl::StatusOr<std::string> Save(const v1::Cassette& cassette) override;
  // Binary: written to an unnamed file in the cache directory one
  // interaction at a time, then uploaded from it. JSON: whole.
  absl::StatusOr<std::string> SaveRecording(Recording& recording) override;
  std::string Describe(absl::string_view name) const override;
  absl::StatusOr<std::unique_ptr<Journal>> StartJournal(
      absl::string_view name) override;
  absl::StatusOr<std::vector<v1::CassetteInfo>> List(
      absl::string_view prefix) const override;
  absl::Status Delete(absl::string_view name) override;

  // Uploads the recordings that interrupted runs left in the journal
  // directory (each conditional on the version its recording started
  // from). One line per journal found.
  std::vector<std::string> RecoverJournals();

  // "s3://bucket/prefix".
  std::string Url() const { return FormatS3Url(options_.s3.location); }
  const S3StoreOptions& options() const { return options_; }
  std::string JournalDir() const;

 private:
  explicit S3CassetteStore(S3StoreOptions options);
  std::string Key(absl::string_view name, CassetteFormat format) const;
  // The object's bytes (through the cache); nullopt when it does not exist.
  absl::StatusOr<std::optional<std::string>> Fetch(absl::string_view name,
                                                   absl::string_view key,
                                                   bool& from_cache) const;
  // `error` (the store unreachable) unless a cached copy of `key` may be
  // served instead.
  absl::StatusOr<std::string> StaleOr(const absl::Status& error,
                                      absl::string_view name,
                                      absl::string_view key) const;
  absl::StatusOr<v1::Cassette> Parse(absl::string_view key,
                                     absl::string_view bytes) const;
  absl::Status Conflict(const v1::Cassette& cassette, absl::string_view key,
                        const S3Response& response) const;
  // Sends the PUT `request` of cassette `name`, conditional on what this
  // store last saw of it; on 409/412 returns `conflict`'s status, on success
  // gives `cache` the new ETag, removes a stale twin in the other format and
  // returns where it was saved.
  absl::StatusOr<std::string> Upload(
      const std::string& name, S3Request& request,
      absl::FunctionRef<absl::Status(const S3Response&)> conflict,
      absl::FunctionRef<absl::Status(const std::string& etag)> cache);
  void Warn(const std::string& line) const;

  const S3StoreOptions options_;
  std::unique_ptr<S3Client> client_{};
  ObjectCache cache_;
  mutable ETagBook book_;
  // Makes the names of upload files unique among concurrent saves.
  std::atomic<uint64_t> upload_counter_{0};
  std::unique_ptr<FileCassetteStore> journals_{};
};

}  // namespace matgto::cassette::s3

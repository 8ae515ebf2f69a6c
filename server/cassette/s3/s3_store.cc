#include "server/cassette/s3/s3_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/cassette/codec.h"
#include "server/cassette/json_codec.h"
#include "server/cassette/name.h"
#include "server/cassette/s3/s3_xml.h"
#include "server/cassette/spooled.h"
#include "server/core/status_macros.h"

namespace matgto::cassette::s3 {
namespace {

namespace fs = std::filesystem;

constexpr absl::string_view kBaseSuffix = ".pb.journal.base";

absl::string_view Extension(CassetteFormat format) {
  return format == CassetteFormat::kJson ? ".json" : ".pb";
}

CassetteFormat Other(CassetteFormat format) {
  return format == CassetteFormat::kJson ? CassetteFormat::kBinary
                                         : CassetteFormat::kJson;
}

std::string Age(absl::Time since) {
  if (since == absl::InfinitePast()) return "unknown age";
  return absl::StrCat(
      absl::FormatDuration(absl::Trunc(absl::Now() - since, absl::Seconds(1))),
      " old");
}

}  // namespace

S3CassetteStore::S3CassetteStore(S3StoreOptions options)
    : options_(std::move(options)),
      cache_((fs::path(options_.cache_dir) / "objects" /
              options_.s3.location.bucket)
                 .string(),
             options_.file_mode) {}

absl::StatusOr<std::unique_ptr<S3CassetteStore>> S3CassetteStore::Create(
    S3StoreOptions options) {
  if (options.cache_dir.empty()) {
    return absl::InvalidArgumentError(
        "an s3:// store needs a local cache directory (--cache-dir) for its "
        "cache, its recording journals and the recordings a conflict kept");
  }
  std::unique_ptr<S3CassetteStore> store(
      new S3CassetteStore(std::move(options)));
  ASSIGN_OR_RETURN(store->client_, S3Client::Create(store->options_.s3));
  ASSIGN_OR_RETURN(
      store->journals_,
      FileCassetteStore::Create(store->JournalDir(), CassetteFormat::kBinary,
                                store->options_.file_mode));
  return store;
}

std::string S3CassetteStore::JournalDir() const {
  fs::path dir =
      fs::path(options_.cache_dir) / "journals" / options_.s3.location.bucket;
  if (!options_.s3.location.prefix.empty()) {
    dir /= options_.s3.location.prefix;
  }
  return dir.string();
}

std::string S3CassetteStore::Key(absl::string_view name,
                                 CassetteFormat format) const {
  return ObjectKey(options_.s3.location, name, Extension(format));
}

std::string S3CassetteStore::Describe(absl::string_view name) const {
  return client_->Describe(Key(name, options_.format));
}

void S3CassetteStore::Warn(const std::string& line) const {
  if (options_.warn) {
    options_.warn(line);
  } else {
    std::fprintf(stderr, "matgto: WARNING: %s\n", line.c_str());
    std::fflush(stderr);
  }
}

absl::StatusOr<std::string> S3CassetteStore::StaleOr(
    const absl::Status& error, absl::string_view name,
    absl::string_view key) const {
  if (error.code() != absl::StatusCode::kUnavailable) return error;
  std::optional<ObjectCache::Entry> cached = cache_.Get(key);
  if (!cached.has_value()) return error;
  if (!options_.stale_cache) {
    return absl::UnavailableError(absl::StrCat(
        error.message(), "; a cached copy of cassette '", name, "' (",
        Age(cached->stored_at), ", ", cache_.PathFor(key),
        ") was not used: run with --stale-cache to replay cached cassettes "
        "while the store is unreachable"));
  }
  Warn(absl::StrCat("serving a possibly stale cached copy of cassette '", name,
                    "' (", Age(cached->stored_at), ", ETag ", cached->etag,
                    ") because the store cannot be reached (--stale-cache): ",
                    error.message()));
  return cached->bytes;
}

absl::StatusOr<bool> S3CassetteStore::Exists(absl::string_view name) const {
  RETURN_IF_ERROR(ValidateCassetteName(name));
  for (CassetteFormat format : {options_.format, Other(options_.format)}) {
    const std::string key = Key(name, format);
    absl::StatusOr<S3Response> r =
        client_->Send(S3Request{.method = "HEAD", .key = key});
    if (!r.ok()) {
      // A cached copy of either format stands in for the answer.
      for (CassetteFormat f : {options_.format, Other(options_.format)}) {
        if (StaleOr(r.status(), name, Key(name, f)).ok()) return true;
      }
      return StaleOr(r.status(), name, key).status();
    }
    if (r->status == 200) {
      book_.SawPresent(key, r->etag, absl::Now());
      return true;
    }
    if (r->status == 404) {
      book_.SawAbsent(key, absl::Now());
      continue;
    }
    return client_->Error(
        absl::StrCat("cannot check whether cassette '", name, "' exists at"),
        key, *r);
  }
  return false;
}

absl::StatusOr<std::optional<std::string>> S3CassetteStore::Fetch(
    absl::string_view name, absl::string_view key, bool& from_cache) const {
  from_cache = false;
  std::optional<ObjectCache::Entry> cached = cache_.Get(key);
  if (cached.has_value()) {
    const ETagBook::Seen seen = book_.Get(key);
    if (seen.kind == ETagBook::Kind::kPresent && seen.etag == cached->etag &&
        absl::Now() - seen.at < kRevalidatedFor) {
      from_cache = true;
      return std::optional<std::string>(std::move(cached->bytes));
    }
  }
  S3Request request{.method = "GET", .key = std::string(key)};
  if (cached.has_value()) {
    request.headers.emplace_back("If-None-Match", cached->etag);
  }
  absl::StatusOr<S3Response> r = client_->Send(request);
  if (!r.ok()) {
    ASSIGN_OR_RETURN(std::string stale, StaleOr(r.status(), name, key));
    from_cache = true;
    return std::optional<std::string>(std::move(stale));
  }
  if (r->status == 304 && cached.has_value()) {
    book_.SawPresent(key, cached->etag, absl::Now());
    from_cache = true;
    return std::optional<std::string>(std::move(cached->bytes));
  }
  if (r->status == 200) {
    book_.SawPresent(key, r->etag, absl::Now());
    if (!r->etag.empty()) {
      if (absl::Status st = cache_.Put(key, r->etag, r->body); !st.ok()) {
        Warn(std::string(st.message()));
      }
    }
    return std::optional<std::string>(std::move(r->body));
  }
  if (r->status == 404) {
    book_.SawAbsent(key, absl::Now());
    cache_.Remove(key);
    return std::optional<std::string>();
  }
  return client_->Error(absl::StrCat("cannot read cassette '", name, "' from"),
                        key, *r);
}

absl::StatusOr<v1::Cassette> S3CassetteStore::Parse(
    absl::string_view key, absl::string_view bytes) const {
  const std::string source = client_->Describe(key);
  if (absl::EndsWith(key, ".json")) return ParseCassetteJson(bytes, source);
  ASSIGN_OR_RETURN(v1::Cassette cassette, ParseCassette(bytes, source));
  NormalizeTextBodies(cassette);
  return cassette;
}

absl::StatusOr<v1::Cassette> S3CassetteStore::Load(
    absl::string_view name) const {
  RETURN_IF_ERROR(ValidateCassetteName(name));
  for (CassetteFormat format : {options_.format, Other(options_.format)}) {
    const std::string key = Key(name, format);
    bool from_cache = false;
    ASSIGN_OR_RETURN(std::optional<std::string> bytes,
                     Fetch(name, key, from_cache));
    if (!bytes.has_value()) continue;
    absl::StatusOr<v1::Cassette> cassette = Parse(key, *bytes);
    if (!cassette.ok()) {
      // A bad cached copy is not kept; a bad object is the store's to fix.
      if (from_cache) cache_.Remove(key);
      return cassette.status();
    }
    cassette->set_name(std::string(name));
    return cassette;
  }
  return absl::NotFoundError(absl::StrCat(
      "cassette '", name, "' does not exist (looked for ", Describe(name),
      " and its ", options_.format == CassetteFormat::kJson ? ".pb" : ".json",
      " twin)"));
}

absl::Status S3CassetteStore::Conflict(const v1::Cassette& cassette,
                                       absl::string_view key,
                                       const S3Response& response) const {
  const std::string& name = cassette.name();
  std::optional<S3Error> s3 = ParseS3Error(response.body);
  std::string message = absl::StrCat(
      "cassette '", name, "' was not saved: ", client_->Describe(key),
      " changed since this server read it (another recorder saved it first; "
      "the object store answered HTTP ",
      response.status,
      s3.has_value() ? absl::StrCat(" ", s3->code, ": ", s3->message) : "",
      "), and overwriting it would lose their recording");
  // The losing recording is kept locally, under a name of its own.
  const std::string kept_name = absl::StrCat(
      name, "-",
      absl::FormatTime("%Y%m%dT%H%M%E3SZ", absl::Now(), absl::UTCTimeZone()));
  absl::StatusOr<std::string> kept_path;
  auto conflicts = FileCassetteStore::Create(
      (fs::path(options_.cache_dir) / "conflicts").string(), options_.format,
      options_.file_mode);
  if (conflicts.ok()) {
    v1::Cassette copy = cassette;
    copy.set_name(kept_name);
    kept_path = (*conflicts)->Save(copy);
  } else {
    kept_path = conflicts.status();
  }
  if (!kept_path.ok()) {
    return absl::AbortedError(
        absl::StrCat(message, ". It could not be kept locally either (",
                     kept_path.status().message(),
                     "); it stays in the recording's journal"));
  }
  absl::Status status = absl::AbortedError(absl::StrCat(
      message, ". This recording is kept at ", *kept_path,
      ": compare it with theirs (`matgto cassette diff`), or replace theirs "
      "with it (`matgto cassette import ",
      *kept_path, " --name ", name, " --store ", Url(), "`)"));
  status.SetPayload(kRecordingKeptPayload, absl::Cord(*kept_path));
  return status;
}

absl::StatusOr<std::string> S3CassetteStore::Save(
    const v1::Cassette& cassette) {
  const std::string& name = cassette.name();
  RETURN_IF_ERROR(ValidateCassetteName(name));
  const std::string key = Key(name, options_.format);
  S3Request request{.method = "PUT", .key = key};
  // A PUT sends one body from memory: a recording's bodies in files
  // (spooled.h) are read in first.
  std::optional<v1::Cassette> whole;
  if (HasSpooledBodies(cassette)) {
    ASSIGN_OR_RETURN(whole, ReadSpooledBodies(cassette));
  }
  const v1::Cassette& sent = whole.has_value() ? *whole : cassette;
  if (options_.format == CassetteFormat::kJson) {
    ASSIGN_OR_RETURN(request.body, SerializeCassetteJson(sent));
  } else {
    request.body = SerializeCassette(sent);
  }
  return Upload(
      name, request,
      [&](const S3Response& r) { return Conflict(cassette, key, r); },
      [&](const std::string& etag) {
        return cache_.Put(key, etag, request.body);
      });
}

absl::StatusOr<std::string> S3CassetteStore::SaveRecording(
    Recording& recording) {
  if (options_.format != CassetteFormat::kBinary) {
    return CassetteStore::SaveRecording(recording);
  }
  const std::string& name = recording.head().name();
  RETURN_IF_ERROR(ValidateCassetteName(name));
  const std::string key = Key(name, options_.format);
  // Written to a file in the cache directory, one interaction at a time,
  // then uploaded from it a piece at a time: a long recording is never
  // whole in memory. The file has no name once open (removed at once).
  const std::string path =
      (fs::path(options_.cache_dir) /
       absl::StrCat(".upload-", ::getpid(), "-", upload_counter_.fetch_add(1)))
          .string();
  const int fd =
      ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
             options_.file_mode);
  if (fd < 0) {
    return absl::InternalError(absl::StrCat("cannot save cassette '", name,
                                            "': cannot create ", path, ": ",
                                            std::strerror(errno)));
  }
  ::unlink(path.c_str());
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  RETURN_IF_ERROR(WriteCassette(recording, fd, path));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    return absl::InternalError(
        absl::StrCat("cannot stat ", path, ": ", std::strerror(errno)));
  }
  S3Request request{.method = "PUT", .key = key};
  request.body_fd = fd;
  request.body_size = static_cast<uint64_t>(st.st_size);
  ASSIGN_OR_RETURN(request.body_sha256,
                   Sha256HexOfFile(fd, request.body_size, path));
  return Upload(
      name, request,
      [&](const S3Response& r) -> absl::Status {
        // Rare: read the recording again, whole, to keep it locally.
        absl::StatusOr<v1::Cassette> whole = recording.Whole();
        if (!whole.ok()) return whole.status();
        return Conflict(*whole, key, r);
      },
      [&](const std::string& etag) {
        return cache_.PutFile(key, etag, fd, request.body_size);
      });
}

absl::StatusOr<std::string> S3CassetteStore::Upload(
    const std::string& name, S3Request& request,
    absl::FunctionRef<absl::Status(const S3Response&)> conflict,
    absl::FunctionRef<absl::Status(const std::string& etag)> cache) {
  const std::string key = request.key;
  if (auto condition = book_.SaveCondition(key)) {
    request.headers.push_back(*std::move(condition));
  }
  absl::StatusOr<S3Response> r = client_->Send(request);
  if (!r.ok()) {
    return absl::Status(r.status().code(),
                        absl::StrCat("cannot save cassette '", name,
                                     "': ", r.status().message()));
  }
  if (r->status == 412 || r->status == 409) return conflict(*r);
  if (r->status != 200) {
    return client_->Error(absl::StrCat("cannot save cassette '", name, "' to"),
                          key, *r);
  }
  book_.SawPresent(key, r->etag, absl::Now());
  if (!r->etag.empty()) {
    if (absl::Status st = cache(r->etag); !st.ok()) {
      Warn(std::string(st.message()));
    }
  }
  // A twin in the other format would now be stale (as FileCassetteStore).
  const std::string other = Key(name, Other(options_.format));
  if (book_.Get(other).kind == ETagBook::Kind::kPresent) {
    absl::StatusOr<S3Response> d =
        client_->Send(S3Request{.method = "DELETE", .key = other});
    if (d.ok() && (d->status == 204 || d->status == 200 || d->status == 404)) {
      book_.SawAbsent(other, absl::Now());
      cache_.Remove(other);
    } else {
      Warn(absl::StrCat("saved cassette '", name, "' but could not remove ",
                        client_->Describe(other), ": ",
                        d.ok() ? absl::StrCat("HTTP ", d->status)
                               : std::string(d.status().message())));
    }
  }
  return client_->Describe(key);
}

absl::Status S3CassetteStore::Delete(absl::string_view name) {
  RETURN_IF_ERROR(ValidateCassetteName(name));
  bool removed = false;
  for (CassetteFormat format : {options_.format, Other(options_.format)}) {
    const std::string key = Key(name, format);
    ASSIGN_OR_RETURN(S3Response head,
                     client_->Send(S3Request{.method = "HEAD", .key = key}));
    if (head.status == 404) continue;
    if (head.status != 200) {
      return client_->Error(
          absl::StrCat("cannot delete cassette '", name, "' at"), key, head);
    }
    ASSIGN_OR_RETURN(S3Response r,
                     client_->Send(S3Request{.method = "DELETE", .key = key}));
    if (r.status != 204 && r.status != 200) {
      return client_->Error(
          absl::StrCat("cannot delete cassette '", name, "' at"), key, r);
    }
    book_.SawAbsent(key, absl::Now());
    cache_.Remove(key);
    removed = true;
  }
  if (!removed) {
    return absl::NotFoundError(absl::StrCat("cassette '", name,
                                            "' does not exist (looked for ",
                                            Describe(name), ")"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Journal>> S3CassetteStore::StartJournal(
    absl::string_view name) {
  ASSIGN_OR_RETURN(std::unique_ptr<Journal> journal,
                   journals_->StartJournal(name));
  // The version this recording is based on, so that its recovery after a
  // crash saves as conditionally as a clean stop would.
  std::ofstream base(journal->path() + ".base", std::ios::trunc);
  base << ETagBook::Serialize(book_.Get(Key(name, options_.format))) << "\n";
  return journal;
}

std::vector<std::string> S3CassetteStore::RecoverJournals() {
  const fs::path dir = JournalDir();
  std::vector<fs::path> bases;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (absl::EndsWith(it->path().string(), kBaseSuffix)) {
      bases.push_back(it->path());
    }
  }
  for (const fs::path& base : bases) {
    std::string name = base.lexically_relative(dir).generic_string();
    name.resize(name.size() - kBaseSuffix.size());
    std::ifstream in(base);
    std::string line;
    std::getline(in, line);
    if (ValidateCassetteName(name).ok()) {
      book_.Restore(Key(name, options_.format), ETagBook::Parse(line));
    }
  }
  std::vector<std::string> lines = journals_->RecoverJournals(this);
  for (const fs::path& base : bases) {
    std::string journal = base.string();
    journal.resize(journal.size() - 5);  // ".base"
    if (!fs::exists(journal, ec)) fs::remove(base, ec);
  }
  return lines;
}

}  // namespace matgto::cassette::s3

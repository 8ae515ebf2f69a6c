#include "server/cassette/spooled.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/message.h"
#include "server/cassette/codec.h"
#include "server/cassette/posix_file.h"
#include "server/core/status_macros.h"

namespace matgto::cassette {
namespace {

namespace fs = std::filesystem;
using google::protobuf::io::CodedOutputStream;

std::string BodyPrefix(absl::string_view journal_leaf) {
  return absl::StrCat(journal_leaf, ".body-");
}

class FileBodySpool final : public core::BodySpool {
 public:
  FileBodySpool(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~FileBodySpool() override {
    if (fd_ >= 0) ::close(fd_);
  }
  absl::Status Append(std::string_view bytes) override {
    if (fd_ < 0) return absl::FailedPreconditionError("spool file closed");
    RETURN_IF_ERROR(
        WriteAll(fd_, absl::string_view(bytes.data(), bytes.size()), path_));
    size_ += bytes.size();
    return absl::OkStatus();
  }
  absl::StatusOr<std::shared_ptr<const core::SpooledBody>> Finish() override {
    if (fd_ < 0) return absl::FailedPreconditionError("spool file closed");
    const int fd = std::exchange(fd_, -1);
    if (::close(fd) != 0) return ErrnoStatus("cannot close", path_);
    return std::make_shared<const core::SpooledBody>(
        core::SpooledBody{path_, size_});
  }

 private:
  int fd_;
  const std::string path_;
  uint64_t size_ = 0;
};

// Shared by the recording's forwards; outlives the journal if a forward
// in flight holds it (its files are then removed with the journal, and
// what it writes afterwards goes to files nobody refers to).
class FileBodySpooler final : public core::BodySpooler {
 public:
  FileBodySpooler(int dir_fd, std::string dir_path, std::string journal_leaf,
                  mode_t mode)
      : dir_fd_(dir_fd),
        dir_path_(std::move(dir_path)),
        prefix_(BodyPrefix(journal_leaf)),
        mode_(mode) {}
  ~FileBodySpooler() override {
    if (dir_fd_ >= 0) ::close(dir_fd_);
  }

  absl::StatusOr<std::unique_ptr<core::BodySpool>> Open() override {
    if (dir_fd_ < 0) {
      return absl::InternalError(
          absl::StrCat("cannot open the directory ", dir_path_));
    }
    const std::string leaf = absl::StrCat(prefix_, next_.fetch_add(1));
    const std::string path = (fs::path(dir_path_) / leaf).string();
    const int fd =
        ::openat(dir_fd_, leaf.c_str(),
                 O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode_);
    if (fd < 0) return ErrnoStatus("cannot create", path);
    if (::fchmod(fd, mode_) != 0) {
      absl::Status st = ErrnoStatus("cannot set the mode of", path);
      ::close(fd);
      return st;
    }
    return std::make_unique<FileBodySpool>(fd, path);
  }

 private:
  const int dir_fd_;
  const std::string dir_path_;
  const std::string prefix_;
  const mode_t mode_;
  std::atomic<uint64_t> next_{0};
};

const v1::HttpResponse* ResponseOf(const v1::Interaction& interaction) {
  if (!interaction.has_http() || !interaction.http().has_response()) {
    return nullptr;
  }
  return &interaction.http().response();
}

// Appends a length-delimited field's tag and length.
void AppendTagAndLength(std::string& out, int field, uint64_t length) {
  std::array<uint8_t, 20> buf;
  uint8_t* p = CodedOutputStream::WriteTagToArray(
      static_cast<uint32_t>(field) << 3 | 2, buf.data());
  p = CodedOutputStream::WriteVarint64ToArray(length, p);
  out.append(reinterpret_cast<const char*>(buf.data()),
             static_cast<size_t>(p - buf.data()));
}

uint64_t FieldSize(int field, uint64_t length) {
  return CodedOutputStream::VarintSize32(static_cast<uint32_t>(field) << 3 |
                                         2) +
         CodedOutputStream::VarintSize64(length) + length;
}

// Copies `size` bytes of the file at `path` to `out`.
absl::Status CopyFile(const std::string& path, uint64_t size, int out,
                      absl::string_view out_path) {
  const int in = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (in < 0) return ErrnoStatus("cannot open the spooled body", path);
  struct stat st {};
  absl::Status status;
  if (::fstat(in, &st) != 0) {
    status = ErrnoStatus("cannot stat", path);
  } else if (static_cast<uint64_t>(st.st_size) != size) {
    status = absl::DataLossError(
        absl::StrCat("the spooled body ", path, " has ", st.st_size,
                     " bytes where the recording says ", size));
  }
  uint64_t left = size;
  bool kernel_copy = true;
  std::string buffer;
  while (status.ok() && left > 0) {
    if (kernel_copy) {
      const ssize_t n = ::copy_file_range(in, nullptr, out, nullptr,
                                          std::min<uint64_t>(left, 1 << 30), 0);
      if (n > 0) {
        left -= static_cast<uint64_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno != EXDEV && errno != ENOSYS && errno != EINVAL &&
          errno != EOPNOTSUPP) {
        status = ErrnoStatus("cannot copy the spooled body into", out_path);
        break;
      }
      kernel_copy = false;  // not here: read and write
      buffer.resize(1 << 20);
    }
    const ssize_t n =
        ::read(in, buffer.data(), std::min<uint64_t>(left, buffer.size()));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      status = n == 0 ? absl::DataLossError(absl::StrCat("the spooled body ",
                                                         path, " ended early"))
                      : ErrnoStatus("cannot read", path);
      break;
    }
    status = WriteAll(out, absl::string_view(buffer.data(), n), out_path);
    left -= static_cast<uint64_t>(n);
  }
  ::close(in);
  return status;
}

}  // namespace

std::shared_ptr<core::BodySpooler> MakeBodySpooler(int dir_fd,
                                                   std::string dir_path,
                                                   std::string journal_leaf,
                                                   mode_t mode) {
  return std::make_shared<FileBodySpooler>(::fcntl(dir_fd, F_DUPFD_CLOEXEC, 0),
                                           std::move(dir_path),
                                           std::move(journal_leaf), mode);
}

void RemoveBodyFiles(int dir_fd, absl::string_view journal_leaf) {
  const int fd = ::fcntl(dir_fd, F_DUPFD_CLOEXEC, 0);
  if (fd < 0) return;
  DIR* dir = ::fdopendir(fd);
  if (dir == nullptr) {
    ::close(fd);
    return;
  }
  ::rewinddir(dir);
  const std::string prefix = BodyPrefix(journal_leaf);
  std::vector<std::string> doomed;
  while (const dirent* entry = ::readdir(dir)) {
    if (absl::StartsWith(entry->d_name, prefix))
      doomed.emplace_back(entry->d_name);
  }
  for (const std::string& leaf : doomed) ::unlinkat(dir_fd, leaf.c_str(), 0);
  ::closedir(dir);
}

void RemoveBodyFiles(const std::filesystem::path& dir,
                     absl::string_view journal_leaf) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  RemoveBodyFiles(fd, journal_leaf);
  ::close(fd);
}

bool HasSpooledBodies(const v1::Cassette& cassette) {
  for (const v1::Interaction& interaction : cassette.interactions()) {
    const v1::HttpResponse* response = ResponseOf(interaction);
    if (response != nullptr && response->has_spooled_body()) return true;
  }
  return false;
}

std::string ResolveSpooledBody(v1::Interaction& interaction,
                               absl::string_view journal_path) {
  if (!interaction.has_http() || !interaction.http().has_response() ||
      !interaction.http().response().has_spooled_body()) {
    return "";
  }
  const fs::path journal(std::string{journal_path});
  v1::SpooledBody& body =
      *interaction.mutable_http()->mutable_response()->mutable_spooled_body();
  const std::string leaf = fs::path(body.path()).filename().string();
  const fs::path file = journal.parent_path() / leaf;
  struct stat st {};
  if (!absl::StartsWith(leaf, BodyPrefix(journal.filename().string()))) {
    return absl::StrCat("interaction ", interaction.index(),
                        " dropped: its body file '", body.path(),
                        "' is not one of the journal's");
  }
  if (::lstat(file.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return absl::StrCat("interaction ", interaction.index(),
                        " dropped: its body file ", file.string(),
                        " is missing");
  }
  if (static_cast<uint64_t>(st.st_size) != body.size()) {
    return absl::StrCat("interaction ", interaction.index(),
                        " dropped: its body file ", file.string(), " has ",
                        st.st_size, " of its ", body.size(), " bytes");
  }
  body.set_path(file.string());
  return "";
}

void ResolveSpooledBodies(v1::Cassette& cassette,
                          absl::string_view journal_path,
                          std::vector<std::string>* dropped) {
  auto& interactions = *cassette.mutable_interactions();
  int kept = 0;
  for (int i = 0; i < interactions.size(); ++i) {
    v1::Interaction& interaction = interactions[i];
    std::string problem = ResolveSpooledBody(interaction, journal_path);
    if (!problem.empty()) {
      if (dropped != nullptr) dropped->push_back(std::move(problem));
      continue;
    }
    if (kept != i) interactions[kept].Swap(&interaction);
    ++kept;
  }
  interactions.DeleteSubrange(kept, interactions.size() - kept);
}

namespace {

// WriteCassette for the cassette `cassette` (its interactions ignored) with
// the interactions `for_each` hands out: for_each(visit) calls visit(const
// v1::Interaction&) for each, in order, and returns its first error.
template <typename ForEach>
absl::Status WriteCassetteFrom(const v1::Cassette& cassette, ForEach&& for_each,
                               int fd, absl::string_view path) {
  // The cassette's own bytes as SerializeCassette lays them out; each
  // interaction with a spooled body is written in three parts instead:
  // its fields but the exchange, then the exchange's fields but the
  // response, then the response's fields but the body, each behind the tag
  // and length of the whole it opens (computed from the body's size), and
  // the body last, copied from its file.
  v1::Cassette header;
  header.set_schema_version(kSchemaVersion);
  header.set_written_by(absl::StrCat("matgto ", MATGTO_VERSION));
  std::string out = header.SerializeAsString();
  const auto flush = [&]() -> absl::Status {
    absl::Status st = WriteAll(fd, out, path);
    out.clear();
    return st;
  };
  // Every field of the cassette but its interactions: the header written
  // around them (a parser keeps the last value of a scalar field).
  v1::Cassette rest;
  {
    // Copied field by field: a copy of the whole cassette would copy every
    // interaction too.
    const google::protobuf::Reflection* from = cassette.GetReflection();
    const google::protobuf::Reflection* to = rest.GetReflection();
    std::vector<const google::protobuf::FieldDescriptor*> fields;
    from->ListFields(cassette, &fields);
    for (const google::protobuf::FieldDescriptor* field : fields) {
      if (field->number() == v1::Cassette::kInteractionsFieldNumber) continue;
      switch (field->cpp_type()) {
        case google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE:
          to->MutableMessage(&rest, field)
              ->CopyFrom(from->GetMessage(cassette, field));
          break;
        case google::protobuf::FieldDescriptor::CPPTYPE_STRING:
          to->SetString(&rest, field, from->GetString(cassette, field));
          break;
        case google::protobuf::FieldDescriptor::CPPTYPE_UINT32:
          to->SetUInt32(&rest, field, from->GetUInt32(cassette, field));
          break;
        case google::protobuf::FieldDescriptor::CPPTYPE_BOOL:
          to->SetBool(&rest, field, from->GetBool(cassette, field));
          break;
        default:
          return absl::InternalError(
              absl::StrCat("cannot save cassette field ", field->name(),
                           " with spooled bodies (a type this writer does "
                           "not copy)"));
      }
    }
  }
  rest.AppendToString(&out);
  const absl::Status written =
      for_each([&](const v1::Interaction& interaction) -> absl::Status {
        const v1::HttpResponse* response = ResponseOf(interaction);
        if (response == nullptr || !response->has_spooled_body()) {
          AppendTagAndLength(out, v1::Cassette::kInteractionsFieldNumber,
                             interaction.ByteSizeLong());
          interaction.AppendToString(&out);
          if (out.size() >= (1 << 20)) return flush();
          return absl::OkStatus();
        }
        const v1::SpooledBody& spooled = response->spooled_body();
        v1::Interaction outer = interaction;
        v1::HttpExchange* exchange = outer.release_http();
        std::unique_ptr<v1::HttpExchange> exchange_owner(exchange);
        std::unique_ptr<v1::HttpResponse> inner(exchange->release_response());
        inner->clear_spooled_body();
        inner->clear_body();
        inner->clear_body_text();
        const uint64_t body_size = spooled.size();
        const uint64_t response_size =
            inner->ByteSizeLong() +
            FieldSize(v1::HttpResponse::kBodyFieldNumber, body_size);
        const uint64_t exchange_size =
            exchange->ByteSizeLong() +
            FieldSize(v1::HttpExchange::kResponseFieldNumber, response_size);
        const uint64_t interaction_size =
            outer.ByteSizeLong() +
            FieldSize(v1::Interaction::kHttpFieldNumber, exchange_size);
        AppendTagAndLength(out, v1::Cassette::kInteractionsFieldNumber,
                           interaction_size);
        outer.AppendToString(&out);
        AppendTagAndLength(out, v1::Interaction::kHttpFieldNumber,
                           exchange_size);
        exchange->AppendToString(&out);
        AppendTagAndLength(out, v1::HttpExchange::kResponseFieldNumber,
                           response_size);
        inner->AppendToString(&out);
        AppendTagAndLength(out, v1::HttpResponse::kBodyFieldNumber, body_size);
        RETURN_IF_ERROR(flush());
        return CopyFile(spooled.path(), body_size, fd, path);
      });
  RETURN_IF_ERROR(written);
  header.set_complete(true);
  header.AppendToString(&out);
  return flush();
}

}  // namespace

absl::Status WriteCassette(const v1::Cassette& cassette, int fd,
                           absl::string_view path) {
  return WriteCassetteFrom(
      cassette,
      [&](auto visit) -> absl::Status {
        for (const v1::Interaction& interaction : cassette.interactions()) {
          RETURN_IF_ERROR(visit(interaction));
        }
        return absl::OkStatus();
      },
      fd, path);
}

absl::Status WriteCassette(Recording& recording, int fd,
                           absl::string_view path) {
  return WriteCassetteFrom(
      recording.head(), [&](auto visit) { return recording.ForEach(visit); },
      fd, path);
}

absl::StatusOr<v1::Cassette> ReadSpooledBodies(const v1::Cassette& cassette) {
  v1::Cassette out = cassette;
  for (v1::Interaction& interaction : *out.mutable_interactions()) {
    if (!interaction.has_http() || !interaction.http().has_response() ||
        !interaction.http().response().has_spooled_body()) {
      continue;
    }
    v1::HttpResponse& response =
        *interaction.mutable_http()->mutable_response();
    const v1::SpooledBody spooled = response.spooled_body();
    response.clear_spooled_body();
    std::string& body = *response.mutable_body();
    body.resize(spooled.size());
    const int fd =
        ::open(spooled.path().c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
      return ErrnoStatus("cannot open the spooled body", spooled.path());
    uint64_t got = 0;
    while (got < spooled.size()) {
      const ssize_t n = ::read(fd, body.data() + got, spooled.size() - got);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      got += static_cast<uint64_t>(n);
    }
    ::close(fd);
    if (got != spooled.size()) {
      return absl::DataLossError(
          absl::StrCat("the spooled body ", spooled.path(), " has ", got,
                       " of its ", spooled.size(), " bytes"));
    }
  }
  return out;
}

}  // namespace matgto::cassette

#include "server/cassette/journal.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"

namespace matgto::cassette {

absl::StatusOr<std::unique_ptr<Journal>> Journal::Open(std::string path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return absl::InternalError(absl::StrCat("cannot create journal ", path,
                                            ": ", std::strerror(errno)));
  }
  return std::unique_ptr<Journal>(new Journal(std::move(path), fd));
}

Journal::Journal(std::string path, int fd)
    : path_(std::move(path)), fd_(fd), writer_([this] { WriterLoop(); }) {}

Journal::~Journal() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  writer_.join();
  if (fd_ >= 0) ::close(fd_);
}

void Journal::Append(v1::JournalEntry entry) {
  std::string record;
  const size_t size = entry.ByteSizeLong();
  record.resize(google::protobuf::io::CodedOutputStream::VarintSize32(
                    static_cast<uint32_t>(size)) +
                size);
  uint8_t* p = reinterpret_cast<uint8_t*>(record.data());
  p = google::protobuf::io::CodedOutputStream::WriteVarint32ToArray(
      static_cast<uint32_t>(size), p);
  entry.SerializeWithCachedSizesToArray(p);
  absl::MutexLock lock(&mu_);
  queue_.push_back(std::move(record));
  ++appended_;
}

void Journal::WriterLoop() {
  for (;;) {
    std::deque<std::string> batch;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](Journal* j) ABSL_NO_THREAD_SAFETY_ANALYSIS {
            return j->stop_ || !j->queue_.empty();
          },
          this));
      if (queue_.empty() && stop_) return;
      batch.swap(queue_);
    }
    absl::Status st;
    for (const std::string& record : batch) {
      size_t off = 0;
      while (st.ok() && off < record.size()) {
        ssize_t n = ::write(fd_, record.data() + off, record.size() - off);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
          st = absl::InternalError(absl::StrCat("cannot write journal ", path_,
                                                ": ", std::strerror(errno)));
          break;
        }
        off += static_cast<size_t>(n);
      }
    }
    absl::MutexLock lock(&mu_);
    if (!st.ok() && error_.ok()) error_ = st;
    written_ += batch.size();
  }
}

absl::Status Journal::Flush() {
  {
    absl::MutexLock lock(&mu_);
    std::pair<Journal*, uint64_t> wait{this, appended_};
    mu_.Await(absl::Condition(
        +[](std::pair<Journal*, uint64_t>* a) ABSL_NO_THREAD_SAFETY_ANALYSIS {
          return a->first->written_ >= a->second;
        },
        &wait));
  }
  if (::fsync(fd_) != 0) {
    return absl::InternalError(absl::StrCat("cannot fsync journal ", path_,
                                            ": ", std::strerror(errno)));
  }
  absl::MutexLock lock(&mu_);
  return error_;
}

absl::Status Journal::Remove() {
  absl::Status st = Flush();
  if (::unlink(path_.c_str()) != 0 && errno != ENOENT && st.ok()) {
    st = absl::InternalError(absl::StrCat("cannot remove journal ", path_, ": ",
                                          std::strerror(errno)));
  }
  return st;
}

absl::StatusOr<v1::Cassette> RecoverJournal(absl::string_view bytes,
                                            absl::string_view source) {
  google::protobuf::io::CodedInputStream in(
      reinterpret_cast<const uint8_t*>(bytes.data()),
      static_cast<int>(bytes.size()));
  in.SetTotalBytesLimit(INT32_MAX);
  v1::Cassette cassette;
  bool begun = false;
  for (;;) {
    uint32_t size = 0;
    if (!in.ReadVarint32(&size)) break;  // end, or a length cut short
    auto limit = in.PushLimit(static_cast<int>(size));
    v1::JournalEntry entry;
    const bool ok =
        entry.ParseFromCodedStream(&in) && in.ConsumedEntireMessage();
    in.PopLimit(limit);
    if (!ok) break;  // the entry in flight when the process died
    switch (entry.entry_case()) {
      case v1::JournalEntry::kBegin:
        // The cassette as recording started (empty for a new recording; the
        // loaded interactions when replay records its misses).
        cassette = entry.begin();
        begun = true;
        break;
      case v1::JournalEntry::kInteraction:
        *cassette.add_interactions() = entry.interaction();
        break;
      case v1::JournalEntry::kWsMessage:
      case v1::JournalEntry::kWsClose: {
        const uint64_t index = entry.has_ws_message()
                                   ? entry.ws_message().interaction_index()
                                   : entry.ws_close().interaction_index();
        if (index >= static_cast<uint64_t>(cassette.interactions_size()) ||
            !cassette.interactions(static_cast<int>(index)).has_websocket()) {
          break;  // refers to nothing recovered: skip
        }
        v1::WebSocketSession* ws =
            cassette.mutable_interactions(static_cast<int>(index))
                ->mutable_websocket();
        if (entry.has_ws_message()) {
          *ws->add_messages() = entry.ws_message().message();
        } else {
          *ws->mutable_close() = entry.ws_close().close();
        }
        break;
      }
      case v1::JournalEntry::ENTRY_NOT_SET:
        break;
    }
  }
  if (!begun) {
    return absl::DataLossError(
        absl::StrCat("journal ", source, " has no readable start entry"));
  }
  return cassette;
}

}  // namespace matgto::cassette

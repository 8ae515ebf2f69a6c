// Reading a journal back (journal.h): the recording it holds, streamed.
//
// A journal is a sequence of length-prefixed JournalEntry records. The
// recording starts at its last kBegin (which holds the cassette's fields and
// the interactions it started from; an earlier kBegin and everything before
// it is superseded, and may have been overwritten with zeros, each zero byte
// reading as an empty entry). Each kInteraction after it adds an
// interaction; WebSocket messages and closes name the interaction they
// belong to, which was recorded before them, so they cannot simply be
// written where they are read.
//
// ReadJournal therefore reads the file twice. The first pass (Scan) only
// looks at the first byte of each entry, which is its field's tag, and skips
// the rest; it notes where the last kBegin is, where the last complete entry
// ends (a crash may leave one cut short), and where each WebSocket entry is
// and which interaction it names. The second pass (JournalInteractions, run
// each time the recording is written) parses one interaction at a time, adds
// the WebSocket entries that name it (read again at their offsets), and
// hands it on. Memory is one interaction plus 16 bytes per WebSocket entry,
// whatever the size of the recording.
//
// Where the two passes differ from a single parse: an interaction entry
// that is complete but does not parse (not something a crash leaves) ends
// the recording there, as before; WebSocket entries after it still count.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <climits>
#include <cstring>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/wire_format_lite.h"
#include "server/cassette/journal.h"
#include "server/cassette/proto_time.h"
#include "server/cassette/spooled.h"
#include "server/core/status_macros.h"

namespace matgto::cassette {
namespace {

using google::protobuf::internal::WireFormatLite;
using google::protobuf::io::CodedInputStream;
using google::protobuf::io::FileInputStream;

constexpr uint8_t LengthDelimitedTag(int field) {
  return static_cast<uint8_t>(field << 3 | 2);
}
// The first byte of each kind of entry (its oneof field's tag).
constexpr uint8_t kBeginTag =
    LengthDelimitedTag(v1::JournalEntry::kBeginFieldNumber);
constexpr uint8_t kInteractionTag =
    LengthDelimitedTag(v1::JournalEntry::kInteractionFieldNumber);
constexpr uint8_t kWsMessageTag =
    LengthDelimitedTag(v1::JournalEntry::kWsMessageFieldNumber);
constexpr uint8_t kWsCloseTag =
    LengthDelimitedTag(v1::JournalEntry::kWsCloseFieldNumber);
constexpr uint32_t kInteractionsTag =
    LengthDelimitedTag(v1::Cassette::kInteractionsFieldNumber);

absl::Status Corrupt(absl::string_view source, absl::string_view what) {
  return absl::DataLossError(absl::StrCat("journal ", source, ": ", what));
}

// Closes the descriptor when the last reader lets go of it.
class SharedFd {
 public:
  explicit SharedFd(int fd) : fd_(fd) {}
  SharedFd(const SharedFd&) = delete;
  SharedFd& operator=(const SharedFd&) = delete;
  ~SharedFd() { ::close(fd_); }
  int get() const { return fd_; }

 private:
  const int fd_;
};

// A journal's bytes from `offset` on. protobuf's CodedInputStream reads at
// most INT_MAX bytes (2 GiB) in its life and a journal may hold more, so the
// readers below start a new one over the same buffered file (Renew) before
// each record, as protobuf advises for long streams: a record is at most one
// serialized message, which protobuf holds under 2 GiB.
class Stream {
 public:
  Stream(int fd, off_t offset, int limit)
      : fd_(fd), start_(offset), limit_(limit) {
    Open(offset);
  }
  CodedInputStream& in() { return *in_; }
  // How far it has read from `offset`.
  off_t position() const { return consumed_ + in_->CurrentPosition(); }
  // A new CodedInputStream where this one is (only between records: no
  // limit pushed). The old one hands its unread buffer back to the file
  // stream as it goes.
  void Renew() {
    consumed_ += in_->CurrentPosition();
    in_.reset();
    in_.emplace(&*raw_);
    in_->SetTotalBytesLimit(limit_);
  }
  // Half its limit: where SkipZeros renews it.
  int half_limit() const { return limit_ / 2; }
  // Moves past a hole in the file (blocks Journal::Replace freed after
  // zeroing them), to the next data the file system holds, without reading
  // its zeros. Only between records.
  void SkipHole() {
    const off_t here = start_ + position();
    off_t data = ::lseek(fd_, here, SEEK_DATA);
    if (data < 0 && errno == ENXIO) data = ::lseek(fd_, 0, SEEK_END);
    // An error leaves the descriptor where it was: read on. Otherwise it
    // moved, and the streams (which read ahead) start again from `data`.
    if (data < here) return;
    consumed_ = data - start_;
    Open(data);
  }

 private:
  void Open(off_t at) {
    in_.reset();
    raw_.reset();
    ::lseek(fd_, at, SEEK_SET);
    raw_.emplace(fd_, 1 << 16);
    in_.emplace(&*raw_);
    in_->SetTotalBytesLimit(limit_);
  }

  const int fd_;
  const off_t start_;
  const int limit_;  // bytes one CodedInputStream may read
  std::optional<FileInputStream> raw_;
  std::optional<CodedInputStream> in_;
  off_t consumed_ = 0;
};

// Consumes zero bytes (superseded entries, read as empty ones), however
// many: holes are skipped, and a long run is read through new streams.
void SkipZeros(Stream& s) {
  const void* data = nullptr;
  int size = 0;
  for (;;) {
    if (s.in().CurrentPosition() > s.half_limit()) s.Renew();
    CodedInputStream& in = s.in();
    if (!in.GetDirectBufferPointer(&data, &size) || size <= 0) return;
    const char* p = static_cast<const char*>(data);
    int zeros = 0;
    // Eight bytes at a time: a superseded stretch may be gigabytes long.
    uint64_t word = 0;
    while (zeros + 8 <= size && (std::memcpy(&word, p + zeros, 8), word == 0)) {
      zeros += 8;
    }
    while (zeros < size && p[zeros] == 0) ++zeros;
    in.Skip(zeros);
    if (zeros < size) return;
    s.SkipHole();
  }
}

// The first byte of the entry `size` bytes long that starts here, without
// consuming it; 0 when the stream ends first.
uint8_t PeekTag(CodedInputStream& in) {
  const void* data = nullptr;
  int size = 0;
  if (!in.GetDirectBufferPointer(&data, &size) || size == 0) return 0;
  return *static_cast<const uint8_t*>(data);
}

// A WebSocket entry: where its record starts, and how many interaction
// entries followed the kBegin when it was written (it may only name one of
// those or one of the kBegin's, as a single parse would check).
struct WsEntry {
  off_t at;
  uint64_t seen;
};

struct Layout {
  off_t begin_at = -1;  // the last kBegin's record
  off_t end = 0;        // just after the last complete record
  // Indexed by the interaction they name, in journal order.
  std::unordered_map<uint64_t, std::vector<WsEntry>> ws;
};

uint64_t WsIndex(const v1::JournalEntry& entry) {
  return entry.has_ws_message() ? entry.ws_message().interaction_index()
                                : entry.ws_close().interaction_index();
}

// The first pass (see the top of the file).
Layout Scan(int fd, int limit) {
  Stream s(fd, 0, limit);
  Layout layout;
  uint64_t seen = 0;
  std::string bytes;
  v1::JournalEntry entry;
  for (;;) {
    SkipZeros(s);
    s.Renew();
    CodedInputStream& in = s.in();
    const off_t at = s.position();
    uint32_t size = 0;
    if (!in.ReadVarint32(&size)) break;  // the end, or a length cut short
    const uint8_t tag = PeekTag(in);
    if (tag == kWsMessageTag || tag == kWsCloseTag) {
      if (!in.ReadString(&bytes, static_cast<int>(size)) ||
          !entry.ParseFromString(bytes)) {
        break;
      }
      layout.ws[WsIndex(entry)].push_back(WsEntry{at, seen});
    } else {
      if (!in.Skip(static_cast<int>(size))) break;  // cut short by a crash
      if (tag == kBeginTag) {
        layout.begin_at = at;
        layout.ws.clear();
        seen = 0;
      } else if (tag == kInteractionTag) {
        ++seen;
      }
    }
    layout.end = s.position();
  }
  return layout;
}

// Reads the length-delimited field that starts here into `message`.
bool ReadMessage(CodedInputStream& in, google::protobuf::MessageLite& message) {
  uint32_t length = 0;
  if (!in.ReadVarint32(&length)) return false;
  const auto limit = in.PushLimit(static_cast<int>(length));
  message.Clear();
  const bool ok =
      message.MergeFromCodedStream(&in) && in.BytesUntilLimit() == 0;
  in.PopLimit(limit);
  return ok;
}

// Walks the fields of the kBegin's cassette (the stream is limited to it):
// each interaction goes to `each`. With `head`, every other field goes to
// it instead, and the interactions are only counted into `*counted`.
absl::Status WalkBegin(CodedInputStream& in, v1::Cassette* head,
                       uint64_t* counted, v1::Interaction& interaction,
                       absl::string_view source,
                       absl::FunctionRef<absl::Status(v1::Interaction&)> each) {
  std::string fields;
  {
    google::protobuf::io::StringOutputStream sink(&fields);
    google::protobuf::io::CodedOutputStream out(&sink);
    for (;;) {
      const uint32_t tag = in.ReadTag();
      if (tag == 0) break;
      if (tag == kInteractionsTag && head != nullptr) {
        if (!WireFormatLite::SkipField(&in, tag)) {
          return Corrupt(source, "its start entry does not parse");
        }
        ++*counted;
      } else if (tag == kInteractionsTag) {
        if (!ReadMessage(in, interaction)) {
          return Corrupt(source, "its start entry does not parse");
        }
        RETURN_IF_ERROR(each(interaction));
      } else if (!(head != nullptr ? WireFormatLite::SkipField(&in, tag, &out)
                                   : WireFormatLite::SkipField(&in, tag))) {
        return Corrupt(source, "its start entry does not parse");
      }
    }
  }
  if (!in.ConsumedEntireMessage()) {
    return Corrupt(source, "its start entry does not parse");
  }
  if (head != nullptr && !head->ParseFromString(fields)) {
    return Corrupt(source, "its start entry does not parse");
  }
  return absl::OkStatus();
}

// Enters the kBegin record that starts here: the stream is limited to its
// cassette until Leave.
class BeginRecord {
 public:
  explicit BeginRecord(CodedInputStream& in) : in_(in) {
    uint32_t size = 0;
    uint32_t length = 0;
    if (!in.ReadVarint32(&size)) return;
    record_ = in.PushLimit(static_cast<int>(size));
    if (in.ReadTag() != kBeginTag || !in.ReadVarint32(&length)) return;
    cassette_ = in.PushLimit(static_cast<int>(length));
    entered_ = true;
  }
  BeginRecord(const BeginRecord&) = delete;
  BeginRecord& operator=(const BeginRecord&) = delete;
  ~BeginRecord() { Leave(); }
  bool entered() const { return entered_; }
  // Back at the top level, just after the record.
  void Leave() {
    if (cassette_.has_value()) in_.PopLimit(*cassette_);
    if (record_.has_value()) {
      in_.Skip(in_.BytesUntilLimit());
      in_.PopLimit(*record_);
    }
    cassette_.reset();
    record_.reset();
  }

 private:
  CodedInputStream& in_;
  std::optional<CodedInputStream::Limit> record_;
  std::optional<CodedInputStream::Limit> cassette_;
  bool entered_ = false;
};

// The second pass (see the top of the file).
class JournalInteractions final : public InteractionSource {
 public:
  JournalInteractions(std::shared_ptr<SharedFd> fd, std::string source,
                      Layout layout, bool resolve_bodies, int limit)
      : fd_(std::move(fd)),
        source_(std::move(source)),
        layout_(std::move(layout)),
        resolve_bodies_(resolve_bodies),
        limit_(limit) {}

  absl::Status ForEach(
      absl::FunctionRef<absl::Status(v1::Interaction&)> each) override {
    dropped_.clear();
    Stream s(fd_->get(), layout_.begin_at, limit_);
    uint64_t index = 0;
    v1::Interaction interaction;
    auto emit = [&](v1::Interaction& it) -> absl::Status {
      const uint64_t at = index++;
      if (it.has_websocket()) {
        RETURN_IF_ERROR(AddWebSocketEntries(at, it));
      }
      RETURN_IF_ERROR(CheckTimesInRange(it, static_cast<int64_t>(at), source_));
      if (resolve_bodies_) {
        std::string problem = ResolveSpooledBody(it, source_);
        if (!problem.empty()) {
          dropped_.push_back(std::move(problem));
          return absl::OkStatus();
        }
      }
      return each(it);
    };
    {
      BeginRecord begin(s.in());
      if (!begin.entered()) return Corrupt(source_, "its start entry moved");
      RETURN_IF_ERROR(
          WalkBegin(s.in(), nullptr, nullptr, interaction, source_, emit));
    }
    const off_t length = layout_.end - layout_.begin_at;
    for (;;) {
      SkipZeros(s);
      if (s.position() >= length) break;
      s.Renew();
      CodedInputStream& in = s.in();
      uint32_t size = 0;
      if (!in.ReadVarint32(&size)) break;
      if (PeekTag(in) != kInteractionTag) {
        if (!in.Skip(static_cast<int>(size))) break;
        continue;
      }
      const auto limit = in.PushLimit(static_cast<int>(size));
      const bool ok = in.ReadTag() == kInteractionTag &&
                      ReadMessage(in, interaction) && in.BytesUntilLimit() == 0;
      in.PopLimit(limit);
      if (!ok) break;  // as a single parse would: the recording ends here
      RETURN_IF_ERROR(emit(interaction));
    }
    return absl::OkStatus();
  }

  std::vector<std::string> Dropped() const override { return dropped_; }

  absl::Status FitsWhole() const override {
    const off_t bytes = layout_.end - layout_.begin_at;
    if (bytes <= INT32_MAX) return absl::OkStatus();
    return absl::ResourceExhaustedError(absl::StrCat(
        "the recording in ", source_, " is ", bytes >> 20,
        " MiB, more than the 2 GiB that protobuf reads as one message: it "
        "can only be saved as a binary cassette (a JSON cassette, or an "
        "upload that must be read back whole, cannot hold it); the journal is "
        "kept"));
  }

  // Set once the kBegin's interactions are counted (ReadJournal).
  void set_begun_with(uint64_t n) { begun_with_ = n; }

 private:
  // Adds to the WebSocket session `it` (interaction `at`) the messages and
  // close that name it, as a single parse of the journal would have.
  absl::Status AddWebSocketEntries(uint64_t at, v1::Interaction& it) const {
    const auto found = layout_.ws.find(at);
    if (found == layout_.ws.end()) return absl::OkStatus();
    v1::WebSocketSession& ws = *it.mutable_websocket();
    std::string bytes;
    v1::JournalEntry entry;
    for (const WsEntry& e : found->second) {
      // Written before interaction `at` was (a journal no recorder writes).
      if (at >= begun_with_ + e.seen) continue;
      RETURN_IF_ERROR(ReadRecord(e.at, bytes));
      if (!entry.ParseFromString(bytes)) {
        return Corrupt(source_, "a WebSocket entry changed while read");
      }
      if (entry.has_ws_message()) {
        ws.add_messages()->Swap(entry.mutable_ws_message()->mutable_message());
      } else {
        *ws.mutable_close() = entry.ws_close().close();
        *ws.mutable_timing()->mutable_total() =
            entry.ws_close().close().since_open();
      }
    }
    return absl::OkStatus();
  }

  // The entry of the record at `at` (a varint length, then the entry).
  absl::Status ReadRecord(off_t at, std::string& bytes) const {
    std::array<uint8_t, 5> prefix{};
    const ssize_t got = ::pread(fd_->get(), prefix.data(), prefix.size(), at);
    if (got <= 0) return Corrupt(source_, "cannot read a WebSocket entry");
    google::protobuf::io::CodedInputStream p(prefix.data(),
                                             static_cast<int>(got));
    uint32_t size = 0;
    if (!p.ReadVarint32(&size)) {
      return Corrupt(source_, "a WebSocket entry changed while read");
    }
    bytes.resize(size);
    const off_t from = at + p.CurrentPosition();
    for (size_t done = 0; done < size;) {
      const ssize_t n = ::pread(fd_->get(), bytes.data() + done, size - done,
                                from + static_cast<off_t>(done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return Corrupt(source_, "cannot read a WebSocket entry");
      done += static_cast<size_t>(n);
    }
    return absl::OkStatus();
  }

  const std::shared_ptr<SharedFd> fd_;
  const std::string source_;
  const Layout layout_;
  const bool resolve_bodies_;
  const int limit_;
  // Interactions in the kBegin.
  uint64_t begun_with_ = 0;
  std::vector<std::string> dropped_;
};

}  // namespace

absl::StatusOr<Recording> ReadJournal(int fd, std::string source,
                                      bool resolve_bodies, int stream_bytes) {
  auto owned = std::make_shared<SharedFd>(fd);
  Layout layout = Scan(fd, stream_bytes);
  if (layout.begin_at < 0) {
    return absl::DataLossError(
        absl::StrCat("journal ", source, " has no readable start entry"));
  }
  // The cassette's own fields, and how many interactions the kBegin holds.
  v1::Cassette head;
  uint64_t begun_with = 0;
  {
    Stream s(fd, layout.begin_at, stream_bytes);
    BeginRecord begin(s.in());
    v1::Interaction interaction;
    absl::Status st =
        begin.entered()
            ? WalkBegin(s.in(), &head, &begun_with, interaction, source,
                        [](v1::Interaction&) { return absl::OkStatus(); })
            : Corrupt(source, "its start entry does not parse");
    if (!st.ok()) {
      return absl::DataLossError(absl::StrCat("journal ", source,
                                              " has no readable start entry (",
                                              st.message(), ")"));
    }
  }
  RETURN_IF_ERROR(CheckTimesInRange(head, source));
  auto interactions = std::make_unique<JournalInteractions>(
      std::move(owned), source, std::move(layout), resolve_bodies,
      stream_bytes);
  interactions->set_begun_with(begun_with);
  return Recording(std::move(head), std::move(interactions));
}

absl::StatusOr<v1::Cassette> RecoverJournal(absl::string_view bytes,
                                            absl::string_view source) {
  const int fd = ::memfd_create("matgto-journal", MFD_CLOEXEC);
  if (fd < 0) {
    return absl::InternalError(
        absl::StrCat("cannot read journal ", source,
                     ": memfd_create: ", std::strerror(errno)));
  }
  for (size_t done = 0; done < bytes.size();) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      return absl::InternalError(absl::StrCat("cannot read journal ", source,
                                              ": ", std::strerror(errno)));
    }
    done += static_cast<size_t>(n);
  }
  ASSIGN_OR_RETURN(Recording recording,
                   ReadJournal(fd, std::string(source), false));
  return recording.Whole();
}

}  // namespace matgto::cassette

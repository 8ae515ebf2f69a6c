#include "server/cassette/codec.h"

#include <openssl/evp.h>

#include <cstdint>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/wire_format_lite.h"
#include "server/cassette/proto_time.h"
#include "server/core/status_macros.h"
#include "server/core/utf8.h"

namespace matgto::cassette {

absl::string_view HttpVersionName(int version) {
  if (version == 20) return "HTTP/2";
  return version == 10 ? "HTTP/1.0" : "HTTP/1.1";
}

namespace {

std::string VersionString(int version) {
  return std::string(HttpVersionName(version));
}

int VersionNumber(absl::string_view s) {
  if (s == "HTTP/2" || s == "HTTP/2.0") return 20;
  return s == "HTTP/1.0" ? 10 : 11;
}

void HeadersToProto(const core::Headers& in,
                    google::protobuf::RepeatedPtrField<v1::Header>& out) {
  out.Reserve(static_cast<int>(in.size()));
  for (const core::Header& h : in) {
    v1::Header* p = out.Add();
    p->set_name(h.name);
    if (core::IsValidUtf8(h.value)) {
      p->set_value(h.value);
    } else {
      p->set_raw_value(h.value);
    }
  }
}

core::Headers HeadersFromProto(
    const google::protobuf::RepeatedPtrField<v1::Header>& in) {
  core::Headers out;
  out.reserve(in.size());
  for (const v1::Header& h : in) {
    out.push_back(
        {h.name(), h.raw_value().empty() ? h.value() : h.raw_value()});
  }
  return out;
}

}  // namespace

void ToProto(const core::HttpRequest& in, v1::HttpRequest& out) {
  out.set_method(in.method);
  out.set_url(in.url);
  out.set_http_version(VersionString(in.version));
  HeadersToProto(in.headers, *out.mutable_headers());
  out.set_body(in.body);
}

void ToProto(const core::HttpResponse& in, v1::HttpResponse& out) {
  out.set_status(static_cast<uint32_t>(in.status));
  if (core::IsValidUtf8(in.reason)) {
    out.set_reason(in.reason);
  } else {
    out.set_raw_reason(in.reason);
  }
  out.set_http_version(VersionString(in.version));
  HeadersToProto(in.headers, *out.mutable_headers());
  out.set_body(in.body);
  if (!in.trailers.empty()) {
    HeadersToProto(in.trailers, *out.mutable_trailers());
  }
  for (const core::BodyChunk& c : in.chunks) {
    v1::BodyChunk* p = out.add_chunks();
    p->set_size(c.size);
    SetProtoDuration(c.at, *p->mutable_at());
    if (c.request_bytes.has_value()) p->set_request_bytes(*c.request_bytes);
  }
  if (in.spooled != nullptr) {
    out.mutable_spooled_body()->set_path(in.spooled->path);
    out.mutable_spooled_body()->set_size(in.spooled->size);
  }
}

void ToProto(const core::ExchangeTiming& in, v1::Timing& out) {
  SetProtoTimestamp(in.started_at, *out.mutable_started_at());
  SetProtoDuration(in.time_to_first_byte, *out.mutable_time_to_first_byte());
  SetProtoDuration(in.total, *out.mutable_total());
}

void FromProto(const v1::HttpRequest& in, core::HttpRequest& out) {
  out.method.assign(in.method());
  out.url.assign(in.url());
  out.version = VersionNumber(in.http_version());
  out.headers.resize(static_cast<size_t>(in.headers_size()));
  for (int i = 0; i < in.headers_size(); ++i) {
    const v1::Header& h = in.headers(i);
    core::Header& o = out.headers[static_cast<size_t>(i)];
    o.name.assign(h.name());
    o.value.assign(h.raw_value().empty() ? h.value() : h.raw_value());
  }
  out.body.assign(in.body());
}

core::HttpRequest FromProto(const v1::HttpRequest& in) {
  core::HttpRequest out;
  out.method = in.method();
  out.url = in.url();
  out.version = VersionNumber(in.http_version());
  out.headers = HeadersFromProto(in.headers());
  out.body = in.body();
  return out;
}

core::HttpResponse FromProto(v1::HttpResponse&& in) {
  std::string body;
  body.swap(*in.mutable_body());
  core::HttpResponse out = FromProto(std::as_const(in));
  out.body = std::move(body);
  return out;
}

core::HttpResponse FromProto(const v1::HttpResponse& in) {
  core::HttpResponse out;
  out.status = static_cast<int>(in.status());
  out.reason = in.raw_reason().empty() ? in.reason() : in.raw_reason();
  out.version = VersionNumber(in.http_version());
  out.headers = HeadersFromProto(in.headers());
  out.body = in.body();
  out.trailers = HeadersFromProto(in.trailers());
  out.chunks.reserve(static_cast<size_t>(in.chunks_size()));
  for (const v1::BodyChunk& c : in.chunks()) {
    out.chunks.push_back({c.size(), FromProtoDuration(c.at()),
                          c.has_request_bytes()
                              ? std::optional<uint64_t>(c.request_bytes())
                              : std::nullopt});
  }
  if (in.has_spooled_body()) {
    out.spooled = std::make_shared<const core::SpooledBody>(
        core::SpooledBody{in.spooled_body().path(), in.spooled_body().size()});
  }
  return out;
}

absl::Status CheckCassetteHeader(const v1::Cassette& cassette,
                                 int64_t interactions,
                                 absl::string_view source) {
  if (cassette.schema_version() == 0) {
    return absl::DataLossError(
        absl::StrCat("cassette file ", source,
                     " has no schema version: it is not a matgto cassette"));
  }
  if (cassette.schema_version() > kSchemaVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cassette file ", source, " uses schema version ",
        cassette.schema_version(), ", newer than this matgto understands (",
        kSchemaVersion, "); upgrade matgto"));
  }
  if (!cassette.complete()) {
    return absl::DataLossError(absl::StrCat(
        "cassette file ", source, " is truncated (its end marker is missing); ",
        interactions, " interactions were readable"));
  }
  return absl::OkStatus();
}

absl::Status FitsOneMessage(uint64_t bytes, absl::string_view source) {
  if (bytes <= INT32_MAX) return absl::OkStatus();
  return absl::ResourceExhaustedError(
      absl::StrCat("cassette file ", source, " is ", bytes >> 20,
                   " MiB, more than the 2 GiB that protobuf reads as one "
                   "message: replay can use it, but it cannot be read whole "
                   "here"));
}

absl::StatusOr<v1::Cassette> ParseCassette(absl::string_view bytes,
                                           absl::string_view source) {
  v1::Cassette cassette;
  if (bytes.empty()) {
    return absl::DataLossError(
        absl::StrCat("cassette file ", source, " is empty"));
  }
  RETURN_IF_ERROR(FitsOneMessage(bytes.size(), source));
  if (!cassette.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::DataLossError(absl::StrCat(
        "cassette file ", source,
        " is corrupt or truncated (not a valid matgto.v1.Cassette protobuf)"));
  }
  RETURN_IF_ERROR(
      CheckCassetteHeader(cassette, cassette.interactions_size(), source));
  RETURN_IF_ERROR(CheckTimesInRange(cassette, source));
  // Upgrades from older schema versions go here, one function per step.
  return cassette;
}

std::string SerializeCassette(const v1::Cassette& cassette) {
  // The header fields go around the cassette's own bytes rather than onto
  // a copy of it (a recording of a million exchanges is gigabytes): a
  // parser keeps the last value of a field, so the file reads back as the
  // cassette with them set. The schema version also comes first, so that
  // a file cut short anywhere is still known as ours (and reported as
  // truncated), and `complete` is the file's last field.
  v1::Cassette header;
  header.set_schema_version(kSchemaVersion);
  header.set_written_by(absl::StrCat("matgto ", MATGTO_VERSION));
  std::string bytes = header.SerializeAsString();
  cassette.AppendToString(&bytes);
  header.set_complete(true);
  header.AppendToString(&bytes);
  return bytes;
}

namespace {

// Serializes `message` deterministically into `out` (replacing it).
void SerializeDeterministic(const google::protobuf::MessageLite& message,
                            std::string& out) {
  out.clear();
  google::protobuf::io::StringOutputStream raw(&out);
  google::protobuf::io::CodedOutputStream coded(&raw);
  coded.SetSerializationDeterministic(true);
  message.SerializeToCodedStream(&coded);
}

}  // namespace

// The bytes hashed are those of the content message serialized whole
// (fields in number order, unknown fields last): the header's fields
// numbered below the interactions, each interaction as its field, then the
// rest of the header.
static_assert(v1::Cassette::kInteractionsFieldNumber == 5 &&
              v1::Cassette::kNameFieldNumber < 5 &&
              v1::Cassette::kCreatedAtFieldNumber < 5);

ContentDigest::ContentDigest(const v1::Cassette& header)
    : ctx_(EVP_MD_CTX_new()) {
  if (ctx_ != nullptr && EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) != 1) {
    EVP_MD_CTX_free(ctx_);
    ctx_ = nullptr;
  }
  v1::Cassette content = header;
  content.clear_interactions();
  content.clear_schema_version();
  content.clear_written_by();
  content.clear_complete();
  content.clear_updated_at();
  // Fields 1 to 4 left: name and created_at.
  v1::Cassette before;
  before.set_name(content.name());
  if (content.has_created_at()) {
    *before.mutable_created_at() = content.created_at();
  }
  SerializeDeterministic(before, scratch_);
  Update(scratch_);
  content.clear_name();
  content.clear_created_at();
  SerializeDeterministic(content, after_);
}

ContentDigest::~ContentDigest() { EVP_MD_CTX_free(ctx_); }

void ContentDigest::Update(absl::string_view bytes) {
  if (ctx_ != nullptr && !bytes.empty() &&
      EVP_DigestUpdate(ctx_, bytes.data(), bytes.size()) != 1) {
    EVP_MD_CTX_free(ctx_);
    ctx_ = nullptr;
  }
}

void ContentDigest::Add(const v1::Interaction& interaction) {
  SerializeDeterministic(interaction, scratch_);
  uint8_t prefix[16];
  uint8_t* p = google::protobuf::io::CodedOutputStream::WriteTagToArray(
      google::protobuf::internal::WireFormatLite::MakeTag(
          v1::Cassette::kInteractionsFieldNumber,
          google::protobuf::internal::WireFormatLite::
              WIRETYPE_LENGTH_DELIMITED),
      prefix);
  p = google::protobuf::io::CodedOutputStream::WriteVarint64ToArray(
      scratch_.size(), p);
  Update(absl::string_view(reinterpret_cast<const char*>(prefix),
                           static_cast<size_t>(p - prefix)));
  Update(scratch_);
}

std::string ContentDigest::Finish() {
  Update(after_);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (ctx_ == nullptr || EVP_DigestFinal_ex(ctx_, digest, &length) != 1) {
    return "";
  }
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), length));
}

std::string ContentSha256(const v1::Cassette& cassette) {
  ContentDigest digest(cassette);
  for (const v1::Interaction& interaction : cassette.interactions()) {
    digest.Add(interaction);
  }
  return digest.Finish();
}

}  // namespace matgto::cassette

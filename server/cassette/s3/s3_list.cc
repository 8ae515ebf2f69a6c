// S3CassetteStore::List: ListObjectsV2 pages, then each cassette's bytes
// (from the cache when its ETag matches the listing's) to count its
// interactions and hash its content.
#include <map>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "google/protobuf/util/time_util.h"
#include "server/cassette/codec.h"
#include "server/cassette/name.h"
#include "server/cassette/s3/s3_store.h"
#include "server/cassette/s3/s3_xml.h"
#include "server/core/status_macros.h"

namespace matgto::cassette::s3 {

absl::StatusOr<std::vector<v1::CassetteInfo>> S3CassetteStore::List(
    absl::string_view prefix) const {
  const std::string key_prefix = KeyPrefix(options_.s3.location);
  const std::string list_prefix = absl::StrCat(key_prefix, prefix);
  // name -> the object that holds it (the configured format wins).
  std::map<std::string, std::pair<S3Object, CassetteFormat>> found;
  std::string token;
  do {
    // Parameters sorted by name, as SigV4's canonical query string wants.
    std::string query;
    if (!token.empty()) {
      absl::StrAppend(&query, "continuation-token=",
                      UriEncode(token, /*keep_slash=*/false), "&");
    }
    absl::StrAppend(&query, "list-type=2&prefix=",
                    UriEncode(list_prefix, /*keep_slash=*/false));
    ASSIGN_OR_RETURN(
        S3Response r,
        client_->Send(S3Request{
            .method = "GET", .query = query, .subject = list_prefix}));
    if (r.status != 200) {
      return client_->Error("cannot list cassettes in", list_prefix, r);
    }
    ASSIGN_OR_RETURN(
        S3ListPage page,
        ParseListObjectsV2(r.body, client_->Describe(list_prefix)));
    for (S3Object& object : page.objects) {
      absl::string_view name = object.key;
      if (!absl::ConsumePrefix(&name, key_prefix)) continue;
      CassetteFormat format;
      if (absl::ConsumeSuffix(&name, ".pb")) {
        format = CassetteFormat::kBinary;
      } else if (absl::ConsumeSuffix(&name, ".json")) {
        format = CassetteFormat::kJson;
      } else {
        continue;
      }
      if (!ValidateCassetteName(name).ok()) continue;
      const std::string n(name);
      auto it = found.find(n);
      if (it == found.end() || format == options_.format) {
        found[n] = {std::move(object), format};
      }
    }
    token = page.truncated ? page.next_continuation_token : "";
  } while (!token.empty());

  std::vector<v1::CassetteInfo> out;
  out.reserve(found.size());
  for (auto& [name, entry] : found) {
    const S3Object& object = entry.first;
    v1::CassetteInfo info;
    info.set_name(name);
    info.set_format(std::string(CassetteFormatName(entry.second)));
    info.set_size_bytes(object.size);
    std::optional<std::string> bytes;
    if (std::optional<ObjectCache::Entry> cached = cache_.Get(object.key);
        cached.has_value() && cached->etag == object.etag) {
      bytes = std::move(cached->bytes);
    } else {
      ASSIGN_OR_RETURN(S3Response r, client_->Send(S3Request{
                                         .method = "GET", .key = object.key}));
      if (r.status == 404) continue;  // removed while listing
      if (r.status != 200) {
        return client_->Error(
            absl::StrCat("cannot read cassette '", name, "' from"), object.key,
            r);
      }
      if (!r.etag.empty()) (void)cache_.Put(object.key, r.etag, r.body);
      bytes = std::move(r.body);
    }
    // An object that does not parse is still listed (so that it can be
    // seen and removed), with no interactions and its modification time.
    absl::StatusOr<v1::Cassette> cassette = Parse(object.key, *bytes);
    if (cassette.ok()) {
      info.set_interactions(
          static_cast<uint64_t>(cassette->interactions_size()));
      cassette->set_name(name);
      info.set_content_sha256(ContentSha256(*cassette));
    }
    if (cassette.ok() && cassette->has_updated_at()) {
      *info.mutable_updated_at() = cassette->updated_at();
    } else if (object.last_modified != absl::InfinitePast()) {
      *info.mutable_updated_at() =
          google::protobuf::util::TimeUtil::SecondsToTimestamp(
              absl::ToUnixSeconds(object.last_modified));
    }
    out.push_back(std::move(info));
  }
  return out;
}

}  // namespace matgto::cassette::s3

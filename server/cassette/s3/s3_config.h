// Where an S3CassetteStore keeps its cassettes, and how it reaches them:
// the s3://BUCKET/PREFIX location, the endpoint and addressing style, the
// region and credentials (from the usual AWS variables, overridden by
// flags), timeouts and retries. Pure functions only: no I/O.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace matgto::cassette::s3 {

// s3://BUCKET/PREFIX. `prefix` has no leading or trailing '/' and may be
// empty (cassettes at the top of the bucket).
struct S3Location {
  std::string bucket{};
  std::string prefix{};
};

// True for "s3://...".
bool IsS3Url(absl::string_view text);
// INVALID_ARGUMENT for anything but s3://BUCKET[/PREFIX] with a bucket name
// S3 accepts (3-63 of a-z 0-9 . -) and a prefix whose segments are cassette
// name segments.
absl::StatusOr<S3Location> ParseS3Url(absl::string_view url);
// "s3://bucket/prefix" (or "s3://bucket").
std::string FormatS3Url(const S3Location& location);

enum class S3Addressing {
  // Path-style with a custom endpoint (what S3-compatible servers expect),
  // virtual-hosted with AWS's own.
  kAuto,
  kPath,           // http://endpoint/BUCKET/KEY
  kVirtualHosted,  // http://BUCKET.endpoint/KEY
};

struct S3Credentials {
  std::string access_key_id{};
  std::string secret_access_key{};
  // Temporary credentials: sent (and signed) as x-amz-security-token.
  std::string session_token{};
};

// Everything about reaching the store; see S3ConfigFromEnvironment.
struct S3Config {
  S3Location location{};
  // "http(s)://host[:port]"; empty: AWS, https://s3.REGION.amazonaws.com.
  std::string endpoint{};
  std::string region = "us-east-1";
  S3Addressing addressing = S3Addressing::kAuto;
  // Empty access key: requests go unsigned (a public bucket).
  S3Credentials credentials{};
  // PEM bundle to verify the endpoint's TLS certificate (AWS_CA_BUNDLE);
  // empty: the system's.
  std::string ca_file{};
  // Every request: connecting, the whole exchange, and how long a transfer
  // may make no progress.
  absl::Duration connect_timeout = absl::Seconds(5);
  absl::Duration request_timeout = absl::Seconds(120);
  absl::Duration stall_timeout = absl::Seconds(30);
  // Transient failures (unreachable, 5xx, 429, SlowDown) are tried this many
  // times in all, waiting a random time up to min(cap, base * 2^n) between
  // (exponential backoff with full jitter).
  int max_attempts = 4;
  absl::Duration backoff_base = absl::Milliseconds(100);
  absl::Duration backoff_cap = absl::Seconds(2);
};

// Flags given on the command line; each set one overrides the environment.
struct S3Overrides {
  std::string endpoint{};
  std::string region{};
  std::optional<S3Addressing> addressing{};
};

// Reads the environment through `getenv` (std::getenv when null):
// AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL, AWS_REGION or AWS_DEFAULT_REGION,
// AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN),
// AWS_CA_BUNDLE; then applies `overrides`. INVALID_ARGUMENT for a bad
// endpoint, a key id without a secret (or the reverse), or a bucket name
// that cannot be a host name with virtual-hosted addressing.
using GetEnv = std::function<std::optional<std::string>(const char*)>;
absl::StatusOr<S3Config> S3ConfigFromEnvironment(
    S3Location location, const S3Overrides& overrides,
    const GetEnv& getenv = nullptr);

// The endpoint actually used (the AWS default filled in), without a
// trailing '/'.
std::string EffectiveEndpoint(const S3Config& config);
bool UsesPathStyle(const S3Config& config);

// The object key of cassette `name` with file extension `extension`
// (".pb"/".json"): PREFIX/NAME.ext.
std::string ObjectKey(const S3Location& location, absl::string_view name,
                      absl::string_view extension);
// "PREFIX/" ("" for the top of the bucket): what every key starts with.
std::string KeyPrefix(const S3Location& location);

// Percent-encodes as SigV4 wants: everything but A-Z a-z 0-9 - _ . ~, and
// '/' too unless `keep_slash`.
std::string UriEncode(absl::string_view text, bool keep_slash);

// The URL of `key` ("" for the bucket itself), with `query` (already
// encoded, parameters sorted by name, as SigV4 canonicalizes) when not
// empty.
std::string ObjectUrl(const S3Config& config, absl::string_view key,
                      absl::string_view query = "");

}  // namespace matgto::cassette::s3

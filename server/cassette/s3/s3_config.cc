#include "server/cassette/s3/s3_config.h"

#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "server/cassette/name.h"
#include "server/core/status_macros.h"
#include "server/core/url.h"

namespace matgto::cassette::s3 {
namespace {

constexpr absl::string_view kScheme = "s3://";

absl::Status ValidateBucket(absl::string_view bucket, absl::string_view url) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(
        "store ", url, ": bucket name '", bucket, "' ", why,
        " (S3 bucket names are 3-63 characters of a-z 0-9 . -, starting and "
        "ending with a letter or digit)"));
  };
  if (bucket.size() < 3 || bucket.size() > 63) return bad("has a bad length");
  for (char c : bucket) {
    if (!(absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '.' ||
          c == '-')) {
      return bad(absl::StrCat("contains '", std::string(1, c), "'"));
    }
  }
  if (!absl::ascii_isalnum(bucket.front()) ||
      !absl::ascii_isalnum(bucket.back())) {
    return bad("must start and end with a letter or digit");
  }
  return absl::OkStatus();
}

std::optional<std::string> Env(const GetEnv& getenv, const char* name) {
  std::optional<std::string> value;
  if (getenv) {
    value = getenv(name);
  } else if (const char* v = std::getenv(name); v != nullptr) {
    value = std::string(v);
  }
  if (value.has_value() && value->empty()) value.reset();
  return value;
}

}  // namespace

bool IsS3Url(absl::string_view text) {
  return absl::StartsWithIgnoreCase(text, kScheme);
}

absl::StatusOr<S3Location> ParseS3Url(absl::string_view url) {
  if (!IsS3Url(url)) {
    return absl::InvalidArgumentError(
        absl::StrCat("store '", url, "' is not an s3://BUCKET/PREFIX URL"));
  }
  absl::string_view rest = url.substr(kScheme.size());
  S3Location location;
  const size_t slash = rest.find('/');
  location.bucket = std::string(rest.substr(0, slash));
  RETURN_IF_ERROR(ValidateBucket(location.bucket, url));
  if (slash != absl::string_view::npos) {
    absl::string_view prefix = rest.substr(slash + 1);
    while (absl::ConsumeSuffix(&prefix, "/")) {
    }
    if (!prefix.empty()) {
      if (absl::Status st = ValidateCassetteName(prefix); !st.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "store ", url, ": the prefix is not usable: ", st.message(),
            " (the same rules as cassette names)"));
      }
    }
    location.prefix = std::string(prefix);
  }
  return location;
}

std::string FormatS3Url(const S3Location& location) {
  return location.prefix.empty()
             ? absl::StrCat(kScheme, location.bucket)
             : absl::StrCat(kScheme, location.bucket, "/", location.prefix);
}

absl::StatusOr<S3Config> S3ConfigFromEnvironment(S3Location location,
                                                 const S3Overrides& overrides,
                                                 const GetEnv& getenv) {
  S3Config config;
  config.location = std::move(location);
  if (auto v = Env(getenv, "AWS_ENDPOINT_URL_S3")) {
    config.endpoint = *v;
  } else if (auto w = Env(getenv, "AWS_ENDPOINT_URL")) {
    config.endpoint = *w;
  }
  if (auto v = Env(getenv, "AWS_REGION")) {
    config.region = *v;
  } else if (auto w = Env(getenv, "AWS_DEFAULT_REGION")) {
    config.region = *w;
  }
  config.credentials.access_key_id =
      Env(getenv, "AWS_ACCESS_KEY_ID").value_or("");
  config.credentials.secret_access_key =
      Env(getenv, "AWS_SECRET_ACCESS_KEY").value_or("");
  config.credentials.session_token =
      Env(getenv, "AWS_SESSION_TOKEN").value_or("");
  config.ca_file = Env(getenv, "AWS_CA_BUNDLE").value_or("");
  if (!overrides.endpoint.empty()) config.endpoint = overrides.endpoint;
  if (!overrides.region.empty()) config.region = overrides.region;
  if (overrides.addressing.has_value()) {
    config.addressing = *overrides.addressing;
  }

  if (config.credentials.access_key_id.empty() !=
      config.credentials.secret_access_key.empty()) {
    return absl::InvalidArgumentError(
        "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY go together: set both "
        "(or neither, for unsigned requests to a public bucket)");
  }
  for (char c : config.region) {
    if (!(absl::ascii_isalnum(c) || c == '-' || c == '_')) {
      return absl::InvalidArgumentError(
          absl::StrCat("S3 region '", config.region, "' contains '",
                       std::string(1, c), "' (a region looks like us-east-1)"));
    }
  }
  if (config.region.empty()) {
    return absl::InvalidArgumentError("the S3 region is empty");
  }
  if (!config.endpoint.empty()) {
    absl::string_view endpoint = config.endpoint;
    while (absl::ConsumeSuffix(&endpoint, "/")) {
    }
    auto parts = core::ParseAbsoluteUrl(endpoint);
    if (!parts.ok() || (parts->scheme != "http" && parts->scheme != "https") ||
        parts->path != "/" || parts->has_query) {
      return absl::InvalidArgumentError(
          absl::StrCat("S3 endpoint '", config.endpoint,
                       "' must be http(s)://HOST[:PORT] (from --s3-endpoint or "
                       "AWS_ENDPOINT_URL)"));
    }
    config.endpoint = std::string(endpoint);
  }
  if (!UsesPathStyle(config) &&
      absl::StrContains(config.location.bucket, '.') &&
      absl::StartsWith(EffectiveEndpoint(config), "https:")) {
    return absl::InvalidArgumentError(absl::StrCat(
        "bucket '", config.location.bucket,
        "' has dots, which break TLS certificate checks with virtual-hosted "
        "addressing; use --s3-path-style"));
  }
  return config;
}

std::string EffectiveEndpoint(const S3Config& config) {
  if (!config.endpoint.empty()) return config.endpoint;
  return absl::StrCat("https://s3.", config.region, ".amazonaws.com");
}

bool UsesPathStyle(const S3Config& config) {
  switch (config.addressing) {
    case S3Addressing::kPath:
      return true;
    case S3Addressing::kVirtualHosted:
      return false;
    case S3Addressing::kAuto:
      break;
  }
  return !config.endpoint.empty();
}

std::string KeyPrefix(const S3Location& location) {
  return location.prefix.empty() ? "" : absl::StrCat(location.prefix, "/");
}

std::string ObjectKey(const S3Location& location, absl::string_view name,
                      absl::string_view extension) {
  return absl::StrCat(KeyPrefix(location), name, extension);
}

std::string UriEncode(absl::string_view text, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.' ||
        c == '~' || (keep_slash && c == '/')) {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 0xf]);
    }
  }
  return out;
}

std::string ObjectUrl(const S3Config& config, absl::string_view key,
                      absl::string_view query) {
  const std::string endpoint = EffectiveEndpoint(config);
  std::string url;
  if (UsesPathStyle(config)) {
    url = absl::StrCat(endpoint, "/", config.location.bucket);
    if (!key.empty()) {
      absl::StrAppend(&url, "/", UriEncode(key, /*keep_slash=*/true));
    }
  } else {
    const size_t scheme_end = endpoint.find("://") + 3;
    url = absl::StrCat(endpoint.substr(0, scheme_end), config.location.bucket,
                       ".", endpoint.substr(scheme_end), "/",
                       UriEncode(key, /*keep_slash=*/true));
  }
  if (!query.empty()) absl::StrAppend(&url, "?", query);
  return url;
}

}  // namespace matgto::cassette::s3

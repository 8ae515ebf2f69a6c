// HTTP requests to an S3-compatible store through libcurl, signed with
// libcurl's own SigV4 (CURLOPT_AWS_SIGV4): timeouts on every request,
// transient failures (unreachable, 5xx, 429, SlowDown) retried with
// exponential backoff and full jitter, and S3's answers turned into
// absl::Status codes whose messages name s3://bucket/key and what S3 said.
//
// Thread-safety: Send may be called from any number of threads at once.
// Each request takes an idle curl handle from a small pool (so kept-alive
// connections are reused) or makes one; the pool's mutex is never held
// during a transfer.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "server/cassette/s3/s3_config.h"

namespace matgto::cassette::s3 {

struct S3Request {
  std::string method = "GET";  // GET, HEAD, PUT, DELETE
  std::string key{};           // "" for the bucket (a listing)
  std::string query{};         // encoded, sorted by parameter name
  std::vector<std::pair<std::string, std::string>> headers{};
  std::string body{};  // PUT only
  // PUT only, instead of `body`: the first `body_size` bytes of the file
  // open on `body_fd` (read again from the start for each attempt), whose
  // SHA-256 is `body_sha256` (lowercase hex, see Sha256HexOfFile).
  int body_fd = -1;
  uint64_t body_size = 0;
  std::string body_sha256{};
  // What messages name instead of `key` ("" : the key), e.g. the prefix a
  // listing is of.
  std::string subject{};
};

struct S3Response {
  long status = 0;
  std::string etag{};  // the ETag header, quotes included
  std::string body{};  // empty for HEAD
};

// The gRPC-style code for an HTTP status S3 answered with: 403 ->
// PERMISSION_DENIED, 404 -> NOT_FOUND, 409/412 -> ABORTED, 400 ->
// INVALID_ARGUMENT, 5xx/429 -> UNAVAILABLE, anything else -> INTERNAL.
absl::StatusCode CodeForHttpStatus(long status);
// Whether an answer is worth trying again (5xx, 429, an S3 SlowDown).
bool IsTransientHttpStatus(long status);

// The lowercase hex SHA-256 of the first `size` bytes of the file open on
// `fd` (S3's payload hash), read in pieces; `path` names it in errors.
absl::StatusOr<std::string> Sha256HexOfFile(int fd, uint64_t size,
                                            absl::string_view path);

class S3Client {
 public:
  static absl::StatusOr<std::unique_ptr<S3Client>> Create(S3Config config);
  ~S3Client();
  S3Client(const S3Client&) = delete;
  S3Client& operator=(const S3Client&) = delete;

  // Sends `request`, trying transient failures again as configured. Returns
  // the response for any final HTTP status (the caller decides what 304,
  // 404 or 412 mean; see Error); UNAVAILABLE when the store could not be
  // reached or stayed busy through every attempt.
  absl::StatusOr<S3Response> Send(const S3Request& request) const;

  // The status for an answer the caller does not accept: `what` ("cannot
  // read cassette 'x' from") + s3://bucket/key + HTTP status + S3's
  // Code/Message from the body when there is one.
  absl::Status Error(absl::string_view what, absl::string_view key,
                     const S3Response& response) const;

  // s3://bucket/key ("s3://bucket/prefix/" for a listing).
  std::string Describe(absl::string_view key) const;
  const S3Config& config() const { return config_; }

 private:
  explicit S3Client(S3Config config) : config_(std::move(config)) {}
  // One attempt; a transport failure is a non-OK status with
  // `transient` set when another attempt may help.
  absl::StatusOr<S3Response> Attempt(const S3Request& request,
                                     bool& transient) const;
  void* TakeHandle() const;
  void ReturnHandle(void* handle) const;

  const S3Config config_;
  mutable absl::Mutex pool_mu_;
  mutable std::vector<void*> idle_ ABSL_GUARDED_BY(pool_mu_);
};

}  // namespace matgto::cassette::s3

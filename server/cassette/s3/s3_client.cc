#include "server/cassette/s3/s3_client.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <mutex>

#include "absl/random/random.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/cassette/s3/s3_xml.h"

namespace matgto::cassette::s3 {
namespace {

// What S3 calls the payload hash: lowercase hex SHA-256 of the body. (The
// signature itself is libcurl's; this only tells the store what to check
// the body against.)
std::string Sha256Hex(absl::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), len));
}

// A PUT body read from a file, from its start for each attempt.
struct FileBody {
  int fd;
  uint64_t size;
  uint64_t offset = 0;
};

size_t ReadFileBody(char* out, size_t size, size_t n, void* data) {
  FileBody& body = *static_cast<FileBody*>(data);
  const size_t want = static_cast<size_t>(
      std::min<uint64_t>(size * n, body.size - body.offset));
  if (want == 0) return 0;
  for (;;) {
    const ssize_t got =
        ::pread(body.fd, out, want, static_cast<off_t>(body.offset));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return CURL_READFUNC_ABORT;  // the file shrank: fail
    body.offset += static_cast<uint64_t>(got);
    return static_cast<size_t>(got);
  }
}

int SeekFileBody(void* data, curl_off_t offset, int origin) {
  FileBody& body = *static_cast<FileBody*>(data);
  if (origin != SEEK_SET || offset < 0 ||
      static_cast<uint64_t>(offset) > body.size) {
    return CURL_SEEKFUNC_CANTSEEK;
  }
  body.offset = static_cast<uint64_t>(offset);
  return CURL_SEEKFUNC_OK;
}

size_t AppendBody(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

// libcurl's error for a transfer that failed before S3 answered; whether
// another attempt may help.
bool IsTransientCurlError(CURLcode code) {
  switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return true;
    default:
      return false;
  }
}

}  // namespace

absl::StatusOr<std::string> Sha256HexOfFile(int fd, uint64_t size,
                                            absl::string_view path) {
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx(EVP_MD_CTX_new(),
                                                         &EVP_MD_CTX_free);
  if (ctx == nullptr ||
      EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) {
    return absl::InternalError("cannot start a SHA-256 digest");
  }
  std::string buffer(1 << 20, '\0');
  for (uint64_t at = 0; at < size;) {
    const ssize_t got = ::pread(
        fd, buffer.data(),
        static_cast<size_t>(std::min<uint64_t>(buffer.size(), size - at)),
        static_cast<off_t>(at));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      return absl::InternalError(
          absl::StrCat("cannot read ", path, ": ",
                       got < 0 ? std::strerror(errno) : "it ended early"));
    }
    EVP_DigestUpdate(ctx.get(), buffer.data(), static_cast<size_t>(got));
    at += static_cast<uint64_t>(got);
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx.get(), digest, &len);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), len));
}

namespace {

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct SlistDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};

}  // namespace

absl::StatusCode CodeForHttpStatus(long status) {
  if (status == 400) return absl::StatusCode::kInvalidArgument;
  if (status == 401 || status == 403) {
    return absl::StatusCode::kPermissionDenied;
  }
  if (status == 404) return absl::StatusCode::kNotFound;
  if (status == 409 || status == 412) return absl::StatusCode::kAborted;
  if (IsTransientHttpStatus(status)) return absl::StatusCode::kUnavailable;
  return absl::StatusCode::kInternal;
}

bool IsTransientHttpStatus(long status) {
  // SlowDown comes as 503; some S3-compatible stores throttle with 429.
  return status == 429 || (status >= 500 && status <= 599);
}

absl::StatusOr<std::unique_ptr<S3Client>> S3Client::Create(S3Config config) {
  GlobalInit();
  if (config.max_attempts < 1) config.max_attempts = 1;
  return std::unique_ptr<S3Client>(new S3Client(std::move(config)));
}

S3Client::~S3Client() {
  absl::MutexLock lock(&pool_mu_);
  for (void* handle : idle_) curl_easy_cleanup(static_cast<CURL*>(handle));
}

void* S3Client::TakeHandle() const {
  {
    absl::MutexLock lock(&pool_mu_);
    if (!idle_.empty()) {
      void* handle = idle_.back();
      idle_.pop_back();
      return handle;
    }
  }
  return curl_easy_init();
}

void S3Client::ReturnHandle(void* handle) const {
  // A few idle handles keep their connections alive for the next requests;
  // more than that are closed.
  constexpr size_t kMaxIdle = 8;
  curl_easy_reset(static_cast<CURL*>(handle));
  absl::MutexLock lock(&pool_mu_);
  if (idle_.size() < kMaxIdle) {
    idle_.push_back(handle);
    return;
  }
  curl_easy_cleanup(static_cast<CURL*>(handle));
}

std::string S3Client::Describe(absl::string_view key) const {
  return absl::StrCat("s3://", config_.location.bucket, "/", key);
}

absl::StatusOr<S3Response> S3Client::Attempt(const S3Request& request,
                                             bool& transient) const {
  transient = false;
  CURL* curl = static_cast<CURL*>(TakeHandle());
  if (curl == nullptr) {
    return absl::ResourceExhaustedError("cannot create a libcurl handle");
  }
  const std::string url = ObjectUrl(config_, request.key, request.query);
  std::unique_ptr<curl_slist, SlistDeleter> headers;
  auto add_header = [&headers](const std::string& line) {
    curl_slist* next = curl_slist_append(headers.get(), line.c_str());
    if (next != nullptr) {
      (void)headers.release();
      headers.reset(next);
    }
  };
  const bool has_body = request.method == "PUT";
  const bool body_in_file = has_body && request.body_fd >= 0;
  add_header(absl::StrCat("x-amz-content-sha256: ",
                          body_in_file
                              ? request.body_sha256
                              : Sha256Hex(has_body ? request.body : "")));
  if (!config_.credentials.session_token.empty()) {
    add_header(absl::StrCat("x-amz-security-token: ",
                            config_.credentials.session_token));
  }
  for (const auto& [name, value] : request.headers) {
    add_header(absl::StrCat(name, ": ", value));
  }
  if (has_body) {
    // Bodies over 1 MiB get libcurl's "Expect: 100-continue" (unsigned,
    // stores answer it). Not suppressed with an empty "Expect:": libcurl
    // 7.88 signs a header it is told to remove, and the check then fails.
    add_header("Content-Type: application/octet-stream");
  }

  char error_buffer[CURL_ERROR_SIZE] = {0};
  S3Response response;
  FileBody file_body{request.body_fd, request.body_size};
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(
      curl, CURLOPT_CONNECTTIMEOUT_MS,
      static_cast<long>(absl::ToInt64Milliseconds(config_.connect_timeout)));
  curl_easy_setopt(
      curl, CURLOPT_TIMEOUT_MS,
      static_cast<long>(absl::ToInt64Milliseconds(config_.request_timeout)));
  // A transfer slower than 1 byte/s for stall_timeout is given up.
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(
      curl, CURLOPT_LOW_SPEED_TIME,
      std::max<long>(
          1, static_cast<long>(absl::ToInt64Seconds(config_.stall_timeout))));
  if (!config_.ca_file.empty()) {
    curl_easy_setopt(curl, CURLOPT_CAINFO, config_.ca_file.c_str());
  }
  if (!config_.credentials.access_key_id.empty()) {
    const std::string sigv4 = absl::StrCat("aws:amz:", config_.region, ":s3");
    curl_easy_setopt(curl, CURLOPT_AWS_SIGV4, sigv4.c_str());
    curl_easy_setopt(curl, CURLOPT_USERNAME,
                     config_.credentials.access_key_id.c_str());
    curl_easy_setopt(curl, CURLOPT_PASSWORD,
                     config_.credentials.secret_access_key.c_str());
  }
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &AppendBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response.body);
  if (request.method == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else if (body_in_file) {
    // The body from the file, a piece at a time; SigV4 signs the payload
    // hash given in x-amz-content-sha256.
    curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, &ReadFileBody);
    curl_easy_setopt(curl, CURLOPT_READDATA, &file_body);
    curl_easy_setopt(curl, CURLOPT_SEEKFUNCTION, &SeekFileBody);
    curl_easy_setopt(curl, CURLOPT_SEEKDATA, &file_body);
    curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE,
                     static_cast<curl_off_t>(request.body_size));
  } else if (has_body) {
    // The body from memory: libcurl's SigV4 hashes exactly what it sends.
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, "PUT");
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(request.body.size()));
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.data());
  } else if (request.method != "GET") {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }

  const CURLcode code = curl_easy_perform(curl);
  if (code != CURLE_OK) {
    ReturnHandle(curl);
    transient = IsTransientCurlError(code);
    return absl::UnavailableError(absl::StrCat(
        error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(code)));
  }
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
  curl_header* etag = nullptr;
  if (curl_easy_header(curl, "ETag", 0, CURLH_HEADER, -1, &etag) == CURLHE_OK) {
    response.etag = etag->value;
  }
  ReturnHandle(curl);
  transient = IsTransientHttpStatus(response.status);
  return response;
}

absl::StatusOr<S3Response> S3Client::Send(const S3Request& request) const {
  thread_local absl::BitGen random;
  const absl::Time start = absl::Now();
  absl::StatusOr<S3Response> last;
  int attempt = 0;
  for (;;) {
    ++attempt;
    bool transient = false;
    last = Attempt(request, transient);
    if (!transient || attempt >= config_.max_attempts) break;
    // Full jitter: a random wait up to min(cap, base * 2^(attempt-1)).
    const absl::Duration ceiling =
        std::min(config_.backoff_cap,
                 config_.backoff_base * (1 << std::min(attempt - 1, 20)));
    absl::SleepFor(absl::Microseconds(absl::Uniform<int64_t>(
        random, 0, std::max<int64_t>(1, absl::ToInt64Microseconds(ceiling)))));
  }
  const std::string tries =
      attempt > 1
          ? absl::StrCat(" (", attempt, " attempts over ",
                         absl::FormatDuration(absl::Trunc(
                             absl::Now() - start, absl::Milliseconds(1))),
                         ")")
          : "";
  const std::string where = absl::StrCat(
      request.method, " ",
      Describe(request.subject.empty() ? request.key : request.subject), " at ",
      EffectiveEndpoint(config_));
  if (!last.ok()) {
    return absl::UnavailableError(
        absl::StrCat("cannot reach the object store: ", where, ": ",
                     last.status().message(), tries));
  }
  if (IsTransientHttpStatus(last->status)) {
    std::optional<S3Error> s3 = ParseS3Error(last->body);
    return absl::UnavailableError(absl::StrCat(
        "the object store stayed unavailable: ", where, ": HTTP ", last->status,
        s3.has_value() ? absl::StrCat(" ", s3->code, ": ", s3->message) : "",
        tries));
  }
  return last;
}

absl::Status S3Client::Error(absl::string_view what, absl::string_view key,
                             const S3Response& response) const {
  std::optional<S3Error> s3 = ParseS3Error(response.body);
  std::string said;
  if (s3.has_value()) {
    said = absl::StrCat(" ", s3->code, ": ", s3->message);
  } else if (response.status == 403) {
    said = " (no details: check the credentials and the bucket's policy)";
  }
  return absl::Status(
      CodeForHttpStatus(response.status),
      absl::StrCat(what, " ", Describe(key), ": the object store (",
                   EffectiveEndpoint(config_), ") answered HTTP ",
                   response.status, said));
}

}  // namespace matgto::cassette::s3

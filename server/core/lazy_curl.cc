// The libcurl functions matgto calls, loaded from libcurl.so.4 on first use.
//
// libcurl pulls ~35 shared libraries (GnuTLS, Kerberos, LDAP, SSH, ...) into
// the process; linked normally, the dynamic loader maps and relocates them at
// every start (~8 ms and ~6 MiB of a server that never uses an s3:// store).
// Only the S3 cassette store calls libcurl, so these definitions stand in for
// the library's: the first call dlopen()s it. Without libcurl installed,
// curl_global_init/curl_easy_init fail (the store reports "cannot create a
// libcurl handle") and the reason is printed once on stderr.
//
// The declarations come from <curl/curl.h>, so a signature that drifts from
// the library's does not compile.

#define CURL_DISABLE_TYPECHECK 1  // curl_easy_setopt is a macro otherwise
#include <curl/curl.h>
#include <dlfcn.h>

#include <cstdarg>
#include <cstdio>

namespace {

struct CurlApi {
  decltype(&::curl_global_init) global_init = nullptr;
  decltype(&::curl_easy_init) easy_init = nullptr;
  decltype(&::curl_easy_cleanup) easy_cleanup = nullptr;
  decltype(&::curl_easy_reset) easy_reset = nullptr;
  decltype(&::curl_easy_setopt) easy_setopt = nullptr;
  decltype(&::curl_easy_perform) easy_perform = nullptr;
  decltype(&::curl_easy_strerror) easy_strerror = nullptr;
  decltype(&::curl_easy_getinfo) easy_getinfo = nullptr;
  decltype(&::curl_easy_header) easy_header = nullptr;
  decltype(&::curl_slist_append) slist_append = nullptr;
  decltype(&::curl_slist_free_all) slist_free_all = nullptr;
};

template <typename F>
bool Resolve(void* library, const char* name, F& out) {
  out = reinterpret_cast<F>(dlsym(library, name));
  if (out == nullptr) {
    std::fprintf(stderr, "matgto: libcurl.so.4 has no %s\n", name);
  }
  return out != nullptr;
}

// nullptr when libcurl cannot be loaded (said once on stderr).
const CurlApi* Api() {
  static const CurlApi* const api = []() -> const CurlApi* {
    void* library = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (library == nullptr) {
      std::fprintf(stderr,
                   "matgto: cannot load libcurl.so.4 (needed by s3:// "
                   "cassette stores): %s\n",
                   dlerror());
      return nullptr;
    }
    static CurlApi loaded;
    const bool ok =
        Resolve(library, "curl_global_init", loaded.global_init) &&
        Resolve(library, "curl_easy_init", loaded.easy_init) &&
        Resolve(library, "curl_easy_cleanup", loaded.easy_cleanup) &&
        Resolve(library, "curl_easy_reset", loaded.easy_reset) &&
        Resolve(library, "curl_easy_setopt", loaded.easy_setopt) &&
        Resolve(library, "curl_easy_perform", loaded.easy_perform) &&
        Resolve(library, "curl_easy_strerror", loaded.easy_strerror) &&
        Resolve(library, "curl_easy_getinfo", loaded.easy_getinfo) &&
        Resolve(library, "curl_easy_header", loaded.easy_header) &&
        Resolve(library, "curl_slist_append", loaded.slist_append) &&
        Resolve(library, "curl_slist_free_all", loaded.slist_free_all);
    return ok ? &loaded : nullptr;
  }();
  return api;
}

}  // namespace

extern "C" {

CURLcode curl_global_init(long flags) {
  const CurlApi* api = Api();
  return api != nullptr ? api->global_init(flags) : CURLE_FAILED_INIT;
}

CURL* curl_easy_init(void) {
  const CurlApi* api = Api();
  return api != nullptr ? api->easy_init() : nullptr;
}

// Handles and lists only exist once the library is loaded.
void curl_easy_cleanup(CURL* curl) {
  if (curl != nullptr) Api()->easy_cleanup(curl);
}

void curl_easy_reset(CURL* curl) { Api()->easy_reset(curl); }

// The variadic argument has the type libcurl reads for the option's range
// (curl.h's CURLOPTTYPE_*), as libcurl's own setopt does.
CURLcode curl_easy_setopt(CURL* curl, CURLoption option, ...) {
  const CurlApi* api = Api();
  va_list args;
  va_start(args, option);
  CURLcode code = CURLE_BAD_FUNCTION_ARGUMENT;
  if (option < CURLOPTTYPE_OBJECTPOINT) {
    code = api->easy_setopt(curl, option, va_arg(args, long));
  } else if (option < CURLOPTTYPE_FUNCTIONPOINT) {
    code = api->easy_setopt(curl, option, va_arg(args, void*));
  } else if (option < CURLOPTTYPE_OFF_T) {
    using Function = void (*)();
    code = api->easy_setopt(curl, option, va_arg(args, Function));
  } else if (option < CURLOPTTYPE_BLOB) {
    code = api->easy_setopt(curl, option, va_arg(args, curl_off_t));
  } else {
    code = api->easy_setopt(curl, option, va_arg(args, void*));
  }
  va_end(args);
  return code;
}

CURLcode curl_easy_perform(CURL* curl) { return Api()->easy_perform(curl); }

const char* curl_easy_strerror(CURLcode code) {
  const CurlApi* api = Api();
  return api != nullptr ? api->easy_strerror(code) : "libcurl is not loaded";
}

// Every CURLINFO_* takes one pointer.
CURLcode curl_easy_getinfo(CURL* curl, CURLINFO info, ...) {
  va_list args;
  va_start(args, info);
  void* out = va_arg(args, void*);
  va_end(args);
  return Api()->easy_getinfo(curl, info, out);
}

CURLHcode curl_easy_header(CURL* easy, const char* name, size_t index,
                           unsigned int origin, int request,
                           struct curl_header** hout) {
  return Api()->easy_header(easy, name, index, origin, request, hout);
}

curl_slist* curl_slist_append(curl_slist* list, const char* string) {
  const CurlApi* api = Api();
  return api != nullptr ? api->slist_append(list, string) : nullptr;
}

void curl_slist_free_all(curl_slist* list) {
  if (list != nullptr) Api()->slist_free_all(list);
}

}  // extern "C"

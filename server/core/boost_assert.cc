// Boost's assertion handler, used in builds with assertions on (the asan and
// tsan presets: BOOST_ENABLE_ASSERT_DEBUG_HANDLER is set for every target in
// CMakeLists.txt; -DNDEBUG builds compile BOOST_ASSERT away as before).
//
// It does what the default (assert(3)) does — print the failed expression and
// abort — except for assertions Boost itself later found to be wrong, listed
// below with the release that fixed them. Those are false alarms on valid
// input: aborting on them would let a client take a debug server down.
#include "server/core/boost_assert.h"

#include <boost/assert.hpp>  // declares the handlers
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace matgto::core {

bool IsKnownWrongBoostAssertion(const char* expr, const char* file) {
  // Beast 1.81 basic_parser::parse_chunk_header asserts that 5 bytes are
  // buffered when a final chunk is parsed again after need_more, but a client
  // that sends "0\r\n", then "\r", then "\n" calls it with 4. The code after
  // it is bounded by the buffer and returns need_more. Fixed in Boost 1.86
  // (boostorg/beast#2861); found by our request fuzzer
  // (tests/fuzz/corpus/request/regression-beast-final-chunk-assert).
  auto ends_with = [](const char* s, const char* suffix) {
    const size_t n = std::strlen(s), m = std::strlen(suffix);
    return n >= m && std::strcmp(s + n - m, suffix) == 0;
  };
  return std::strcmp(expr, "n >= 5") == 0 &&
         ends_with(file, "beast/http/impl/basic_parser.ipp");
}

}  // namespace matgto::core

namespace boost {

void assertion_failed_msg(const char* expr, const char* msg,
                          const char* function, const char* file, long line) {
  if (matgto::core::IsKnownWrongBoostAssertion(expr, file)) return;
  std::fprintf(stderr, "%s:%ld: %s: Assertion `%s' failed%s%s.\n", file, line,
               function, expr, msg != nullptr ? ": " : "",
               msg != nullptr ? msg : "");
  std::fflush(stderr);
  std::abort();
}

void assertion_failed(const char* expr, const char* function, const char* file,
                      long line) {
  assertion_failed_msg(expr, nullptr, function, file, line);
}

}  // namespace boost

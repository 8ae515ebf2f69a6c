// gMock matchers for absl::Status and absl::StatusOr<T>: a status is always
// checked by its code AND its message, never by a bare "not ok".
//
//   EXPECT_THAT(store.Load("x"), StatusIs(absl::StatusCode::kNotFound,
//                                         HasSubstr("does not exist")));
//   ASSERT_THAT(result, IsOk());
#pragma once

#include <ostream>
#include <string>
#include <type_traits>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"

// GoogleTest finds printers by ADL in the printed type's namespace; Debian's
// Abseil has no operator<< for StatusOr, so failures would otherwise show a
// byte dump.
namespace absl {
template <typename T>
void PrintTo(const StatusOr<T>& status_or, std::ostream* os) {
  if (status_or.ok()) {
    *os << "OK StatusOr holding " << ::testing::PrintToString(*status_or);
  } else {
    *os << status_or.status();
  }
}
}  // namespace absl

namespace matgto::testing {

inline const absl::Status& GetStatus(const absl::Status& status) {
  return status;
}
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& status_or) {
  return status_or.status();
}

// Matches a Status or StatusOr whose code is `code` and whose message matches
// `message_matcher` (e.g. HasSubstr("...")).
MATCHER_P2(StatusIs, code, message_matcher,
           std::string(negation ? "doesn't have" : "has") + " status code " +
               absl::StatusCodeToString(code) + " and a message that " +
               ::testing::DescribeMatcher<std::string>(message_matcher)) {
  const absl::Status& status = ::matgto::testing::GetStatus(arg);
  return status.code() == code &&
         ::testing::Matches(message_matcher)(std::string(status.message()));
}

MATCHER(IsOk, negation ? "is not OK" : "is OK") {
  return ::matgto::testing::GetStatus(arg).ok();
}

// Matches an OK StatusOr<T> whose value matches `value_matcher`.
MATCHER_P(IsOkAndHolds, value_matcher,
          std::string(negation ? "isn't" : "is") + " OK with a value that " +
              ::testing::DescribeMatcher<
                  typename std::remove_reference_t<arg_type>::value_type>(
                  value_matcher)) {
  if (!arg.ok()) return false;
  return ::testing::ExplainMatchResult(value_matcher, *arg, result_listener);
}

}  // namespace matgto::testing

// GoogleTest printers for matgto::core values, so failures show headers and
// messages as text rather than byte dumps. Found by ADL.
#pragma once

#include <ostream>

#include "gtest/gtest.h"
#include "server/core/http.h"

namespace matgto::core {

inline void PrintTo(const Header& h, std::ostream* os) {
  *os << ::testing::PrintToString(h.name) << ": "
      << ::testing::PrintToString(h.value);
}

inline void PrintTo(const HttpRequest& r, std::ostream* os) {
  *os << "HttpRequest{" << r.method << " " << r.url << " v" << r.version
      << " headers=" << ::testing::PrintToString(r.headers)
      << " body=" << ::testing::PrintToString(r.body) << "}";
}

inline void PrintTo(const HttpResponse& r, std::ostream* os) {
  *os << "HttpResponse{" << r.status << " "
      << ::testing::PrintToString(r.reason) << " v" << r.version
      << " headers=" << ::testing::PrintToString(r.headers)
      << " body=" << ::testing::PrintToString(r.body) << "}";
}

}  // namespace matgto::core

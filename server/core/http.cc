#include "server/core/http.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"

namespace matgto::core {

const std::string* FindHeader(const Headers& headers, absl::string_view name) {
  for (const Header& h : headers) {
    if (matgto::core::EqualsIgnoreCase(h.name, name)) return &h.value;
  }
  return nullptr;
}

int RemoveHeaders(Headers& headers, absl::string_view name) {
  auto it =
      std::remove_if(headers.begin(), headers.end(), [&](const Header& h) {
        return matgto::core::EqualsIgnoreCase(h.name, name);
      });
  int removed = static_cast<int>(headers.end() - it);
  headers.erase(it, headers.end());
  return removed;
}

void SetHeader(Headers& headers, absl::string_view name, std::string value) {
  bool found = false;
  for (Header& h : headers) {
    if (matgto::core::EqualsIgnoreCase(h.name, name)) {
      h.value = value;
      found = true;
    }
  }
  if (!found) headers.push_back({std::string(name), std::move(value)});
}

HttpResponse MakeErrorResponse(int status, absl::string_view error_code,
                               std::string body,
                               absl::string_view content_type) {
  HttpResponse r;
  r.status = status;
  r.headers = {{"Content-Type", std::string(content_type)},
               {"X-Matgto-Error", std::string(error_code)},
               {"Cache-Control", "no-store"},
               {"Content-Length", std::to_string(body.size())}};
  r.body = std::move(body);
  return r;
}

bool ResponseHasNoBody(absl::string_view request_method, int status) {
  return request_method == "HEAD" || (status >= 100 && status < 200) ||
         status == 204 || status == 304;
}

}  // namespace matgto::core

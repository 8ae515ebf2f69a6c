#include "server/cassette/name.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

namespace matgto::cassette {
namespace {

bool AllowedChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
      (c >= '0' && c <= '9')) {
    return true;
  }
  switch (c) {
    case '.':
    case '_':
    case '-':
    case '+':
    case '=':
    case '@':
    case ',':
    case '[':
    case ']':
    case '/':
      return true;
    default:
      return false;
  }
}

}  // namespace

absl::Status ValidateCassetteName(absl::string_view name) {
  if (name.empty()) {
    return absl::InvalidArgumentError("cassette name is empty");
  }
  if (name.size() > kMaxCassetteNameLength) {
    return absl::InvalidArgumentError(
        absl::StrFormat("cassette name is %d characters long; the limit is %d",
                        name.size(), kMaxCassetteNameLength));
  }
  if (name.front() == '/') {
    return absl::InvalidArgumentError(absl::StrCat(
        "cassette name '", name, "' is an absolute path; use a relative name"));
  }
  for (char c : name) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "cassette name contains the control character 0x%02x", u));
    }
    if (!AllowedChar(c)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "cassette name '", name, "' contains '", std::string(1, c),
          "'; allowed are letters, digits, . _ - + = @ , [ ] and / between "
          "segments"));
    }
  }
  for (absl::string_view segment : absl::StrSplit(name, '/')) {
    if (segment.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("cassette name '", name, "' has an empty segment"));
    }
    if (segment == "." || segment == "..") {
      return absl::InvalidArgumentError(
          absl::StrCat("cassette name '", name, "' contains a '", segment,
                       "' segment; names cannot leave the cassette directory"));
    }
  }
  return absl::OkStatus();
}

}  // namespace matgto::cassette

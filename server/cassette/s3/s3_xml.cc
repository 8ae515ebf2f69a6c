#include "server/cassette/s3/s3_xml.h"

#include <expat.h>

#include <functional>
#include <memory>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace matgto::cassette::s3 {
namespace {

// Runs expat over a document and reports, for every element that ends, its
// path from the root ("ListBucketResult/Contents/Key") and its text.
// Elements are named without namespace processing: S3 puts its documents in
// a default namespace, so the local names are the plain ones.
class ElementWalker {
 public:
  using OnEnd =
      std::function<void(const std::string& path, const std::string& text)>;

  explicit ElementWalker(OnEnd on_end) : on_end_(std::move(on_end)) {}

  // False when the document is not well-formed (error() says why).
  bool Parse(absl::string_view xml) {
    std::unique_ptr<XML_ParserStruct, decltype(&XML_ParserFree)> parser(
        XML_ParserCreate("UTF-8"), &XML_ParserFree);
    if (parser == nullptr) {
      error_ = "cannot create an XML parser";
      return false;
    }
    XML_SetUserData(parser.get(), this);
    XML_SetElementHandler(parser.get(), &ElementWalker::Start,
                          &ElementWalker::End);
    XML_SetCharacterDataHandler(parser.get(), &ElementWalker::Text);
    if (XML_Parse(parser.get(), xml.data(), static_cast<int>(xml.size()),
                  /*isFinal=*/1) != XML_STATUS_OK) {
      error_ =
          absl::StrCat(XML_ErrorString(XML_GetErrorCode(parser.get())),
                       " at line ", XML_GetCurrentLineNumber(parser.get()));
      return false;
    }
    return true;
  }
  const std::string& error() const { return error_; }

 private:
  static void Start(void* self, const XML_Char* name, const XML_Char**) {
    auto* w = static_cast<ElementWalker*>(self);
    w->path_.emplace_back(name);
    w->text_.emplace_back();
  }
  static void End(void* self, const XML_Char*) {
    auto* w = static_cast<ElementWalker*>(self);
    w->on_end_(absl::StrJoin(w->path_, "/"), w->text_.back());
    w->path_.pop_back();
    w->text_.pop_back();
  }
  static void Text(void* self, const XML_Char* s, int len) {
    auto* w = static_cast<ElementWalker*>(self);
    if (!w->text_.empty()) w->text_.back().append(s, static_cast<size_t>(len));
  }

  OnEnd on_end_;
  std::vector<std::string> path_;
  std::vector<std::string> text_;
  std::string error_;
};

}  // namespace

std::optional<S3Error> ParseS3Error(absl::string_view xml) {
  S3Error error;
  bool is_error = false;
  ElementWalker walker([&](const std::string& path, const std::string& text) {
    if (path == "Error") is_error = true;
    if (path == "Error/Code") error.code = text;
    if (path == "Error/Message") error.message = text;
  });
  if (xml.empty() || !walker.Parse(xml) || !is_error) return std::nullopt;
  return error;
}

absl::StatusOr<S3ListPage> ParseListObjectsV2(absl::string_view xml,
                                              absl::string_view source) {
  S3ListPage page;
  S3Object current;
  bool is_list = false;
  std::string bad;
  ElementWalker walker([&](const std::string& path, const std::string& text) {
    if (path == "ListBucketResult") {
      is_list = true;
    } else if (path == "ListBucketResult/IsTruncated") {
      page.truncated = text == "true";
    } else if (path == "ListBucketResult/NextContinuationToken") {
      page.next_continuation_token = text;
    } else if (path == "ListBucketResult/Contents/Key") {
      current.key = text;
    } else if (path == "ListBucketResult/Contents/ETag") {
      current.etag = text;
    } else if (path == "ListBucketResult/Contents/Size") {
      if (!absl::SimpleAtoi(text, &current.size)) {
        bad = absl::StrCat("Size '", text, "' is not a number");
      }
    } else if (path == "ListBucketResult/Contents/LastModified") {
      std::string err;
      if (!absl::ParseTime(absl::RFC3339_full, text, &current.last_modified,
                           &err)) {
        current.last_modified = absl::InfinitePast();
      }
    } else if (path == "ListBucketResult/Contents") {
      page.objects.push_back(std::move(current));
      current = S3Object{};
    }
  });
  if (!walker.Parse(xml)) {
    return absl::DataLossError(
        absl::StrCat("the object store's listing of ", source,
                     " is not well-formed XML: ", walker.error()));
  }
  if (!is_list || !bad.empty()) {
    return absl::DataLossError(absl::StrCat(
        "the object store's listing of ", source,
        " is not a ListObjectsV2 result", bad.empty() ? "" : ": ", bad));
  }
  if (page.truncated && page.next_continuation_token.empty()) {
    return absl::DataLossError(
        absl::StrCat("the object store's listing of ", source,
                     " is truncated but gives no continuation token"));
  }
  return page;
}

}  // namespace matgto::cassette::s3

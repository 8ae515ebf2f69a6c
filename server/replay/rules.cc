#include "server/replay/rules.h"

#include <re2/re2.h>

#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/descriptor.h"
#include "server/core/status_macros.h"

namespace matgto::replay {
namespace {

absl::Status CheckPointer(const std::string& pointer, absl::string_view what) {
  if (!pointer.empty() && pointer.front() != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " '", pointer,
                     "' is not a JSON pointer (RFC 6901: it starts with '/')"));
  }
  return absl::OkStatus();
}

absl::Status CheckEnumValuesAt(const google::protobuf::Message& message,
                               const std::string& prefix) {
  using google::protobuf::FieldDescriptor;
  const google::protobuf::Reflection& reflection = *message.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  reflection.ListFields(message, &fields);
  for (const FieldDescriptor* field : fields) {
    const std::string name = absl::StrCat(prefix, field->name());
    if (field->cpp_type() == FieldDescriptor::CPPTYPE_ENUM) {
      const int count =
          field->is_repeated() ? reflection.FieldSize(message, field) : 1;
      for (int i = 0; i < count; ++i) {
        const int value =
            field->is_repeated()
                ? reflection.GetRepeatedEnumValue(message, field, i)
                : reflection.GetEnumValue(message, field);
        if (field->enum_type()->FindValueByNumber(value) != nullptr) continue;
        std::vector<std::string> known;
        for (int v = 0; v < field->enum_type()->value_count(); ++v) {
          known.push_back(field->enum_type()->value(v)->name());
        }
        return absl::InvalidArgumentError(absl::StrCat(
            name, field->is_repeated() ? absl::StrCat("[", i, "]") : "", " = ",
            value, " is not a ", field->enum_type()->full_name(),
            " value; known: ", absl::StrJoin(known, ", ")));
      }
    } else if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      if (field->is_repeated()) {
        for (int i = 0; i < reflection.FieldSize(message, field); ++i) {
          RETURN_IF_ERROR(CheckEnumValuesAt(
              reflection.GetRepeatedMessage(message, field, i),
              absl::StrCat(name, "[", i, "].")));
        }
      } else {
        RETURN_IF_ERROR(CheckEnumValuesAt(reflection.GetMessage(message, field),
                                          absl::StrCat(name, ".")));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckEnumValues(const google::protobuf::Message& message) {
  return CheckEnumValuesAt(message, "");
}

absl::StatusOr<match::MatchRules> ToMatchRules(const v1::MatchRules& in) {
  match::MatchRules out;
  if (in.fields_size() > 0) {
    out.scheme = out.host = out.port = out.path = out.query = false;
    out.method = out.body = false;
    for (int f : in.fields()) {
      switch (f) {
        case v1::METHOD:
          out.method = true;
          break;
        case v1::SCHEME:
          out.scheme = true;
          break;
        case v1::HOST:
          out.host = true;
          break;
        case v1::PORT:
          out.port = true;
          break;
        case v1::PATH:
          out.path = true;
          break;
        case v1::QUERY:
          out.query = true;
          break;
        case v1::HEADERS:
          out.headers = true;
          break;
        case v1::BODY:
          out.body = true;
          break;
        default:
          return absl::InvalidArgumentError(
              absl::StrCat("unknown match field ", f));
      }
    }
    out.url = out.scheme || out.host || out.port || out.path || out.query;
  }
  if (in.headers_size() > 0 && in.fields_size() == 0) out.headers = true;
  for (const std::string& h : in.headers())
    out.header_names.push_back(absl::AsciiStrToLower(h));
  if (out.headers && out.header_names.empty()) {
    return absl::InvalidArgumentError(
        "match rules compare HEADERS but name none (set MatchRules.headers)");
  }
  out.ignore_query_params.assign(in.ignore_query_params().begin(),
                                 in.ignore_query_params().end());
  out.query_order_insensitive = in.query_order_insensitive();
  switch (in.body()) {
    case v1::BODY_JSON:
      out.body_mode = match::BodyMode::kJson;
      break;
    case v1::BODY_FORM:
      out.body_mode = match::BodyMode::kForm;
      break;
    case v1::BODY_IGNORE:
      out.body_mode = match::BodyMode::kIgnore;
      break;
    default:
      out.body_mode = match::BodyMode::kExact;
      break;
  }
  for (const std::string& p : in.ignore_json_pointers()) {
    RETURN_IF_ERROR(CheckPointer(p, "ignored JSON pointer"));
    out.ignore_json_pointers.push_back(p);
  }
  out.ignore_form_fields.assign(in.ignore_form_fields().begin(),
                                in.ignore_form_fields().end());
  for (const v1::UrlRewrite& r : in.url_rewrites()) {
    ASSIGN_OR_RETURN(match::UrlRewrite rewrite,
                     match::MakeUrlRewrite(r.pattern(), r.replacement()));
    out.url_rewrites.push_back(std::move(rewrite));
  }
  return out;
}

absl::StatusOr<cassette::RedactConfig> ToRedactConfig(
    const v1::RedactRules& in, const cassette::RedactConfig& defaults) {
  cassette::RedactConfig out =
      in.disable_defaults() ? cassette::RedactConfig{} : defaults;
  for (const std::string& h : in.headers())
    out.headers.push_back(absl::AsciiStrToLower(h));
  out.query_params.insert(out.query_params.end(), in.query_params().begin(),
                          in.query_params().end());
  for (const std::string& p : in.json_pointers()) {
    RETURN_IF_ERROR(CheckPointer(p, "redacted JSON pointer"));
    out.json_pointers.push_back(p);
  }
  out.form_fields.insert(out.form_fields.end(), in.form_fields().begin(),
                         in.form_fields().end());
  out.json_keys.insert(out.json_keys.end(), in.json_keys().begin(),
                       in.json_keys().end());
  switch (in.on_unredactable()) {
    case v1::UNREDACTABLE_POLICY_UNSPECIFIED:
    case v1::UNREDACTABLE_WARN:
      out.refuse_unredactable = false;
      break;
    case v1::UNREDACTABLE_REFUSE:
      out.refuse_unredactable = true;
      break;
    default:
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown on_unredactable policy ", in.on_unredactable()));
  }
  for (const std::string& pattern : in.body_patterns()) {
    auto re = std::make_shared<const re2::RE2>(pattern, re2::RE2::Quiet);
    if (!re->ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "bad body redaction pattern '", pattern, "': ", re->error()));
    }
    out.body_patterns.push_back(std::move(re));
  }
  return out;
}

v1::CassetteOptions MergeOptions(const v1::CassetteOptions& stored,
                                 const v1::CassetteOptions& o) {
  // Field by field, by reflection, so that a field added to CassetteOptions
  // is overridable without touching this: a scalar or enum set in `o`
  // (proto3: not its zero value) wins; a message set in `o` replaces the
  // stored one whole.
  v1::CassetteOptions out = stored;
  std::vector<const google::protobuf::FieldDescriptor*> set;
  o.GetReflection()->ListFields(o, &set);
  for (const google::protobuf::FieldDescriptor* f : set) {
    if (f->is_repeated() ||
        f->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE) {
      out.GetReflection()->ClearField(&out, f);
    }
  }
  out.MergeFrom(o);
  // Only a positive speed overrides (0 and below mean "as stored").
  if (!(o.ws_speed() > 0)) out.set_ws_speed(stored.ws_speed());
  if (!(o.stream_speed() > 0)) out.set_stream_speed(stored.stream_speed());
  return out;
}

}  // namespace matgto::replay

#include "server/cassette/json_codec.h"

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"
#include "server/cassette/codec.h"
#include "server/core/utf8.h"

namespace matgto::cassette {
namespace {

// Visits every (bytes, text) pair of a cassette: request and response
// bodies of HTTP exchanges and WebSocket upgrades, and WebSocket payloads.
template <typename Fn>
void ForEachBody(v1::Interaction& it, Fn fn) {
  {
    if (it.has_http()) {
      v1::HttpExchange* http = it.mutable_http();
      if (http->has_request()) {
        fn(*http->mutable_request()->mutable_body(),
           *http->mutable_request()->mutable_body_text());
      }
      if (http->has_response()) {
        fn(*http->mutable_response()->mutable_body(),
           *http->mutable_response()->mutable_body_text());
      }
    } else if (it.has_websocket()) {
      v1::WebSocketSession* ws = it.mutable_websocket();
      if (ws->has_upgrade_request()) {
        fn(*ws->mutable_upgrade_request()->mutable_body(),
           *ws->mutable_upgrade_request()->mutable_body_text());
      }
      if (ws->has_upgrade_response()) {
        fn(*ws->mutable_upgrade_response()->mutable_body(),
           *ws->mutable_upgrade_response()->mutable_body_text());
      }
      for (v1::WsMessage& m : *ws->mutable_messages()) {
        fn(*m.mutable_payload(), *m.mutable_payload_text());
      }
    }
  }
}

template <typename Fn>
void ForEachBody(v1::Cassette& cassette, Fn fn) {
  for (v1::Interaction& it : *cassette.mutable_interactions()) {
    ForEachBody(it, fn);
  }
}

void NormalizeText(std::string& bytes, std::string& text) {
  if (!text.empty()) {
    bytes = std::move(text);
    text.clear();
  }
}

}  // namespace

void MoveTextBodiesOut(v1::Cassette& cassette) {
  ForEachBody(cassette, [](std::string& bytes, std::string& text) {
    if (!bytes.empty() && core::IsValidUtf8(bytes)) {
      text = std::move(bytes);
      bytes.clear();
    }
  });
}

void NormalizeTextBodies(v1::Cassette& cassette) {
  ForEachBody(cassette, NormalizeText);
}

void NormalizeTextBodies(v1::Interaction& interaction) {
  ForEachBody(interaction, NormalizeText);
}

void NormalizeTextBody(v1::HttpRequest& request) {
  NormalizeText(*request.mutable_body(), *request.mutable_body_text());
}

absl::StatusOr<std::string> CassetteToJson(v1::Cassette cassette) {
  MoveTextBodiesOut(cassette);
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  std::string out;
  auto st =
      google::protobuf::util::MessageToJsonString(cassette, &out, options);
  if (!st.ok()) {
    return absl::InternalError(absl::StrCat("cannot print cassette '",
                                            cassette.name(),
                                            "' as JSON: ", st.ToString()));
  }
  return UnescapeAngleBrackets(out);
}

absl::StatusOr<std::string> SerializeCassetteJson(
    const v1::Cassette& cassette) {
  // Stamped by the binary serializer so both formats carry the same marks.
  v1::Cassette stamped;
  if (!stamped.ParseFromString(SerializeCassette(cassette))) {
    return absl::InternalError("cannot re-read a serialized cassette");
  }
  return CassetteToJson(std::move(stamped));
}

absl::StatusOr<v1::Cassette> ParseCassetteJson(absl::string_view json,
                                               absl::string_view source) {
  v1::Cassette cassette;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  auto st = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), &cassette,
      options);
  if (!st.ok()) {
    return absl::DataLossError(absl::StrCat(
        "cassette file ", source,
        " is not a valid JSON matgto.v1.Cassette: ", st.message().as_string()));
  }
  if (cassette.schema_version() == 0) {
    return absl::DataLossError(
        absl::StrCat("cassette file ", source,
                     " has no schema_version: it is not a matgto cassette"));
  }
  // The binary parser holds the version checks and the upgrades: one path.
  auto parsed = ParseCassette(cassette.SerializeAsString(), source);
  if (!parsed.ok()) return parsed.status();
  NormalizeTextBodies(*parsed);
  return parsed;
}

std::string UnescapeAngleBrackets(absl::string_view json) {
  std::string out;
  out.reserve(json.size());
  for (size_t i = 0; i < json.size(); ++i) {
    if (json[i] != '\\' || i + 1 >= json.size()) {
      out.push_back(json[i]);
      continue;
    }
    const absl::string_view escape = json.substr(i, 6);
    if (escape == "\\u003c" || escape == "\\u003e") {
      out.push_back(escape == "\\u003c" ? '<' : '>');
      i += 5;
    } else {
      out.append(json.data() + i, 2);  // any other escape, kept whole
      ++i;
    }
  }
  return out;
}

bool LooksLikeJson(absl::string_view bytes) {
  for (char c : bytes) {
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') continue;
    return c == '{';
  }
  return false;
}

}  // namespace matgto::cassette

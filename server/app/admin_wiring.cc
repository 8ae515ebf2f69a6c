#include "server/app/admin_wiring.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"
#include "matgto/v1/control.pb.h"
#include "server/cassette/har.h"
#include "server/cassette/json_codec.h"
#include "server/cassette/name.h"
#include "server/observe/log.h"

namespace matgto::app {
namespace {

absl::StatusOr<std::string> ToJson(const google::protobuf::Message& m) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  std::string json;
  auto status = google::protobuf::util::MessageToJsonString(m, &json, options);
  if (!status.ok()) {
    return absl::InternalError(std::string(status.message()));
  }
  return json;
}

}  // namespace

admin::AdminHandlers AdminHandlersFor(
    observe::Observer& observer, replay::SessionManager& sessions,
    cassette::CassetteStore& store, const std::atomic<bool>& draining,
    std::function<admin::AdminAccess(absl::string_view)> authorize) {
  return admin::AdminHandlers{
      .metrics =
          [&observer, &sessions] {
            return observer.RenderMetrics(
                static_cast<int64_t>(sessions.List().size()));
          },
      .ready = [&draining, &store]() -> absl::Status {
        if (draining.load()) {
          return absl::UnavailableError("draining (shutting down)");
        }
        // The store answers (a name no cassette has).
        absl::StatusOr<bool> probe = store.Exists("matgto-readyz");
        if (!probe.ok()) {
          return absl::UnavailableError(absl::StrCat(
              "cassette store unreachable: ", probe.status().message()));
        }
        return absl::OkStatus();
      },
      .authorize = std::move(authorize),
      .sessions_json =
          [&sessions] {
            v1::GetStatusResponse out;
            for (v1::SessionInfo& s : sessions.List()) {
              *out.add_sessions() = std::move(s);
            }
            absl::StatusOr<std::string> json = ToJson(out);
            return json.ok() ? *json : std::string("{}");
          },
      .cassettes_json = [&store]() -> absl::StatusOr<std::string> {
        absl::StatusOr<std::vector<v1::CassetteInfo>> list = store.List("");
        if (!list.ok()) return list.status();
        v1::ListCassettesResponse out;
        for (v1::CassetteInfo& c : *list) *out.add_cassettes() = std::move(c);
        return ToJson(out);
      },
      .cassette_json =
          [&store](absl::string_view name) -> absl::StatusOr<std::string> {
        absl::StatusOr<v1::Cassette> cassette = store.Load(name);
        if (!cassette.ok()) return cassette.status();
        return ToJson(*cassette);
      },
      .cassette_download =
          [&store](absl::string_view name,
                   absl::string_view format) -> absl::StatusOr<std::string> {
        absl::StatusOr<v1::Cassette> cassette = store.Load(name);
        if (!cassette.ok()) return cassette.status();
        if (format == "har") {
          absl::StatusOr<cassette::HarExport> har =
              cassette::CassetteToHar(*cassette, MATGTO_VERSION);
          if (!har.ok()) return har.status();
          return std::move(har->json);
        }
        // What `matgto cassette export --format json` writes.
        return cassette::CassetteToJson(*std::move(cassette));
      },
      // As the control API's DeleteCassette: a valid name, no open session
      // on it.
      .delete_cassette = [&store,
                          &sessions](absl::string_view name) -> absl::Status {
        absl::Status st = cassette::ValidateCassetteName(name);
        if (st.ok()) st = sessions.CheckNotInUse(name, "delete");
        if (st.ok()) st = store.Delete(name);
        if (st.ok()) {
          observe::Log(
              observe::LogLevel::kInfo, "cassette",
              absl::StrCat("deleted cassette '", name, "' (admin page)"));
        }
        return st;
      },
      .events = &observer.bus()};
}

}  // namespace matgto::app

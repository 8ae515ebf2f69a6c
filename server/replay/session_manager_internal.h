// Helpers that SessionManager's control files (session_manager.cc,
// session_end.cc) share. Internal to replay/: include it from those files
// only.
#pragma once

#include <string>
#include <utility>

#include "absl/strings/string_view.h"
#include "matgto/v1/control.pb.h"
#include "server/replay/session_manager.h"

namespace matgto::replay::internal {

inline bool IsDefault(absl::string_view id) {
  return id.empty() || id == kDefaultSessionId;
}

inline v1::SessionEvent Note(v1::SessionEvent::Kind kind,
                             absl::string_view session,
                             absl::string_view cassette, v1::Mode mode,
                             std::string message) {
  v1::SessionEvent note;
  note.set_kind(kind);
  note.set_session(std::string(session));
  note.set_cassette(std::string(cassette));
  note.set_mode(mode);
  note.set_message(std::move(message));
  return note;
}

}  // namespace matgto::replay::internal

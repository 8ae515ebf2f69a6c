// What the admin port serves, wired to the server's components: metrics
// from the observer, readiness from the draining flag and the store, the
// web page's JSON, downloads (JSON, HAR) and deletes from the session
// manager and the store, events from the observer's bus.
#pragma once

#include <atomic>
#include <functional>

#include "absl/strings/string_view.h"
#include "server/admin/admin_server.h"
#include "server/cassette/store.h"
#include "server/observe/observer.h"
#include "server/replay/session_manager.h"

namespace matgto::app {

// Every reference must outlive the admin server. `authorize`: see
// ServeOptions::admin_authorize.
admin::AdminHandlers AdminHandlersFor(
    observe::Observer& observer, replay::SessionManager& sessions,
    cassette::CassetteStore& store, const std::atomic<bool>& draining,
    std::function<admin::AdminAccess(absl::string_view)> authorize);

}  // namespace matgto::app

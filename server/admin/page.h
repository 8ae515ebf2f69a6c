// The admin web page: one HTML document with its script, served from the
// binary (no front-end build). It reads /api/sessions, /api/cassettes,
// /api/cassettes/NAME and follows /events (server-sent events).
#pragma once

#include <string>

namespace matgto::admin {

const std::string& IndexHtml();

}  // namespace matgto::admin

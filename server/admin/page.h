// The admin web page: static files (page/index.html, page.css, page.js)
// embedded in the binary at build time (CMake turns them into a .cc, see
// embed_files.cmake), served as they are: no front-end build. The script
// reads /api/... and follows /events (server-sent events).
#pragma once

#include "absl/strings/string_view.h"

namespace matgto::admin {

struct PageFile {
  absl::string_view content_type;
  absl::string_view body;
};

// The file served at `path` ("/" is index.html), or null.
const PageFile* FindPageFile(absl::string_view path);

}  // namespace matgto::admin

// The admin page's files as compiled into the binary (defined in a source
// that embed_files.cmake generates at build time).
#pragma once

#include <cstddef>

namespace matgto::admin {

struct EmbeddedFile {
  const char* name;  // "index.html"
  const char* data;
  size_t size;
};

extern const EmbeddedFile kEmbeddedFiles[];
extern const int kEmbeddedFileCount;

}  // namespace matgto::admin

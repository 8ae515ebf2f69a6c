#include "server/core/appender.h"

namespace matgto::core {

void Appender::Grow(size_t n) {
  const size_t written = size();
  Open(written, written + n);
}

}  // namespace matgto::core

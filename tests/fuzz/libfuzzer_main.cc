// The libFuzzer entry point of one fuzz binary: MATGTO_FUZZ_ENTRY names the
// target of targets.h it runs (set per binary in CMakeLists.txt).
#include <cstddef>
#include <cstdint>

#include "google/protobuf/stubs/logging.h"
#include "tests/fuzz/targets.h"

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  // Protobuf logs every invalid UTF-8 string it rejects; millions of lines
  // would bury libFuzzer's own output.
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return MATGTO_FUZZ_ENTRY(data, size);
}

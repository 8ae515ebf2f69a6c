// Fuzz targets for the two places that take bytes from the outside world:
// the proxy's request parsing path and the cassette decoders. Each target
// must never crash, hang or trip a sanitizer, whatever the input; errors
// are values. They have the libFuzzer signature so they can also be built
// with clang's -fsanitize=fuzzer; `fuzz_test` drives them deterministically
// (seeded random and mutated inputs) under GoogleTest in every build.
#pragma once

#include <cstddef>
#include <cstdint>

namespace matgto::fuzz {

// Beast's request parser with the proxy's limits, then what the proxy does
// with a parsed request: URL parsing, core conversion, upstream and wire
// messages.
// Returns whether a whole request made it through (coverage check).
bool RequestPath(const uint8_t* data, size_t size);
// Binary cassette parsing, journal recovery and the JSON cassette reader;
// returns how many of the three accepted the input.
int DecoderPath(const uint8_t* data, size_t size);

// libFuzzer entry points.
inline int RequestParser(const uint8_t* data, size_t size) {
  RequestPath(data, size);
  return 0;
}
inline int CassetteDecoders(const uint8_t* data, size_t size) {
  DecoderPath(data, size);
  return 0;
}

}  // namespace matgto::fuzz

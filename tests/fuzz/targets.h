// Fuzz targets for the places that take bytes from the outside world: the
// proxy's request parsing path, the WebSocket frame path, the cassette
// decoders and the redactor. Each target must never crash, hang or trip a
// sanitizer, whatever the input; errors are values. Some also check a
// property (a cassette that loads is saved and loads again; redaction is
// idempotent) and abort, like a crash, when it does not hold.
//
// They have the libFuzzer signature: `make fuzz` builds one libFuzzer binary
// per entry point below with clang's -fsanitize=fuzzer (libfuzzer_main.cc),
// and `fuzz_test` drives them deterministically (seeded random and mutated
// inputs) under GoogleTest in every build.
#pragma once

#include <cstddef>
#include <cstdint>

namespace matgto::fuzz {

// Beast's request parser with the proxy's limits, then what the proxy does
// with a parsed request: CONNECT target parsing, the proxy credential,
// hop-by-hop headers, URL parsing, core conversion, upstream and wire
// messages. Returns whether a whole request made it through (coverage
// check).
bool RequestPath(const uint8_t* data, size_t size);
// A Beast WebSocket server stream configured as the relay configures its
// client side (message limit, no permessage-deflate, no auto-fragment),
// after a valid upgrade, reading `data` as the client's frames; every
// message is converted as the recorder stores it. Returns how many
// messages were read.
int WebSocketFramePath(const uint8_t* data, size_t size);
// Binary cassette parsing; a cassette that parses is saved again, in both
// formats, and must parse again. Returns whether it parsed.
bool BinaryCassettePath(const uint8_t* data, size_t size);
// Journal recovery; a recovered cassette must save and load.
bool JournalPath(const uint8_t* data, size_t size);
// The JSON cassette reader; a cassette that parses must save and load again.
bool JsonCassettePath(const uint8_t* data, size_t size);
// HAR import; an imported cassette must export to HAR and save and load.
bool HarPath(const uint8_t* data, size_t size);
// Binary, journal and JSON decoders on the same bytes (the original
// deterministic target); returns how many of the three accepted the input.
int DecoderPath(const uint8_t* data, size_t size);
// The redactor (default rules plus query, JSON-pointer, form and pattern
// rules) on a request and a response built from `data`:
//   first byte: bits 0-1 choose Content-Type (JSON, form, text, none),
//               bits 2-4 choose Content-Encoding (none, gzip, deflate, br,
//               identity, "gzip, deflate", "deflate, gzip", unknown);
//   then a URL line, header lines "Name: value", an empty line, the body.
// Redacting twice must give what redacting once gave. Returns whether the
// redactor changed anything.
bool RedactorPath(const uint8_t* data, size_t size);

// libFuzzer entry points.
inline int RequestParser(const uint8_t* data, size_t size) {
  RequestPath(data, size);
  return 0;
}
inline int WebSocketFrames(const uint8_t* data, size_t size) {
  WebSocketFramePath(data, size);
  return 0;
}
inline int BinaryCassette(const uint8_t* data, size_t size) {
  BinaryCassettePath(data, size);
  return 0;
}
inline int JournalRecovery(const uint8_t* data, size_t size) {
  JournalPath(data, size);
  return 0;
}
inline int JsonCassette(const uint8_t* data, size_t size) {
  JsonCassettePath(data, size);
  return 0;
}
inline int HarImport(const uint8_t* data, size_t size) {
  HarPath(data, size);
  return 0;
}
inline int CassetteDecoders(const uint8_t* data, size_t size) {
  DecoderPath(data, size);
  return 0;
}
inline int Redactor(const uint8_t* data, size_t size) {
  RedactorPath(data, size);
  return 0;
}

}  // namespace matgto::fuzz

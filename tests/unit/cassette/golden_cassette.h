// The content of tests/testdata/cassette_v1.{pb,json}: a cassette of schema
// version 1 with the shapes that must survive every later version (HTTP
// text and binary bodies, gzip kept as sent, two Set-Cookie lines, header and
// reason bytes that are not UTF-8, a WebSocket session with text, binary
// and close).
//
// make_golden_cassette writes it ONCE; the files are then kept forever and
// golden_test.cc checks them against literal expectations (not against this
// function), so that a schema change that would break old cassettes fails a
// test. When the schema version moves, add cassette_v2 next to them.
#pragma once

#include <string>

#include "matgto/v1/cassette.pb.h"

namespace matgto::testing {

// gzip of "hello golden\n" (mtime 0), as an upstream would send it.
std::string GoldenGzipBody();

v1::Cassette MakeGoldenCassette();

}  // namespace matgto::testing

// Drives the fuzz targets with seeded random and mutated inputs (100k
// per target), so every build — the ASan+UBSan one in particular — runs
// them. A crash, hang or sanitizer report fails the test.
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "google/protobuf/stubs/logging.h"
#include "gtest/gtest.h"
#include "server/cassette/codec.h"
#include "tests/fuzz/targets.h"

namespace matgto::fuzz {
namespace {

std::vector<std::string> RequestSeeds() {
  return {
      "GET http://example.com/a?b=c HTTP/1.1\r\nHost: example.com\r\n\r\n",
      "POST http://h:8080/p HTTP/1.1\r\nHost: h\r\nContent-Length: "
      "5\r\n\r\nhello",
      "PUT http://[::1]:9/x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n0\r\n\r\n",
      "GET ws://h/chat HTTP/1.1\r\nHost: h\r\nUpgrade: "
      "websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: "
      "13\r\n\r\n",
      "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
      "GET http://a/ HTTP/1.0\r\nConnection: keep-alive, X-Foo\r\nX-Foo: "
      "1\r\n\r\n",
  };
}

std::string Mutate(std::string s, std::mt19937& rng) {
  const int edits = 1 + static_cast<int>(rng() % 8);
  for (int i = 0; i < edits; ++i) {
    switch (rng() % 5) {
      case 0:  // flip a byte
        if (!s.empty()) s[rng() % s.size()] = static_cast<char>(rng());
        break;
      case 1:  // insert a byte
        s.insert(s.begin() + (s.empty() ? 0 : rng() % s.size()),
                 static_cast<char>(rng()));
        break;
      case 2:  // delete a range
        if (!s.empty()) {
          size_t at = rng() % s.size();
          s.erase(at, rng() % (s.size() - at + 1));
        }
        break;
      case 3:  // duplicate a range
        if (!s.empty()) {
          size_t at = rng() % s.size();
          s.insert(at, s.substr(at, rng() % 64));
        }
        break;
      default:  // interesting bytes
        s.insert(s.empty() ? 0 : rng() % s.size(),
                 std::string(1 + rng() % 3, "\r\n:\0 %[]{}\"\xff"[rng() % 13]));
        break;
    }
  }
  return s;
}

// Returns the sum of what the target returned, so a test can check that
// the inputs reach deep into the code, not just the first error.
template <class Target>
int Drive(Target target, const std::vector<std::string>& seeds, uint32_t seed,
          int iterations = 100000) {
  std::mt19937 rng(seed);
  int accepted = 0;
  for (const std::string& s : seeds) {
    accepted += static_cast<int>(
        target(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
  }
  for (int i = 0; i < iterations; ++i) {
    std::string input;
    if (i % 4 == 0) {
      input.resize(rng() % 512);
      for (char& c : input) c = static_cast<char>(rng());
    } else {
      input = Mutate(seeds[rng() % seeds.size()], rng);
    }
    accepted += static_cast<int>(
        target(reinterpret_cast<const uint8_t*>(input.data()), input.size()));
  }
  return accepted;
}

TEST(FuzzTest, RequestParserSurvivesArbitraryInput) {
  // Many mutated requests still parse: the later stages are exercised too.
  EXPECT_GT(Drive(RequestPath, RequestSeeds(), 20261125), 1000);
}

TEST(FuzzTest, CassetteDecodersSurviveArbitraryInput) {
  // Protobuf logs every invalid UTF-8 string it rejects; thousands of lines
  // would bury the result.
  google::protobuf::LogHandler* previous =
      google::protobuf::SetLogHandler(nullptr);
  v1::Cassette c;
  c.set_name("seed");
  auto* http = c.add_interactions()->mutable_http();
  http->mutable_request()->set_method("GET");
  http->mutable_request()->set_url("http://a/");
  http->mutable_response()->set_status(200);
  http->mutable_response()->set_body("hello");
  auto* ws = c.add_interactions()->mutable_websocket();
  ws->add_messages()->set_payload("hi");
  ws->mutable_close()->set_code(1000);
  v1::JournalEntry begin;
  *begin.mutable_begin() = c;
  std::string journal = begin.SerializeAsString();
  journal.insert(journal.begin(), static_cast<char>(journal.size() & 0x7f));
  std::vector<std::string> seeds = {
      cassette::SerializeCassette(c), journal,
      R"({"schemaVersion":1,"name":"j","complete":true,"interactions":[{"http":{"request":{"method":"GET","url":"http://a/"},"response":{"status":200,"body_text":"x"}}}]})"};
  EXPECT_GT(Drive(DecoderPath, seeds, 7), 100);
  google::protobuf::SetLogHandler(previous);
}

// A client frame (masked with a zero key, so the payload reads as is).
std::string Frame(int opcode, std::string payload, bool fin = true) {
  std::string f(1, static_cast<char>((fin ? 0x80 : 0) | opcode));
  f += static_cast<char>(0x80 | payload.size());  // payloads < 126 bytes
  f += std::string(4, '\0');
  return f + payload;
}

TEST(FuzzTest, WebSocketFramePathSurvivesArbitraryInput) {
  const std::string close_1000 = std::string("\x03\xe8", 2) + "bye";
  std::vector<std::string> seeds = {
      Frame(1, "hello") + Frame(8, close_1000),
      Frame(2, std::string(100, 'x')) + Frame(9, "p") + Frame(10, "q"),
      Frame(1, "he", false) + Frame(9, "mid") + Frame(0, "llo"),
  };
  // Messages are read: the target gets past the handshake and the framing.
  EXPECT_GT(Drive(WebSocketFramePath, seeds, 6455, 20000), 1000);
}

TEST(FuzzTest, HarImportSurvivesArbitraryInput) {
  google::protobuf::LogHandler* previous =
      google::protobuf::SetLogHandler(nullptr);
  std::vector<std::string> seeds = {
      R"({"log":{"version":"1.2","creator":{"name":"x","version":"1"},"entries":[{"request":{"method":"POST","url":"https://a/b?c=d","httpVersion":"h2","headers":[{"name":":authority","value":"a"}],"postData":{"mimeType":"text/plain","text":"hi"}},"response":{"status":200,"headers":[{"name":"content-encoding","value":"gzip"}],"content":{"size":2,"text":"aGk=","encoding":"base64"}}}]}})"};
  EXPECT_GT(Drive(HarPath, seeds, 12, 20000), 10);
  google::protobuf::SetLogHandler(previous);
}

TEST(FuzzTest, RedactorSurvivesArbitraryInput) {
  std::vector<std::string> seeds = {
      std::string(1, '\0') +
          "http://a/login?token=t&x=1\nAuthorization: Bearer abc\n\n"
          R"({"password":"p","user":{"token":"t"},"k":"sk_live1234"})",
      std::string(1, '\1') +
          "https://a/x?api_key=1\nSet-Cookie: sid=1; Path=/\n\n"
          "password=p&client_secret=s&x=secret-42",
  };
  // Redaction changes something in most mutated inputs.
  EXPECT_GT(Drive(RedactorPath, seeds, 2616, 20000), 1000);
}

// Every input a fuzzer once crashed on (tests/fuzz/corpus/<target>/
// regression-*), run through its target in every build: a fix that regresses
// fails here, not only in `make fuzz`. In builds with assertions (the ASan
// one) this includes Beast's wrong final-chunk assertion.
TEST(FuzzTest, EveryCommittedRegressionInputPasses) {
  google::protobuf::LogHandler* previous =
      google::protobuf::SetLogHandler(nullptr);
  const std::map<std::string, int (*)(const uint8_t*, size_t)> targets = {
      {"request", RequestParser},
      {"websocket", WebSocketFrames},
      {"cassette_binary", BinaryCassette},
      {"journal", JournalRecovery},
      {"cassette_json", JsonCassette},
      {"har", HarImport},
      {"redactor", Redactor}};
  int ran = 0;
  for (const auto& [name, target] : targets) {
    const std::filesystem::path dir =
        std::filesystem::path(MATGTO_FUZZ_CORPUS_DIR) / name;
    if (!std::filesystem::is_directory(dir)) continue;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
      if (entry.path().filename().string().rfind("regression-", 0) != 0) {
        continue;
      }
      std::ifstream in(entry.path(), std::ios::binary);
      std::stringstream bytes;
      bytes << in.rdbuf();
      const std::string input = bytes.str();
      SCOPED_TRACE(entry.path().string());
      target(reinterpret_cast<const uint8_t*>(input.data()), input.size());
      ++ran;
    }
  }
  google::protobuf::SetLogHandler(previous);
  EXPECT_GE(ran, 5);  // the five committed so far
}

}  // namespace
}  // namespace matgto::fuzz

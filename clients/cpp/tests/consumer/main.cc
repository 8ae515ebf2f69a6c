// Uses the installed matgto client: launches a server, records a session,
// lists the cassette. Exits 0 when everything worked. install_test.sh runs it
// with HTTP(S)_PROXY and grpc_proxy pointing at a dead proxy: the control
// channel must ignore them.
#include <cstdio>
#include <cstdlib>

#include "matgto/client.h"
#include "matgto/testing/local_server.h"

int main() {
  if (const char* p = std::getenv("grpc_proxy"); p != nullptr) {
    std::printf(
        "grpc_proxy=%s HTTPS_PROXY=%s (ignored by the control channel)\n", p,
        std::getenv("HTTPS_PROXY") ? std::getenv("HTTPS_PROXY") : "");
  }
  try {
    matgto::testing::LocalServer server;  // $MATGTO_BIN
    auto client = matgto::Client::Connect(server.control_address());
    {
      matgto::Session s = client.Record("consumer/first");
      std::printf("session %s proxy %s\n", s.id().c_str(),
                  s.proxy_url().c_str());
    }
    auto list = client.ListCassettes("consumer/");
    if (list.size() != 1 || list[0].name() != "consumer/first") {
      std::fprintf(stderr, "expected cassette consumer/first, got %zu\n",
                   list.size());
      return 1;
    }
    try {
      client.Replay("consumer/missing");
      return 1;
    } catch (const matgto::CassetteNotFound& e) {
      std::printf("typed error: %s\n", e.what());
    }
    std::printf("consumer: ok (server %s)\n",
                client.Status().version().c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "consumer: %s\n", e.what());
    return 1;
  }
}

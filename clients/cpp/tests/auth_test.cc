// Tokens and TLS against a server started with --auth-tokens and
// --control-tls-cert/--control-tls-key.
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"
#include "matgto/client.h"
#include "matgto/testing/local_server.h"
#include "support.h"

namespace matgto {
namespace {

constexpr char kReadToken[] = "read-token-0123456789";
constexpr char kWriteToken[] = "write-token-0123456789";

std::string WriteTokens(const std::string& dir) {
  std::string path = dir + "/tokens";
  std::ofstream(path) << kReadToken << " read\n" << kWriteToken << " write\n";
  std::filesystem::permissions(path, std::filesystem::perms::owner_read |
                                         std::filesystem::perms::owner_write);
  return path;
}

TEST(AuthTest, TokensAndScopes) {
  std::string dir = test::TempDir();
  testing::LocalServer server(
      {.extra_args = {"--auth-tokens", WriteTokens(dir)}});
  const std::string& addr = server.control_address();

  EXPECT_THROW(Client::Connect(addr, {.token = ""}).Status(), Unauthenticated);
  EXPECT_THROW(
      Client::Connect(addr, {.token = "unknown-token-0123456789"}).Status(),
      Unauthenticated);

  Client reader = Client::Connect(addr, {.token = kReadToken});
  EXPECT_EQ(reader.Status().api_version(), kApiVersion);
  try {
    reader.Record("auth/x");
    FAIL() << "a read token recorded";
  } catch (const PermissionDenied& e) {
    EXPECT_EQ(e.code(), absl::StatusCode::kPermissionDenied);
  }

  // The token from $MATGTO_TOKEN.
  setenv("MATGTO_TOKEN", kWriteToken, 1);
  Client writer = Client::Connect(addr);
  unsetenv("MATGTO_TOKEN");
  Session s = writer.Record("auth/x");
  EXPECT_EQ(s.Stop().end_reason(), "stopped");
  std::filesystem::remove_all(dir);
}

TEST(AuthTest, TlsControlChannelWithToken) {
  std::string dir = test::TempDir();
  std::string out;
  int rc = test::Run(
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
      "-nodes -days 1 -subj /CN=127.0.0.1 -addext "
      "subjectAltName=IP:127.0.0.1 -keyout " +
          dir + "/key.pem -out " + dir + "/cert.pem",
      &out);
  ASSERT_EQ(rc, 0) << out;
  testing::LocalServer server(
      {.extra_args = {"--auth-tokens", WriteTokens(dir), "--control-tls-cert",
                      dir + "/cert.pem", "--control-tls-key",
                      dir + "/key.pem"}});
  const std::string& addr = server.control_address();

  Client c = Client::Connect(
      addr, {.token = kWriteToken, .tls_ca = dir + "/cert.pem"});
  EXPECT_TRUE(c.tls());
  EXPECT_EQ(c.Status().api_version(), kApiVersion);
  // $MATGTO_TLS_CA turns TLS on too.
  setenv("MATGTO_TLS_CA", (dir + "/cert.pem").c_str(), 1);
  Client from_env = Client::Connect(addr, {.token = kReadToken});
  unsetenv("MATGTO_TLS_CA");
  EXPECT_TRUE(from_env.tls());
  EXPECT_THROW(from_env.Record("tls/x"), PermissionDenied);
  // Plaintext to a TLS port fails the handshake.
  EXPECT_THROW(Client::Connect(addr, {.token = kWriteToken,
                                      .call_timeout = std::chrono::seconds(3)})
                   .Status(),
               Unavailable);
  std::filesystem::remove_all(dir);
}

TEST(AuthTest, MutualTls) {
  std::string dir = test::TempDir();
  std::string out;
  const std::string ec = " -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes ";
  int rc = test::Run(
      "set -e; cd " + dir + "; openssl req -x509" + ec +
          "-days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 "
          "-keyout key.pem -out cert.pem; "
          "openssl req -x509" +
          ec +
          "-days 1 -subj /CN=client-ca -keyout ca.key -out ca.pem; "
          "openssl req" +
          ec +
          "-subj /CN=client -keyout client.key -out client.csr; "
          "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key "
          "-CAcreateserial "
          "-days 1 -out client.pem",
      &out);
  ASSERT_EQ(rc, 0) << out;
  testing::LocalServer server(
      {.extra_args = {"--control-tls-cert", dir + "/cert.pem",
                      "--control-tls-key", dir + "/key.pem",
                      "--control-client-ca", dir + "/ca.pem"}});
  const std::string& addr = server.control_address();

  Client c = Client::Connect(addr, {.tls_ca = dir + "/cert.pem",
                                    .tls_cert = dir + "/client.pem",
                                    .tls_key = dir + "/client.key"});
  EXPECT_EQ(c.Status().api_version(), kApiVersion);
  // The client certificate from $MATGTO_TLS_CERT / $MATGTO_TLS_KEY.
  setenv("MATGTO_TLS_CERT", (dir + "/client.pem").c_str(), 1);
  setenv("MATGTO_TLS_KEY", (dir + "/client.key").c_str(), 1);
  Client from_env = Client::Connect(addr, {.tls_ca = dir + "/cert.pem"});
  unsetenv("MATGTO_TLS_CERT");
  unsetenv("MATGTO_TLS_KEY");
  EXPECT_EQ(from_env.Status().api_version(), kApiVersion);
  // Without a client certificate the handshake fails.
  EXPECT_THROW(Client::Connect(addr, {.tls_ca = dir + "/cert.pem",
                                      .call_timeout = std::chrono::seconds(3)})
                   .Status(),
               Unavailable);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace matgto

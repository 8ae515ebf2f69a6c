// GoogleTest helpers (target matgto::gtest): a cassette session per test,
// named after the test, on a server shared by every test and test binary.
//
//   TEST(Weather, Today) {
//     auto cassette = MATGTO_CASSETTE();           // cassette "Weather/Today"
//     curl_easy_setopt(h, CURLOPT_PROXY, cassette.proxy_url().c_str());
//     ...
//   }  // stopped (saved) here; a replay miss fails the test, explained
//
//   class WeatherTest : public matgto::testing::CassetteTest {};
//   TEST_F(WeatherTest, Today) { Get(proxy_url(), ...); }
//
// The server is $MATGTO_SERVER (else 127.0.0.1:8889), configured by the
// MATGTO_TOKEN / MATGTO_TLS_* variables; or one ServerEnvironment starts
// for the test binary:
//   ::testing::AddGlobalTestEnvironment(new
//   matgto::testing::ServerEnvironment);
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "gtest/gtest.h"
#include "matgto/client.h"
#include "matgto/testing/local_server.h"

namespace matgto::testing {

// The client the helpers use: one per process, for $MATGTO_SERVER (which
// ServerEnvironment sets).
Client& SharedClient();

// Starts a LocalServer for the whole test binary and points $MATGTO_SERVER
// at it (unless MATGTO_SERVER is already set: then that server is used).
class ServerEnvironment : public ::testing::Environment {
 public:
  explicit ServerEnvironment(LocalServerOptions options = {});
  void SetUp() override;
  void TearDown() override;
  // Null when $MATGTO_SERVER named an existing server.
  LocalServer* server() { return server_.get(); }

 private:
  LocalServerOptions options_;
  std::unique_ptr<LocalServer> server_;
};

struct CassetteScopeOptions {
  // Empty: named after the running test, CassetteName("Suite/Test").
  std::string name{};
  SessionOptions session{};
  // Only log the misses (with their explanation) instead of failing.
  bool misses_as_warnings = false;
};

// A session for the running test: opened by the constructor (in the
// server's default mode unless session.mode says otherwise: AUTO replays an
// existing cassette, records a missing one), stopped by the destructor,
// which adds a non-fatal failure for each problem: a replay miss (with the
// server's explanation), a stop or save that failed, a lost session.
// A failure to open adds a failure too, and proxy_url() is then empty.
class CassetteScope {
 public:
  CassetteScope(const char* file, int line, CassetteScopeOptions options = {});
  CassetteScope(const char* file, int line, SessionOptions options);
  ~CassetteScope();
  CassetteScope(const CassetteScope&) = delete;
  CassetteScope& operator=(const CassetteScope&) = delete;

  bool ok() const { return session_.has_value(); }
  const std::string& name() const { return name_; }
  const std::string& proxy_url() const;
  Session& session() { return *session_; }
  // Stops now (what the destructor does); later calls do nothing.
  void Finish();

 private:
  const char* file_;
  int line_;
  std::string name_;
  bool warn_only_ = false;
  std::optional<Session> session_;
  bool finished_ = false;
};

// A fixture: every test of a suite deriving from it gets its own session
// (cassette "Suite/Test"). Override Options() to change it.
class CassetteTest : public ::testing::Test {
 protected:
  virtual CassetteScopeOptions Options() { return {}; }
  void SetUp() override;
  void TearDown() override;
  const std::string& proxy_url() const { return scope_->proxy_url(); }
  Session& session() { return scope_->session(); }
  const std::string& cassette_name() const { return scope_->name(); }

 private:
  std::unique_ptr<CassetteScope> scope_;
};

}  // namespace matgto::testing

// `auto cassette = MATGTO_CASSETTE();` or MATGTO_CASSETTE(options): a
// CassetteScope for the running test (failures point at this line).
#define MATGTO_CASSETTE(...)                 \
  ::matgto::testing::CassetteScope(__FILE__, \
                                   __LINE__ __VA_OPT__(, ) __VA_ARGS__)

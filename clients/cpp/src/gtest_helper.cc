// CassetteScope, CassetteTest, ServerEnvironment.
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "matgto/testing/gtest.h"

namespace matgto::testing {
namespace {

std::string RunningTestName() {
  const ::testing::TestInfo* info =
      ::testing::UnitTest::GetInstance()->current_test_info();
  if (info == nullptr) return "no-test";
  return absl::StrCat(info->test_suite_name(), "/", info->name());
}

void Fail(const char* file, int line, const std::string& message) {
  GTEST_MESSAGE_AT_(file, line, message.c_str(),
                    ::testing::TestPartResult::kNonFatalFailure);
}

}  // namespace

Client& SharedClient() {
  static std::mutex mu;
  static std::optional<Client> client;
  static std::string address;
  std::lock_guard<std::mutex> lock(mu);
  const char* env = std::getenv("MATGTO_SERVER");
  std::string want = env == nullptr ? "" : env;
  if (!client.has_value() || want != address) {
    client.emplace(Client::Connect(want));
    address = want;
  }
  return *client;
}

ServerEnvironment::ServerEnvironment(LocalServerOptions options)
    : options_(std::move(options)) {}

void ServerEnvironment::SetUp() {
  const char* env = std::getenv("MATGTO_SERVER");
  if (env != nullptr && *env != '\0') return;
  server_ = std::make_unique<LocalServer>(options_);
  setenv("MATGTO_SERVER", server_->control_address().c_str(), 1);
}

void ServerEnvironment::TearDown() {
  if (server_ == nullptr) return;
  unsetenv("MATGTO_SERVER");
  server_.reset();
}

CassetteScope::CassetteScope(const char* file, int line, SessionOptions options)
    : CassetteScope(file, line,
                    CassetteScopeOptions{.session = std::move(options)}) {}

CassetteScope::CassetteScope(const char* file, int line, CassetteScopeOptions o)
    : file_(file), line_(line), warn_only_(o.misses_as_warnings) {
  const std::string test = RunningTestName();
  name_ = o.name.empty() ? CassetteName(test) : o.name;
  if (o.session.owner.empty()) {
    o.session.owner = absl::StrCat("gtest ", test, " pid ", getpid());
  }
  try {
    session_.emplace(SharedClient().Use(name_, std::move(o.session)));
  } catch (const std::exception& e) {
    Fail(file_, line_,
         absl::StrCat("matgto: cannot use cassette \"", name_,
                      "\": ", e.what()));
  }
}

const std::string& CassetteScope::proxy_url() const {
  static const std::string kNone;
  return session_.has_value() ? session_->proxy_url() : kNone;
}

void CassetteScope::Finish() {
  if (finished_ || !session_.has_value()) return;
  finished_ = true;
  v1::SessionSummary summary;
  try {
    summary = session_->Stop();
  } catch (const SessionLost& e) {
    Fail(file_, line_, e.what());
    summary = session_->Stop();  // the summary the server still had, if any
  } catch (const std::exception& e) {
    Fail(file_, line_,
         absl::StrCat("matgto: cannot stop cassette \"", name_, "\" (",
                      session_->id(), "): ", e.what()));
    return;
  }
  if (!summary.save_error().empty()) {
    Fail(file_, line_,
         absl::StrCat(
             "matgto: cassette \"", name_,
             "\": the recording could not be saved: ", summary.save_error()));
  }
  std::string misses = ExplainMisses(summary.session());
  if (!misses.empty()) {
    if (warn_only_) {
      ::testing::Test::RecordProperty("matgto_misses", misses);
      std::fprintf(stderr, "warning: %s\n", misses.c_str());
    } else {
      Fail(file_, line_, misses);
    }
  }
}

CassetteScope::~CassetteScope() { Finish(); }

void CassetteTest::SetUp() {
  // Failures point at the test, not at this file.
  const ::testing::TestInfo* info =
      ::testing::UnitTest::GetInstance()->current_test_info();
  scope_ =
      std::make_unique<CassetteScope>(info->file(), info->line(), Options());
  if (!scope_->ok())
    GTEST_SKIP() << "matgto: no session (see the failure above)";
}

void CassetteTest::TearDown() { scope_.reset(); }

}  // namespace matgto::testing

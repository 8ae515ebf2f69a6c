// The control service with a token table: every RPC authenticates, and
// each scope and name prefix is enforced where the service acts.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/cassette/codec.h"
#include "server/cassette/store.h"
#include "server/control/auth.h"
#include "server/control/control_service.h"
#include "server/core/clock.h"
#include "tests/unit/testing/status_matchers.h"
#include "tests/unit/testing/temp_dir.h"

namespace grpc {
inline void PrintTo(const Status& status, std::ostream* os) {
  *os << "gRPC status " << status.error_code() << " '" << status.error_message()
      << "'";
}
}  // namespace grpc

namespace matgto::control {
namespace {

using ::matgto::testing::IsOk;
using ::matgto::testing::TempDir;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

MATCHER_P2(GrpcStatusIs, code, message_matcher, "") {
  return arg.error_code() == code &&
         ::testing::Matches(message_matcher)(arg.error_message());
}
MATCHER(GrpcOk, "is OK") { return arg.ok(); }

constexpr char kRead[] = "read-token-0123456789";
constexpr char kWrite[] = "write-token-0123456789";
constexpr char kAdmin[] = "admin-token-0123456789";
constexpr char kTeamA[] = "team-a-token-0123456789";

const google::protobuf::ServiceDescriptor* ServiceDescriptor() {
  return v1::StartRecordingRequest::descriptor()->file()->FindServiceByName(
      "ProxyControl");
}

TEST(RpcRulesTest, EveryRpcOfTheServiceHasExactlyOneRule) {
  const google::protobuf::ServiceDescriptor* service = ServiceDescriptor();
  ASSERT_NE(service, nullptr);
  for (int i = 0; i < service->method_count(); ++i) {
    EXPECT_TRUE(RequiredScope(service->method(i)->name()).has_value())
        << service->method(i)->name() << " has no entry in RpcRules()";
  }
  for (const RpcRule& rule : RpcRules()) {
    EXPECT_NE(service->FindMethodByName(std::string(rule.method)), nullptr)
        << rule.method << " is not an RPC of " << service->full_name();
  }
  EXPECT_EQ(RpcRules().size(), static_cast<size_t>(service->method_count()));
}

class ControlAuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = cassette::FileCassetteStore::Create(tmp_.path());
    ASSERT_THAT(store, IsOk());
    store_ = *std::move(store);
    for (const char* name : {"shared", "team-a/login", "team-b/login"}) {
      v1::Cassette c;
      c.set_name(name);
      ASSERT_THAT(store_->Save(c), IsOk());
    }
    sessions_ = std::make_unique<replay::SessionManager>(
        *store_, cassette::RedactConfig::Defaults(), clock_, v1::AUTO);
    auto tokens = TokenTable::Parse(
        absl::StrCat(kRead, " read\n", kWrite, " write\n", kAdmin, " admin\n",
                     kTeamA, " write team-a/\n"),
        "tokens");
    ASSERT_THAT(tokens, IsOk());
    service_ = std::make_unique<ControlService>(
        *sessions_, *store_, ServerIdentity{.ca_pem = "PEM"},
        [this](absl::Duration) { ++shutdowns_; }, *std::move(tokens));
    grpc::ServerBuilder builder;
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    channel_ = server_->InProcessChannel(grpc::ChannelArguments());
    stub_ = v1::ProxyControl::NewStub(channel_);
  }
  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
  }

  static void As(grpc::ClientContext& ctx, const char* token) {
    if (token != nullptr) {
      ctx.AddMetadata("authorization", absl::StrCat("Bearer ", token));
    }
  }
  grpc::Status Record(const char* token, const std::string& name,
                      bool new_session = false, std::string* id = nullptr) {
    grpc::ClientContext ctx;
    As(ctx, token);
    v1::StartRecordingRequest req;
    req.set_name(name);
    req.set_new_session(new_session);
    v1::StartRecordingResponse res;
    grpc::Status st = stub_->StartRecording(&ctx, req, &res);
    if (id != nullptr) *id = res.session().id();
    return st;
  }
  grpc::Status Replay(const char* token, const std::string& name,
                      bool new_session = false, std::string* id = nullptr,
                      v1::MissPolicy on_miss = v1::MISS_POLICY_UNSPECIFIED) {
    grpc::ClientContext ctx;
    As(ctx, token);
    v1::ReplayRequest req;
    req.set_name(name);
    req.set_new_session(new_session);
    req.mutable_options()->set_on_miss(on_miss);
    v1::ReplayResponse res;
    grpc::Status st = stub_->Replay(&ctx, req, &res);
    if (id != nullptr) *id = res.session().id();
    return st;
  }
  grpc::Status Use(const char* token, const std::string& name, v1::Mode mode) {
    grpc::ClientContext ctx;
    As(ctx, token);
    v1::UseCassetteRequest req;
    req.set_name(name);
    req.set_mode(mode);
    req.set_new_session(true);
    v1::UseCassetteResponse res;
    return stub_->UseCassette(&ctx, req, &res);
  }
  grpc::Status Stop(const char* token, const std::string& session = "") {
    grpc::ClientContext ctx;
    As(ctx, token);
    v1::StopRecordingRequest req;
    req.set_session(session);
    v1::StopRecordingResponse res;
    return stub_->StopRecording(&ctx, req, &res);
  }
  grpc::Status Shutdown(const char* token) {
    grpc::ClientContext ctx;
    As(ctx, token);
    v1::ShutdownResponse res;
    return stub_->Shutdown(&ctx, {}, &res);
  }
  grpc::Status List(const char* token, const std::string& prefix,
                    std::vector<std::string>& names) {
    grpc::ClientContext ctx;
    As(ctx, token);
    v1::ListCassettesRequest req;
    req.set_prefix(prefix);
    v1::ListCassettesResponse res;
    grpc::Status st = stub_->ListCassettes(&ctx, req, &res);
    names.clear();
    for (const auto& c : res.cassettes()) names.push_back(c.name());
    return st;
  }
  grpc::Status Get(const char* token, const std::string& name) {
    grpc::ClientContext ctx;
    As(ctx, token);
    v1::GetCassetteRequest req;
    req.set_name(name);
    auto reader = stub_->GetCassette(&ctx, req);
    v1::CassetteChunk chunk;
    while (reader->Read(&chunk)) {
    }
    return reader->Finish();
  }
  grpc::Status Put(const char* token, const std::string& name) {
    grpc::ClientContext ctx;
    As(ctx, token);
    v1::PutCassetteResponse res;
    auto writer = stub_->PutCassette(&ctx, &res);
    v1::Cassette c;
    c.set_name(name);
    v1::CassetteChunk chunk;
    chunk.set_name(name);
    chunk.set_data(cassette::SerializeCassette(c));
    writer->Write(chunk);
    writer->WritesDone();
    return writer->Finish();
  }
  grpc::Status Delete(const char* token, const std::string& name) {
    grpc::ClientContext ctx;
    As(ctx, token);
    v1::DeleteCassetteRequest req;
    req.set_name(name);
    v1::DeleteCassetteResponse res;
    return stub_->DeleteCassette(&ctx, req, &res);
  }
  grpc::Status Status(const char* token, v1::GetStatusResponse& res) {
    grpc::ClientContext ctx;
    As(ctx, token);
    return stub_->GetStatus(&ctx, {}, &res);
  }

  // Calls `method` with one empty message, whatever its kind (unary or
  // streaming), and returns its status.
  grpc::Status CallGeneric(const std::string& method, const char* token) {
    grpc::GenericStub generic(channel_);
    grpc::CompletionQueue cq;
    grpc::ClientContext ctx;
    As(ctx, token);
    auto call = generic.PrepareCall(&ctx, method, &cq);
    auto wait = [&cq] {
      void* tag = nullptr;
      bool ok = false;
      EXPECT_TRUE(cq.Next(&tag, &ok));
      return ok;
    };
    call->StartCall(reinterpret_cast<void*>(1));
    wait();
    grpc::Slice empty("", 0);
    grpc::ByteBuffer message(&empty, 1);
    call->Write(message, reinterpret_cast<void*>(2));
    wait();
    call->WritesDone(reinterpret_cast<void*>(3));
    wait();
    grpc::Status status;
    call->Finish(&status, reinterpret_cast<void*>(4));
    wait();
    cq.Shutdown();
    void* tag = nullptr;
    bool ok = false;
    while (cq.Next(&tag, &ok)) {
    }
    return status;
  }

  TempDir tmp_;
  core::FakeClock clock_{absl::FromUnixSeconds(1700000000)};
  std::unique_ptr<cassette::FileCassetteStore> store_;
  std::unique_ptr<replay::SessionManager> sessions_;
  std::unique_ptr<ControlService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::ProxyControl::Stub> stub_;
  int shutdowns_ = 0;
};

TEST_F(ControlAuthTest, EveryRpcRefusesACallWithoutAToken) {
  const google::protobuf::ServiceDescriptor* service = ServiceDescriptor();
  for (int i = 0; i < service->method_count(); ++i) {
    const std::string method = absl::StrCat("/", service->full_name(), "/",
                                            service->method(i)->name());
    EXPECT_THAT(CallGeneric(method, nullptr),
                GrpcStatusIs(grpc::StatusCode::UNAUTHENTICATED,
                             HasSubstr(service->method(i)->name())))
        << method;
    EXPECT_THAT(CallGeneric(method, "wrong-token-0123456789"),
                GrpcStatusIs(grpc::StatusCode::UNAUTHENTICATED,
                             HasSubstr("not one this server accepts")))
        << method;
  }
  EXPECT_EQ(shutdowns_, 0);
}

TEST_F(ControlAuthTest, ReadTokenReadsAndReplaysButNeverWrites) {
  v1::GetStatusResponse status;
  EXPECT_THAT(Status(kRead, status), GrpcOk());
  std::vector<std::string> names;
  EXPECT_THAT(List(kRead, "", names), GrpcOk());
  EXPECT_THAT(names,
              UnorderedElementsAre("shared", "team-a/login", "team-b/login"));
  EXPECT_THAT(Get(kRead, "shared"), GrpcOk());
  EXPECT_THAT(Record(kRead, "new"),
              GrpcStatusIs(grpc::StatusCode::PERMISSION_DENIED,
                           AllOf(HasSubstr("StartRecording needs a token with "
                                           "scope 'write'"),
                                 HasSubstr("this token has 'read'"))));
  EXPECT_THAT(Put(kRead, "shared"),
              GrpcStatusIs(grpc::StatusCode::PERMISSION_DENIED,
                           HasSubstr("PutCassette needs")));
  EXPECT_THAT(Delete(kRead, "shared"),
              GrpcStatusIs(grpc::StatusCode::PERMISSION_DENIED,
                           HasSubstr("DeleteCassette needs")));
  // AUTO of a missing cassette records; MISS_RECORD records the misses.
  EXPECT_THAT(Use(kRead, "missing", v1::AUTO),
              GrpcStatusIs(grpc::StatusCode::PERMISSION_DENIED,
                           AllOf(HasSubstr("UseCassette needs a token with "
                                           "scope 'write'"),
                                 HasSubstr("would be recorded"))));
  EXPECT_THAT(Replay(kRead, "shared", true, nullptr, v1::MISS_RECORD),
              GrpcStatusIs(grpc::StatusCode::PERMISSION_DENIED,
                           HasSubstr("MISS_RECORD")));
  // Replay in a session of its own, then end it.
  std::string id;
  ASSERT_THAT(Replay(kRead, "shared", true, &id), GrpcOk());
  EXPECT_THAT(Stop(kRead, id), GrpcOk());
  EXPECT_THAT(Shutdown(kRead),
              GrpcStatusIs(grpc::StatusCode::PERMISSION_DENIED,
                           HasSubstr("Shutdown needs a token with scope "
                                     "'admin'")));
}

TEST_F(ControlAuthTest, ReadTokenCannotEndOrReplaceARecording) {
  std::string id;
  ASSERT_THAT(Record(kWrite, "shared", true, &id), GrpcOk());
  EXPECT_THAT(Stop(kRead, id),
              GrpcStatusIs(grpc::StatusCode::PERMISSION_DENIED,
                           AllOf(HasSubstr("StopRecording needs a token with "
                                           "scope 'write'"),
                                 HasSubstr("records cassette 'shared'"))));
  ASSERT_THAT(Record(kWrite, "other"), GrpcOk());  // the default session
  EXPECT_THAT(Replay(kRead, "team-a/login"),
              GrpcStatusIs(grpc::StatusCode::PERMISSION_DENIED,
                           HasSubstr("ends the recording of cassette "
                                     "'other'")));
  EXPECT_THAT(Stop(kWrite, id), GrpcOk());
  EXPECT_THAT(Stop(kWrite), GrpcOk());
}

TEST_F(ControlAuthTest, WriteTokenRecordsButCannotShutDown) {
  ASSERT_THAT(Record(kWrite, "new"), GrpcOk());
  EXPECT_THAT(Stop(kWrite), GrpcOk());
  EXPECT_THAT(Put(kWrite, "put"), GrpcOk());
  EXPECT_THAT(Delete(kWrite, "put"), GrpcOk());
  EXPECT_THAT(Shutdown(kWrite),
              GrpcStatusIs(grpc::StatusCode::PERMISSION_DENIED,
                           AllOf(HasSubstr("scope 'admin'"),
                                 HasSubstr("this token has 'write'"))));
  EXPECT_EQ(shutdowns_, 0);
  EXPECT_THAT(Shutdown(kAdmin), GrpcOk());
  EXPECT_EQ(shutdowns_, 1);
}

TEST_F(ControlAuthTest, PrefixTokenSeesAndTouchesOnlyItsCassettes) {
  std::vector<std::string> names;
  EXPECT_THAT(List(kTeamA, "", names), GrpcOk());
  EXPECT_THAT(names, UnorderedElementsAre("team-a/login"));
  EXPECT_THAT(List(kTeamA, "team-b/", names), GrpcOk());
  EXPECT_THAT(names, IsEmpty());
  EXPECT_THAT(Get(kTeamA, "team-a/login"), GrpcOk());
  EXPECT_THAT(
      Get(kTeamA, "team-b/login"),
      GrpcStatusIs(grpc::StatusCode::PERMISSION_DENIED,
                   AllOf(HasSubstr("'team-a/'"), HasSubstr("'team-b/login'"))));
  EXPECT_THAT(Put(kTeamA, "shared"),
              GrpcStatusIs(grpc::StatusCode::PERMISSION_DENIED,
                           HasSubstr("PutCassette")));
  EXPECT_THAT(Delete(kTeamA, "team-b/login"),
              GrpcStatusIs(grpc::StatusCode::PERMISSION_DENIED,
                           HasSubstr("DeleteCassette")));
  EXPECT_THAT(Record(kTeamA, "team-b/new", true),
              GrpcStatusIs(grpc::StatusCode::PERMISSION_DENIED,
                           HasSubstr("StartRecording")));
  // Another team's session is neither listed nor stoppable.
  std::string b_id, a_id;
  ASSERT_THAT(Record(kWrite, "team-b/rec", true, &b_id), GrpcOk());
  ASSERT_THAT(Record(kTeamA, "team-a/rec", true, &a_id), GrpcOk());
  v1::GetStatusResponse status;
  ASSERT_THAT(Status(kTeamA, status), GrpcOk());
  ASSERT_EQ(status.sessions_size(), 1);
  EXPECT_EQ(status.sessions(0).id(), a_id);
  EXPECT_THAT(Stop(kTeamA, b_id),
              GrpcStatusIs(grpc::StatusCode::PERMISSION_DENIED,
                           HasSubstr("session '" + b_id + "' is not one")));
  // Nor the shared default session.
  EXPECT_THAT(Stop(kTeamA), GrpcStatusIs(grpc::StatusCode::PERMISSION_DENIED,
                                         HasSubstr("session 'default'")));
  EXPECT_THAT(Stop(kTeamA, a_id), GrpcOk());
  EXPECT_THAT(Stop(kWrite, b_id), GrpcOk());
  ASSERT_THAT(Status(kTeamA, status), GrpcOk());
  ASSERT_EQ(status.ended_sessions_size(), 1);
  EXPECT_EQ(status.ended_sessions(0).session().id(), a_id);
}

}  // namespace
}  // namespace matgto::control

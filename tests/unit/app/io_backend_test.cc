#include "server/app/io_backend.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace matgto::app {
namespace {

using ::testing::HasSubstr;

const absl::Status kUringOk = absl::OkStatus();
const absl::Status kUringForbidden = absl::UnavailableError(
    "io_uring_setup: Operation not permitted (forbidden: a seccomp profile)");
constexpr IoBackend kEpoll = IoBackend::kEpoll;
constexpr IoBackend kUring = IoBackend::kIoUring;
constexpr IoBackend kAuto = IoBackend::kAuto;

TEST(IoBackendTest, ParsesTheThreeNamesAndRefusesOthers) {
  EXPECT_EQ(*ParseIoBackend("auto"), kAuto);
  EXPECT_EQ(*ParseIoBackend("io_uring"), kUring);
  EXPECT_EQ(*ParseIoBackend("epoll"), kEpoll);
  for (IoBackend b : {kAuto, kUring, kEpoll}) {
    EXPECT_EQ(*ParseIoBackend(IoBackendName(b)), b);
  }
  absl::StatusOr<IoBackend> bad = ParseIoBackend("kqueue");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("'kqueue'"));
}

TEST(IoBackendTest, AutoHandsAnEpollBuildOverToIoUringWhereAllowed) {
  IoBackendPlan p = PlanIoBackend(kAuto, kEpoll, "/bin/matgto-uring", kUringOk);
  EXPECT_EQ(p.kind, IoBackendPlan::kExec);
  EXPECT_EQ(p.path, "/bin/matgto-uring");
  // Not allowed, or no io_uring build beside it: it serves itself.
  EXPECT_EQ(
      PlanIoBackend(kAuto, kEpoll, "/bin/matgto-uring", kUringForbidden).kind,
      IoBackendPlan::kRunHere);
  EXPECT_EQ(PlanIoBackend(kAuto, kEpoll, "", kUringOk).kind,
            IoBackendPlan::kRunHere);
}

TEST(IoBackendTest, AutoHandsAnIoUringBuildBackWhereIoUringIsForbidden) {
  EXPECT_EQ(PlanIoBackend(kAuto, kUring, "/bin/matgto", kUringOk).kind,
            IoBackendPlan::kRunHere);
  IoBackendPlan p =
      PlanIoBackend(kAuto, kUring, "/bin/matgto", kUringForbidden);
  EXPECT_EQ(p.kind, IoBackendPlan::kExec);
  EXPECT_EQ(p.path, "/bin/matgto");
  // Alone, it cannot serve: the error says why and what to run instead.
  p = PlanIoBackend(kAuto, kUring, "", kUringForbidden);
  EXPECT_EQ(p.kind, IoBackendPlan::kFail);
  EXPECT_THAT(p.why, HasSubstr("Operation not permitted"));
  EXPECT_THAT(p.why, HasSubstr("epoll build (matgto)"));
}

TEST(IoBackendTest, AnExplicitBackendRunsThereOrFailsSayingWhy) {
  EXPECT_EQ(PlanIoBackend(kEpoll, kEpoll, "/bin/matgto-uring", kUringOk).kind,
            IoBackendPlan::kRunHere);
  EXPECT_EQ(PlanIoBackend(kEpoll, kUring, "/bin/matgto", kUringOk).kind,
            IoBackendPlan::kExec);
  IoBackendPlan p = PlanIoBackend(kEpoll, kUring, "", kUringOk);
  EXPECT_EQ(p.kind, IoBackendPlan::kFail);
  EXPECT_THAT(p.why, HasSubstr("--io-backend epoll"));

  EXPECT_EQ(PlanIoBackend(kUring, kUring, "/bin/matgto", kUringOk).kind,
            IoBackendPlan::kRunHere);
  EXPECT_EQ(PlanIoBackend(kUring, kEpoll, "/bin/matgto-uring", kUringOk).kind,
            IoBackendPlan::kExec);
  p = PlanIoBackend(kUring, kEpoll, "", kUringOk);
  EXPECT_EQ(p.kind, IoBackendPlan::kFail);
  EXPECT_THAT(p.why, HasSubstr("matgto-uring"));
  // Asked for io_uring where it is forbidden: never exec'd, whichever build.
  for (IoBackend built : {kEpoll, kUring}) {
    p = PlanIoBackend(kUring, built, "/bin/other", kUringForbidden);
    EXPECT_EQ(p.kind, IoBackendPlan::kFail);
    EXPECT_THAT(p.why, HasSubstr("Operation not permitted"));
  }
}

// Whatever is asked and allowed, a build that hands over is never handed
// back to: the other build, given the same arguments, runs or fails.
TEST(IoBackendTest, NoHandOverIsAnsweredWithAHandOverBack) {
  for (IoBackend wanted : {kAuto, kUring, kEpoll}) {
    for (IoBackend built : {kUring, kEpoll}) {
      for (const absl::Status& uring : {kUringOk, kUringForbidden}) {
        const IoBackendPlan first = PlanIoBackend(wanted, built, "/x", uring);
        if (first.kind != IoBackendPlan::kExec) continue;
        const IoBackend other = built == kUring ? kEpoll : kUring;
        const IoBackendPlan second = PlanIoBackend(wanted, other, "/y", uring);
        EXPECT_NE(second.kind, IoBackendPlan::kExec)
            << IoBackendName(wanted) << " from " << IoBackendName(built);
        EXPECT_EQ(second.kind, IoBackendPlan::kRunHere);
      }
    }
  }
}

}  // namespace
}  // namespace matgto::app

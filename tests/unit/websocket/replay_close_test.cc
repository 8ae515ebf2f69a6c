#include "gtest/gtest.h"
#include "server/websocket/session.h"

namespace matgto::websocket {
namespace {

// Replay must not put a reserved close code on the wire (RFC 6455 7.4.1):
// a recorded 1006 is a connection that dropped, and is replayed as one.
TEST(HowToReplayCloseTest, ReservedCodesNeverSent) {
  for (int code :
       {1000, 1001, 1002, 1003, 1007, 1008, 1011, 1013, 3000, 4999}) {
    EXPECT_EQ(HowToReplayClose(code), ReplayClose::kWithCode) << code;
  }
  EXPECT_EQ(HowToReplayClose(1006), ReplayClose::kDropConnection);
  EXPECT_EQ(HowToReplayClose(1015), ReplayClose::kDropConnection);
  for (int code : {0, 999, 1004, 1005, 1014, 1016, 2999, 5000, 70000, -1}) {
    EXPECT_EQ(HowToReplayClose(code), ReplayClose::kWithoutCode) << code;
  }
}

}  // namespace
}  // namespace matgto::websocket

#include "gtest/gtest.h"
#include "server/proxy/upstream.h"

namespace matgto::proxy {
namespace {

TEST(StreamTest, EventStreamsAndChunkedBodiesAreRelayed) {
  EXPECT_TRUE(IsStreamedResponse("text/event-stream", false));
  EXPECT_TRUE(IsStreamedResponse("Text/Event-Stream; charset=utf-8", false));
  EXPECT_TRUE(IsStreamedResponse("application/json", true));
  EXPECT_FALSE(IsStreamedResponse("application/json", false));
  EXPECT_FALSE(IsStreamedResponse("", false));
}

TEST(StreamTest, AnEventStreamCutShortKeepsItsCompleteEvents) {
  core::HttpResponse r;
  r.body = "data: a\n\ndata: b\n\ndata: c";  // 9 + 9 + 7 bytes
  r.chunks = {{9, absl::Milliseconds(1)},
              {12, absl::Milliseconds(2)},
              {4, absl::Milliseconds(3)}};
  ASSERT_TRUE(TrimToCompleteEvents(r));
  EXPECT_EQ(r.body, "data: a\n\ndata: b\n\n");
  ASSERT_EQ(r.chunks.size(), 2u);
  EXPECT_EQ(r.chunks[0].size, 9u);
  EXPECT_EQ(r.chunks[1].size, 9u);  // the piece that held the cut, trimmed

  core::HttpResponse none;
  none.body = "data: half";
  EXPECT_FALSE(TrimToCompleteEvents(none));
}

}  // namespace
}  // namespace matgto::proxy

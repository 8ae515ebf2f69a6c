#include "server/proxy/h2.h"

#include "gtest/gtest.h"

namespace matgto::proxy {
namespace {

TEST(H2Test, PrefaceIsRecognisedFromItsFirstBytes) {
  EXPECT_TRUE(LooksLikeH2Preface("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"));
  EXPECT_TRUE(LooksLikeH2Preface("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00"));
  EXPECT_TRUE(LooksLikeH2Preface("PRI "));  // the rest is still in flight
  EXPECT_FALSE(LooksLikeH2Preface("PRI"));  // too short to tell
  EXPECT_FALSE(LooksLikeH2Preface("PRIX * HTTP/2.0"));
  EXPECT_FALSE(LooksLikeH2Preface("GET / HTTP/1.1\r\n"));
  EXPECT_FALSE(LooksLikeH2Preface("PRI * HTTP/1.1\r\n\r\n"));
}

}  // namespace
}  // namespace matgto::proxy

// The interception context and its leaf cache: each host's leaf is
// presented from a context of its own, built once and kept in the LRU, and
// a handshake that switches to it keeps the ALPN choice and the suites of
// the context it began with. Handshakes are real (OpenSSL on both sides),
// over a memory BIO pair.
#include <openssl/bio.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/tls/certificate_authority.h"
#include "server/tls/contexts.h"
#include "server/tls/leaf_cache.h"
#include "tests/unit/testing/status_matchers.h"
#include "tests/unit/testing/temp_dir.h"

namespace matgto::tls {
namespace {

using ::matgto::testing::IsOk;

struct SslFree {
  void operator()(SSL* s) const { SSL_free(s); }
};
using SslPtr = std::unique_ptr<SSL, SslFree>;

class InterceptionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ca = CertificateAuthority::LoadOrCreate(dir_.path() + "/ca");
    ASSERT_THAT(ca, IsOk());
    ca_ = *std::move(ca);
    auto leaves = LeafCache::Create(*ca_, 2);
    ASSERT_THAT(leaves, IsOk());
    leaves_ = *std::move(leaves);
  }

  // The context presents a certificate for `host`, with a key.
  // (That the CA signed it, the handshake tests check.)
  void ExpectLeafFor(SSL_CTX* ctx, const std::string& host) {
    X509* cert = SSL_CTX_get0_certificate(ctx);
    ASSERT_NE(cert, nullptr);
    EXPECT_EQ(X509_check_host(cert, host.data(), host.size(), 0, nullptr), 1)
        << host;
    EXPECT_NE(SSL_CTX_get0_privatekey(ctx), nullptr);
  }

  struct Outcome {
    bool ok = false;
    std::string alpn;
    std::string cipher;
    SSL_CTX* server_ctx = nullptr;
  };

  // A client (trusting the CA, with `sni`, offering `alpn`, up to
  // `max_version`) against a server made from `server_ctx`, whose fallback
  // host (no SNI) is `fallback`.
  Outcome Handshake(InterceptionContext& interception, const char* sni,
                    const std::string& fallback, int max_version,
                    const std::string& expect_host) {
    Outcome out;
    SSL_CTX* client_ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_max_proto_version(client_ctx, max_version);
    SSL_CTX_load_verify_locations(
        client_ctx, (dir_.path() + "/ca/" + kCaCertFile).c_str(), nullptr);
    SSL_CTX_set_verify(client_ctx, SSL_VERIFY_PEER, nullptr);
    static const unsigned char kOffer[] = {2,   'h', '2', 8,   'h', 't',
                                           't', 'p', '/', '1', '.', '1'};
    SSL_CTX_set_alpn_protos(client_ctx, kOffer, sizeof kOffer);
    SslPtr client(SSL_new(client_ctx));
    SSL_CTX_free(client_ctx);
    if (sni != nullptr) SSL_set_tlsext_host_name(client.get(), sni);
    SSL_set1_host(client.get(), expect_host.c_str());
    SslPtr server(SSL_new(interception.context().native_handle()));
    interception.SetFallbackHost(server.get(), &fallback);
    BIO* client_bio = nullptr;
    BIO* server_bio = nullptr;
    BIO_new_bio_pair(&client_bio, 0, &server_bio, 0);
    SSL_set_bio(client.get(), client_bio, client_bio);
    SSL_set_bio(server.get(), server_bio, server_bio);
    SSL_set_connect_state(client.get());
    SSL_set_accept_state(server.get());
    // One handshake step of `ssl` unless it is done; false on a failure.
    auto step = [](SSL* ssl, bool& done) {
      if (done) return true;
      const int r = SSL_do_handshake(ssl);
      done = r == 1;
      return done || SSL_get_error(ssl, r) == SSL_ERROR_WANT_READ;
    };
    bool client_done = false;
    bool server_done = false;
    for (int i = 0; i < 20 && !(client_done && server_done); ++i) {
      if (!step(client.get(), client_done) ||
          !step(server.get(), server_done)) {
        return out;
      }
    }
    out.ok = client_done && server_done &&
             SSL_get_verify_result(client.get()) == X509_V_OK;
    const unsigned char* alpn = nullptr;
    unsigned int alpn_len = 0;
    SSL_get0_alpn_selected(client.get(), &alpn, &alpn_len);
    out.alpn.assign(reinterpret_cast<const char*>(alpn), alpn_len);
    out.cipher = SSL_get_cipher_name(client.get());
    out.server_ctx = SSL_get_SSL_CTX(server.get());
    return out;
  }

  ::matgto::testing::TempDir dir_;
  std::unique_ptr<CertificateAuthority> ca_;
  std::unique_ptr<LeafCache> leaves_;
};

TEST_F(InterceptionTest, LeafContextIsBuiltOncePerHostWhateverItsCase) {
  auto first = leaves_->Context("api.example.test");
  ASSERT_THAT(first, IsOk());
  ExpectLeafFor(first->get(), "api.example.test");
  auto again = leaves_->Context("API.Example.TEST");
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(first->get(), again->get());
  auto ip = leaves_->Context("127.0.0.1");
  ASSERT_THAT(ip, IsOk());
  EXPECT_EQ(
      X509_check_ip_asc(SSL_CTX_get0_certificate(ip->get()), "127.0.0.1", 0),
      1);
  EXPECT_EQ(leaves_->size(), 2u);
}

TEST_F(InterceptionTest, EvictedLeafContextStaysUsableByWhoHoldsIt) {
  auto a = leaves_->Context("a.example.test");
  ASSERT_THAT(a, IsOk());
  ASSERT_THAT(leaves_->Context("b.example.test"), IsOk());
  ASSERT_THAT(leaves_->Context("c.example.test"), IsOk());  // evicts a
  EXPECT_EQ(leaves_->size(), 2u);
  // The reference taken before the eviction still presents a's leaf (ASan
  // would see a use after free), and a comes back as a new context.
  ExpectLeafFor(a->get(), "a.example.test");
  auto a2 = leaves_->Context("a.example.test");
  ASSERT_THAT(a2, IsOk());
  EXPECT_NE(a->get(), a2->get());
  ExpectLeafFor(a2->get(), "a.example.test");
}

TEST_F(InterceptionTest, HostThatCannotBeNamedIsRefused) {
  EXPECT_THAT(leaves_->Context("bad host/../x"),
              ::matgto::testing::StatusIs(absl::StatusCode::kInvalidArgument,
                                          ::testing::HasSubstr("bad host")));
  EXPECT_EQ(leaves_->size(), 0u);
}

TEST_F(InterceptionTest, HandshakeSwitchesToTheLeafOfItsSniWithAlpn) {
  LeafCache* leaves = leaves_.get();
  auto interception =
      InterceptionContext::Create([leaves] { return leaves; }, true);
  for (int version : {TLS1_3_VERSION, TLS1_2_VERSION}) {
    SCOPED_TRACE(version);
    Outcome out =
        Handshake(*interception, "shop.example.test", "fallback.example.test",
                  version, "shop.example.test");
    ASSERT_TRUE(out.ok);
    // TLS 1.2 chooses ALPN after the switch, from the leaf's context.
    EXPECT_EQ(out.alpn, "h2");
    // The suites of the context the handshake began with.
    EXPECT_THAT(out.cipher, ::testing::AnyOf("TLS_AES_128_GCM_SHA256",
                                             "ECDHE-ECDSA-AES128-GCM-SHA256"));
    auto leaf = leaves_->Context("shop.example.test");
    ASSERT_THAT(leaf, IsOk());
    EXPECT_EQ(out.server_ctx, leaf->get());
  }
}

TEST_F(InterceptionTest, HandshakeWithoutSniGetsTheFallbackHostsLeaf) {
  LeafCache* leaves = leaves_.get();
  auto interception =
      InterceptionContext::Create([leaves] { return leaves; }, false);
  Outcome out =
      Handshake(*interception, nullptr, "10.1.2.3", TLS1_3_VERSION, "10.1.2.3");
  // SSL_set1_host with an IP literal checks the IP SAN.
  ASSERT_TRUE(out.ok);
  EXPECT_EQ(out.alpn, "http/1.1");  // HTTP/2 off
}

TEST_F(InterceptionTest, HandshakeFailsWhenTheLeavesCannotBeMade) {
  auto interception = InterceptionContext::Create(
      []() -> absl::StatusOr<LeafCache*> {
        return absl::InternalError("no CA");
      },
      true);
  Outcome out = Handshake(*interception, "shop.example.test", "",
                          TLS1_3_VERSION, "shop.example.test");
  EXPECT_FALSE(out.ok);
}

}  // namespace
}  // namespace matgto::tls

// Token file parsing and the scope / name-prefix decisions (no server).
#include "server/control/auth.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/testing/status_matchers.h"

namespace matgto::control {
namespace {

using ::matgto::testing::IsOk;
using ::matgto::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kFile[] = R"(# tokens of the shared server
reader-0123456789abcdef   read
writer-0123456789abcdef   write     # CI recorders

admin-0123456789abcdef    admin
team-a-0123456789abcdef   write  team-a/
	team-b-0123456789abcdef	read	team-b/
)";

TokenTable Table() {
  auto table = TokenTable::Parse(kFile, "tokens.txt");
  EXPECT_THAT(table, IsOk());
  return *std::move(table);
}

Grant GrantOf(const TokenTable& table, const std::string& token) {
  auto grant = table.Authenticate("Bearer " + token, "GetStatus");
  EXPECT_THAT(grant, IsOk()) << token;
  return grant.ok() ? *grant : Grant{};
}

TEST(TokenFileTest, ParsesTokensScopesPrefixesCommentsAndBlankLines) {
  const TokenTable table = Table();
  EXPECT_EQ(table.size(), 5u);
  const Grant reader = GrantOf(table, "reader-0123456789abcdef");
  EXPECT_EQ(reader.scope, Scope::kRead);
  EXPECT_EQ(reader.prefix, "");
  EXPECT_EQ(reader.line, 2);
  const Grant writer = GrantOf(table, "writer-0123456789abcdef");
  EXPECT_EQ(writer.scope, Scope::kWrite);
  EXPECT_EQ(writer.prefix, "");  // the comment is not a prefix
  EXPECT_EQ(GrantOf(table, "admin-0123456789abcdef").scope, Scope::kAdmin);
  const Grant team_a = GrantOf(table, "team-a-0123456789abcdef");
  EXPECT_EQ(team_a.scope, Scope::kWrite);
  EXPECT_EQ(team_a.prefix, "team-a/");
  const Grant team_b = GrantOf(table, "team-b-0123456789abcdef");
  EXPECT_EQ(team_b.scope, Scope::kRead);
  EXPECT_EQ(team_b.prefix, "team-b/");
  EXPECT_EQ(team_b.line, 7);
}

TEST(TokenFileTest, ErrorsNameFileAndLineAndNeverTheToken) {
  struct Case {
    const char* text;
    const char* message;
  } cases[] = {
      {"# ok\nsecret-0123456789abcdef\n", "t.txt:2: a token without a scope"},
      {"secret-0123456789abcdef superuser\n",
       "t.txt:1: unknown scope 'superuser'"},
      {"secret-0123456789abcdef read a/ b/\n",
       "t.txt:1: more than three fields"},
      {"\n\nshort read\n", "t.txt:3: the token is shorter than 16"},
      {"secret-0123456789abcdef read\nsecret-0123456789abcdef admin\n",
       "t.txt:2: the same token as line 1"},
      {"secret-0123456789abcd\xc3\xa9 read\n",
       "t.txt:1: the token has characters outside printable ASCII"},
      {"# nothing\n\n", "t.txt: no token"},
  };
  for (const Case& c : cases) {
    auto table = TokenTable::Parse(c.text, "t.txt");
    EXPECT_THAT(
        table, StatusIs(absl::StatusCode::kInvalidArgument,
                        AllOf(HasSubstr(c.message), Not(HasSubstr("secret-")))))
        << c.text;
  }
}

TEST(TokenFileTest, LoadNamesAMissingFile) {
  EXPECT_THAT(TokenTable::Load("/nonexistent/tokens.txt"),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("cannot read token file "
                                 "/nonexistent/tokens.txt")));
}

TEST(AuthenticateTest, MissingMalformedAndUnknownAreUnauthenticated) {
  const TokenTable table = Table();
  EXPECT_THAT(table.Authenticate(std::nullopt, "ListCassettes"),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       AllOf(HasSubstr("ListCassettes"),
                             HasSubstr("requires a token"))));
  EXPECT_THAT(table.Authenticate("Basic dXNlcjpwYXNz", "GetStatus"),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       HasSubstr("not `Bearer TOKEN`")));
  EXPECT_THAT(table.Authenticate("Bearer ", "GetStatus"),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       HasSubstr("not `Bearer TOKEN`")));
  // A wrong token is not echoed; a prefix of a real one is no token.
  EXPECT_THAT(table.Authenticate("Bearer wrong-0123456789abcdef", "GetStatus"),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       AllOf(HasSubstr("not one this server accepts"),
                             Not(HasSubstr("wrong-")))));
  EXPECT_THAT(table.Authenticate("Bearer reader-0123456789abcde", "GetStatus"),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("not")));
  EXPECT_THAT(
      table.Authenticate("Bearer reader-0123456789abcdefX", "GetStatus"),
      StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("not")));
  // The scheme is case-insensitive (RFC 7235).
  EXPECT_THAT(table.Authenticate("bearer reader-0123456789abcdef", "GetStatus"),
              IsOk());
}

TEST(ScopeTest, AdminIncludesWriteIncludesRead) {
  const Grant read{.scope = Scope::kRead};
  const Grant write{.scope = Scope::kWrite};
  const Grant admin{.scope = Scope::kAdmin};
  EXPECT_TRUE(read.Allows(Scope::kRead));
  EXPECT_FALSE(read.Allows(Scope::kWrite));
  EXPECT_FALSE(read.Allows(Scope::kAdmin));
  EXPECT_TRUE(write.Allows(Scope::kRead));
  EXPECT_TRUE(write.Allows(Scope::kWrite));
  EXPECT_FALSE(write.Allows(Scope::kAdmin));
  EXPECT_TRUE(admin.Allows(Scope::kWrite));
  EXPECT_TRUE(Unrestricted().Allows(Scope::kAdmin));
  EXPECT_TRUE(Unrestricted().Covers("any/name"));
}

TEST(ScopeTest, PermissionDeniedNamesTheRpcAndTheScopeNeeded) {
  EXPECT_THAT(
      CheckScope(Grant{.scope = Scope::kWrite}, Scope::kAdmin, "Shutdown"),
      StatusIs(absl::StatusCode::kPermissionDenied,
               AllOf(HasSubstr("Shutdown needs a token with scope "
                               "'admin'"),
                     HasSubstr("this token has 'write'"))));
  EXPECT_THAT(CheckScope(Grant{.scope = Scope::kRead}, Scope::kWrite, "Replay",
                         "cassette 'x' would be recorded into"),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("scope 'write' (cassette 'x' would be")));
  EXPECT_THAT(CheckScope(Grant{.scope = Scope::kAdmin}, Scope::kAdmin, "X"),
              IsOk());
}

TEST(ScopeTest, RulesPerRpc) {
  EXPECT_EQ(RequiredScope("GetStatus"), Scope::kRead);
  EXPECT_EQ(RequiredScope("ListCassettes"), Scope::kRead);
  EXPECT_EQ(RequiredScope("GetCassette"), Scope::kRead);
  EXPECT_EQ(RequiredScope("GetCACertificate"), Scope::kRead);
  EXPECT_EQ(RequiredScope("Replay"), Scope::kRead);
  EXPECT_EQ(RequiredScope("StartRecording"), Scope::kWrite);
  EXPECT_EQ(RequiredScope("PutCassette"), Scope::kWrite);
  EXPECT_EQ(RequiredScope("DeleteCassette"), Scope::kWrite);
  EXPECT_EQ(RequiredScope("Shutdown"), Scope::kAdmin);
  EXPECT_EQ(RequiredScope("NoSuchRpc"), std::nullopt);
  EXPECT_EQ(RequiredForUse(false), Scope::kRead);
  EXPECT_EQ(RequiredForUse(true), Scope::kWrite);
  EXPECT_EQ(RequiredForSession(false), Scope::kRead);
  EXPECT_EQ(RequiredForSession(true), Scope::kWrite);
}

TEST(PrefixTest, CassettesOutsideThePrefixAreRefused) {
  const Grant team_a{.scope = Scope::kWrite, .prefix = "team-a/"};
  EXPECT_THAT(CheckCassette(team_a, "team-a/login", "DeleteCassette"), IsOk());
  EXPECT_THAT(
      CheckCassette(team_a, "team-b/login", "DeleteCassette"),
      StatusIs(absl::StatusCode::kPermissionDenied,
               AllOf(HasSubstr("DeleteCassette"), HasSubstr("'team-a/'"),
                     HasSubstr("'team-b/login'"))));
  // "team-a" itself does not start with "team-a/".
  EXPECT_THAT(CheckCassette(team_a, "team-a", "GetCassette"),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("team")));
}

TEST(PrefixTest, ListPrefixIsTheNarrowerOfTheTwo) {
  const Grant team_a{.scope = Scope::kRead, .prefix = "team-a/"};
  EXPECT_EQ(ListPrefix(team_a, ""), "team-a/");
  EXPECT_EQ(ListPrefix(team_a, "team"), "team-a/");
  EXPECT_EQ(ListPrefix(team_a, "team-a/x"), "team-a/x");
  EXPECT_EQ(ListPrefix(team_a, "team-b/"), std::nullopt);
  EXPECT_EQ(ListPrefix(Unrestricted(), "abc"), "abc");
}

}  // namespace
}  // namespace matgto::control

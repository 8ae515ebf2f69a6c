// FileCassetteStore: the JSON format, List and Delete.
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "server/cassette/codec.h"
#include "server/cassette/json_codec.h"
#include "server/cassette/store.h"
#include "tests/unit/cassette/golden_cassette.h"
#include "tests/unit/testing/status_matchers.h"
#include "tests/unit/testing/temp_dir.h"

namespace matgto::cassette {
namespace {

namespace fs = std::filesystem;
using ::google::protobuf::util::MessageDifferencer;
using ::matgto::testing::IsOk;
using ::matgto::testing::MakeGoldenCassette;
using ::matgto::testing::StatusIs;
using ::matgto::testing::TempDir;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

v1::Cassette Named(const std::string& name, int interactions = 1) {
  v1::Cassette c;
  c.set_name(name);
  for (int i = 0; i < interactions; ++i) {
    auto* http = c.add_interactions()->mutable_http();
    http->mutable_request()->set_method("GET");
    http->mutable_request()->set_url("http://h/" + std::to_string(i));
    http->mutable_response()->set_status(200);
    http->mutable_response()->set_body("text body");
  }
  return c;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

void WriteFile(const std::string& path, const std::string& bytes) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

std::vector<std::string> Names(const std::vector<v1::CassetteInfo>& list) {
  std::vector<std::string> out;
  for (const auto& info : list)
    out.push_back(info.name() + ":" + info.format());
  return out;
}

std::unique_ptr<FileCassetteStore> Store(const std::string& dir,
                                         CassetteFormat f) {
  auto store = FileCassetteStore::Create(dir, f);
  EXPECT_THAT(store, IsOk());
  return *std::move(store);
}

TEST(CassetteFormatTest, Names) {
  CassetteFormat f = CassetteFormat::kBinary;
  EXPECT_TRUE(ParseCassetteFormat("json", &f));
  EXPECT_EQ(f, CassetteFormat::kJson);
  EXPECT_EQ(CassetteFormatName(f), "json");
  EXPECT_TRUE(ParseCassetteFormat("binary", &f));
  EXPECT_EQ(CassetteFormatName(f), "binary");
  EXPECT_FALSE(ParseCassetteFormat("yaml", &f));
}

TEST(JsonStoreTest, WritesReadableJsonAtomically) {
  TempDir dir;
  auto store = Store(dir.path(), CassetteFormat::kJson);
  auto saved = store->Save(MakeGoldenCassette());
  ASSERT_THAT(saved, IsOk());
  EXPECT_EQ(*saved, dir.path() + "/cassette_v1.json");
  EXPECT_THAT(dir.Files(), ElementsAre("cassette_v1.json"));  // no temp left
  const std::string json = ReadFile(*saved);
  EXPECT_THAT(json,
              HasSubstr(R"("body_text": "{\"id\":7,\"name\":\"Ada\"}\n")"));
  EXPECT_THAT(json, HasSubstr(R"("complete": true)"));

  auto loaded = store->Load("cassette_v1");
  ASSERT_THAT(loaded, IsOk());
  v1::Cassette expected;
  ASSERT_TRUE(
      expected.ParseFromString(SerializeCassette(MakeGoldenCassette())));
  EXPECT_TRUE(MessageDifferencer::Equals(*loaded, expected));
  EXPECT_EQ(store->Describe("cassette_v1"), *saved);
}

TEST(JsonStoreTest, EitherFormatLoadsAndTheConfiguredOneWins) {
  TempDir dir;
  auto binary = Store(dir.path(), CassetteFormat::kBinary);
  auto json = Store(dir.path(), CassetteFormat::kJson);
  ASSERT_THAT(binary->Save(Named("only-pb", 1)), IsOk());
  EXPECT_THAT(json->Load("only-pb"), IsOk());
  EXPECT_THAT(json->Exists("only-pb"), ::matgto::testing::IsOkAndHolds(true));

  // Both files present (written behind the store's back): the configured
  // format is read.
  ASSERT_THAT(json->Save(Named("both", 2)), IsOk());
  WriteFile(dir.path() + "/both.pb", SerializeCassette(Named("both", 3)));
  EXPECT_EQ(json->Load("both")->interactions_size(), 2);
  EXPECT_EQ(binary->Load("both")->interactions_size(), 3);
  EXPECT_THAT(Names(*json->List("both")), ElementsAre("both:json"));
  EXPECT_THAT(Names(*binary->List("both")), ElementsAre("both:binary"));
}

TEST(JsonStoreTest, SavingReplacesTheOtherFormatsFile) {
  TempDir dir;
  ASSERT_THAT(Store(dir.path(), CassetteFormat::kBinary)->Save(Named("x")),
              IsOk());
  ASSERT_THAT(Store(dir.path(), CassetteFormat::kJson)->Save(Named("x", 2)),
              IsOk());
  EXPECT_THAT(dir.Files(), ElementsAre("x.json"));
  ASSERT_THAT(Store(dir.path(), CassetteFormat::kBinary)->Save(Named("x", 3)),
              IsOk());
  EXPECT_THAT(dir.Files(), ElementsAre("x.pb"));
}

TEST(JsonStoreTest, BinaryFilesWithBodyTextAreNormalized) {
  TempDir dir;
  v1::Cassette c = Named("t");
  c.mutable_interactions(0)->mutable_http()->mutable_response()->clear_body();
  c.mutable_interactions(0)->mutable_http()->mutable_response()->set_body_text(
      "txt");
  WriteFile(dir.path() + "/t.pb", SerializeCassette(c));
  auto loaded = Store(dir.path(), CassetteFormat::kBinary)->Load("t");
  ASSERT_THAT(loaded, IsOk());
  EXPECT_EQ(loaded->interactions(0).http().response().body(), "txt");
  EXPECT_EQ(loaded->interactions(0).http().response().body_text(), "");
}

TEST(JsonStoreTest, CorruptJsonIsDataLossNamingThePath) {
  TempDir dir;
  WriteFile(dir.path() + "/bad.json", "{\"schema_version\": ");
  EXPECT_THAT(Store(dir.path(), CassetteFormat::kJson)->Load("bad"),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr(dir.path() + "/bad.json")));
}

// A cassette saved from a recording over 2 GiB is replayed from a mapping;
// reading it whole is refused before any of it is read (a sparse file here).
TEST(BinaryStoreTest, ACassetteOver2GiBIsNotReadWhole) {
  TempDir dir;
  const std::string path = dir.path() + "/huge.pb";
  std::ofstream(path, std::ios::binary).close();
  std::filesystem::resize_file(path, uintmax_t{9} << 28);  // 2.25 GiB
  EXPECT_THAT(Store(dir.path(), CassetteFormat::kBinary)->Load("huge"),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       AllOf(HasSubstr(path), HasSubstr("2304 MiB"),
                             HasSubstr("replay can use it"))));
}

TEST(ListTest, ListsBothFormatsNestedSortedAndSkipsLeftovers) {
  TempDir dir;
  auto store = Store(dir.path(), CassetteFormat::kBinary);
  ASSERT_THAT(store->Save(Named("b", 2)), IsOk());
  ASSERT_THAT(store->Save(Named("suite/a", 1)), IsOk());
  ASSERT_THAT(
      Store(dir.path(), CassetteFormat::kJson)->Save(Named("suite/j", 3)),
      IsOk());
  WriteFile(dir.path() + "/c.pb.tmp-12-0", "partial");
  WriteFile(dir.path() + "/d.pb.journal", "journal");
  WriteFile(dir.path() + "/notes.txt", "hello");
  WriteFile(dir.path() + "/bad name.pb", "x");  // not a valid cassette name
  WriteFile(dir.path() + "/corrupt.pb", "\xff\xff");

  auto all = store->List("");
  ASSERT_THAT(all, IsOk());
  EXPECT_THAT(Names(*all), ElementsAre("b:binary", "corrupt:binary",
                                       "suite/a:binary", "suite/j:json"));
  EXPECT_EQ((*all)[0].interactions(), 2u);
  EXPECT_EQ((*all)[0].size_bytes(), fs::file_size(dir.path() + "/b.pb"));
  EXPECT_TRUE((*all)[0].has_updated_at());
  EXPECT_EQ((*all)[1].interactions(), 0u);  // listed, so it can be removed
  EXPECT_GT((*all)[1].updated_at().seconds(), 0);
  EXPECT_EQ((*all)[3].interactions(), 3u);

  EXPECT_THAT(Names(*store->List("suite/")),
              ElementsAre("suite/a:binary", "suite/j:json"));
  EXPECT_THAT(*store->List("nothing"), IsEmpty());
}

TEST(DeleteTest, RemovesTheFileAndIsNotFoundAfterwards) {
  TempDir dir;
  auto store = Store(dir.path(), CassetteFormat::kBinary);
  ASSERT_THAT(store->Save(Named("suite/x")), IsOk());
  ASSERT_THAT(store->Delete("suite/x"), IsOk());
  EXPECT_FALSE(fs::exists(dir.path() + "/suite/x.pb"));
  EXPECT_THAT(store->Delete("suite/x"),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("cassette 'suite/x' does not exist")));
  EXPECT_THAT(store->Load("suite/x"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("suite/x")));
}

TEST(DeleteTest, RemovesBothFormats) {
  TempDir dir;
  WriteFile(dir.path() + "/y.pb", SerializeCassette(Named("y")));
  WriteFile(dir.path() + "/y.json", *SerializeCassetteJson(Named("y")));
  ASSERT_THAT(Store(dir.path(), CassetteFormat::kJson)->Delete("y"), IsOk());
  EXPECT_THAT(dir.Files(), IsEmpty());
}

TEST(DeleteTest, BadNamesAreInvalidArgument) {
  TempDir dir;
  auto store = Store(dir.path(), CassetteFormat::kBinary);
  EXPECT_THAT(
      store->Delete("../x"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'..' segment")));
  EXPECT_THAT(store->Delete(""),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty")));
}

TEST(JournalTest, JsonStoresKeepBinaryJournals) {
  TempDir dir;
  auto store = Store(dir.path(), CassetteFormat::kJson);
  auto journal = store->StartJournal("rec");
  ASSERT_THAT(journal, IsOk());
  EXPECT_EQ((*journal)->path(), dir.path() + "/rec.pb.journal");
  v1::JournalEntry begin;
  begin.mutable_begin()->set_name("rec");
  (*journal)->Append(begin);
  ASSERT_THAT((*journal)->Flush(), IsOk());
  journal->reset();
  // A crash: the next start recovers it, in the store's format.
  auto report = store->RecoverJournals();
  ASSERT_EQ(report.size(), 1u);
  EXPECT_THAT(dir.Files(), ElementsAre("rec.json"));
}

}  // namespace
}  // namespace matgto::cassette

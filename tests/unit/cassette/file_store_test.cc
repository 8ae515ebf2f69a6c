#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/cassette/codec.h"
#include "server/cassette/store.h"
#include "tests/unit/testing/status_matchers.h"
#include "tests/unit/testing/temp_dir.h"

namespace matgto::cassette {
namespace {

namespace fs = std::filesystem;
using ::matgto::testing::IsOk;
using ::matgto::testing::IsOkAndHolds;
using ::matgto::testing::StatusIs;
using ::matgto::testing::TempDir;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

v1::Cassette MakeCassette(const std::string& name, int interactions) {
  v1::Cassette c;
  c.set_name(name);
  for (int i = 0; i < interactions; ++i) {
    v1::Interaction* it = c.add_interactions();
    it->set_index(static_cast<uint64_t>(i));
    ToProto(core::HttpRequest{.method = "GET",
                              .url = "http://h/" + std::to_string(i)},
            *it->mutable_http()->mutable_request());
    ToProto(
        core::HttpResponse{.status = 200, .body = "body" + std::to_string(i)},
        *it->mutable_http()->mutable_response());
  }
  return c;
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

class FileCassetteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = FileCassetteStore::Create(dir_.path() + "/cassettes");
    ASSERT_THAT(store, IsOk());
    store_ = *std::move(store);
  }
  std::string Root() const { return dir_.path() + "/cassettes"; }

  TempDir dir_;
  std::unique_ptr<FileCassetteStore> store_;
};

TEST_F(FileCassetteStoreTest, CreateMakesTheDirectory) {
  EXPECT_TRUE(fs::is_directory(Root()));
  EXPECT_EQ(store_->dir(), Root());
}

TEST_F(FileCassetteStoreTest, CreateRefusesAFile) {
  WriteFile(dir_.path() + "/plain", "x");
  EXPECT_THAT(FileCassetteStore::Create(dir_.path() + "/plain"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr(dir_.path() + "/plain")));
}

TEST_F(FileCassetteStoreTest, SaveThenLoad) {
  absl::StatusOr<std::string> path = store_->Save(MakeCassette("one", 2));
  ASSERT_THAT(path, IsOk());
  EXPECT_EQ(*path, Root() + "/one.pb");
  EXPECT_EQ(store_->Describe("one"), Root() + "/one.pb");
  EXPECT_TRUE(fs::is_regular_file(*path));
  EXPECT_THAT(store_->Exists("one"), IsOkAndHolds(true));

  absl::StatusOr<v1::Cassette> loaded = store_->Load("one");
  ASSERT_THAT(loaded, IsOk());
  EXPECT_EQ(loaded->name(), "one");
  ASSERT_EQ(loaded->interactions_size(), 2);
  EXPECT_EQ(loaded->interactions(1).http().response().body(), "body1");
  EXPECT_EQ(loaded->schema_version(), kSchemaVersion);
  EXPECT_TRUE(loaded->complete());
}

TEST_F(FileCassetteStoreTest, NestedNamesCreateSubdirectories) {
  ASSERT_THAT(store_->Save(MakeCassette("suite/sub/test_x", 1)), IsOk());
  EXPECT_TRUE(fs::is_directory(Root() + "/suite/sub"));
  EXPECT_THAT(dir_.Files(), ElementsAre("cassettes/suite/sub/test_x.pb"));
  absl::StatusOr<v1::Cassette> loaded = store_->Load("suite/sub/test_x");
  ASSERT_THAT(loaded, IsOk());
  EXPECT_EQ(loaded->interactions_size(), 1);
  EXPECT_THAT(store_->Exists("suite"), IsOkAndHolds(false));
}

TEST_F(FileCassetteStoreTest, NoTemporaryFilesLeftBehind) {
  for (int i = 0; i < 5; ++i) {
    ASSERT_THAT(store_->Save(MakeCassette("a", i)), IsOk());
    ASSERT_THAT(store_->Save(MakeCassette("n/b", i)), IsOk());
  }
  EXPECT_THAT(dir_.Files(), ElementsAre("cassettes/a.pb", "cassettes/n/b.pb"));
  for (const auto& e : fs::recursive_directory_iterator(Root())) {
    EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos)
        << e.path();
  }
}

TEST_F(FileCassetteStoreTest, LoadMissingIsNotFound) {
  EXPECT_THAT(store_->Load("absent"),
              StatusIs(absl::StatusCode::kNotFound,
                       AllOf(HasSubstr("'absent' does not exist"),
                             HasSubstr(Root() + "/absent.pb"))));
  EXPECT_THAT(store_->Exists("absent"), IsOkAndHolds(false));
}

TEST_F(FileCassetteStoreTest, CorruptFileIsDataLossNamingThePath) {
  WriteFile(Root() + "/bad.pb", "\xff\xff\xff garbage");
  EXPECT_THAT(store_->Load("bad"), StatusIs(absl::StatusCode::kDataLoss,
                                            HasSubstr(Root() + "/bad.pb")));
}

TEST_F(FileCassetteStoreTest, EmptyFileIsDataLoss) {
  WriteFile(Root() + "/empty.pb", "");
  EXPECT_THAT(
      store_->Load("empty"),
      StatusIs(absl::StatusCode::kDataLoss,
               AllOf(HasSubstr(Root() + "/empty.pb"), HasSubstr("empty"))));
}

TEST_F(FileCassetteStoreTest, TruncatedFileIsDataLoss) {
  ASSERT_THAT(store_->Save(MakeCassette("cut", 3)), IsOk());
  const std::string path = Root() + "/cut.pb";
  fs::resize_file(path, fs::file_size(path) - 2);  // drops the end marker
  EXPECT_THAT(store_->Load("cut"),
              StatusIs(absl::StatusCode::kDataLoss,
                       AllOf(HasSubstr(path), HasSubstr("truncated"))));
}

TEST_F(FileCassetteStoreTest, BadNamesAreInvalidArgumentEverywhere) {
  for (const std::string name : {"", "/abs", "../escape", "a//b", "a b"}) {
    SCOPED_TRACE(name);
    EXPECT_THAT(store_->Exists(name),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("cassette name")));
    EXPECT_THAT(store_->Load(name), StatusIs(absl::StatusCode::kInvalidArgument,
                                             HasSubstr("cassette name")));
    EXPECT_THAT(store_->Save(MakeCassette(name, 1)),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("cassette name")));
  }
  EXPECT_THAT(dir_.Files(), IsEmpty());
  EXPECT_FALSE(fs::exists(dir_.path() + "/escape.pb"));
}

TEST_F(FileCassetteStoreTest, OverwriteReplacesTheFileAtomically) {
  ASSERT_THAT(store_->Save(MakeCassette("x", 1)), IsOk());
  const std::string path = Root() + "/x.pb";
  // A reader that opened the old file keeps seeing the old cassette whole:
  // the new one is renamed over it, never written into it.
  std::ifstream old_reader(path, std::ios::binary);
  ASSERT_TRUE(old_reader);

  ASSERT_THAT(store_->Save(MakeCassette("x", 3)), IsOk());

  std::ostringstream old_bytes;
  old_bytes << old_reader.rdbuf();
  absl::StatusOr<v1::Cassette> old_cassette =
      ParseCassette(old_bytes.str(), "old reader");
  ASSERT_THAT(old_cassette, IsOk());
  EXPECT_EQ(old_cassette->interactions_size(), 1);

  absl::StatusOr<v1::Cassette> loaded = store_->Load("x");
  ASSERT_THAT(loaded, IsOk());
  EXPECT_EQ(loaded->interactions_size(), 3);
  EXPECT_THAT(dir_.Files(), ElementsAre("cassettes/x.pb"));
}

}  // namespace
}  // namespace matgto::cassette

// Bodies spooled to files beside a recording's journal (spooled.h): written
// by the journal's spooler, found again when the journal is read back,
// copied into the cassette when it is saved, removed with the journal, and
// recovered after a crash.
#include "server/cassette/spooled.h"

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "server/cassette/codec.h"
#include "server/cassette/journal.h"
#include "server/cassette/redact.h"
#include "server/cassette/store.h"
#include "tests/unit/testing/status_matchers.h"
#include "tests/unit/testing/temp_dir.h"

namespace matgto::cassette {
namespace {

namespace fs = std::filesystem;
using ::matgto::testing::IsOk;
using ::matgto::testing::StatusIs;
using ::matgto::testing::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

std::string RandomBytes(size_t n) {
  std::mt19937 gen(42);
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(gen());
  return out;
}

std::vector<std::string> BodyFiles(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.find(".body-") != std::string::npos) out.push_back(name);
  }
  return out;
}

v1::JournalEntry Begin(const std::string& name) {
  v1::JournalEntry e;
  e.mutable_begin()->set_name(name);
  e.mutable_begin()->mutable_options()->set_ws_speed(2.5);
  e.mutable_begin()->mutable_created_at()->set_seconds(1700000000);
  return e;
}

v1::JournalEntry Small(int i) {
  v1::JournalEntry e;
  v1::Interaction* it = e.mutable_interaction();
  it->set_index(static_cast<uint64_t>(i));
  it->mutable_http()->mutable_request()->set_url("http://h/small");
  it->mutable_http()->mutable_response()->set_status(200);
  it->mutable_http()->mutable_response()->set_body("small body");
  return e;
}

// Interaction `i` whose response body `body` goes through the spooler.
v1::JournalEntry Spooled(Journal& journal, int i, const std::string& body) {
  auto spool = journal.body_spooler()->Open();
  EXPECT_THAT(spool, IsOk());
  // In pieces, as the proxy writes them.
  for (size_t at = 0; at < body.size(); at += 100000) {
    EXPECT_THAT((*spool)->Append(std::string_view(body).substr(at, 100000)),
                IsOk());
  }
  auto done = (*spool)->Finish();
  EXPECT_THAT(done, IsOk());
  EXPECT_EQ((*done)->size, body.size());
  v1::JournalEntry e;
  v1::Interaction* it = e.mutable_interaction();
  it->set_index(static_cast<uint64_t>(i));
  it->set_fault("f1 delay 1s");
  it->mutable_http()->mutable_request()->set_url("http://h/big");
  it->mutable_http()->mutable_timing()->mutable_total()->set_seconds(2);
  v1::HttpResponse* response = it->mutable_http()->mutable_response();
  response->set_status(200);
  v1::Header* h = response->add_headers();
  h->set_name("Content-Type");
  h->set_value("application/octet-stream");
  response->mutable_spooled_body()->set_path((*done)->path);
  response->mutable_spooled_body()->set_size((*done)->size);
  return e;
}

class SpooledTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = FileCassetteStore::Create(Root());
    ASSERT_THAT(store, IsOk());
    store_ = *std::move(store);
  }
  std::string Root() const { return dir_.path() + "/cassettes"; }

  TempDir dir_;
  std::unique_ptr<FileCassetteStore> store_;
};

TEST_F(SpooledTest, ASavedCassetteHoldsTheBodyAndTheJournalTakesItsFiles) {
  const std::string big = RandomBytes(3 << 20);
  auto journal = store_->StartJournal("big");
  ASSERT_THAT(journal, IsOk());
  (*journal)->Append(Begin("big"));
  (*journal)->Append(Small(0));
  (*journal)->Append(Spooled(**journal, 1, big));
  (*journal)->Append(Small(2));
  EXPECT_THAT(BodyFiles(Root()), SizeIs(1));

  auto recording = (*journal)->Recover();
  ASSERT_THAT(recording, IsOk());
  ASSERT_TRUE(HasSpooledBodies(*recording));
  // The path is the file's, absolute.
  EXPECT_TRUE(fs::exists(
      recording->interactions(1).http().response().spooled_body().path()));
  ASSERT_THAT(store_->Save(*recording), IsOk());
  // What a parser reads equals the recording with its body read in.
  auto expected = ReadSpooledBodies(*recording);
  ASSERT_THAT(expected, IsOk());
  EXPECT_FALSE(HasSpooledBodies(*expected));
  ASSERT_THAT((*journal)->Remove(), IsOk());
  EXPECT_THAT(BodyFiles(Root()), IsEmpty());
  auto loaded = store_->Load("big");
  ASSERT_THAT(loaded, IsOk());
  EXPECT_EQ(loaded->interactions(1).http().response().body(), big);
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(
      loaded->interactions(1), expected->interactions(1)));
  EXPECT_EQ(loaded->interactions_size(), 3);
  EXPECT_EQ(loaded->interactions(2).http().response().body(), "small body");
  EXPECT_EQ(loaded->options().ws_speed(), 2.5);
  EXPECT_EQ(loaded->created_at().seconds(), 1700000000);
  EXPECT_TRUE(loaded->complete());

  // Replay maps the file: the interaction parses whole there too.
  auto image = store_->LoadImage("big");
  ASSERT_THAT(image, IsOk());
  ASSERT_EQ((*image)->size(), 3u);
  auto one = (*image)->Interaction(1);
  ASSERT_THAT(one, IsOk());
  EXPECT_EQ(one->http().response().body(), big);
  EXPECT_EQ(one->fault(), "f1 delay 1s");
  EXPECT_EQ(one->http().timing().total().seconds(), 2);
}

TEST_F(SpooledTest, AJsonCassetteReadsTheBodyIn) {
  auto store = FileCassetteStore::Create(Root(), CassetteFormat::kJson);
  ASSERT_THAT(store, IsOk());
  const std::string big = RandomBytes(1 << 20);
  auto journal = (*store)->StartJournal("j");
  ASSERT_THAT(journal, IsOk());
  (*journal)->Append(Begin("j"));
  (*journal)->Append(Spooled(**journal, 0, big));
  auto recording = (*journal)->Recover();
  ASSERT_THAT(recording, IsOk());
  ASSERT_THAT((*store)->Save(*recording), IsOk());
  auto loaded = (*store)->Load("j");
  ASSERT_THAT(loaded, IsOk());
  EXPECT_EQ(loaded->interactions(0).http().response().body(), big);
}

TEST_F(SpooledTest, ACrashedRecordingIsRecoveredWithItsBodies) {
  const std::string big = RandomBytes(2 << 20);
  {
    auto journal = store_->StartJournal("crash");
    ASSERT_THAT(journal, IsOk());
    (*journal)->Append(Begin("crash"));
    (*journal)->Append(Spooled(**journal, 0, big));
    (*journal)->Append(Small(1));
    ASSERT_THAT((*journal)->Flush(), IsOk());
  }  // a crash: the journal and its body file stay
  EXPECT_THAT(BodyFiles(Root()), SizeIs(1));
  EXPECT_THAT(store_->RecoverJournals(),
              ElementsAre(HasSubstr("recovered cassette 'crash' (2")));
  EXPECT_THAT(BodyFiles(Root()), IsEmpty());
  auto loaded = store_->Load("crash");
  ASSERT_THAT(loaded, IsOk());
  EXPECT_EQ(loaded->interactions(0).http().response().body(), big);
}

TEST_F(SpooledTest, ABodyFileLostInTheCrashDropsOnlyItsInteraction) {
  {
    auto journal = store_->StartJournal("lost");
    ASSERT_THAT(journal, IsOk());
    (*journal)->Append(Begin("lost"));
    (*journal)->Append(Small(0));
    (*journal)->Append(Spooled(**journal, 1, RandomBytes(1 << 20)));
    ASSERT_THAT((*journal)->Flush(), IsOk());
  }
  // The file did not reach the disk whole.
  fs::resize_file(Root() + "/lost.pb.journal.body-0", 1000);
  EXPECT_THAT(store_->RecoverJournals(),
              ElementsAre(AllOf(HasSubstr("recovered cassette 'lost' (1"),
                                HasSubstr("interaction 1 dropped"),
                                HasSubstr("has 1000 of its 1048576 bytes"))));
  auto loaded = store_->Load("lost");
  ASSERT_THAT(loaded, IsOk());
  ASSERT_EQ(loaded->interactions_size(), 1);
  EXPECT_EQ(loaded->interactions(0).http().response().body(), "small body");
}

TEST_F(SpooledTest, AJournalCannotNameAFileThatIsNotOneOfItsOwn) {
  const std::string secret_path = dir_.path() + "/secret";
  std::ofstream(secret_path) << "not for a cassette";
  v1::Cassette cassette;
  v1::Interaction* it = cassette.add_interactions();
  it->mutable_http()->mutable_response()->mutable_spooled_body()->set_path(
      secret_path);
  it->mutable_http()->mutable_response()->mutable_spooled_body()->set_size(18);
  std::vector<std::string> dropped;
  ResolveSpooledBodies(cassette, Root() + "/x.pb.journal", &dropped);
  EXPECT_EQ(cassette.interactions_size(), 0);
  EXPECT_THAT(dropped, ElementsAre(HasSubstr("is not one of the journal's")));
}

TEST_F(SpooledTest, SavingABodyFileOfTheWrongSizeIsDataLossAndKeepsTheOld) {
  auto journal = store_->StartJournal("short");
  ASSERT_THAT(journal, IsOk());
  (*journal)->Append(Begin("short"));
  (*journal)->Append(Spooled(**journal, 0, RandomBytes(1 << 20)));
  auto recording = (*journal)->Recover();
  ASSERT_THAT(recording, IsOk());
  fs::resize_file(
      recording->interactions(0).http().response().spooled_body().path(), 10);
  EXPECT_THAT(store_->Save(*recording),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("has 10 bytes where the recording says")));
  // No cassette, no temporary file left.
  EXPECT_FALSE(fs::exists(Root() + "/short.pb"));
  for (const auto& e : fs::directory_iterator(Root())) {
    EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos);
  }
}

TEST(SpooledRedactionTest, RulesThatCouldChangeTheBodySayTheyWereNotApplied) {
  const Redactor redactor(RedactConfig::Defaults());
  core::HttpResponse json{.status = 200,
                          .headers = {{"Content-Type", "application/json"}}};
  json.spooled = std::make_shared<const core::SpooledBody>(
      core::SpooledBody{"/x.pb.journal.body-0", 5 << 20});
  RedactReport report;
  redactor.Redact(json, &report);
  EXPECT_THAT(report.unredactable,
              ElementsAre(HasSubstr("(5242880 bytes) is too large for the "
                                    "body rules")));

  // The default rules cannot change a download of bytes.
  core::HttpResponse binary = json;
  binary.headers = {{"Content-Type", "application/octet-stream"}};
  RedactReport quiet;
  redactor.Redact(binary, &quiet);
  EXPECT_THAT(quiet.unredactable, IsEmpty());
}

}  // namespace
}  // namespace matgto::cassette

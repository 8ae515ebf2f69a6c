// Writes tests/testdata/cassette_v1.pb and cassette_v1.json (see
// golden_cassette.h). Run once per schema version:
//   build/dev/bin/make_golden_cassette tests/testdata
// It refuses to overwrite existing files: golden files are never regenerated.
#include <cstdio>
#include <filesystem>
#include <memory>

#include "server/cassette/store.h"
#include "tests/unit/cassette/golden_cassette.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUTPUT_DIR\n", argv[0]);
    return 2;
  }
  using matgto::cassette::CassetteFormat;
  using matgto::cassette::FileCassetteStore;
  const matgto::v1::Cassette golden = matgto::testing::MakeGoldenCassette();
  for (CassetteFormat format :
       {CassetteFormat::kBinary, CassetteFormat::kJson}) {
    const std::filesystem::path path =
        std::filesystem::path(argv[1]) /
        (golden.name() + (format == CassetteFormat::kJson ? ".json" : ".pb"));
    if (std::filesystem::exists(path)) {
      std::fprintf(stderr, "%s exists: golden files are never regenerated\n",
                   path.c_str());
      return 1;
    }
  }
  for (CassetteFormat format :
       {CassetteFormat::kBinary, CassetteFormat::kJson}) {
    // A store per format, each writing its own file (Save of one format
    // removes the other's file, so write binary first into a scratch dir).
    const std::string scratch =
        (std::filesystem::path(argv[1]) /
         (format == CassetteFormat::kJson ? ".golden-json" : ".golden-pb"))
            .string();
    auto store = FileCassetteStore::Create(scratch, format);
    if (!store.ok()) {
      std::fprintf(stderr, "%s\n",
                   std::string(store.status().message()).c_str());
      return 1;
    }
    auto saved = (*store)->Save(golden);
    if (!saved.ok()) {
      std::fprintf(stderr, "%s\n",
                   std::string(saved.status().message()).c_str());
      return 1;
    }
    const std::filesystem::path target =
        std::filesystem::path(argv[1]) /
        std::filesystem::path(*saved).filename();
    std::filesystem::rename(*saved, target);
    std::filesystem::remove_all(scratch);
    std::printf("wrote %s\n", target.c_str());
  }
  return 0;
}

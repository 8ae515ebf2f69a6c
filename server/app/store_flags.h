// Where cassettes live, as the command line says: a local directory (the
// default) or an S3-compatible bucket (--store s3://BUCKET/PREFIX, with
// --cache-dir, --stale-cache and the --s3-* flags). Used by `matgto serve`
// and by the local `matgto cassette ...` commands.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/cassette/store.h"

namespace CLI {
class App;
}

namespace matgto::app {

struct StoreChoice {
  // "" (the directory given elsewhere), a directory, or s3://BUCKET/PREFIX.
  std::string store{};
  // s3:// only: the read-through cache, the recording journals and the
  // recordings a conflict kept. Empty: DefaultCacheDir().
  std::string cache_dir{};
  // s3:// only: replay a cached copy when the store cannot be reached.
  bool stale_cache = false;
  // s3:// only: override AWS_ENDPOINT_URL / AWS_REGION and the addressing.
  std::string s3_endpoint;
  std::string s3_region;
  bool s3_path_style = false;
  bool s3_virtual_hosted = false;
};

// Adds --store, --cache-dir, --stale-cache, --s3-endpoint, --s3-region,
// --s3-path-style and --s3-virtual-hosted to `cmd`.
void AddStoreFlags(CLI::App* cmd, StoreChoice& choice);

bool IsObjectStore(const StoreChoice& choice);

// $MATGTO_CACHE_DIR, else $XDG_CACHE_HOME/matgto/store, else
// ~/.cache/matgto/store.
std::string DefaultCacheDir();

struct OpenedStore {
  std::unique_ptr<cassette::CassetteStore> store{};
  // The directory, or s3://bucket/prefix: what status and messages show.
  std::string where{};
  // For an object store: its endpoint, cache and stale-cache setting, to
  // print at start-up; empty for a directory.
  std::string detail{};
  // One line per journal an interrupted recording left (with `recover`).
  std::vector<std::string> recovered{};
};

// Opens the store `choice` names, or the directory `dir` when it names
// none. With `recover`, recordings interrupted by a crash are saved from
// their journals first. Makes no request to an object store otherwise.
absl::StatusOr<OpenedStore> OpenStore(const StoreChoice& choice,
                                      const std::string& dir,
                                      cassette::CassetteFormat format,
                                      mode_t file_mode, bool recover);

}  // namespace matgto::app

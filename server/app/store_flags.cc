#include "server/app/store_flags.h"

#include <CLI/CLI.hpp>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "server/cassette/s3/s3_store.h"
#include "server/core/status_macros.h"

namespace matgto::app {

void AddStoreFlags(CLI::App* cmd, StoreChoice& choice) {
  cmd->add_option("--store", choice.store,
                  "where cassettes live: a directory, or s3://BUCKET/PREFIX "
                  "for an S3-compatible object store (endpoint, region and "
                  "credentials from AWS_ENDPOINT_URL, AWS_REGION, "
                  "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, "
                  "AWS_SESSION_TOKEN, or the --s3-* flags)");
  cmd->add_option("--cache-dir", choice.cache_dir,
                  "with an s3:// store: local cache of downloaded cassettes "
                  "(revalidated by ETag), recording journals, and recordings "
                  "kept after a conflict (default $MATGTO_CACHE_DIR or "
                  "~/.cache/matgto/store)");
  cmd->add_flag("--stale-cache", choice.stale_cache,
                "with an s3:// store: when the store cannot be reached, "
                "replay a cached copy (with a warning) instead of failing");
  cmd->add_option("--s3-endpoint", choice.s3_endpoint,
                  "S3 endpoint, e.g. http://127.0.0.1:8333 (default "
                  "$AWS_ENDPOINT_URL, else AWS)");
  cmd->add_option("--s3-region", choice.s3_region,
                  "S3 region (default $AWS_REGION, $AWS_DEFAULT_REGION, "
                  "else us-east-1)");
  auto* path = cmd->add_flag("--s3-path-style", choice.s3_path_style,
                             "address objects as ENDPOINT/BUCKET/KEY (the "
                             "default with a custom endpoint)");
  auto* hosted = cmd->add_flag("--s3-virtual-hosted", choice.s3_virtual_hosted,
                               "address objects as BUCKET.ENDPOINT/KEY (the "
                               "default with AWS)");
  path->excludes(hosted);
}

bool IsObjectStore(const StoreChoice& choice) {
  return cassette::s3::IsS3Url(choice.store);
}

std::string DefaultCacheDir() {
  if (const char* dir = std::getenv("MATGTO_CACHE_DIR"); dir && *dir) {
    return dir;
  }
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) {
    return absl::StrCat(xdg, "/matgto/store");
  }
  if (const char* home = std::getenv("HOME"); home && *home) {
    return absl::StrCat(home, "/.cache/matgto/store");
  }
  return "./.matgto-cache";
}

absl::StatusOr<OpenedStore> OpenStore(const StoreChoice& choice,
                                      const std::string& dir,
                                      cassette::CassetteFormat format,
                                      mode_t file_mode, bool recover) {
  OpenedStore opened;
  if (!IsObjectStore(choice)) {
    const std::string where = choice.store.empty() ? dir : choice.store;
    ASSIGN_OR_RETURN(auto store, cassette::FileCassetteStore::Create(
                                     where, format, file_mode));
    if (recover) opened.recovered = store->RecoverJournals();
    opened.where = store->dir();
    opened.store = std::move(store);
    return opened;
  }
  ASSIGN_OR_RETURN(cassette::s3::S3Location location,
                   cassette::s3::ParseS3Url(choice.store));
  cassette::s3::S3Overrides overrides{.endpoint = choice.s3_endpoint,
                                      .region = choice.s3_region};
  if (choice.s3_path_style) {
    overrides.addressing = cassette::s3::S3Addressing::kPath;
  } else if (choice.s3_virtual_hosted) {
    overrides.addressing = cassette::s3::S3Addressing::kVirtualHosted;
  }
  ASSIGN_OR_RETURN(
      cassette::s3::S3Config config,
      cassette::s3::S3ConfigFromEnvironment(std::move(location), overrides));
  ASSIGN_OR_RETURN(
      auto store,
      cassette::s3::S3CassetteStore::Create(cassette::s3::S3StoreOptions{
          .s3 = std::move(config),
          .cache_dir =
              choice.cache_dir.empty() ? DefaultCacheDir() : choice.cache_dir,
          .stale_cache = choice.stale_cache,
          .format = format,
          .file_mode = file_mode,
          .warn = nullptr}));
  if (recover) opened.recovered = store->RecoverJournals();
  opened.where = store->Url();
  opened.detail = absl::StrCat(
      "object store ", opened.where, " at ",
      cassette::s3::EffectiveEndpoint(store->options().s3), " (",
      cassette::s3::UsesPathStyle(store->options().s3) ? "path-style"
                                                       : "virtual-hosted",
      ", region ", store->options().s3.region, ", ",
      store->options().s3.credentials.access_key_id.empty()
          ? "unsigned"
          : "signed with SigV4",
      "), cache ", store->options().cache_dir,
      store->options().stale_cache ? ", --stale-cache on"
                                   : ", stale cache off");
  opened.store = std::move(store);
  return opened;
}

}  // namespace matgto::app

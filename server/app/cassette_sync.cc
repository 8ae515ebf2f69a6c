// `matgto cassette push` and `pull`: copy cassettes between a local
// directory and a server, skipping those whose content hash already
// matches.
#include <unistd.h>

#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "server/app/cassette_cli.h"
#include "server/app/cassettes.h"
#include "server/cassette/codec.h"

namespace matgto::app {
namespace {

constexpr uint64_t kProgressAbove = uint64_t{1} << 20;

std::string Mib(uint64_t bytes) {
  return absl::StrFormat("%.1f MiB", static_cast<double>(bytes) / (1 << 20));
}

// Shows "pushing NAME: 3.0 MiB of 12.0 MiB (25%)" on stderr, rewritten in
// place on a terminal, one line an update otherwise.
class ProgressLine {
 public:
  explicit ProgressLine(bool forced) : tty_(::isatty(STDERR_FILENO) == 1) {
    enabled_ = tty_ || forced;
  }
  // Starts a transfer of about `expected` bytes (0: unknown).
  void Start(absl::string_view verb, absl::string_view name,
             uint64_t expected) {
    verb_ = std::string(verb);
    name_ = std::string(name);
    expected_ = expected;
    shown_ = false;
  }
  void Update(uint64_t done, uint64_t total) {
    if (!enabled_) return;
    const bool estimated = total == 0;  // the stored size, from List
    if (estimated) total = expected_;
    if (std::max(total, done) <= kProgressAbove) return;
    std::string line = absl::StrCat(verb_, " ", name_, ": ", Mib(done));
    if (total > 0) {
      absl::StrAppend(&line, " of ", estimated ? "~" : "", Mib(total), " (",
                      std::min<uint64_t>(100, done * 100 / total), "%)");
    }
    std::fprintf(stderr, tty_ ? "\r%s\033[K" : "%s\n", line.c_str());
    std::fflush(stderr);
    shown_ = true;
  }
  void Finish() {
    if (shown_ && tty_) std::fprintf(stderr, "\n");
    shown_ = false;
  }

 private:
  bool tty_ = false;
  bool enabled_ = false;
  bool shown_ = false;
  std::string verb_, name_;
  uint64_t expected_ = 0;
};

struct Tally {
  int copied = 0, skipped = 0, failed = 0;
};

// Copies each of `wanted` from `from` to `to` unless `to` has the same
// content. `to_hashes`: name -> content hash of what `to` holds.
Tally Copy(Cassettes& from, Cassettes& to,
           const std::vector<v1::CassetteInfo>& wanted,
           const absl::flat_hash_map<std::string, std::string>& to_hashes,
           absl::string_view verb, absl::string_view done_word,
           ProgressLine& progress) {
  Tally tally;
  from.set_progress([&progress](uint64_t done, uint64_t total) {
    progress.Update(done, total);
  });
  to.set_progress([&progress](uint64_t done, uint64_t total) {
    progress.Update(done, total);
  });
  for (const v1::CassetteInfo& info : wanted) {
    const std::string& name = info.name();
    auto there = to_hashes.find(name);
    if (there != to_hashes.end() && !info.content_sha256().empty() &&
        there->second == info.content_sha256()) {
      std::printf("%s  skipped (identical)\n", name.c_str());
      ++tally.skipped;
      continue;
    }
    progress.Start(verb, name, info.size_bytes());
    absl::StatusOr<v1::Cassette> cassette = from.Get(name);
    absl::StatusOr<v1::CassetteInfo> stored =
        cassette.ok() ? to.Put(*cassette)
                      : absl::StatusOr<v1::CassetteInfo>(cassette.status());
    progress.Finish();
    if (!stored.ok()) {
      std::printf("%s  error: %s: %s\n", name.c_str(),
                  absl::StatusCodeToString(stored.status().code()).c_str(),
                  std::string(stored.status().message()).c_str());
      ++tally.failed;
      continue;
    }
    std::printf("%s  %s (%llu interactions, %llu bytes)\n", name.c_str(),
                std::string(done_word).c_str(),
                static_cast<unsigned long long>(stored->interactions()),
                static_cast<unsigned long long>(stored->size_bytes()));
    ++tally.copied;
  }
  from.set_progress(nullptr);
  to.set_progress(nullptr);
  return tally;
}

absl::flat_hash_map<std::string, std::string> Hashes(
    const std::vector<v1::CassetteInfo>& list) {
  absl::flat_hash_map<std::string, std::string> out;
  for (const v1::CassetteInfo& info : list) {
    out[info.name()] = info.content_sha256();
  }
  return out;
}

int Summary(absl::string_view verb, const Tally& tally, absl::string_view from,
            absl::string_view to) {
  std::printf("%s: %d %s, %d skipped (identical), %d failed (%s -> %s)\n",
              std::string(verb).c_str(), tally.copied,
              verb == "push" ? "pushed" : "pulled", tally.skipped, tally.failed,
              std::string(from).c_str(), std::string(to).c_str());
  return tally.failed > 0 ? 1 : 0;
}

// The target without --dir, for reporting errors of the remote side.
CassetteCliTarget ServerSide(const CassetteCliTarget& target) {
  CassetteCliTarget server = target;
  server.dir.clear();
  return server;
}

}  // namespace

int CliCassettePush(const CassetteCliTarget& target,
                    const std::vector<std::string>& names, bool progress) {
  auto local = OpenLocalCassettes(target, /*create=*/false);
  if (!local.ok()) return ReportCassetteError(target, local.status());
  auto opened = OpenRemoteCassettes(target);
  if (!opened.ok()) {
    return ReportCassetteError(ServerSide(target), opened.status());
  }
  std::unique_ptr<Cassettes> remote = *std::move(opened);

  auto local_list = (*local)->List("");
  if (!local_list.ok()) return ReportCassetteError(target, local_list.status());
  std::vector<v1::CassetteInfo> wanted;
  Tally missing;
  if (names.empty()) {
    wanted = *std::move(local_list);
  } else {
    std::map<std::string, v1::CassetteInfo> by_name;
    for (v1::CassetteInfo& info : *local_list) by_name[info.name()] = info;
    for (const std::string& name : names) {
      auto it = by_name.find(name);
      if (it == by_name.end()) {
        std::printf("%s  error: NOT_FOUND: no cassette '%s' in %s\n",
                    name.c_str(), name.c_str(), (*local)->Where().c_str());
        ++missing.failed;
        continue;
      }
      wanted.push_back(it->second);
    }
  }
  auto remote_list = remote->List("");
  if (!remote_list.ok()) {
    return ReportCassetteError(ServerSide(target), remote_list.status());
  }
  ProgressLine line(progress);
  Tally tally = Copy(**local, *remote, wanted, Hashes(*remote_list), "pushing",
                     "pushed", line);
  tally.failed += missing.failed;
  return Summary("push", tally, (*local)->Where(), remote->Where());
}

int CliCassettePull(const CassetteCliTarget& target, const std::string& prefix,
                    bool progress) {
  auto opened = OpenRemoteCassettes(target);
  if (!opened.ok()) {
    return ReportCassetteError(ServerSide(target), opened.status());
  }
  std::unique_ptr<Cassettes> remote = *std::move(opened);
  auto remote_list = remote->List(prefix);
  if (!remote_list.ok()) {
    return ReportCassetteError(ServerSide(target), remote_list.status());
  }
  auto local = OpenLocalCassettes(target, /*create=*/true);
  if (!local.ok()) return ReportCassetteError(target, local.status());
  auto local_list = (*local)->List(prefix);
  if (!local_list.ok()) return ReportCassetteError(target, local_list.status());
  ProgressLine line(progress);
  const Tally tally = Copy(*remote, **local, *remote_list, Hashes(*local_list),
                           "pulling", "pulled", line);
  return Summary("pull", tally, remote->Where(), (*local)->Where());
}

}  // namespace matgto::app

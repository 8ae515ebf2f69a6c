// `matgto fault add|ls|rm`: a session's fault rules (SetFaults /
// ClearFaults) from the command line.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "matgto/v1/control.pb.h"
#include "server/app/cli.h"

namespace matgto::app {

// The flags of `fault add` that build one v1::Fault.
struct FaultFlags {
  std::string method, url;
  double probability = -1;
  uint32_t every = 0, first = 0;
  uint64_t seed = 0;
  uint32_t status = 0;
  std::vector<std::string> headers;  // "Name: value"
  std::string body;
  std::string delay;  // "2s"
  bool hang = false;
  bool reset = false;
  std::string reset_when = "before-headers";
  std::string bandwidth;  // "100KiB" per second
  uint32_t ws_drop_after = 0;
  std::string ws_delay;  // "100ms"

  void AddTo(CLI::App* command);
  // INVALID_ARGUMENT for flags that make no rule (no action, two actions,
  // a bad duration or size). The server checks the rest.
  absl::StatusOr<v1::Fault> Build() const;
};

// "100KiB" -> 102400, "1MB" -> 1000000, "512" -> 512 (bytes).
absl::StatusOr<uint64_t> ParseBytes(absl::string_view text);

int CliFaultAdd(const CliTarget& target, const std::string& session,
                const v1::Fault& fault, uint64_t seed, bool json);
int CliFaultList(const CliTarget& target, const std::string& session,
                 bool json);
int CliFaultRemove(const CliTarget& target, const std::string& session,
                   const std::vector<std::string>& ids, bool json);

}  // namespace matgto::app

// The `matgto` command-line client: each command is one gRPC call to a
// running server.
#pragma once

#include <grpcpp/client_context.h>

#include <memory>
#include <string>

#include "absl/time/time.h"
#include "matgto/v1/control.grpc.pb.h"
#include "matgto/v1/control.pb.h"

namespace matgto::app {

struct CliTarget {
  // host:port of the control API.
  std::string server = "127.0.0.1:8889";
  absl::Duration timeout = absl::Seconds(30);
};

// A stub for the control API at target.server (no connection is made yet).
std::unique_ptr<v1::ProxyControl::Stub> ConnectControl(const CliTarget& target);
// Gives a call target.timeout to complete.
void SetDeadline(grpc::ClientContext& ctx, const CliTarget& target);

// Each returns the process exit code: 0 on success, 1 when the server
// answered with an error, 3 when it could not be reached.
int CliRecord(const CliTarget& target, const std::string& name,
              const v1::CassetteOptions& options);
int CliStop(const CliTarget& target);
int CliReplay(const CliTarget& target, const std::string& name,
              const v1::CassetteOptions& options);
int CliUse(const CliTarget& target, const std::string& name, v1::Mode mode,
           const v1::CassetteOptions& options);
int CliStatus(const CliTarget& target, bool json);
int CliShutdown(const CliTarget& target, absl::Duration grace);
int CliCaExport(const CliTarget& target);

}  // namespace matgto::app

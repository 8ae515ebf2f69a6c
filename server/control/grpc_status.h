// The one place where absl::Status becomes grpc::Status.
#pragma once

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace matgto::control {

// Same code, same message; OK maps to OK.
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace matgto::control

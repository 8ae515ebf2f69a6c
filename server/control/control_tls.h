// TLS for the control API: the server's certificate and key, and the CA
// that client certificates must chain to (mTLS).
#pragma once

#include <grpcpp/security/server_credentials.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace matgto::control {

struct ControlTlsFiles {
  // PEM certificate chain (leaf first) and its private key.
  std::string cert_file;
  std::string key_file;
  // PEM CA certificates; set: clients must present a certificate that
  // chains to one of them.
  std::string client_ca_file;
};

// Reads and checks the files before gRPC sees them, so that the server
// does not start with a broken TLS setup: NOT_FOUND / PERMISSION_DENIED
// naming an unreadable file; INVALID_ARGUMENT for a file that holds no PEM
// certificate (or key), a key that does not belong to the certificate, or
// a certificate that has expired.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeControlCredentials(
    const ControlTlsFiles& files);

}  // namespace matgto::control

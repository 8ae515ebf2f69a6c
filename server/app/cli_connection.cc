// The CLI's connection to the control API: TLS files, the bearer token,
// and how a failed call is reported.
#include <arpa/inet.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "server/app/cli.h"
#include "server/core/status_macros.h"

namespace matgto::app {
namespace {

const char* CodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::DATA_LOSS:
      return "DATA_LOSS";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    case grpc::StatusCode::ABORTED:
      return "ABORTED";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::StatusCode::INTERNAL:
      return "INTERNAL";
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    default:
      return "ERROR";
  }
}

absl::StatusOr<std::string> ReadPem(const std::string& path,
                                    absl::string_view flag) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat(flag, ": cannot read ", path, ": ", std::strerror(errno)));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (text.str().find("-----BEGIN ") == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": ", path, " is not a PEM file"));
  }
  return text.str();
}

// "host:port" or "[v6]:port" names this machine (so a plaintext token never
// leaves it).
bool IsLoopbackTarget(absl::string_view server) {
  absl::string_view host = server;
  if (absl::ConsumePrefix(&host, "[")) {
    host = host.substr(0, host.find(']'));
  } else if (const size_t colon = host.rfind(':');
             colon != absl::string_view::npos) {
    host = host.substr(0, colon);
  }
  if (host == "localhost") return true;
  const std::string text(host);
  in_addr v4{};
  in6_addr v6{};
  if (::inet_pton(AF_INET, text.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  return ::inet_pton(AF_INET6, text.c_str(), &v6) == 1 &&
         IN6_IS_ADDR_LOOPBACK(&v6);
}

}  // namespace

absl::Status LoadCliTls(CliTarget& target) {
  absl::string_view server = target.server;
  const bool https = absl::ConsumePrefix(&server, "https://");
  const bool http = !https && absl::ConsumePrefix(&server, "http://");
  while (absl::ConsumeSuffix(&server, "/")) {
  }
  target.server = std::string(server);
  if (!target.tls_ca.empty()) {
    ASSIGN_OR_RETURN(target.tls_ca_pem, ReadPem(target.tls_ca, "--tls-ca"));
  }
  if (target.tls_cert.empty() != target.tls_key.empty()) {
    return absl::InvalidArgumentError(
        "--tls-cert and --tls-key (MATGTO_TLS_CERT, MATGTO_TLS_KEY) go "
        "together");
  }
  if (!target.tls_cert.empty()) {
    ASSIGN_OR_RETURN(target.tls_cert_pem,
                     ReadPem(target.tls_cert, "--tls-cert"));
    ASSIGN_OR_RETURN(target.tls_key_pem, ReadPem(target.tls_key, "--tls-key"));
  }
  target.use_tls = https || !target.tls_ca.empty() || !target.tls_cert.empty();
  // As the clients do: a token goes in plaintext only to this machine, or
  // where the user asked for plaintext by writing http:// (a service mesh
  // that encrypts, say).
  if (!target.token.empty() && !target.use_tls && !http &&
      !IsLoopbackTarget(target.server)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "refusing to send the token in plaintext to ", target.server,
        ": use TLS (--tls-ca FILE or --server https://", target.server,
        "), or write --server http://", target.server,
        " to send it in plaintext on purpose"));
  }
  return absl::OkStatus();
}

std::unique_ptr<v1::ProxyControl::Stub> ConnectControl(
    const CliTarget& target) {
  std::shared_ptr<grpc::ChannelCredentials> credentials =
      grpc::InsecureChannelCredentials();
  if (target.use_tls) {
    grpc::SslCredentialsOptions options;
    options.pem_root_certs = target.tls_ca_pem;  // empty: the system's roots
    options.pem_private_key = target.tls_key_pem;
    options.pem_cert_chain = target.tls_cert_pem;
    credentials = grpc::SslCredentials(options);
  }
  return v1::ProxyControl::NewStub(
      grpc::CreateChannel(target.server, credentials));
}

void PrepareCall(grpc::ClientContext& ctx, const CliTarget& target) {
  ctx.set_deadline(std::chrono::system_clock::now() +
                   absl::ToChronoMilliseconds(target.timeout));
  AddToken(ctx, target);
}

void AddToken(grpc::ClientContext& ctx, const CliTarget& target) {
  // Sent as plain metadata rather than grpc::AccessTokenCredentials, which
  // gRPC refuses to send without TLS (the default loopback setup).
  if (!target.token.empty()) {
    ctx.AddMetadata("authorization", absl::StrCat("Bearer ", target.token));
  }
}

std::string CallErrorHint(const CliTarget& target, grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::UNAUTHENTICATED:
      return target.token.empty()
                 ? "the server requires a token: give --token or set "
                   "MATGTO_TOKEN"
                 : "check the token given by --token or MATGTO_TOKEN";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "the token does not allow this; ask for a token with the scope "
             "named above";
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return target.use_tls
                 ? "is `matgto serve` running there with TLS? Check --tls-ca "
                   "(the CA of the server's certificate) and, if the server "
                   "requires client certificates, --tls-cert/--tls-key"
                 : "is `matgto serve` running? Set --server or "
                   "MATGTO_SERVER; if the server uses TLS, give --tls-ca";
    default:
      return "";
  }
}

bool ServerOutOfReach(int grpc_code, const std::string& message) {
  return (grpc_code == grpc::StatusCode::UNAVAILABLE ||
          grpc_code == grpc::StatusCode::DEADLINE_EXCEEDED) &&
         message.find("object store") == std::string::npos;
}

int ReportCallError(const CliTarget& target, const grpc::Status& status) {
  const std::string hint = CallErrorHint(target, status.error_code());
  if (ServerOutOfReach(status.error_code(), status.error_message())) {
    std::fprintf(
        stderr, "matgto: cannot reach the matgto server at %s (%s): %s\n",
        target.server.c_str(), status.error_message().c_str(), hint.c_str());
    return 3;
  }
  std::fprintf(stderr, "matgto: %s: %s\n", CodeName(status.error_code()),
               status.error_message().c_str());
  if (!hint.empty()) std::fprintf(stderr, "matgto: %s\n", hint.c_str());
  return 1;
}

}  // namespace matgto::app

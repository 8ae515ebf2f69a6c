// What Client::Connect and Client::Open read besides gRPC: the
// environment, credential files, whether a target is this machine, the
// default session owner. Kept out of client.cc, which is the one
// translation unit that includes grpcpp.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace matgto::internal {

// The variable's value, trimmed; empty when unset.
std::string Getenv(const char* name);
// The whole file; throws InvalidArgument naming `what` when unreadable.
std::string ReadFile(const std::string& path, const std::string& what);
// Whether a gRPC target names this machine (localhost, 127.0.0.0/8, ::1, a
// unix socket). Names are never resolved.
bool IsLoopbackTarget(std::string_view target);
// "c++ PROGRAM pid N".
std::string DefaultOwner();
// `s` cut to at most `n` bytes, not inside a UTF-8 sequence.
std::string Truncate(std::string s, size_t n);

}  // namespace matgto::internal

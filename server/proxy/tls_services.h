// TLS pieces the proxy borrows from tls/: the interception context (leaf
// certificates per SNI) and the upstream client context.
#pragma once

#include <boost/asio/ssl/context.hpp>

#include "server/tls/contexts.h"

namespace matgto::proxy {

struct TlsServices {
  // Terminates intercepted client TLS. Null: CONNECT tunnels are relayed.
  tls::InterceptionContext* interception = nullptr;
  // Originates upstream TLS (built on first use). Null: https upstreams are
  // refused.
  tls::UpstreamContext* upstream = nullptr;
  bool verify_upstream = true;
};

}  // namespace matgto::proxy

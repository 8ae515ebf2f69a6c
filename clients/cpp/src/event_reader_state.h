// Private to the C++ client: what an EventReader holds (the call's context
// and reader), shared by client.cc (which starts the call) and events.cc.
#pragma once

#include <atomic>
#include <memory>

#include "grpcpp/grpcpp.h"
#include "matgto/client.h"
#include "matgto/v1/control.grpc.pb.h"

namespace matgto {

struct EventReader::State {
  grpc::ClientContext ctx;
  std::unique_ptr<grpc::ClientReader<v1::Event>> reader;
  std::atomic<bool> cancelled{false};
  bool finished = false;
};

}  // namespace matgto

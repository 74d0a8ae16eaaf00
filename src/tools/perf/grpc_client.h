// The gRPC PerfClient (inference.GRPCInferenceService, unary ModelInfer with
// raw_input_contents).
//
// Like grpc_server.h, this header has std and nereid types only: grpcpp and the
// generated service code are included by grpc_client.cc alone (see
// tools/check_layering.sh), so main.cc and perf_command.cc never compile
// against them.
//
// Thread safety: see PerfClient (one thread).
#pragma once

#include <chrono>
#include <memory>

#include "common/status.h"
#include "tools/perf/perf_client.h"
#include "tools/perf/perf_stats.h"

namespace nereid::tools::perf {

// Creates the channel (one HTTP/2 connection, shared by every virtual
// client); connects lazily, so an unreachable server shows at the first call.
StatusOr<std::unique_ptr<PerfClient>> CreateGrpcClient(const HostPort& target,
                                                       std::chrono::milliseconds timeout);

}  // namespace nereid::tools::perf

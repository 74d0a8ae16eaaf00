// GrpcServer: the KServe v2 / Triton gRPC front end
// (inference.GRPCInferenceService and grpc.health.v1.Health).
//
// This header deliberately has only std and nereid types, so code that starts
// the server (main.cc) never compiles against grpcpp or generated code; they
// stay in grpc_server.cc and the nereid_grpc library.
//
// Thread safety: Start/Stop/port are called from one thread (main). The
// RPCs run on gRPC's callback threads and on model instance threads (where an
// inference completes); they never block on inference.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "common/status.h"
#include "core/server.h"

namespace nereid::server::grpc {

// Triton's --grpc-* flags; the defaults are Triton's.
struct GrpcServerOptions {
  std::string address = "0.0.0.0";
  int port = 8001;        // 0 picks a free port
  int infer_threads = 2;  // accepted for compatibility: handlers never block
  int keepalive_time_ms = 7200000;
  int keepalive_timeout_ms = 20000;
  bool keepalive_permit_without_calls = false;
  int http2_max_pings_without_data = 2;
  int http2_min_recv_ping_interval_without_data_ms = 300000;
  int http2_max_ping_strikes = 2;
  // Compression of infer responses: "none", "low", "medium" or "high".
  std::string infer_response_compression_level = "none";
  // Largest message received or sent, in bytes. Triton's fixed limit is
  // INT32_MAX (protobuf cannot parse more); a larger request is refused with
  // RESOURCE_EXHAUSTED before it is parsed.
  int max_message_bytes = 2147483647;
  bool use_ssl = false;
  bool use_ssl_mutual = false;  // requires and verifies client certificates
  std::string server_cert;      // PEM file paths
  std::string server_key;
  std::string root_cert;
};

class GrpcServer {
 public:
  // Binds and starts serving. `server` must outlive the GrpcServer. Fails on
  // bad options (unknown compression level, unreadable SSL files) or when
  // the address cannot be bound.
  static StatusOr<std::unique_ptr<GrpcServer>> Start(const GrpcServerOptions& options,
                                                     core::InferenceServer* server);
  ~GrpcServer();  // Stop(0) if not stopped

  int port() const;

  // Stops accepting calls, lets calls in progress finish for up to `drain`,
  // then cancels the rest (open streams included) and returns once every
  // call is done. Call after InferenceServer::Shutdown so inferences drain.
  void Stop(std::chrono::milliseconds drain);

  struct Impl;

 private:
  explicit GrpcServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace nereid::server::grpc

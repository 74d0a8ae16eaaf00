// Conversion between the gRPC inference messages (ModelInferRequest /
// ModelInferResponse) and core::InferenceRequest / InferenceResponse.
//
// Only gRPC front-end code includes this header (it pulls in the generated
// messages, not grpcpp). The wire-independent checks are shared with HTTP
// through server/kserve; the config checks happen in core.
//
// Raw inputs are views into the request message (no copy): the caller keeps
// the message alive for the request's life (buffer_owner, or the gRPC call).
//
// Thread safety: free functions without shared state.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "core/request/inference_request.h"
#include "grpc_service.pb.h"

namespace nereid::server::grpc {

// Fills `request` from `msg`. Every error is InvalidArgument, except an
// unsupported extension (Unimplemented). On success `requested` holds the
// names of the requested outputs (empty: every output).
Status DecodeInferRequest(const inference::ModelInferRequest& msg, core::InferenceRequest* request,
                          std::vector<std::string>* requested);

// Fills `msg` from a successful response: outputs (the requested ones, in the
// response's order) as raw_output_contents.
Status EncodeInferResponse(const core::InferenceResponse& response,
                           const std::vector<std::string>& requested,
                           inference::ModelInferResponse* msg);

}  // namespace nereid::server::grpc

// The KServe v2 HTTP/REST inference body, both directions: JSON tensors and
// Triton's binary tensor data extension.
//
//   request  = JSON header [+ binary tensors in the order the JSON lists
//              inputs with parameters.binary_data_size]
//   response = JSON header [+ binary outputs], with the JSON length in the
//              Inference-Header-Content-Length header when binary follows.
//
// Binary input tensors are views into the body (no copy); the body is kept
// alive through the request's buffer_owner.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "core/request/inference_request.h"

namespace inference {
class ModelConfig;
}

namespace nereid::server::http {

// How each output is to be written back.
struct OutputEncoding {
  std::vector<std::pair<std::string, bool>> binary_by_output;  // requested outputs
  bool binary_default = false;  // for outputs not listed (binary_data_output)
};

// Parses `body` into `request`. `header_length` is the value of the
// Inference-Header-Content-Length header (nullopt when absent). A value of
// 0 selects the raw binary mode, which needs `config` (single input, shape
// from the config with batch 1). Every error is InvalidArgument.
Status ParseInferRequest(std::shared_ptr<const std::string> body,
                         const std::optional<std::string>& header_length,
                         const inference::ModelConfig* config, core::InferenceRequest* request,
                         OutputEncoding* encoding);

struct EncodedResponse {
  std::string body;
  size_t json_size = 0;  // == body.size() when nothing binary follows
  bool has_binary = false;
};

// Serializes a successful response. Outputs not requested (when some were)
// are left out.
StatusOr<EncodedResponse> EncodeInferResponse(const core::InferenceResponse& response,
                                              const OutputEncoding& encoding);

// {"error": "<message>"} with JSON escaping.
std::string ErrorJson(std::string_view message);

}  // namespace nereid::server::http

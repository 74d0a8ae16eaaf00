#include "core/request/inference_request.h"

namespace nereid::core {

InferenceRequest::~InferenceRequest() {
  if (callback_) CompleteWithError(Internal("request was dropped without a response"));
}

void InferenceRequest::Complete(std::unique_ptr<InferenceResponse> response) {
  if (!callback_) return;
  ResponseCallback cb = std::move(callback_);
  callback_ = nullptr;
  response->model_name = model_name;
  if (response->model_version == 0) response->model_version = resolved_version;
  response->id = id;
  cb(std::move(response));
}

void InferenceRequest::CompleteWithError(Status status) {
  auto response = std::make_unique<InferenceResponse>();
  response->status = std::move(status);
  Complete(std::move(response));
}

const RequestInput* InferenceRequest::FindInput(const std::string& name) const {
  for (const auto& in : inputs) {
    if (in.name == name) return &in;
  }
  return nullptr;
}

}  // namespace nereid::core

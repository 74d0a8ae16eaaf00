#include "core/request/inference_request.h"

namespace nereid::core {

InferenceRequest::~InferenceRequest() {
  if (callback_) CompleteWithError(Internal("request was dropped without a response"));
}

void InferenceRequest::Respond(std::unique_ptr<InferenceResponse> response, bool final) {
  if (!callback_) return;
  response->model_name = model_name;
  if (response->model_version == 0) response->model_version = resolved_version;
  response->id = id;
  response->final = final;
  if (!final) {
    callback_(std::move(response));
    return;
  }
  ResponseCallback cb = std::move(callback_);
  callback_ = nullptr;
  cb(std::move(response));
}

void InferenceRequest::FinishWithoutResponse() {
  auto response = std::make_unique<InferenceResponse>();
  response->flags_only = true;
  Respond(std::move(response), true);
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

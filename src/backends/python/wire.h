// The JSON side of the Python worker protocol (see worker_process.h for the
// framing and py/nereid_python_worker.py for the other end): requests and
// responses to and from JSON headers, tensor bytes placed in the shared
// region or in a frame's payload.
//
// Every offset and size a worker sends is checked against the buffer it
// points into before a byte is read: a broken worker yields an error, never
// a bad read.
#pragma once

#include <rapidjson/document.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "core/request/inference_request.h"

namespace nereid::backends::python {

// A byte range the worker's tensors live in.
struct ByteSpan {
  const char* data = nullptr;
  size_t size = 0;
};

// What the config says about one output.
struct OutputSpec {
  DataType dtype = DataType::kInvalid;
};
using OutputSpecs = std::map<std::string, OutputSpec>;

// Lays out `requests`' inputs in a region of `*region_bytes` bytes at
// `region` (tensor i at a 64-byte aligned offset) and returns the execute
// header. When the region is too small, returns with `*needed` set to the
// bytes required and an empty string; grow it and call again.
// `keys[i]` names request i in later "response" frames.
std::string EncodeExecute(const std::vector<std::unique_ptr<core::InferenceRequest>>& requests,
                          const std::vector<uint64_t>& keys, char* region, size_t region_bytes,
                          size_t* needed);

// A worker's response object ({"error": ...} or {"outputs": [...],
// "parameters": {...}}) as an InferenceResponse owning copies of (or, for
// payload bytes, shares) the tensor bytes. `region` or `payload` must hold
// every tensor (by its "loc"). Outputs are checked against `specs` (name,
// data type) when given and filtered to `requested` when not empty.
struct ResponseSources {
  ByteSpan region;
  std::shared_ptr<std::string> payload;
};
StatusOr<std::unique_ptr<core::InferenceResponse>> DecodeResponse(
    const rapidjson::Value& doc, const ResponseSources& sources, const OutputSpecs* specs,
    const std::vector<core::RequestedOutput>& requested);

// A worker's "bls" frame as a request for another model (inputs view the
// payload, which the request keeps alive). `*bls_id` gets the call's id
// when the header has one, also when the rest is invalid.
StatusOr<std::unique_ptr<core::InferenceRequest>> DecodeBlsRequest(
    const std::string& json, std::shared_ptr<std::string> payload, uint64_t* bls_id);

// The "bls_response" frame answering call `bls_id` with `response` (null:
// a flags-only final). `pieces` gets the payload pieces, which point into
// `response` (keep it alive until the frame is sent).
struct EncodedFrame {
  std::string json;
  std::vector<std::pair<const char*, size_t>> pieces;
};
EncodedFrame EncodeBlsResponse(uint64_t bls_id, const core::InferenceResponse* response,
                               bool final);

// Triton Python error codes (pb_utils.TritonError) <-> our status codes.
StatusCode StatusCodeFromTritonError(int code);
int TritonErrorFromStatusCode(StatusCode code);

}  // namespace nereid::backends::python

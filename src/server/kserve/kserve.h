// Protocol-neutral pieces of the KServe v2 protocol shared by the HTTP and
// gRPC front ends: error-code mapping, version parsing, model metadata, and
// the wire-independent steps of turning a decoded request into a
// core::InferenceRequest (datatype/shape/element-count checks, BYTES framing,
// requested-output checks) and of choosing a response's outputs. Keeping them
// here means the two front ends cannot disagree. (Checks against the model
// config live in core: Model::Validate.)
//
// Thread safety: free functions without shared state.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/data_type.h"
#include "common/status.h"
#include "core/server.h"

namespace nereid::server {

// Triton's mapping: INTERNAL (and UNKNOWN) 500, NOT_FOUND 404,
// UNAVAILABLE 503, UNIMPLEMENTED 501, everything else 400.
int HttpStatusFor(StatusCode code);

// gRPC status code (grpc::StatusCode numbering) for a Status code. Our codes
// use gRPC's numbers, so this is the identity on every code we have; unknown
// values map to UNKNOWN (2).
int GrpcCodeFor(StatusCode code);

// --- building a core::InferenceRequest from a decoded request ---

// The datatype of input `input` from its protocol name ("FP32").
StatusOr<DataType> ParseInputDatatype(const std::string& input, std::string_view name);

// The shape of input `input`: non-negative dims whose product fits.
StatusOr<Shape> ParseInputShape(const std::string& input, const int64_t* dims, size_t rank);

// `count` elements were given for input `input` in `where` (e.g. "'data'",
// "contents.fp32_contents"); fails unless the shape needs exactly that many.
Status CheckElementCount(const std::string& input, int64_t count, const Shape& shape,
                         std::string_view where);

// Appends one BYTES element in the serialized form (4-byte little-endian
// length, then the bytes). Fails for elements of 4 GiB or more.
Status AppendBytesElement(std::string_view element, std::string* out);

// Requested-output parameters every front end rejects or interprets the same
// way: "classification" must be a positive integer (core applies it).
Status CheckRequestedOutput(const core::RequestedOutput& output);

// --- the response ---

// The outputs of `response` to send back, in the response's order: all of
// them when `requested` is empty, else only those named in `requested`.
std::vector<const core::ResponseOutput*> SelectResponseOutputs(
    const core::InferenceResponse& response, const std::vector<std::string>& requested);

// "" -> -1 (latest); decimal digits -> the number; anything else -> error.
StatusOr<int64_t> ParseModelVersion(std::string_view text);

struct TensorMetadata {
  std::string name;
  std::string datatype;
  Shape shape;  // batch dimension shown as -1 when the model batches
};

struct ModelMetadata {
  std::string name;
  std::vector<std::string> versions;
  std::string platform;
  std::vector<TensorMetadata> inputs;
  std::vector<TensorMetadata> outputs;
};

// Metadata of a ready model version; `versions` lists every ready version.
ModelMetadata BuildModelMetadata(const core::Model& model,
                                 const std::vector<core::ModelIndexEntry>& index);

}  // namespace nereid::server

// Protocol-neutral pieces of the KServe v2 protocol shared by the HTTP front
// end and (later) the gRPC one: error-code mapping, version parsing, model
// metadata. Keeping them here means the two front ends cannot disagree.
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

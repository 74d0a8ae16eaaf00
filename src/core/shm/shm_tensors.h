// Binds request tensors to registered system shared memory, as Triton's
// shared memory extension defines it for every protocol: a tensor whose
// parameters carry "shared_memory_region" (with "shared_memory_byte_size"
// and optional "shared_memory_offset") lives in that region instead of the
// request / response body.
//
//   inputs : the tensor view points straight into the mapping (no copy);
//            the request's buffer_owner keeps the region mapped.
//   outputs: after the backend ran, the output bytes are copied into the
//            region and the response output is marked in_shared_memory
//            (front ends then send its metadata and parameters, no data).
//
// Thread safety: free functions; the registry is thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/request/inference_request.h"
#include "core/shm/system_shared_memory.h"

namespace nereid::core {

// True when a tensor's parameters name a shared memory region.
bool UsesSharedMemory(const ParameterMap& parameters);

// Points every shared-memory input of `request` at its region. Errors:
// unknown region, bounds, missing/negative byte size, registry disabled.
Status BindShmInputs(const SystemSharedMemoryRegistry& registry, InferenceRequest* request);

struct ShmOutput {
  std::string name;
  std::string region;
  uint64_t offset = 0;
  ShmBuffer buffer;
};

// The requested outputs that go to shared memory, checked against their
// regions now so a bad request fails before it runs.
StatusOr<std::vector<ShmOutput>> BindShmOutputs(const SystemSharedMemoryRegistry& registry,
                                                const InferenceRequest& request);

// Copies each bound output of `response` into its region. InvalidArgument
// when an output is larger than the shared_memory_byte_size given for it.
Status WriteShmOutputs(const std::vector<ShmOutput>& outputs, InferenceResponse* response);

}  // namespace nereid::core

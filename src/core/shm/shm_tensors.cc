#include "core/shm/shm_tensors.h"

#include <cstring>

namespace nereid::core {
namespace {

constexpr const char* kRegion = "shared_memory_region";
constexpr const char* kByteSize = "shared_memory_byte_size";
constexpr const char* kOffset = "shared_memory_offset";

// A non-negative integer parameter; `fallback` when absent and optional.
StatusOr<uint64_t> UintParam(const ParameterMap& params, const char* key, const std::string& what,
                             bool required) {
  auto it = params.find(key);
  if (it == params.end()) {
    if (required) return InvalidArgument(what + " uses shared memory but has no " + key);
    return uint64_t{0};
  }
  if (auto* i = std::get_if<int64_t>(&it->second); i && *i >= 0) return static_cast<uint64_t>(*i);
  if (auto* u = std::get_if<uint64_t>(&it->second)) return *u;
  return InvalidArgument(what + ": " + key + " must be a non-negative integer");
}

StatusOr<std::string> RegionParam(const ParameterMap& params, const std::string& what) {
  const auto* s = std::get_if<std::string>(&params.at(kRegion));
  if (!s || s->empty()) return InvalidArgument(what + ": " + kRegion + " must be a string");
  return *s;
}

struct Owners {
  std::shared_ptr<const void> previous;
  std::vector<std::shared_ptr<const void>> regions;
};

}  // namespace

bool UsesSharedMemory(const ParameterMap& parameters) {
  return !parameters.empty() && parameters.count(kRegion) != 0;
}

Status BindShmInputs(const SystemSharedMemoryRegistry& registry, InferenceRequest* request) {
  std::shared_ptr<Owners> owners;
  for (auto& in : request->inputs) {
    if (!UsesSharedMemory(in.parameters)) continue;
    const std::string what = "input '" + in.name + "'";
    ASSIGN_OR_RETURN(std::string region, RegionParam(in.parameters, what));
    ASSIGN_OR_RETURN(uint64_t size, UintParam(in.parameters, kByteSize, what, true));
    ASSIGN_OR_RETURN(uint64_t offset, UintParam(in.parameters, kOffset, what, false));
    auto buf = registry.Get(region, offset, size);
    if (!buf.ok()) return buf.status().WithPrefix(what);
    in.tensor.data = buf->data;
    in.tensor.byte_size = buf->byte_size;
    if (!owners) owners = std::make_shared<Owners>();
    owners->regions.push_back(std::move(buf->holder));
  }
  if (owners) {
    owners->previous = std::move(request->buffer_owner);
    request->buffer_owner = std::move(owners);
  }
  return Status::Ok();
}

StatusOr<std::vector<ShmOutput>> BindShmOutputs(const SystemSharedMemoryRegistry& registry,
                                                const InferenceRequest& request) {
  std::vector<ShmOutput> out;
  for (const auto& o : request.requested_outputs) {
    if (!UsesSharedMemory(o.parameters)) continue;
    const std::string what = "output '" + o.name + "'";
    ShmOutput s;
    s.name = o.name;
    ASSIGN_OR_RETURN(s.region, RegionParam(o.parameters, what));
    ASSIGN_OR_RETURN(uint64_t size, UintParam(o.parameters, kByteSize, what, true));
    ASSIGN_OR_RETURN(s.offset, UintParam(o.parameters, kOffset, what, false));
    auto buf = registry.Get(s.region, s.offset, size);
    if (!buf.ok()) return buf.status().WithPrefix(what);
    s.buffer = std::move(buf).value();
    out.push_back(std::move(s));
  }
  return out;
}

Status WriteShmOutputs(const std::vector<ShmOutput>& outputs, InferenceResponse* response) {
  for (const auto& s : outputs) {
    for (auto& r : response->outputs) {
      if (r.name != s.name) continue;
      size_t n = r.tensor.byte_size();
      if (n > s.buffer.byte_size) {
        return InvalidArgument("output '" + s.name + "' holds " + std::to_string(n) +
                               " bytes but its shared_memory_byte_size is " +
                               std::to_string(s.buffer.byte_size));
      }
      if (n) std::memmove(s.buffer.data, r.tensor.data(), n);
      r.in_shared_memory = true;
      r.parameters[kRegion] = s.region;
      r.parameters[kByteSize] = static_cast<int64_t>(n);
      if (s.offset) r.parameters[kOffset] = static_cast<int64_t>(s.offset);
    }
  }
  return Status::Ok();
}

}  // namespace nereid::core

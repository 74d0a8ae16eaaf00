#include "server/kserve/kserve.h"

namespace nereid::server {

int HttpStatusFor(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return 200;
    case StatusCode::kNotFound: return 404;
    case StatusCode::kInternal:
    case StatusCode::kUnknown: return 500;
    case StatusCode::kUnavailable: return 503;
    case StatusCode::kUnimplemented: return 501;
    default: return 400;
  }
}

StatusOr<int64_t> ParseModelVersion(std::string_view text) {
  if (text.empty()) return int64_t{-1};
  if (text.size() > 18) return InvalidArgument("invalid model version '" + std::string(text) + "'");
  int64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') {
      return InvalidArgument("invalid model version '" + std::string(text) +
                             "': versions are non-negative integers");
    }
    v = v * 10 + (c - '0');
  }
  return v;
}

namespace {

template <typename ConfigTensors>
std::vector<TensorMetadata> Tensors(const ConfigTensors& tensors, bool batched) {
  std::vector<TensorMetadata> out;
  for (const auto& t : tensors) {
    TensorMetadata m;
    m.name = t.name();
    m.datatype = std::string(DataTypeName(static_cast<DataType>(t.data_type())));
    if (batched) m.shape.push_back(-1);
    m.shape.insert(m.shape.end(), t.dims().begin(), t.dims().end());
    out.push_back(std::move(m));
  }
  return out;
}

}  // namespace

ModelMetadata BuildModelMetadata(const core::Model& model,
                                 const std::vector<core::ModelIndexEntry>& index) {
  const auto& config = model.config();
  ModelMetadata md;
  md.name = config.name();
  for (const auto& e : index) {
    if (e.name == md.name && e.state == core::ModelState::kReady) {
      md.versions.push_back(std::to_string(e.version));
    }
  }
  md.platform = config.platform().empty() ? config.backend() : config.platform();
  bool batched = config.max_batch_size() > 0;
  md.inputs = Tensors(config.input(), batched);
  md.outputs = Tensors(config.output(), batched);
  return md;
}

}  // namespace nereid::server

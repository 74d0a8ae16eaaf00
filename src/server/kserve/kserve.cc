#include "server/kserve/kserve.h"

#include "core/request/classification.h"

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

int GrpcCodeFor(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
    case StatusCode::kCancelled:
    case StatusCode::kUnknown:
    case StatusCode::kInvalidArgument:
    case StatusCode::kDeadlineExceeded:
    case StatusCode::kNotFound:
    case StatusCode::kAlreadyExists:
    case StatusCode::kResourceExhausted:
    case StatusCode::kFailedPrecondition:
    case StatusCode::kUnimplemented:
    case StatusCode::kInternal:
    case StatusCode::kUnavailable: return static_cast<int>(code);
  }
  return static_cast<int>(StatusCode::kUnknown);
}

StatusOr<DataType> ParseInputDatatype(const std::string& input, std::string_view name) {
  DataType dtype = DataTypeFromName(name);
  if (dtype == DataType::kInvalid) {
    return InvalidArgument("input '" + input + "' has unknown datatype '" + std::string(name) +
                           "'");
  }
  return dtype;
}

StatusOr<Shape> ParseInputShape(const std::string& input, const int64_t* dims, size_t rank) {
  Shape shape(dims, dims + rank);
  for (int64_t d : shape) {
    if (d < 0)
      return InvalidArgument("input '" + input + "' shape must hold non-negative integers");
  }
  auto count = ElementCount(shape);
  if (!count.ok()) return count.status().WithPrefix("input '" + input + "'");
  return shape;
}

Status CheckElementCount(const std::string& input, int64_t count, const Shape& shape,
                         std::string_view where) {
  ASSIGN_OR_RETURN(int64_t expected, ElementCount(shape));
  if (count != expected) {
    return InvalidArgument("input '" + input + "' has " + std::to_string(count) + " elements in " +
                           std::string(where) + " but shape " + ShapeToString(shape) + " needs " +
                           std::to_string(expected));
  }
  return Status::Ok();
}

Status AppendBytesElement(std::string_view element, std::string* out) {
  if (element.size() > 0xffffffffu) {
    return InvalidArgument("a BYTES element must be smaller than 4 GiB");
  }
  uint32_t n = static_cast<uint32_t>(element.size());
  char len[4] = {static_cast<char>(n & 0xff), static_cast<char>((n >> 8) & 0xff),
                 static_cast<char>((n >> 16) & 0xff), static_cast<char>((n >> 24) & 0xff)};
  out->append(len, 4);
  out->append(element.data(), element.size());
  return Status::Ok();
}

Status CheckRequestedOutput(const core::RequestedOutput& output) {
  // Core applies classification; a malformed count is refused while parsing.
  return core::ClassificationCount(output).status();
}

std::vector<const core::ResponseOutput*> SelectResponseOutputs(
    const core::InferenceResponse& response, const std::vector<std::string>& requested) {
  std::vector<const core::ResponseOutput*> out;
  for (const auto& o : response.outputs) {
    bool wanted = requested.empty();
    for (const auto& name : requested) wanted |= name == o.name;
    if (wanted) out.push_back(&o);
  }
  return out;
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

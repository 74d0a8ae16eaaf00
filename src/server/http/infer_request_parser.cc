#include "server/http/infer_codec.h"

#include <simdjson.h>

#include <charconv>
#include <cstring>
#include <limits>

#include "core/shm/shm_tensors.h"
#include "proto/model_config.pb.h"
#include "server/kserve/kserve.h"

// Request side of the HTTP infer codec, on simdjson's DOM parser (the
// fastest parser we measured; see docs/http_and_json_libraries.md).

namespace nereid::server::http {
namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

// Requests above this size get a parser of their own, so a thread does not
// keep a huge parse buffer alive after one big request.
constexpr size_t kReusableParserLimit = 1 << 20;

// Views of a value already checked to be an array / object. (They return
// by value: iterating `e.get_array().value_unsafe()` directly would iterate
// a destroyed temporary.)
simdjson::dom::array AsArray(element e) {
  simdjson::dom::array a;
  if (e.get_array().get(a)) return simdjson::dom::array();
  return a;
}
simdjson::dom::object AsObject(element e) {
  simdjson::dom::object o;
  if (e.get_object().get(o)) return simdjson::dom::object();
  return o;
}

Status ParseParameter(std::string_view key, element v, core::Parameter* out) {
  switch (v.type()) {
    case element_type::BOOL: *out = bool(v.get_bool().value_unsafe()); break;
    case element_type::INT64: *out = int64_t(v.get_int64().value_unsafe()); break;
    case element_type::UINT64: *out = uint64_t(v.get_uint64().value_unsafe()); break;
    case element_type::DOUBLE: *out = double(v.get_double().value_unsafe()); break;
    case element_type::STRING: *out = std::string(v.get_string().value_unsafe()); break;
    default:
      return InvalidArgument("parameter '" + std::string(key) +
                             "' must be a bool, number or string");
  }
  return Status::Ok();
}

Status ParseParameters(element obj, const char* where, core::ParameterMap* out) {
  if (!obj.is_object()) {
    return InvalidArgument(std::string(where) + " 'parameters' must be an object");
  }
  for (auto [key, value] : AsObject(obj)) {
    RETURN_IF_ERROR(ParseParameter(key, value, &(*out)[std::string(key)]));
  }
  return Status::Ok();
}

std::optional<bool> BoolParam(const core::ParameterMap& params, const std::string& key) {
  auto it = params.find(key);
  if (it == params.end()) return std::nullopt;
  if (auto* b = std::get_if<bool>(&it->second)) return *b;
  return std::nullopt;
}

StatusOr<int64_t> IntParam(const core::ParameterMap& params, const std::string& key,
                           const std::string& tensor) {
  auto it = params.find(key);
  if (it == params.end()) return int64_t{-1};
  if (auto* i = std::get_if<int64_t>(&it->second); i && *i >= 0) return *i;
  if (auto* u = std::get_if<uint64_t>(&it->second)) {
    return InvalidArgument("input '" + tensor + "': " + key + " " + std::to_string(*u) +
                           " is too large");
  }
  return InvalidArgument("input '" + tensor + "': " + key + " must be a non-negative integer");
}

// A member of the object `obj`; an error-valued result when absent.
simdjson::simdjson_result<element> Member(element obj, std::string_view key) {
  return AsObject(obj)[key];
}

// Appends the JSON `data` of one tensor (nested or flat) to `out` as raw
// element bytes of `dtype`.
class DataFlattener {
 public:
  DataFlattener(const std::string& name, DataType dtype, std::string* out)
      : name_(name), dtype_(dtype), out_(out) {}

  Status Add(element v, int depth = 0) {
    if (v.is_array()) {
      if (depth > 32) return Error("is nested too deeply");
      for (element e : AsArray(v)) RETURN_IF_ERROR(Add(e, depth + 1));
      return Status::Ok();
    }
    ++count_;
    switch (dtype_) {
      case DataType::kBool:
        if (!v.is_bool()) return Error("expects true/false elements for BOOL");
        out_->push_back(v.get_bool().value_unsafe() ? 1 : 0);
        return Status::Ok();
      case DataType::kUint8: return PutInt<uint8_t>(v);
      case DataType::kUint16: return PutInt<uint16_t>(v);
      case DataType::kUint32: return PutInt<uint32_t>(v);
      case DataType::kUint64: return PutInt<uint64_t>(v);
      case DataType::kInt8: return PutInt<int8_t>(v);
      case DataType::kInt16: return PutInt<int16_t>(v);
      case DataType::kInt32: return PutInt<int32_t>(v);
      case DataType::kInt64: return PutInt<int64_t>(v);
      case DataType::kFp32: return PutFloat<float>(v);
      case DataType::kFp64: return PutFloat<double>(v);
      case DataType::kBytes: {
        if (!v.is_string()) return Error("expects string elements for BYTES");
        return AppendBytesElement(v.get_string().value_unsafe(), out_);
      }
      default:
        return Error("has datatype " + std::string(DataTypeName(dtype_)) +
                     ", which JSON cannot carry; send it with the binary tensor data extension");
    }
  }
  int64_t count() const { return count_; }

 private:
  Status Error(const std::string& what) const {
    return InvalidArgument("input '" + name_ + "' " + what);
  }
  Status OutOfRange(const std::string& value) const {
    return Error("has element " + value + " out of range for " +
                 std::string(DataTypeName(dtype_)));
  }
  template <typename T>
  Status PutInt(element v) {
    T x;
    if (v.type() == element_type::INT64) {
      int64_t i = v.get_int64().value_unsafe();
      if (i < static_cast<int64_t>(std::numeric_limits<T>::min()) ||
          (i > 0 &&
           static_cast<uint64_t>(i) > static_cast<uint64_t>(std::numeric_limits<T>::max()))) {
        return OutOfRange(std::to_string(i));
      }
      x = static_cast<T>(i);
    } else if (v.type() == element_type::UINT64) {
      uint64_t u = v.get_uint64().value_unsafe();
      if (u > static_cast<uint64_t>(std::numeric_limits<T>::max())) {
        return OutOfRange(std::to_string(u));
      }
      x = static_cast<T>(u);
    } else {
      return Error("expects integer elements for " + std::string(DataTypeName(dtype_)));
    }
    out_->append(reinterpret_cast<const char*>(&x), sizeof(T));
    return Status::Ok();
  }
  template <typename T>
  Status PutFloat(element v) {
    double d;
    switch (v.type()) {
      case element_type::DOUBLE: d = v.get_double().value_unsafe(); break;
      case element_type::INT64: d = static_cast<double>(v.get_int64().value_unsafe()); break;
      case element_type::UINT64: d = static_cast<double>(v.get_uint64().value_unsafe()); break;
      default:
        return Error("expects numeric elements for " + std::string(DataTypeName(dtype_)));
    }
    T x = static_cast<T>(d);
    out_->append(reinterpret_cast<const char*>(&x), sizeof(T));
    return Status::Ok();
  }

  const std::string& name_;
  DataType dtype_;
  std::string* out_;
  int64_t count_ = 0;
};

StatusOr<Shape> ParseShape(element input, const std::string& name) {
  auto shape_el = Member(input, "shape");
  if (shape_el.error() || !shape_el.value_unsafe().is_array()) {
    return InvalidArgument("input '" + name + "' must have a 'shape' array");
  }
  std::vector<int64_t> dims;
  for (element d : AsArray(shape_el.value_unsafe())) {
    if (d.type() != element_type::INT64) {
      return InvalidArgument("input '" + name + "' shape must hold non-negative integers");
    }
    dims.push_back(d.get_int64().value_unsafe());
  }
  return ParseInputShape(name, dims.data(), dims.size());
}

Status ParseInput(element in, const std::shared_ptr<const std::string>& body,
                  size_t* binary_offset, std::vector<std::shared_ptr<std::string>>* decoded,
                  core::RequestInput* input) {
  if (!in.is_object()) return InvalidArgument("each element of 'inputs' must be an object");
  auto name = Member(in, "name");
  if (name.error() || !name.value_unsafe().is_string()) {
    return InvalidArgument("each input must have a string 'name'");
  }
  input->name = std::string(name.value_unsafe().get_string().value_unsafe());
  auto dt = Member(in, "datatype");
  if (dt.error() || !dt.value_unsafe().is_string()) {
    return InvalidArgument("input '" + input->name + "' must have a string 'datatype'");
  }
  std::string_view dt_name = dt.value_unsafe().get_string().value_unsafe();
  ASSIGN_OR_RETURN(input->tensor.dtype, ParseInputDatatype(input->name, dt_name));
  ASSIGN_OR_RETURN(input->tensor.shape, ParseShape(in, input->name));
  if (auto p = Member(in, "parameters"); !p.error()) {
    RETURN_IF_ERROR(ParseParameters(p.value_unsafe(), "input", &input->parameters));
  }
  ASSIGN_OR_RETURN(int64_t binary_size,
                   IntParam(input->parameters, "binary_data_size", input->name));
  auto data = Member(in, "data");
  if (core::UsesSharedMemory(input->parameters)) {
    if (binary_size >= 0 || !data.error()) {
      return InvalidArgument("input '" + input->name +
                             "' names a shared memory region, so it must not carry 'data' or "
                             "parameters.binary_data_size");
    }
    return Status::Ok();  // core binds it to the region
  }
  if (binary_size >= 0) {
    if (!data.error()) {
      return InvalidArgument("input '" + input->name +
                             "' has both 'data' and parameters.binary_data_size");
    }
    size_t remaining = body->size() - *binary_offset;
    if (static_cast<uint64_t>(binary_size) > remaining) {
      return InvalidArgument("input '" + input->name + "' expects " +
                             std::to_string(binary_size) + " bytes of binary data but only " +
                             std::to_string(remaining) + " remain in the body");
    }
    input->tensor.data = body->data() + *binary_offset;
    input->tensor.byte_size = binary_size;
    *binary_offset += binary_size;
    return Status::Ok();
  }
  if (data.error()) {
    return InvalidArgument("input '" + input->name +
                           "' has neither 'data' nor parameters.binary_data_size");
  }
  auto buf = std::make_shared<std::string>();
  DataFlattener flat(input->name, input->tensor.dtype, buf.get());
  RETURN_IF_ERROR(flat.Add(data.value_unsafe()));
  RETURN_IF_ERROR(CheckElementCount(input->name, flat.count(), input->tensor.shape, "'data'"));
  input->tensor.data = buf->data();
  input->tensor.byte_size = buf->size();
  decoded->push_back(std::move(buf));
  return Status::Ok();
}

Status ParseOutputs(element outs, OutputEncoding* encoding, core::InferenceRequest* request) {
  if (!outs.is_array()) return InvalidArgument("'outputs' must be an array");
  for (element o : AsArray(outs)) {
    if (!o.is_object() || Member(o, "name").error() || !Member(o, "name").value_unsafe().is_string()) {
      return InvalidArgument("each requested output must be an object with a string 'name'");
    }
    core::RequestedOutput out;
    out.name = std::string(Member(o, "name").value_unsafe().get_string().value_unsafe());
    if (auto p = Member(o, "parameters"); !p.error()) {
      RETURN_IF_ERROR(ParseParameters(p.value_unsafe(), "output", &out.parameters));
    }
    RETURN_IF_ERROR(CheckRequestedOutput(out));
    encoding->binary_by_output.push_back(
        {out.name, BoolParam(out.parameters, "binary_data").value_or(encoding->binary_default)});
    request->requested_outputs.push_back(std::move(out));
  }
  return Status::Ok();
}

StatusOr<size_t> ParseHeaderLength(const std::string& h, size_t body_size) {
  uint64_t n = 0;
  auto [p, ec] = std::from_chars(h.data(), h.data() + h.size(), n);
  if (h.empty() || ec != std::errc() || p != h.data() + h.size()) {
    return InvalidArgument(
        "Inference-Header-Content-Length must be a non-negative integer, got '" + h + "'");
  }
  if (n > body_size) {
    return InvalidArgument("Inference-Header-Content-Length " + h +
                           " is larger than the request body (" + std::to_string(body_size) +
                           " bytes)");
  }
  return static_cast<size_t>(n);
}

Status ParseRawRequest(std::shared_ptr<const std::string> body,
                       const inference::ModelConfig* config, core::InferenceRequest* request,
                       OutputEncoding* encoding);

}  // namespace

Status ParseInferRequest(std::shared_ptr<const std::string> body,
                         const std::optional<std::string>& header_length,
                         const inference::ModelConfig* config, core::InferenceRequest* request,
                         OutputEncoding* encoding) {
  size_t json_size = body->size();
  if (header_length) {
    ASSIGN_OR_RETURN(json_size, ParseHeaderLength(*header_length, body->size()));
    if (json_size == 0) return ParseRawRequest(std::move(body), config, request, encoding);
  }
  // simdjson reads up to SIMDJSON_PADDING bytes past the JSON. When the body
  // (binary tensors after the header, or spare capacity) already provides
  // them, parse in place; otherwise simdjson copies the JSON once.
  bool padded = body->capacity() >= json_size + simdjson::SIMDJSON_PADDING;
  thread_local simdjson::dom::parser reusable;
  std::unique_ptr<simdjson::dom::parser> big;
  simdjson::dom::parser* parser = &reusable;
  if (json_size > kReusableParserLimit) {
    big = std::make_unique<simdjson::dom::parser>();
    parser = big.get();
  }
  element doc;
  if (auto error = parser->parse(body->data(), json_size, !padded).get(doc)) {
    return InvalidArgument(std::string("malformed JSON in request body: ") +
                           simdjson::error_message(error));
  }
  if (!doc.is_object()) return InvalidArgument("request body must be a JSON object");
  if (auto id = Member(doc, "id"); !id.error()) {
    if (!id.value_unsafe().is_string()) return InvalidArgument("'id' must be a string");
    request->id = std::string(id.value_unsafe().get_string().value_unsafe());
  }
  if (auto p = Member(doc, "parameters"); !p.error()) {
    RETURN_IF_ERROR(ParseParameters(p.value_unsafe(), "request", &request->parameters));
  }
  encoding->binary_default = BoolParam(request->parameters, "binary_data_output").value_or(false);

  auto inputs = Member(doc, "inputs");
  if (inputs.error() || !inputs.value_unsafe().is_array()) {
    return InvalidArgument("request must have an 'inputs' array");
  }
  size_t binary_offset = json_size;
  std::vector<std::shared_ptr<std::string>> decoded;
  for (element in : AsArray(inputs.value_unsafe())) {
    core::RequestInput input;
    RETURN_IF_ERROR(ParseInput(in, body, &binary_offset, &decoded, &input));
    request->inputs.push_back(std::move(input));
  }
  if (binary_offset != body->size()) {
    return InvalidArgument("request body has " + std::to_string(body->size() - binary_offset) +
                           " bytes of binary data that no input claims");
  }
  if (auto outs = Member(doc, "outputs"); !outs.error()) {
    RETURN_IF_ERROR(ParseOutputs(outs.value_unsafe(), encoding, request));
  }
  // Keep the body and any JSON-decoded tensors alive with the request.
  if (decoded.empty()) {
    request->buffer_owner = std::move(body);
  } else {
    struct Owner {
      std::shared_ptr<const std::string> body;
      std::vector<std::shared_ptr<std::string>> decoded;
    };
    request->buffer_owner = std::make_shared<Owner>(Owner{std::move(body), std::move(decoded)});
  }
  return Status::Ok();
}

namespace {

Status ParseRawRequest(std::shared_ptr<const std::string> body,
                       const inference::ModelConfig* config, core::InferenceRequest* request,
                       OutputEncoding* encoding) {
  if (config == nullptr) return InvalidArgument("raw binary request for an unknown model");
  if (config->input_size() != 1) {
    return InvalidArgument("a raw binary request (Inference-Header-Content-Length: 0) needs a "
                           "model with exactly one input; '" + config->name() + "' has " +
                           std::to_string(config->input_size()));
  }
  const auto& cfg = config->input(0);
  core::RequestInput input;
  input.name = cfg.name();
  input.tensor.dtype = static_cast<DataType>(cfg.data_type());
  if (config->max_batch_size() > 0) input.tensor.shape.push_back(1);
  int wildcard = -1;
  int64_t known = 1;
  for (int i = 0; i < cfg.dims_size(); ++i) {
    if (cfg.dims(i) == -1) {
      if (wildcard >= 0) {
        return InvalidArgument("raw binary request: input '" + cfg.name() +
                               "' has more than one variable dimension, so its shape is unknown");
      }
      wildcard = static_cast<int>(input.tensor.shape.size());
    } else {
      known *= cfg.dims(i);
    }
    input.tensor.shape.push_back(cfg.dims(i));
  }
  if (wildcard >= 0) {
    size_t elem = DataTypeByteSize(input.tensor.dtype);
    int64_t n = 0;
    if (elem == 0) {
      ASSIGN_OR_RETURN(n, CountSerializedBytesElements(body->data(), body->size()));
    } else {
      n = static_cast<int64_t>(body->size() / elem);
    }
    input.tensor.shape[wildcard] = known ? n / known : 0;
  }
  input.tensor.data = body->data();
  input.tensor.byte_size = body->size();
  request->inputs.push_back(std::move(input));
  request->buffer_owner = std::move(body);
  encoding->binary_default = true;
  return Status::Ok();
}

}  // namespace
}  // namespace nereid::server::http

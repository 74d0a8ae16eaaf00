#include "server/http/infer_codec.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>

#include "proto/model_config.pb.h"

namespace nereid::server::http {
namespace {

using rapidjson::Value;
using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

Status ParseParameter(const std::string& key, const Value& v, core::Parameter* out) {
  if (v.IsBool()) {
    *out = v.GetBool();
  } else if (v.IsInt64()) {
    *out = v.GetInt64();
  } else if (v.IsUint64()) {
    *out = v.GetUint64();
  } else if (v.IsNumber()) {
    *out = v.GetDouble();
  } else if (v.IsString()) {
    *out = std::string(v.GetString(), v.GetStringLength());
  } else {
    return InvalidArgument("parameter '" + key + "' must be a bool, number or string");
  }
  return Status::Ok();
}

Status ParseParameters(const Value& obj, const char* where, core::ParameterMap* out) {
  if (!obj.IsObject()) return InvalidArgument(std::string(where) + " 'parameters' must be an object");
  for (auto it = obj.MemberBegin(); it != obj.MemberEnd(); ++it) {
    std::string key(it->name.GetString(), it->name.GetStringLength());
    RETURN_IF_ERROR(ParseParameter(key, it->value, &(*out)[key]));
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

// Appends the JSON `data` of one tensor (nested or flat) to `out` as raw
// element bytes of `dtype`.
class DataFlattener {
 public:
  DataFlattener(const std::string& name, DataType dtype, std::string* out)
      : name_(name), dtype_(dtype), out_(out) {}

  Status Add(const Value& v, int depth = 0) {
    if (v.IsArray()) {
      if (depth > 32) return Error("is nested too deeply");
      for (const auto& e : v.GetArray()) RETURN_IF_ERROR(Add(e, depth + 1));
      return Status::Ok();
    }
    ++count_;
    switch (dtype_) {
      case DataType::kBool:
        if (!v.IsBool()) return Error("expects true/false elements for BOOL");
        out_->push_back(v.GetBool() ? 1 : 0);
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
        if (!v.IsString()) return Error("expects string elements for BYTES");
        uint32_t n = v.GetStringLength();
        out_->append(reinterpret_cast<const char*>(&n), 4);
        out_->append(v.GetString(), n);
        return Status::Ok();
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
  template <typename T>
  Status PutInt(const Value& v) {
    T x;
    if (v.IsInt64()) {
      int64_t i = v.GetInt64();
      if (i < static_cast<int64_t>(std::numeric_limits<T>::min()) ||
          (i > 0 && static_cast<uint64_t>(i) > static_cast<uint64_t>(std::numeric_limits<T>::max()))) {
        return Error("has element " + std::to_string(i) + " out of range for " +
                     std::string(DataTypeName(dtype_)));
      }
      x = static_cast<T>(i);
    } else if (v.IsUint64()) {
      uint64_t u = v.GetUint64();
      if (u > static_cast<uint64_t>(std::numeric_limits<T>::max())) {
        return Error("has element " + std::to_string(u) + " out of range for " +
                     std::string(DataTypeName(dtype_)));
      }
      x = static_cast<T>(u);
    } else {
      return Error("expects integer elements for " + std::string(DataTypeName(dtype_)));
    }
    out_->append(reinterpret_cast<const char*>(&x), sizeof(T));
    return Status::Ok();
  }
  template <typename T>
  Status PutFloat(const Value& v) {
    if (!v.IsNumber()) return Error("expects numeric elements for " + std::string(DataTypeName(dtype_)));
    T x = static_cast<T>(v.GetDouble());
    out_->append(reinterpret_cast<const char*>(&x), sizeof(T));
    return Status::Ok();
  }

  const std::string& name_;
  DataType dtype_;
  std::string* out_;
  int64_t count_ = 0;
};

StatusOr<Shape> ParseShape(const Value& input, const std::string& name) {
  auto it = input.FindMember("shape");
  if (it == input.MemberEnd() || !it->value.IsArray()) {
    return InvalidArgument("input '" + name + "' must have a 'shape' array");
  }
  Shape shape;
  for (const auto& d : it->value.GetArray()) {
    if (!d.IsInt64() || d.GetInt64() < 0) {
      return InvalidArgument("input '" + name + "' shape must hold non-negative integers");
    }
    shape.push_back(d.GetInt64());
  }
  RETURN_IF_ERROR(ElementCount(shape).status());
  return shape;
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
    const std::string& h = *header_length;
    uint64_t n = 0;
    auto [p, ec] = std::from_chars(h.data(), h.data() + h.size(), n);
    if (h.empty() || ec != std::errc() || p != h.data() + h.size()) {
      return InvalidArgument("Inference-Header-Content-Length must be a non-negative integer, got '" +
                             h + "'");
    }
    if (n > body->size()) {
      return InvalidArgument("Inference-Header-Content-Length " + h +
                             " is larger than the request body (" +
                             std::to_string(body->size()) + " bytes)");
    }
    if (n == 0) return ParseRawRequest(std::move(body), config, request, encoding);
    json_size = n;
  }
  rapidjson::Document doc;
  doc.Parse(body->data(), json_size);
  if (doc.HasParseError()) {
    return InvalidArgument(std::string("malformed JSON in request body at offset ") +
                           std::to_string(doc.GetErrorOffset()) + ": " +
                           rapidjson::GetParseError_En(doc.GetParseError()));
  }
  if (!doc.IsObject()) return InvalidArgument("request body must be a JSON object");
  if (auto it = doc.FindMember("id"); it != doc.MemberEnd()) {
    if (!it->value.IsString()) return InvalidArgument("'id' must be a string");
    request->id.assign(it->value.GetString(), it->value.GetStringLength());
  }
  if (auto it = doc.FindMember("parameters"); it != doc.MemberEnd()) {
    RETURN_IF_ERROR(ParseParameters(it->value, "request", &request->parameters));
  }
  encoding->binary_default = BoolParam(request->parameters, "binary_data_output").value_or(false);

  auto inputs = doc.FindMember("inputs");
  if (inputs == doc.MemberEnd() || !inputs->value.IsArray()) {
    return InvalidArgument("request must have an 'inputs' array");
  }
  size_t binary_offset = json_size;
  std::vector<std::shared_ptr<std::string>> json_buffers;
  for (const auto& in : inputs->value.GetArray()) {
    if (!in.IsObject()) return InvalidArgument("each element of 'inputs' must be an object");
    auto name_it = in.FindMember("name");
    if (name_it == in.MemberEnd() || !name_it->value.IsString()) {
      return InvalidArgument("each input must have a string 'name'");
    }
    core::RequestInput input;
    input.name.assign(name_it->value.GetString(), name_it->value.GetStringLength());
    auto dt_it = in.FindMember("datatype");
    if (dt_it == in.MemberEnd() || !dt_it->value.IsString()) {
      return InvalidArgument("input '" + input.name + "' must have a string 'datatype'");
    }
    input.tensor.dtype = DataTypeFromName(dt_it->value.GetString());
    if (input.tensor.dtype == DataType::kInvalid) {
      return InvalidArgument("input '" + input.name + "' has unknown datatype '" +
                             std::string(dt_it->value.GetString()) + "'");
    }
    ASSIGN_OR_RETURN(input.tensor.shape, ParseShape(in, input.name));
    if (auto p = in.FindMember("parameters"); p != in.MemberEnd()) {
      RETURN_IF_ERROR(ParseParameters(p->value, "input", &input.parameters));
    }
    ASSIGN_OR_RETURN(int64_t binary_size, IntParam(input.parameters, "binary_data_size", input.name));
    auto data_it = in.FindMember("data");
    if (binary_size >= 0) {
      if (data_it != in.MemberEnd()) {
        return InvalidArgument("input '" + input.name +
                               "' has both 'data' and parameters.binary_data_size");
      }
      if (static_cast<uint64_t>(binary_size) > body->size() - binary_offset) {
        return InvalidArgument("input '" + input.name + "' expects " +
                               std::to_string(binary_size) + " bytes of binary data but only " +
                               std::to_string(body->size() - binary_offset) + " remain in the body");
      }
      input.tensor.data = body->data() + binary_offset;
      input.tensor.byte_size = binary_size;
      binary_offset += binary_size;
    } else {
      if (data_it == in.MemberEnd()) {
        return InvalidArgument("input '" + input.name +
                               "' has neither 'data' nor parameters.binary_data_size");
      }
      auto buf = std::make_shared<std::string>();
      DataFlattener flat(input.name, input.tensor.dtype, buf.get());
      RETURN_IF_ERROR(flat.Add(data_it->value));
      ASSIGN_OR_RETURN(int64_t expected, ElementCount(input.tensor.shape));
      if (flat.count() != expected) {
        return InvalidArgument("input '" + input.name + "' has " + std::to_string(flat.count()) +
                               " elements in 'data' but shape " +
                               ShapeToString(input.tensor.shape) + " needs " +
                               std::to_string(expected));
      }
      input.tensor.data = buf->data();
      input.tensor.byte_size = buf->size();
      json_buffers.push_back(std::move(buf));
    }
    request->inputs.push_back(std::move(input));
  }
  if (binary_offset != body->size()) {
    return InvalidArgument("request body has " + std::to_string(body->size() - binary_offset) +
                           " bytes of binary data that no input claims");
  }
  if (auto outs = doc.FindMember("outputs"); outs != doc.MemberEnd()) {
    if (!outs->value.IsArray()) return InvalidArgument("'outputs' must be an array");
    for (const auto& o : outs->value.GetArray()) {
      if (!o.IsObject() || !o.HasMember("name") || !o["name"].IsString()) {
        return InvalidArgument("each requested output must be an object with a string 'name'");
      }
      core::RequestedOutput out;
      out.name = o["name"].GetString();
      if (auto p = o.FindMember("parameters"); p != o.MemberEnd()) {
        RETURN_IF_ERROR(ParseParameters(p->value, "output", &out.parameters));
      }
      if (out.parameters.count("classification")) {
        return Unimplemented("the classification extension is not supported yet (output '" +
                             out.name + "')");
      }
      encoding->binary_by_output.push_back(
          {out.name, BoolParam(out.parameters, "binary_data").value_or(encoding->binary_default)});
      request->requested_outputs.push_back(std::move(out));
    }
  }
  // Keep the body and any JSON-decoded tensors alive with the request.
  if (json_buffers.empty()) {
    request->buffer_owner = std::move(body);
  } else {
    struct Owner {
      std::shared_ptr<const std::string> body;
      std::vector<std::shared_ptr<std::string>> decoded;
    };
    request->buffer_owner = std::make_shared<Owner>(Owner{std::move(body), std::move(json_buffers)});
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

void WriteFloat(Writer& w, double v, bool single) {
  if (std::isnan(v)) {
    w.RawValue("NaN", 3, rapidjson::kNumberType);
    return;
  }
  if (std::isinf(v)) {
    w.RawValue(v > 0 ? "Infinity" : "-Infinity", v > 0 ? 8 : 9, rapidjson::kNumberType);
    return;
  }
  char buf[32];
  auto res = single ? std::to_chars(buf, buf + sizeof(buf), static_cast<float>(v))
                    : std::to_chars(buf, buf + sizeof(buf), v);
  w.RawValue(buf, res.ptr - buf, rapidjson::kNumberType);
}

// Output bytes may be unaligned (the identity backend returns views of the
// request body), so elements are read with memcpy.
template <typename T>
T Load(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

template <typename T>
void WriteInts(Writer& w, const Tensor& t) {
  size_t n = t.byte_size() / sizeof(T);
  for (size_t i = 0; i < n; ++i) {
    T v = Load<T>(t.data() + i * sizeof(T));
    if constexpr (std::is_signed_v<T>) {
      w.Int64(v);
    } else {
      w.Uint64(v);
    }
  }
}

Status WriteData(Writer& w, const Tensor& t, const std::string& name) {
  w.StartArray();
  switch (t.dtype()) {
    case DataType::kBool:
      for (size_t i = 0; i < t.byte_size(); ++i) w.Bool(t.data()[i] != 0);
      break;
    case DataType::kUint8: WriteInts<uint8_t>(w, t); break;
    case DataType::kUint16: WriteInts<uint16_t>(w, t); break;
    case DataType::kUint32: WriteInts<uint32_t>(w, t); break;
    case DataType::kUint64: WriteInts<uint64_t>(w, t); break;
    case DataType::kInt8: WriteInts<int8_t>(w, t); break;
    case DataType::kInt16: WriteInts<int16_t>(w, t); break;
    case DataType::kInt32: WriteInts<int32_t>(w, t); break;
    case DataType::kInt64: WriteInts<int64_t>(w, t); break;
    case DataType::kFp32:
      for (size_t i = 0; i < t.byte_size() / 4; ++i) {
        WriteFloat(w, Load<float>(t.data() + i * 4), true);
      }
      break;
    case DataType::kFp64:
      for (size_t i = 0; i < t.byte_size() / 8; ++i) {
        WriteFloat(w, Load<double>(t.data() + i * 8), false);
      }
      break;
    case DataType::kBytes: {
      size_t pos = 0;
      while (pos + 4 <= t.byte_size()) {
        uint32_t n;
        std::memcpy(&n, t.data() + pos, 4);
        pos += 4;
        if (n > t.byte_size() - pos) return Internal("output '" + name + "' has truncated BYTES");
        w.String(t.data() + pos, n);
        pos += n;
      }
      break;
    }
    default:
      return InvalidArgument("output '" + name + "' has datatype " +
                             std::string(DataTypeName(t.dtype())) +
                             ", which JSON cannot carry; request it with binary_data: true");
  }
  w.EndArray();
  return Status::Ok();
}

}  // namespace

StatusOr<EncodedResponse> EncodeInferResponse(const core::InferenceResponse& response,
                                              const OutputEncoding& encoding) {
  rapidjson::StringBuffer sb;
  Writer w(sb);
  w.StartObject();
  w.Key("model_name");
  w.String(response.model_name.c_str(), response.model_name.size());
  w.Key("model_version");
  std::string version = std::to_string(response.model_version);
  w.String(version.c_str(), version.size());
  if (!response.id.empty()) {
    w.Key("id");
    w.String(response.id.c_str(), response.id.size());
  }
  w.Key("outputs");
  w.StartArray();
  std::vector<const Tensor*> binary;
  for (const auto& out : response.outputs) {
    bool binary_out = encoding.binary_default;
    if (!encoding.binary_by_output.empty()) {
      bool requested = false;
      for (const auto& [name, bin] : encoding.binary_by_output) {
        if (name == out.name) {
          requested = true;
          binary_out = bin;
        }
      }
      if (!requested) continue;
    }
    w.StartObject();
    w.Key("name");
    w.String(out.name.c_str(), out.name.size());
    w.Key("datatype");
    w.String(DataTypeName(out.tensor.dtype()).data());
    w.Key("shape");
    w.StartArray();
    for (int64_t d : out.tensor.shape()) w.Int64(d);
    w.EndArray();
    if (binary_out) {
      w.Key("parameters");
      w.StartObject();
      w.Key("binary_data_size");
      w.Uint64(out.tensor.byte_size());
      w.EndObject();
      binary.push_back(&out.tensor);
    } else {
      w.Key("data");
      RETURN_IF_ERROR(WriteData(w, out.tensor, out.name));
    }
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  EncodedResponse enc;
  size_t total = sb.GetSize();
  for (const Tensor* t : binary) total += t->byte_size();
  enc.body.reserve(total);
  enc.body.assign(sb.GetString(), sb.GetSize());
  enc.json_size = sb.GetSize();
  for (const Tensor* t : binary) enc.body.append(t->data(), t->byte_size());
  enc.has_binary = !binary.empty();
  return enc;
}

std::string ErrorJson(std::string_view message) {
  rapidjson::StringBuffer sb;
  Writer w(sb);
  w.StartObject();
  w.Key("error");
  w.String(message.data(), message.size());
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize());
}

}  // namespace nereid::server::http

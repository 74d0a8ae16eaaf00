#include "backends/python/wire.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstring>

namespace nereid::backends::python {
namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;
constexpr size_t kAlign = 64;

size_t AlignUp(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

void WriteParameters(Writer& w, const core::ParameterMap& params) {
  w.StartObject();
  for (const auto& [key, value] : params) {
    w.Key(key.c_str());
    std::visit(
        [&w](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, bool>) {
            w.Bool(v);
          } else if constexpr (std::is_same_v<T, int64_t>) {
            w.Int64(v);
          } else if constexpr (std::is_same_v<T, uint64_t>) {
            w.Uint64(v);
          } else if constexpr (std::is_same_v<T, double>) {
            w.Double(v);
          } else {
            w.String(v.c_str(), static_cast<rapidjson::SizeType>(v.size()));
          }
        },
        value);
  }
  w.EndObject();
}

Status ReadParameters(const rapidjson::Value& v, core::ParameterMap* out) {
  if (!v.IsObject()) return InvalidArgument("'parameters' must be an object");
  for (auto it = v.MemberBegin(); it != v.MemberEnd(); ++it) {
    std::string key(it->name.GetString(), it->name.GetStringLength());
    const auto& x = it->value;
    if (x.IsBool()) {
      (*out)[key] = x.GetBool();
    } else if (x.IsInt64()) {
      (*out)[key] = x.GetInt64();
    } else if (x.IsUint64()) {
      (*out)[key] = x.GetUint64();
    } else if (x.IsNumber()) {
      (*out)[key] = x.GetDouble();
    } else if (x.IsString()) {
      (*out)[key] = std::string(x.GetString(), x.GetStringLength());
    } else {
      return InvalidArgument("parameter '" + key + "' must be a bool, number or string");
    }
  }
  return Status::Ok();
}

void WriteShape(Writer& w, const Shape& shape) {
  w.StartArray();
  for (int64_t d : shape) w.Int64(d);
  w.EndArray();
}

// A tensor description {name, datatype, shape, loc, offset, size} read and
// checked against the buffer it points into.
struct TensorDesc {
  std::string name;
  DataType dtype = DataType::kInvalid;
  Shape shape;
  bool in_region = false;
  uint64_t offset = 0;
  uint64_t size = 0;
};

StatusOr<TensorDesc> ReadTensorDesc(const rapidjson::Value& t, size_t region_size,
                                    size_t payload_size) {
  if (!t.IsObject() || !t.HasMember("name") || !t["name"].IsString() ||
      !t.HasMember("datatype") || !t["datatype"].IsString() || !t.HasMember("shape") ||
      !t["shape"].IsArray() || !t.HasMember("offset") || !t["offset"].IsUint64() ||
      !t.HasMember("size") || !t["size"].IsUint64()) {
    return InvalidArgument("malformed tensor description");
  }
  TensorDesc d;
  d.name = t["name"].GetString();
  d.dtype = DataTypeFromName(t["datatype"].GetString());
  if (d.dtype == DataType::kInvalid) {
    return InvalidArgument("tensor '" + d.name + "' has unknown datatype '" +
                           t["datatype"].GetString() + "'");
  }
  for (const auto& dim : t["shape"].GetArray()) {
    if (!dim.IsInt64() || dim.GetInt64() < 0) {
      return InvalidArgument("tensor '" + d.name + "' has a bad shape");
    }
    d.shape.push_back(dim.GetInt64());
  }
  d.in_region = t.HasMember("loc") && t["loc"].IsString() && std::string(t["loc"].GetString()) == "shm";
  d.offset = t["offset"].GetUint64();
  d.size = t["size"].GetUint64();
  const size_t limit = d.in_region ? region_size : payload_size;
  if (d.offset > limit || d.size > limit - d.offset) {
    return InvalidArgument("tensor '" + d.name + "' lies outside its buffer");
  }
  ASSIGN_OR_RETURN(int64_t count, ElementCount(d.shape));
  if (d.dtype == DataType::kBytes) {
    // Checked when read (CountSerializedBytesElements) below.
  } else if (static_cast<uint64_t>(count) > d.size / DataTypeByteSize(d.dtype) ||
             static_cast<uint64_t>(count) * DataTypeByteSize(d.dtype) != d.size) {
    return InvalidArgument("tensor '" + d.name + "' has " + std::to_string(d.size) +
                           " bytes; shape " + ShapeToString(d.shape) + " of " +
                           std::string(DataTypeName(d.dtype)) + " needs " +
                           std::to_string(count * DataTypeByteSize(d.dtype)));
  }
  return d;
}

Status CheckBytesElements(const TensorDesc& d, const char* data) {
  if (d.dtype != DataType::kBytes) return Status::Ok();
  ASSIGN_OR_RETURN(int64_t count, ElementCount(d.shape));
  auto got = CountSerializedBytesElements(data, d.size);
  if (!got.ok() || *got != count) {
    return InvalidArgument("BYTES tensor '" + d.name + "' does not hold " +
                           std::to_string(count) + " elements");
  }
  return Status::Ok();
}

}  // namespace

StatusCode StatusCodeFromTritonError(int code) {
  switch (code) {
    case 2: return StatusCode::kNotFound;
    case 3: return StatusCode::kInvalidArgument;
    case 4: return StatusCode::kUnavailable;
    case 5: return StatusCode::kUnimplemented;
    case 6: return StatusCode::kAlreadyExists;
    case 7: return StatusCode::kCancelled;
    case 0: return StatusCode::kUnknown;
    default: return StatusCode::kInternal;
  }
}

int TritonErrorFromStatusCode(StatusCode code) {
  switch (code) {
    case StatusCode::kNotFound: return 2;
    case StatusCode::kInvalidArgument: return 3;
    case StatusCode::kUnavailable: return 4;
    case StatusCode::kUnimplemented: return 5;
    case StatusCode::kAlreadyExists: return 6;
    case StatusCode::kCancelled: return 7;
    case StatusCode::kUnknown: return 0;
    default: return 1;
  }
}

std::string EncodeExecute(const std::vector<std::unique_ptr<core::InferenceRequest>>& requests,
                          const std::vector<uint64_t>& keys, char* region, size_t region_bytes,
                          size_t* needed) {
  size_t total = 0;
  for (const auto& r : requests) {
    for (const auto& in : r->inputs) total = AlignUp(total) + in.tensor.byte_size;
  }
  *needed = AlignUp(total);
  if (*needed > region_bytes) return "";
  rapidjson::StringBuffer sb;
  Writer w(sb);
  w.StartObject();
  w.Key("op");
  w.String("execute");
  w.Key("shm_size");
  w.Uint64(region_bytes);
  w.Key("out_base");
  w.Uint64(*needed);
  w.Key("requests");
  w.StartArray();
  size_t offset = 0;
  for (size_t i = 0; i < requests.size(); ++i) {
    const core::InferenceRequest& r = *requests[i];
    w.StartObject();
    w.Key("key");
    w.Uint64(keys[i]);
    w.Key("id");
    w.String(r.id.c_str());
    w.Key("model");
    w.String(r.model_name.c_str());
    w.Key("corrid");
    if (!r.sequence_id_string.empty()) {
      w.String(r.sequence_id_string.c_str());
    } else {
      w.Uint64(r.sequence_id);
    }
    w.Key("flags");
    w.Uint((r.sequence_start ? 1u : 0u) | (r.sequence_end ? 2u : 0u));
    w.Key("inputs");
    w.StartArray();
    for (const auto& in : r.inputs) {
      offset = AlignUp(offset);
      if (in.tensor.byte_size) std::memcpy(region + offset, in.tensor.data, in.tensor.byte_size);
      w.StartObject();
      w.Key("name");
      w.String(in.name.c_str());
      w.Key("datatype");
      w.String(std::string(DataTypeName(in.tensor.dtype)).c_str());
      w.Key("shape");
      WriteShape(w, in.tensor.shape);
      w.Key("loc");
      w.String("shm");
      w.Key("offset");
      w.Uint64(offset);
      w.Key("size");
      w.Uint64(in.tensor.byte_size);
      w.EndObject();
      offset += in.tensor.byte_size;
    }
    w.EndArray();
    w.Key("outputs");
    w.StartArray();
    for (const auto& o : r.requested_outputs) w.String(o.name.c_str());
    w.EndArray();
    w.Key("parameters");
    WriteParameters(w, r.parameters);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize());
}

StatusOr<std::unique_ptr<core::InferenceResponse>> DecodeResponse(
    const rapidjson::Value& doc, const ResponseSources& sources, const OutputSpecs* specs,
    const std::vector<core::RequestedOutput>& requested) {
  if (!doc.IsObject()) return InvalidArgument("malformed response");
  auto response = std::make_unique<core::InferenceResponse>();
  if (doc.HasMember("error") && doc["error"].IsObject()) {
    const auto& e = doc["error"];
    std::string message = e.HasMember("message") && e["message"].IsString()
                              ? e["message"].GetString()
                              : "the model reported an error";
    int code = e.HasMember("code") && e["code"].IsInt() ? e["code"].GetInt() : 1;
    response->status = Status(StatusCodeFromTritonError(code), message);
    return response;
  }
  if (doc.HasMember("parameters")) RETURN_IF_ERROR(ReadParameters(doc["parameters"], &response->parameters));
  if (!doc.HasMember("outputs") || !doc["outputs"].IsArray()) {
    return InvalidArgument("response without 'outputs'");
  }
  const size_t payload_size = sources.payload ? sources.payload->size() : 0;
  for (const auto& t : doc["outputs"].GetArray()) {
    ASSIGN_OR_RETURN(TensorDesc d, ReadTensorDesc(t, sources.region.size, payload_size));
    if (specs) {
      auto it = specs->find(d.name);
      if (it == specs->end()) {
        return InvalidArgument("output '" + d.name + "' is not an output of the model's config");
      }
      if (it->second.dtype != d.dtype) {
        return InvalidArgument("output '" + d.name + "' is " +
                               std::string(DataTypeName(d.dtype)) + " but the config declares " +
                               ConfigDataTypeName(it->second.dtype));
      }
    }
    if (!requested.empty()) {
      bool wanted = false;
      for (const auto& r : requested) wanted = wanted || r.name == d.name;
      if (!wanted) continue;
    }
    const char* data = d.in_region ? sources.region.data + d.offset
                                   : sources.payload->data() + d.offset;
    RETURN_IF_ERROR(CheckBytesElements(d, data));
    core::ResponseOutput out{d.name, {}};
    if (d.in_region) {
      // The region is reused by the next execute: copy.
      out.tensor = Tensor::CopyOf(TensorView{d.dtype, d.shape, data, d.size});
    } else {
      out.tensor = Tensor::Wrap(d.dtype, d.shape, data, d.size, sources.payload);
    }
    response->outputs.push_back(std::move(out));
  }
  for (const auto& r : requested) {
    bool found = false;
    for (const auto& o : response->outputs) found = found || o.name == r.name;
    if (!found) return InvalidArgument("the model sent no requested output '" + r.name + "'");
  }
  return response;
}

StatusOr<std::unique_ptr<core::InferenceRequest>> DecodeBlsRequest(
    const std::string& json, std::shared_ptr<std::string> payload, uint64_t* bls_id) {
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  if (doc.HasParseError() || !doc.IsObject()) return InvalidArgument("malformed BLS request");
  if (doc.HasMember("id") && doc["id"].IsUint64()) *bls_id = doc["id"].GetUint64();
  if (!doc.HasMember("model") || !doc["model"].IsString() || !doc.HasMember("inputs") ||
      !doc["inputs"].IsArray()) {
    return InvalidArgument("a BLS request needs 'model' and 'inputs'");
  }
  auto request = std::make_unique<core::InferenceRequest>();
  request->model_name = doc["model"].GetString();
  if (doc.HasMember("version") && doc["version"].IsInt64()) {
    request->model_version = doc["version"].GetInt64();
  }
  if (doc.HasMember("request_id") && doc["request_id"].IsString()) {
    request->id = doc["request_id"].GetString();
  }
  if (doc.HasMember("corrid")) {
    const auto& c = doc["corrid"];
    if (c.IsString()) request->sequence_id_string = c.GetString();
    if (c.IsUint64()) request->sequence_id = c.GetUint64();
  }
  if (doc.HasMember("flags") && doc["flags"].IsUint()) {
    request->sequence_start = doc["flags"].GetUint() & 1;
    request->sequence_end = doc["flags"].GetUint() & 2;
  }
  if (doc.HasMember("timeout") && doc["timeout"].IsUint64()) {
    request->timeout_us = doc["timeout"].GetUint64();
  }
  if (doc.HasMember("parameters")) {
    RETURN_IF_ERROR(ReadParameters(doc["parameters"], &request->parameters));
  }
  for (const auto& t : doc["inputs"].GetArray()) {
    ASSIGN_OR_RETURN(TensorDesc d, ReadTensorDesc(t, 0, payload->size()));
    const char* data = payload->data() + d.offset;
    RETURN_IF_ERROR(CheckBytesElements(d, data));
    request->inputs.push_back({d.name, TensorView{d.dtype, d.shape, data, d.size}, {}});
  }
  if (doc.HasMember("outputs") && doc["outputs"].IsArray()) {
    for (const auto& o : doc["outputs"].GetArray()) {
      if (o.IsString()) request->requested_outputs.push_back({o.GetString(), {}});
    }
  }
  request->accepts_many_responses =
      doc.HasMember("decoupled") && doc["decoupled"].IsBool() && doc["decoupled"].GetBool();
  request->buffer_owner = std::move(payload);
  return request;
}

EncodedFrame EncodeBlsResponse(uint64_t bls_id, const core::InferenceResponse* response,
                               bool final) {
  EncodedFrame f;
  rapidjson::StringBuffer sb;
  Writer w(sb);
  w.StartObject();
  w.Key("op");
  w.String("bls_response");
  w.Key("id");
  w.Uint64(bls_id);
  w.Key("final");
  w.Bool(final);
  w.Key("response");
  if (!response || response->flags_only) {
    w.Null();
  } else if (!response->status.ok()) {
    w.StartObject();
    w.Key("error");
    w.StartObject();
    w.Key("message");
    w.String(response->status.message().c_str());
    w.Key("code");
    w.Int(TritonErrorFromStatusCode(response->status.code()));
    w.EndObject();
    w.EndObject();
  } else {
    w.StartObject();
    w.Key("outputs");
    w.StartArray();
    size_t offset = 0;
    static const char kZeros[kAlign] = {};
    for (const auto& o : response->outputs) {
      const size_t start = AlignUp(offset);
      if (start > offset) f.pieces.push_back({kZeros, start - offset});
      w.StartObject();
      w.Key("name");
      w.String(o.name.c_str());
      w.Key("datatype");
      w.String(std::string(DataTypeName(o.tensor.dtype())).c_str());
      w.Key("shape");
      WriteShape(w, o.tensor.shape());
      w.Key("loc");
      w.String("msg");
      w.Key("offset");
      w.Uint64(start);
      w.Key("size");
      w.Uint64(o.tensor.byte_size());
      w.EndObject();
      if (o.tensor.byte_size()) f.pieces.push_back({o.tensor.data(), o.tensor.byte_size()});
      offset = start + o.tensor.byte_size();
    }
    w.EndArray();
    w.Key("parameters");
    WriteParameters(w, response->parameters);
    w.EndObject();
  }
  w.EndObject();
  f.json.assign(sb.GetString(), sb.GetSize());
  return f;
}

}  // namespace nereid::backends::python

#include "server/http/infer_codec.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <charconv>
#include <cmath>
#include <cstring>

#include "server/kserve/kserve.h"

// Response side of the HTTP infer codec: RapidJSON's writer (simdjson,
// used for parsing, has no writer).

namespace nereid::server::http {
namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

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

// Response and output parameters (KServe's `parameters` object).
void WriteParameters(Writer& w, const core::ParameterMap& params) {
  w.Key("parameters");
  w.StartObject();
  for (const auto& [key, value] : params) {
    w.Key(key.c_str(), key.size());
    std::visit(
        [&w](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, bool>) w.Bool(v);
          else if constexpr (std::is_same_v<T, int64_t>) w.Int64(v);
          else if constexpr (std::is_same_v<T, uint64_t>) w.Uint64(v);
          else if constexpr (std::is_same_v<T, double>) w.Double(v);
          else w.String(v.c_str(), v.size());
        },
        value);
  }
  w.EndObject();
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
  if (!response.parameters.empty()) WriteParameters(w, response.parameters);
  w.Key("outputs");
  w.StartArray();
  std::vector<const Tensor*> binary;
  std::vector<std::string> requested;
  for (const auto& [name, bin] : encoding.binary_by_output) requested.push_back(name);
  for (const core::ResponseOutput* selected : SelectResponseOutputs(response, requested)) {
    const core::ResponseOutput& out = *selected;
    bool binary_out = encoding.binary_default;
    for (const auto& [name, bin] : encoding.binary_by_output) {
      if (name == out.name) binary_out = bin;
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
    if (out.in_shared_memory) {
      WriteParameters(w, out.parameters);
    } else if (binary_out) {
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

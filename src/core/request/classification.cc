#include "core/request/classification.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <numeric>

#include "core/model.h"

namespace nereid::core {
namespace {

float HalfToFloat(uint16_t h) {
  const uint32_t sign = (h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1f;
  const uint32_t man = h & 0x3ff;
  float magnitude;
  if (exp == 0) {
    magnitude = std::ldexp(static_cast<float>(man), -24);  // zero / subnormal
  } else if (exp == 31) {
    magnitude = man ? std::numeric_limits<float>::quiet_NaN()
                    : std::numeric_limits<float>::infinity();
  } else {
    magnitude = std::ldexp(static_cast<float>(man | 0x400), static_cast<int>(exp) - 25);
  }
  return sign ? -magnitude : magnitude;
}

float Bf16ToFloat(uint16_t b) {
  uint32_t bits = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

template <typename T>
double Read(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return static_cast<double>(v);
}

// Element i of a numeric tensor as double.
double ValueAt(DataType dtype, const char* base, size_t i) {
  const size_t size = DataTypeByteSize(dtype);
  const char* p = base + i * size;
  switch (dtype) {
    case DataType::kUint8: return Read<uint8_t>(p);
    case DataType::kUint16: return Read<uint16_t>(p);
    case DataType::kUint32: return Read<uint32_t>(p);
    case DataType::kUint64: return Read<uint64_t>(p);
    case DataType::kInt8: return Read<int8_t>(p);
    case DataType::kInt16: return Read<int16_t>(p);
    case DataType::kInt32: return Read<int32_t>(p);
    case DataType::kInt64: return Read<int64_t>(p);
    case DataType::kFp32: return Read<float>(p);
    case DataType::kFp64: return Read<double>(p);
    case DataType::kFp16: {
      uint16_t h;
      std::memcpy(&h, p, 2);
      return HalfToFloat(h);
    }
    case DataType::kBf16: {
      uint16_t h;
      std::memcpy(&h, p, 2);
      return Bf16ToFloat(h);
    }
    default: return 0;
  }
}

bool IsFloat(DataType dtype) {
  return dtype == DataType::kFp16 || dtype == DataType::kBf16 || dtype == DataType::kFp32 ||
         dtype == DataType::kFp64;
}

// Integers print as integers; floats with six decimals ("0.750000"), the
// form Triton's responses use.
std::string FormatScore(double v, bool is_float) {
  char buf[64];
  if (is_float) {
    std::snprintf(buf, sizeof(buf), "%f", v);
  } else {
    std::snprintf(buf, sizeof(buf), "%.0f", v);
  }
  return buf;
}

void AppendElement(std::string* out, const std::string& s) {
  uint32_t n = static_cast<uint32_t>(s.size());
  out->append(reinterpret_cast<const char*>(&n), 4);
  out->append(s);
}

}  // namespace

bool IsClassifiable(DataType dtype) {
  switch (dtype) {
    case DataType::kBool:
    case DataType::kBytes:
    case DataType::kInvalid: return false;
    default: return DataTypeByteSize(dtype) > 0;
  }
}

StatusOr<Tensor> Classify(const Tensor& scores, int64_t k, bool batched,
                          const std::vector<std::string>* labels) {
  const DataType dtype = scores.dtype();
  if (!IsClassifiable(dtype)) {
    return InvalidArgument("classification needs a numeric output, but it is " +
                           std::string(DataTypeName(dtype)));
  }
  if (k < 1) return InvalidArgument("classification count must be at least 1");
  const size_t elements = scores.byte_size() / DataTypeByteSize(dtype);
  size_t batch = 1;
  if (batched) {
    if (scores.shape().empty() || scores.shape()[0] < 1) {
      return InvalidArgument("classification of a batched output without a batch dimension");
    }
    batch = static_cast<size_t>(scores.shape()[0]);
  }
  const size_t classes = elements / batch;
  const size_t top = std::min(classes, static_cast<size_t>(k));
  const bool is_float = IsFloat(dtype);
  std::string serialized;
  std::vector<size_t> order(classes);
  std::vector<double> values(classes);
  for (size_t b = 0; b < batch; ++b) {
    for (size_t c = 0; c < classes; ++c) {
      double v = ValueAt(dtype, scores.data(), b * classes + c);
      // NaN ranks last so the ordering stays strict-weak.
      values[c] = std::isnan(v) ? -std::numeric_limits<double>::infinity() : v;
    }
    std::iota(order.begin(), order.end(), size_t{0});
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t c) { return values[a] > values[c]; });
    for (size_t i = 0; i < top; ++i) {
      size_t c = order[i];
      std::string s = FormatScore(ValueAt(dtype, scores.data(), b * classes + c), is_float) +
                      ":" + std::to_string(c);
      if (labels && c < labels->size()) s += ":" + (*labels)[c];
      AppendElement(&serialized, s);
    }
  }
  Shape shape;
  if (batched) shape.push_back(static_cast<int64_t>(batch));
  shape.push_back(static_cast<int64_t>(top));
  Tensor out = Tensor::Allocate(DataType::kBytes, std::move(shape), serialized.size());
  if (!serialized.empty()) std::memcpy(out.mutable_data(), serialized.data(), serialized.size());
  return out;
}

StatusOr<int64_t> ClassificationCount(const RequestedOutput& output) {
  auto it = output.parameters.find("classification");
  if (it == output.parameters.end()) return int64_t{0};
  if (auto* i = std::get_if<int64_t>(&it->second); i && *i > 0) return *i;
  if (auto* u = std::get_if<uint64_t>(&it->second); u && *u > 0) {
    return static_cast<int64_t>(std::min<uint64_t>(*u, std::numeric_limits<int64_t>::max()));
  }
  return InvalidArgument("output '" + output.name +
                         "': parameters.classification must be a positive integer");
}

StatusOr<std::vector<ClassifyOutput>> CollectClassifications(const InferenceRequest& request,
                                                             const Model& model) {
  std::vector<ClassifyOutput> out;
  for (const auto& o : request.requested_outputs) {
    ASSIGN_OR_RETURN(int64_t k, ClassificationCount(o));
    if (k == 0) continue;
    for (const auto& c : model.config().output()) {
      if (c.name() != o.name) continue;
      DataType dtype = static_cast<DataType>(c.data_type());
      if (!IsClassifiable(dtype)) {
        return InvalidArgument("output '" + o.name + "' of model '" + model.name() + "' is " +
                               std::string(DataTypeName(dtype)) +
                               "; classification needs a numeric output");
      }
    }
    out.push_back(ClassifyOutput{o.name, k, model.Labels(o.name)});
  }
  return out;
}

Status ApplyClassifications(const std::vector<ClassifyOutput>& outputs, bool batched,
                            InferenceResponse* response) {
  for (const auto& c : outputs) {
    for (auto& r : response->outputs) {
      if (r.name != c.name) continue;
      auto classified = Classify(r.tensor, c.k, batched, c.labels.get());
      if (!classified.ok()) return classified.status().WithPrefix("output '" + c.name + "'");
      r.tensor = std::move(classified).value();
    }
  }
  return Status::Ok();
}

StatusOr<std::vector<std::string>> ReadLabelFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("cannot read label file " + path);
  std::vector<std::string> labels;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    labels.push_back(std::move(line));
  }
  return labels;
}

}  // namespace nereid::core

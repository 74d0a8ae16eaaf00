#include "tools/perf/perf_inputs.h"

#include <charconv>
#include <cstring>
#include <random>

#include "common/data_type.h"

namespace nereid::tools::perf {
namespace {

constexpr uint32_t kSeed = 20240601;

// "1,16": dims as --shape writes them.
std::string FlagDims(const std::vector<int64_t>& dims) {
  std::string s;
  for (int64_t d : dims) s += (s.empty() ? "" : ",") + std::to_string(d);
  return s;
}

std::string Names(const std::vector<TensorInfo>& tensors) {
  std::string s;
  for (const auto& t : tensors) s += (s.empty() ? "" : ", ") + t.name;
  return s.empty() ? "none" : s;
}

template <typename T>
void Put(std::string* out, size_t index, T value) {
  std::memcpy(out->data() + index * sizeof(T), &value, sizeof(T));
}

// Fills `n` elements of `dtype` (fixed width). Random values are small and
// non-negative (integers 0..9, floats in [0, 1)) so that models using an
// input as an index or a count still accept them.
void FillFixed(DataType dtype, int64_t n, InputData mode, std::mt19937* rng, std::string* out) {
  out->assign(static_cast<size_t>(n) * DataTypeByteSize(dtype), '\0');
  if (mode == InputData::kZero) return;
  std::uniform_int_distribution<int> digit(0, 9);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  for (size_t i = 0; i < static_cast<size_t>(n); ++i) {
    switch (dtype) {
      case DataType::kBool: Put<uint8_t>(out, i, static_cast<uint8_t>(digit(*rng) & 1)); break;
      case DataType::kUint8: Put<uint8_t>(out, i, static_cast<uint8_t>(digit(*rng))); break;
      case DataType::kInt8: Put<int8_t>(out, i, static_cast<int8_t>(digit(*rng))); break;
      case DataType::kUint16: Put<uint16_t>(out, i, static_cast<uint16_t>(digit(*rng))); break;
      case DataType::kInt16: Put<int16_t>(out, i, static_cast<int16_t>(digit(*rng))); break;
      case DataType::kUint32: Put<uint32_t>(out, i, static_cast<uint32_t>(digit(*rng))); break;
      case DataType::kInt32: Put<int32_t>(out, i, digit(*rng)); break;
      case DataType::kUint64: Put<uint64_t>(out, i, static_cast<uint64_t>(digit(*rng))); break;
      case DataType::kInt64: Put<int64_t>(out, i, digit(*rng)); break;
      case DataType::kFp32: Put<float>(out, i, unit(*rng)); break;
      case DataType::kFp64: Put<double>(out, i, unit(*rng)); break;
      case DataType::kFp16:
        // Exponent 14, random mantissa: a half in [0.5, 1).
        Put<uint16_t>(out, i, static_cast<uint16_t>(0x3800u | ((*rng)() & 0x3FFu)));
        break;
      case DataType::kBf16: {
        float f = unit(*rng);
        uint32_t bits;
        std::memcpy(&bits, &f, sizeof(bits));
        Put<uint16_t>(out, i, static_cast<uint16_t>(bits >> 16));
        break;
      }
      default: break;
    }
  }
}

// BYTES elements, length-prefixed: "0" each (zero) or 1-8 random lowercase
// letters (random).
void FillBytes(int64_t n, InputData mode, std::mt19937* rng, std::string* out) {
  out->clear();
  std::uniform_int_distribution<int> len(1, 8), letter('a', 'z');
  for (int64_t i = 0; i < n; ++i) {
    std::string element = mode == InputData::kZero ? std::string("0") : std::string();
    if (mode == InputData::kRandom) {
      int l = len(*rng);
      for (int k = 0; k < l; ++k) element.push_back(static_cast<char>(letter(*rng)));
    }
    uint32_t size = static_cast<uint32_t>(element.size());
    char prefix[4];
    for (int b = 0; b < 4; ++b) prefix[b] = static_cast<char>((size >> (8 * b)) & 0xFF);
    out->append(prefix, 4);
    out->append(element);
  }
}

// The input's dims without the batch dimension, with -1s resolved.
StatusOr<std::vector<int64_t>> ResolveDims(
    const ModelInfo& model, const TensorInfo& in, const std::vector<int64_t>& dims,
    const std::map<std::string, std::vector<int64_t>>& shapes) {
  auto given = shapes.find(in.name);
  if (given == shapes.end()) {
    for (int64_t d : dims) {
      if (d < 0) {
        return InvalidArgument("input '" + in.name + "' of model '" + model.name +
                               "' has a variable dimension " + ShapeToString(dims) +
                               " (without the batch dimension); give it with --shape " + in.name +
                               ":D1,D2,...");
      }
    }
    return dims;
  }
  const std::vector<int64_t>& want = given->second;
  if (want.size() != dims.size()) {
    return InvalidArgument("--shape " + in.name + ":" + FlagDims(want) + " has " +
                           std::to_string(want.size()) + " dimension(s), but input '" + in.name +
                           "' of model '" + model.name + "' has " + std::to_string(dims.size()) +
                           " " + ShapeToString(dims) + " (without the batch dimension)");
  }
  for (size_t i = 0; i < dims.size(); ++i) {
    if (dims[i] >= 0 && want[i] != dims[i]) {
      return InvalidArgument("--shape " + in.name + ":" + FlagDims(want) + ": dimension " +
                             std::to_string(i) + " of input '" + in.name + "' is fixed to " +
                             std::to_string(dims[i]) + " " + ShapeToString(dims));
    }
  }
  return want;
}

}  // namespace

StatusOr<InputData> ParseInputData(std::string_view text) {
  if (text == "zero") return InputData::kZero;
  if (text == "random") return InputData::kRandom;
  return InvalidArgument("--input-data '" + std::string(text) + "' must be zero or random");
}

StatusOr<std::pair<std::string, std::vector<int64_t>>> ParseShapeFlag(std::string_view text) {
  size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size()) {
    return InvalidArgument("--shape '" + std::string(text) + "' is not NAME:D1,D2,...");
  }
  std::pair<std::string, std::vector<int64_t>> out{std::string(text.substr(0, colon)), {}};
  std::string_view dims = text.substr(colon + 1);
  while (true) {
    size_t comma = dims.find(',');
    std::string_view d = dims.substr(0, comma);
    int64_t v = -1;
    auto [end, ec] = std::from_chars(d.data(), d.data() + d.size(), v);
    if (d.empty() || ec != std::errc() || end != d.data() + d.size() || v < 0) {
      return InvalidArgument("--shape '" + std::string(text) + "': dimension '" + std::string(d) +
                             "' is not a non-negative integer");
    }
    out.second.push_back(v);
    if (comma == std::string_view::npos) break;
    dims.remove_prefix(comma + 1);
  }
  return out;
}

StatusOr<std::map<std::string, std::vector<int64_t>>> ParseShapeFlags(
    const std::vector<std::string>& flags) {
  std::map<std::string, std::vector<int64_t>> shapes;
  for (const auto& flag : flags) {
    ASSIGN_OR_RETURN(auto parsed, ParseShapeFlag(flag));
    if (!shapes.emplace(parsed.first, parsed.second).second) {
      return InvalidArgument("--shape gives input '" + parsed.first + "' twice");
    }
  }
  return shapes;
}

StatusOr<std::vector<InputTensor>> BuildInputs(
    const ModelInfo& model, int batch, const std::map<std::string, std::vector<int64_t>>& shapes,
    InputData data) {
  const bool batching = model.max_batch_size > 0;
  if (batch < 1) return InvalidArgument("-b " + std::to_string(batch) + " must be at least 1");
  if (!batching && batch != 1) {
    return InvalidArgument("model '" + model.name +
                           "' does not batch (max_batch_size 0), so -b must be 1, not " +
                           std::to_string(batch));
  }
  if (batching && batch > model.max_batch_size) {
    return InvalidArgument("-b " + std::to_string(batch) + " exceeds the max_batch_size " +
                           std::to_string(model.max_batch_size) + " of model '" + model.name + "'");
  }
  for (const auto& [name, dims] : shapes) {
    bool known = false;
    for (const auto& in : model.inputs) known |= in.name == name;
    if (!known) {
      return InvalidArgument("--shape names '" + name + "', which is not an input of model '" +
                             model.name + "' (inputs: " + Names(model.inputs) + ")");
    }
  }
  std::mt19937 rng(kSeed);
  std::vector<InputTensor> out;
  int64_t total = 0;
  for (const auto& in : model.inputs) {
    DataType dtype = DataTypeFromName(in.datatype);
    if (dtype == DataType::kInvalid) {
      return InvalidArgument("input '" + in.name + "' has datatype '" + in.datatype +
                             "', for which nereid perf cannot make data");
    }
    std::vector<int64_t> dims = in.shape;
    if (batching) {
      if (dims.empty()) {
        return InvalidArgument("the metadata of batching model '" + model.name + "' gives input '" +
                               in.name + "' no batch dimension");
      }
      dims.erase(dims.begin());
    }
    ASSIGN_OR_RETURN(dims, ResolveDims(model, in, dims, shapes));
    InputTensor t{in.name, in.datatype, {}, {}};
    if (batching) t.shape.push_back(batch);
    t.shape.insert(t.shape.end(), dims.begin(), dims.end());
    ASSIGN_OR_RETURN(int64_t elements, ElementCount(t.shape));
    const int64_t width = dtype == DataType::kBytes ? 4 + 8 : DataTypeByteSize(dtype);
    if (elements > kMaxRequestBytes / width || total + elements * width > kMaxRequestBytes) {
      return InvalidArgument("the inputs of model '" + model.name + "' with shape " +
                             ShapeToString(t.shape) + " for '" + in.name +
                             "' would exceed 2 GiB per request");
    }
    if (dtype == DataType::kBytes) {
      FillBytes(elements, data, &rng, &t.data);
    } else {
      FillFixed(dtype, elements, data, &rng, &t.data);
    }
    total += static_cast<int64_t>(t.data.size());
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace nereid::tools::perf

#include "core/warmup.h"

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <random>
#include <set>

#include "common/logging.h"
#include "core/scheduler/execution.h"

namespace nereid::core {
namespace {

namespace fs = std::filesystem;

std::string SampleName(const inference::ModelWarmup& sample, int index) {
  return sample.name().empty() ? "#" + std::to_string(index) : sample.name();
}

// One element of `dtype` in [0, 1) (integers 0..9, bools 0/1), written to `out`.
void RandomElement(DataType dtype, std::mt19937* rng, char* out) {
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  const int small = static_cast<int>((*rng)() % 10);
  switch (dtype) {
    case DataType::kFp32: {
      const float v = unit(*rng);
      std::memcpy(out, &v, 4);
      return;
    }
    case DataType::kFp64: {
      const double v = unit(*rng);
      std::memcpy(out, &v, 8);
      return;
    }
    case DataType::kFp16: {
      // Exponent field below 15: a positive value under 1.
      const uint16_t bits = static_cast<uint16_t>(((*rng)() % 15) << 10 | ((*rng)() & 0x3FF));
      std::memcpy(out, &bits, 2);
      return;
    }
    case DataType::kBf16: {
      const float v = unit(*rng);
      uint32_t bits;
      std::memcpy(&bits, &v, 4);
      const uint16_t top = static_cast<uint16_t>(bits >> 16);
      std::memcpy(out, &top, 2);
      return;
    }
    case DataType::kBool:
      *out = static_cast<char>(small & 1);
      return;
    default: {
      // Integers: the small value in the element's width (little-endian).
      std::memset(out, 0, DataTypeByteSize(dtype));
      *out = static_cast<char>(small);
      return;
    }
  }
}

StatusOr<std::string> InputData(const inference::ModelWarmup::Input& input, DataType dtype,
                                int64_t elements, const std::string& model_dir, uint32_t seed) {
  using Input = inference::ModelWarmup::Input;
  switch (input.input_data_type_case()) {
    case Input::kZeroData:
    case Input::kRandomData: {
      const bool random = input.input_data_type_case() == Input::kRandomData;
      std::mt19937 rng(seed);
      if (dtype == DataType::kBytes) {
        // Zero data: empty strings; random data: 8 lowercase letters each.
        std::string data;
        for (int64_t i = 0; i < elements; ++i) {
          const uint32_t n = random ? 8 : 0;
          data.append(reinterpret_cast<const char*>(&n), 4);
          for (uint32_t k = 0; k < n; ++k) data += static_cast<char>('a' + rng() % 26);
        }
        return data;
      }
      std::string data(static_cast<size_t>(elements) * DataTypeByteSize(dtype), '\0');
      if (random) {
        const size_t size = DataTypeByteSize(dtype);
        for (int64_t i = 0; i < elements; ++i) RandomElement(dtype, &rng, data.data() + i * size);
      }
      return data;
    }
    case Input::kInputDataFile: {
      fs::path rel(input.input_data_file());
      if (rel.is_absolute() || rel.empty() || *rel.lexically_normal().begin() == "..") {
        return InvalidArgument("input_data_file '" + rel.string() +
                               "' must name a file in the model's warmup/ directory");
      }
      const fs::path path = fs::path(model_dir) / "warmup" / rel;
      std::ifstream file(path, std::ios::binary);
      if (!file) return NotFound("input_data_file " + path.string() + " cannot be read");
      std::string data((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
      if (dtype == DataType::kBytes) {
        auto count = CountSerializedBytesElements(data.data(), data.size());
        if (!count.ok() || *count != elements) {
          return InvalidArgument("input_data_file " + path.string() + " does not hold " +
                                 std::to_string(elements) + " length-prefixed BYTES elements");
        }
      } else if (data.size() != static_cast<size_t>(elements) * DataTypeByteSize(dtype)) {
        return InvalidArgument("input_data_file " + path.string() + " holds " +
                               std::to_string(data.size()) + " bytes, the input needs " +
                               std::to_string(elements * DataTypeByteSize(dtype)));
      }
      return data;
    }
    case Input::INPUT_DATA_TYPE_NOT_SET:
      break;
  }
  return InvalidArgument("set one of zero_data, random_data or input_data_file");
}

// The sequence batcher's control and state inputs: tensors the scheduler
// adds, which client validation does not know.
std::set<std::string> SequenceTensors(const inference::ModelConfig& config) {
  std::set<std::string> names;
  for (const auto& control : config.sequence_batching().control_input()) {
    names.insert(control.name());
  }
  for (const auto& state : config.sequence_batching().state()) names.insert(state.input_name());
  return names;
}

}  // namespace

StatusOr<std::vector<WarmupSample>> BuildWarmupSamples(const inference::ModelConfig& config,
                                                       const std::string& model_dir) {
  std::vector<WarmupSample> samples;
  const bool batched = config.max_batch_size() > 0;
  for (int i = 0; i < config.model_warmup_size(); ++i) {
    const inference::ModelWarmup& proto = config.model_warmup(i);
    WarmupSample sample;
    sample.name = SampleName(proto, i);
    const std::string who = "model_warmup sample '" + sample.name + "'";
    sample.batch_size = proto.batch_size();
    sample.count = std::max<int64_t>(proto.count(), 1);
    if (sample.batch_size < 1) return InvalidArgument(who + ": batch_size must be at least 1");
    if (!batched && sample.batch_size != 1) {
      return InvalidArgument(who +
                             ": batch_size must be 1 for a model without batching "
                             "(max_batch_size 0), got " +
                             std::to_string(sample.batch_size));
    }
    if (batched && sample.batch_size > config.max_batch_size()) {
      return InvalidArgument(who + ": batch_size " + std::to_string(sample.batch_size) +
                             " is larger than max_batch_size " +
                             std::to_string(config.max_batch_size()));
    }
    if (proto.inputs().empty()) return InvalidArgument(who + ": it has no inputs");
    uint32_t seed = 1;
    // Map order is unspecified; sort by name so random data is reproducible.
    std::map<std::string, const inference::ModelWarmup::Input*> ordered;
    for (const auto& [name, input] : proto.inputs()) ordered[name] = &input;
    for (const auto& [name, input] : ordered) {
      WarmupInput in;
      in.name = name;
      in.dtype = static_cast<DataType>(input->data_type());
      const std::string where = who + ", input '" + name + "'";
      if (in.dtype == DataType::kInvalid) return InvalidArgument(where + ": data_type is not set");
      if (batched) in.shape.push_back(1);
      in.shape.insert(in.shape.end(), input->dims().begin(), input->dims().end());
      auto elements = ElementCount(in.shape);
      if (!elements.ok()) return elements.status().WithPrefix(where + ": dims");
      auto data = InputData(*input, in.dtype, *elements, model_dir, seed++);
      if (!data.ok()) return data.status().WithPrefix(where);
      in.bytes = std::make_shared<const std::string>(std::move(data).value());
      sample.inputs.push_back(std::move(in));
    }
    samples.push_back(std::move(sample));
  }
  return samples;
}

Status RunWarmup(const inference::ModelConfig& config, const std::vector<WarmupSample>& samples,
                 ModelInstance* instance, const std::string& instance_name,
                 const RequestValidator& validate, Clock& clock) {
  const std::set<std::string> sequence_tensors = SequenceTensors(config);
  for (const WarmupSample& sample : samples) {
    const std::string who = "model_warmup sample '" + sample.name + "'";
    const auto start = std::chrono::steady_clock::now();
    for (int64_t run = 0; run < sample.count; ++run) {
      // The first error any request of the batch reports.
      auto failure = std::make_shared<Status>();
      auto mu = std::make_shared<std::mutex>();
      std::vector<std::unique_ptr<InferenceRequest>> batch;
      for (int64_t r = 0; r < sample.batch_size; ++r) {
        auto request = std::make_unique<InferenceRequest>();
        request->model_name = config.name();
        request->id = "warmup";
        std::vector<RequestInput> hidden;  // checked by the backend, not the config
        for (const WarmupInput& in : sample.inputs) {
          RequestInput input{
              in.name, TensorView{in.dtype, in.shape, in.bytes->data(), in.bytes->size()}, {}};
          (sequence_tensors.count(in.name) ? hidden : request->inputs).push_back(input);
        }
        Status valid = validate(request.get());
        if (!valid.ok()) return valid.WithPrefix(who);
        for (RequestInput& input : hidden) request->inputs.push_back(std::move(input));
        request->set_callback([failure, mu](std::unique_ptr<InferenceResponse> response) {
          std::lock_guard<std::mutex> lock(*mu);
          if (failure->ok() && response != nullptr && !response->status.ok()) {
            *failure = response->status;
          }
        });
        batch.push_back(std::move(request));
      }
      // As the schedulers run batches: a backend exception or a request
      // left incomplete becomes that request's error.
      ExecuteBatch(config.name(), instance, batch, clock, nullptr);
      std::lock_guard<std::mutex> lock(*mu);
      if (!failure->ok()) {
        return failure->WithPrefix(who + " failed on instance " + instance_name);
      }
    }
    NLOG(INFO) << "model '" << config.name() << "': " << who << " ran " << sample.count
               << " time(s) on instance " << instance_name << " in "
               << std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() -
                                                            start)
                      .count()
               << " ms";
  }
  return Status::Ok();
}

}  // namespace nereid::core

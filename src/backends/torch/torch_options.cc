#include "backends/torch/torch_options.h"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace nereid::backends::pytorch {
namespace {

const std::string* Find(const inference::ModelConfig& config, const char* key) {
  auto it = config.parameters().find(key);
  return it == config.parameters().end() ? nullptr : &it->second.string_value();
}

StatusOr<std::optional<bool>> Bool(const inference::ModelConfig& config, const char* key) {
  const std::string* text = Find(config, key);
  if (!text) return std::optional<bool>();
  std::string v = *text;
  std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return std::tolower(c); });
  if (v == "true" || v == "1" || v == "on") return std::optional<bool>(true);
  if (v == "false" || v == "0" || v == "off") return std::optional<bool>(false);
  return InvalidArgument(std::string("parameter '") + key + "' must be true or false, got '" +
                         *text + "'");
}

Status Count(const inference::ModelConfig& config, const char* key, int* out) {
  const std::string* text = Find(config, key);
  if (!text) return Status::Ok();
  int value = 0;
  auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (ec != std::errc() || end != text->data() + text->size() || value < 0 || value > 1024) {
    return InvalidArgument(std::string("parameter '") + key +
                           "' must be an integer in [0, 1024], got '" + *text + "'");
  }
  *out = value;
  return Status::Ok();
}

}  // namespace

StatusOr<TorchOptions> ParseTorchOptions(const inference::ModelConfig& config) {
  TorchOptions o;
  ASSIGN_OR_RETURN(std::optional<bool> inference_mode, Bool(config, "INFERENCE_MODE"));
  o.inference_mode = inference_mode.value_or(true);
  ASSIGN_OR_RETURN(std::optional<bool> disable_optimized,
                   Bool(config, "DISABLE_OPTIMIZED_EXECUTION"));
  o.optimized_execution = !disable_optimized.value_or(false);
  RETURN_IF_ERROR(Count(config, "INTRA_OP_THREAD_COUNT", &o.intra_op_threads));
  RETURN_IF_ERROR(Count(config, "INTER_OP_THREAD_COUNT", &o.inter_op_threads));
  ASSIGN_OR_RETURN(o.jit_executor, Bool(config, "ENABLE_JIT_EXECUTOR"));
  ASSIGN_OR_RETURN(o.jit_profiling, Bool(config, "ENABLE_JIT_PROFILING"));
  ASSIGN_OR_RETURN(std::optional<bool> sharing, Bool(config, "ENABLE_WEIGHT_SHARING"));
  o.weight_sharing = sharing.value_or(false);
  return o;
}

}  // namespace nereid::backends::pytorch

#include "core/ensemble/ensemble_config.h"

#include <algorithm>
#include <set>

#include "core/repository/config_parser.h"
#include "proto/model_config.pb.h"

namespace nereid::core {
namespace {

using Pairs = std::vector<std::pair<std::string, std::string>>;

Status Fail(const ConfigLocator* where, const std::string& path, const std::string& message) {
  return where ? where->Error(path, message) : InvalidArgument(message);
}

// A protobuf map in a stable order (by key).
Pairs Sorted(const google::protobuf::Map<std::string, std::string>& map) {
  Pairs out(map.begin(), map.end());
  std::sort(out.begin(), out.end());
  return out;
}

std::string StepPath(size_t i) { return "ensemble_scheduling.step[" + std::to_string(i) + "]"; }

std::string Join(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "'" : ", '") + n + "'";
  return out.empty() ? "none" : out;
}

// The steps of `config` without any cross-step checks.
Status ReadSteps(const inference::ModelConfig& config, const ConfigLocator* where,
                 EnsemblePlan* plan) {
  const std::string& e = config.name();
  const auto& steps = config.ensemble_scheduling().step();
  if (steps.empty()) {
    return Fail(where, "ensemble_scheduling.step", "ensemble '" + e + "' has no steps");
  }
  for (int i = 0; i < steps.size(); ++i) {
    const auto& s = steps[i];
    const std::string path = StepPath(i);
    const std::string prefix = "ensemble '" + e + "' step " + std::to_string(i);
    if (s.model_name().empty()) {
      return Fail(where, path + ".model_name", prefix + ": model_name must be set");
    }
    const std::string who = prefix + " (model '" + s.model_name() + "')";
    if (s.model_name() == e) {
      return Fail(where, path + ".model_name", who + ": an ensemble cannot contain itself");
    }
    if (!s.model_namespace().empty()) {
      return Fail(where, path + ".model_namespace",
                  who + ": model_namespace is not supported (there is no --model-namespacing)");
    }
    if (s.model_version() < -1) {
      return Fail(where, path + ".model_version",
                  who + ": model_version must be -1 (latest) or a version number");
    }
    for (const char* field : {"input_map", "output_map"}) {
      const auto& map = std::string(field) == "input_map" ? s.input_map() : s.output_map();
      if (map.empty()) {
        return Fail(where, path + "." + field, who + ": " + field + " must not be empty");
      }
      for (const auto& [key, value] : map) {
        if (key.empty() || value.empty()) {
          return Fail(
              where, path + "." + field,
              who + ": " + field + " entry '" + key + "' -> '" + value + "' must name both sides");
        }
      }
    }
    EnsembleStep step;
    step.model_name = s.model_name();
    step.model_version = s.model_version() == 0 ? -1 : s.model_version();
    step.inputs = Sorted(s.input_map());
    step.outputs = Sorted(s.output_map());
    plan->steps.push_back(std::move(step));
  }
  return Status::Ok();
}

// Producers: every tensor written once, never an ensemble input.
Status LinkProducers(const ConfigLocator* where, EnsemblePlan* plan) {
  const std::set<std::string> inputs(plan->inputs.begin(), plan->inputs.end());
  for (size_t i = 0; i < plan->steps.size(); ++i) {
    const EnsembleStep& s = plan->steps[i];
    for (const auto& [output, tensor] : s.outputs) {
      const std::string who = "ensemble '" + plan->name + "' " + s.Describe(i);
      if (inputs.count(tensor)) {
        return Fail(where, StepPath(i) + ".output_map",
                    who + ": output '" + output + "' writes tensor '" + tensor +
                        "', which is an ensemble input (inputs come only from the request)");
      }
      auto [it, fresh] = plan->producer.emplace(tensor, i);
      if (!fresh) {
        return Fail(where, StepPath(i) + ".output_map",
                    who + ": tensor '" + tensor + "' is already produced by " +
                        plan->steps[it->second].Describe(it->second) +
                        "; each ensemble tensor must be produced by exactly one step");
      }
    }
  }
  for (size_t i = 0; i < plan->steps.size(); ++i) {
    const EnsembleStep& s = plan->steps[i];
    for (const auto& [input, tensor] : s.inputs) {
      plan->consumers[tensor].push_back(i);
      if (!inputs.count(tensor) && !plan->producer.count(tensor)) {
        return Fail(where, StepPath(i) + ".input_map",
                    "ensemble '" + plan->name + "' " + s.Describe(i) + ": input '" + input +
                        "' reads tensor '" + tensor +
                        "', which is neither an ensemble input nor produced by any step");
      }
    }
  }
  for (auto& [tensor, steps] : plan->consumers) {
    steps.erase(std::unique(steps.begin(), steps.end()), steps.end());
  }
  return Status::Ok();
}

// Kahn's order over steps; a step left over depends on a cycle, so walking
// back through producers from it must revisit a step: that loop is reported.
Status CheckAcyclic(const ConfigLocator* where, const EnsemblePlan& plan) {
  const size_t n = plan.steps.size();
  std::vector<size_t> missing(n, 0);
  std::vector<size_t> ready;
  for (size_t i = 0; i < n; ++i) {
    std::set<std::string> produced;
    for (const auto& [input, tensor] : plan.steps[i].inputs) {
      if (plan.producer.count(tensor)) produced.insert(tensor);
    }
    missing[i] = produced.size();
    if (missing[i] == 0) ready.push_back(i);
  }
  size_t done = 0;
  while (!ready.empty()) {
    size_t s = ready.back();
    ready.pop_back();
    ++done;
    for (const auto& [output, tensor] : plan.steps[s].outputs) {
      auto it = plan.consumers.find(tensor);
      if (it == plan.consumers.end()) continue;
      for (size_t c : it->second) {
        if (--missing[c] == 0) ready.push_back(c);
      }
    }
  }
  if (done == n) return Status::Ok();
  size_t start = 0;
  while (missing[start] == 0) ++start;
  // path[k + 1] produces tensors[k], which path[k] reads.
  std::vector<size_t> path{start};
  std::vector<std::string> tensors;
  for (;;) {
    size_t prev = start;
    for (const auto& [input, t] : plan.steps[path.back()].inputs) {
      auto p = plan.producer.find(t);
      if (p != plan.producer.end() && missing[p->second] != 0) {
        prev = p->second;
        tensors.push_back(t);
        break;
      }
    }
    auto seen = std::find(path.begin(), path.end(), prev);
    if (seen == path.end()) {
      path.push_back(prev);
      continue;
    }
    const size_t j = static_cast<size_t>(seen - path.begin());
    std::string loop = plan.steps[prev].Describe(prev);
    loop += " -['" + tensors.back() + "']-> ";
    for (size_t k = path.size() - 1; k > j; --k) {
      loop += plan.steps[path[k]].Describe(path[k]) + " -['" + tensors[k - 1] + "']-> ";
    }
    loop += plan.steps[prev].Describe(prev);
    return Fail(where, StepPath(prev), "ensemble '" + plan.name + "': steps form a cycle: " + loop);
  }
}

// Triton refuses ensemble inputs no step reads and step outputs that are
// neither read by a step nor an ensemble output.
Status CheckUnused(const ConfigLocator* where, const EnsemblePlan& plan) {
  for (size_t k = 0; k < plan.inputs.size(); ++k) {
    if (!plan.consumers.count(plan.inputs[k])) {
      return Fail(
          where, "input[" + std::to_string(k) + "]",
          "ensemble '" + plan.name + "': input '" + plan.inputs[k] + "' is not read by any step");
    }
  }
  std::set<std::string> outputs;
  for (const auto& [name, dims] : plan.outputs) outputs.insert(name);
  for (size_t i = 0; i < plan.steps.size(); ++i) {
    for (const auto& [output, tensor] : plan.steps[i].outputs) {
      if (outputs.count(tensor) || plan.consumers.count(tensor)) continue;
      return Fail(where, StepPath(i) + ".output_map",
                  "ensemble '" + plan.name + "' " + plan.steps[i].Describe(i) + ": tensor '" +
                      tensor + "' (output '" + output +
                      "') is neither read by a step nor an ensemble output");
    }
  }
  return Status::Ok();
}

}  // namespace

bool IsEnsembleConfig(const inference::ModelConfig& config) {
  return config.platform() == kEnsemblePlatform || config.has_ensemble_scheduling();
}

Status ValidateEnsembleConfig(const ConfigLocator& where, const inference::ModelConfig& config) {
  const std::string e = "ensemble '" + config.name() + "'";
  if (config.platform() != kEnsemblePlatform) {
    return where.Error("ensemble_scheduling",
                       "ensemble_scheduling needs platform: \"ensemble\" "
                       "(model '" +
                           config.name() + "')");
  }
  if (!config.has_ensemble_scheduling()) {
    return where.Error("ensemble_scheduling",
                       e + " (platform \"ensemble\") needs ensemble_scheduling");
  }
  if (!config.backend().empty()) {
    return where.Error("backend", e + ": an ensemble has no backend");
  }
  if (config.instance_group_size() > 0) {
    return where.Error("instance_group",
                       e + ": an ensemble has no instances; remove instance_group");
  }
  if (config.has_optimization()) {
    return where.Error("optimization", e + ": optimization cannot be set for an ensemble");
  }
  if (config.model_warmup_size() > 0) {
    return where.Error("model_warmup", e + ": model_warmup cannot be set for an ensemble");
  }
  return BuildEnsemblePlan(config, &where).status();
}

StatusOr<EnsemblePlan> BuildEnsemblePlan(const inference::ModelConfig& config,
                                         const ConfigLocator* where) {
  EnsemblePlan plan;
  plan.name = config.name();
  plan.batches = config.max_batch_size() > 0;
  for (const auto& in : config.input()) plan.inputs.push_back(in.name());
  for (int k = 0; k < config.output_size(); ++k) {
    const auto& out = config.output(k);
    if (std::find(plan.inputs.begin(), plan.inputs.end(), out.name()) != plan.inputs.end()) {
      return Fail(where, "output[" + std::to_string(k) + "].name",
                  "ensemble '" + plan.name + "': '" + out.name() +
                      "' is both an input and an output of the ensemble");
    }
    plan.outputs.emplace_back(out.name(),
                              std::vector<int64_t>(out.dims().begin(), out.dims().end()));
  }
  RETURN_IF_ERROR(ReadSteps(config, where, &plan));
  RETURN_IF_ERROR(LinkProducers(where, &plan));
  for (int k = 0; k < config.output_size(); ++k) {
    if (!plan.producer.count(config.output(k).name())) {
      return Fail(where, "output[" + std::to_string(k) + "]",
                  "ensemble '" + plan.name + "': output '" + config.output(k).name() +
                      "' is not produced by any step");
    }
  }
  RETURN_IF_ERROR(CheckAcyclic(where, plan));
  RETURN_IF_ERROR(CheckUnused(where, plan));
  return plan;
}

namespace {

// One place an ensemble tensor appears, with what that place says about it.
struct TensorUse {
  std::string where;  // "ensemble input 'x'", "output 'y' of step 1 (model 'm')"
  inference::DataType type;
  std::vector<int64_t> dims;  // config dims, without batch
  bool batches;
};

std::string FullDims(const TensorUse& u) {
  Shape full;
  if (u.batches) full.push_back(-1);
  full.insert(full.end(), u.dims.begin(), u.dims.end());
  return ShapeToString(full);
}

// Every use of a tensor must agree with every earlier one.
Status CheckUse(const std::string& ensemble, const std::string& tensor,
                const std::vector<TensorUse>& earlier, const TensorUse& use) {
  for (const auto& e : earlier) {
    if (e.type != use.type) {
      return InvalidArgument("ensemble '" + ensemble + "': tensor '" + tensor + "' is " +
                             inference::DataType_Name(e.type) + " as " + e.where + " but " +
                             inference::DataType_Name(use.type) + " as " + use.where);
    }
    std::vector<int64_t> a = e.dims, b = use.dims;
    if (DimsCompatible(a, b)) continue;
    if (e.batches) a.insert(a.begin(), -1);
    if (use.batches) b.insert(b.begin(), -1);
    if (DimsCompatible(a, b)) continue;
    return InvalidArgument("ensemble '" + ensemble + "': tensor '" + tensor + "' has shape " +
                           FullDims(e) + " as " + e.where + " but " + FullDims(use) + " as " +
                           use.where + ", which cannot match (-1 matches any size)");
  }
  return Status::Ok();
}

template <typename Tensors>
std::vector<std::string> Names(const Tensors& tensors) {
  std::vector<std::string> out;
  for (const auto& t : tensors) out.push_back(t.name());
  return out;
}

template <typename Tensors>
const typename Tensors::value_type* FindTensor(const Tensors& tensors, const std::string& name) {
  for (const auto& t : tensors) {
    if (t.name() == name) return &t;
  }
  return nullptr;
}

// The mapping of one step onto its composing model's config.
Status BindStep(const inference::ModelConfig& e, size_t i, const inference::ModelConfig& m,
                EnsembleStep* step, std::map<std::string, std::vector<TensorUse>>* uses) {
  const std::string who = "ensemble '" + e.name() + "' " + step->Describe(i);
  if (m.max_batch_size() != 0 && m.max_batch_size() < e.max_batch_size()) {
    return InvalidArgument(who + ": the ensemble's max_batch_size " +
                           std::to_string(e.max_batch_size()) + " exceeds the model's " +
                           std::to_string(m.max_batch_size()));
  }
  step->model_batches = m.max_batch_size() > 0;
  auto record = [&](const std::string& tensor, TensorUse use) -> Status {
    auto& list = (*uses)[tensor];
    RETURN_IF_ERROR(CheckUse(e.name(), tensor, list, use));
    list.push_back(std::move(use));
    return Status::Ok();
  };
  for (const auto& [input, tensor] : step->inputs) {
    const auto* cfg = FindTensor(m.input(), input);
    if (!cfg) {
      return InvalidArgument(who + ": input_map key '" + input + "' is not an input of model '" +
                             m.name() + "' (its inputs: " + Join(Names(m.input())) + ")");
    }
    std::vector<int64_t> dims(cfg->dims().begin(), cfg->dims().end());
    step->input_dims[input] = dims;
    RETURN_IF_ERROR(record(tensor, {"input '" + input + "' of " + step->Describe(i),
                                    cfg->data_type(), dims, step->model_batches}));
  }
  for (const auto& in : m.input()) {
    if (in.optional() || step->input_dims.count(in.name())) continue;
    return InvalidArgument(who + ": input '" + in.name() + "' of model '" + m.name() +
                           "' is not mapped; input_map must map every non-optional input");
  }
  for (const auto& [output, tensor] : step->outputs) {
    const auto* cfg = FindTensor(m.output(), output);
    if (!cfg) {
      return InvalidArgument(who + ": output_map key '" + output + "' is not an output of model '" +
                             m.name() + "' (its outputs: " + Join(Names(m.output())) + ")");
    }
    RETURN_IF_ERROR(record(
        tensor,
        {"output '" + output + "' of " + step->Describe(i), cfg->data_type(),
         std::vector<int64_t>(cfg->dims().begin(), cfg->dims().end()), step->model_batches}));
  }
  return Status::Ok();
}

}  // namespace

Status BindComposingModels(const inference::ModelConfig& ensemble,
                           const std::vector<const inference::ModelConfig*>& composing,
                           EnsemblePlan* plan) {
  if (composing.size() != plan->steps.size()) {
    return Internal("ensemble '" + ensemble.name() + "': composing configs do not match steps");
  }
  const bool batches = ensemble.max_batch_size() > 0;
  std::map<std::string, std::vector<TensorUse>> uses;
  for (const auto& in : ensemble.input()) {
    uses[in.name()].push_back({"ensemble input '" + in.name() + "'", in.data_type(),
                               std::vector<int64_t>(in.dims().begin(), in.dims().end()), batches});
  }
  for (const auto& out : ensemble.output()) {
    uses[out.name()].push_back({"ensemble output '" + out.name() + "'", out.data_type(),
                                std::vector<int64_t>(out.dims().begin(), out.dims().end()),
                                batches});
  }
  for (size_t i = 0; i < plan->steps.size(); ++i) {
    RETURN_IF_ERROR(BindStep(ensemble, i, *composing[i], &plan->steps[i], &uses));
  }
  return Status::Ok();
}

}  // namespace nereid::core

#include "engine/runtime/graph_plan.h"

#include <algorithm>
#include <chrono>
#include <exception>
#include <new>
#include <random>
#include <string>

#include "engine/runtime/plan_file.h"
#include "engine/runtime/shape_profile.h"
#include "engine/runtime/tuner.h"

namespace nereid::engine {
namespace {

ValueInfo InfoOf(const Value& value) {
  return ValueInfo{value.name, value.dtype, value.shape.value_or(Shape{})};
}

std::string QuotedName(const std::string& name) { return "'" + name + "'"; }

// Kernels read elements through typed pointers, so bytes that are not
// aligned to the element size (binary HTTP tensors sit at arbitrary offsets
// after the JSON header) are copied once into aligned storage.
bool NeedsAlignmentCopy(const TensorView& in) {
  const size_t align = std::max<size_t>(DataTypeByteSize(in.dtype), 1);
  return reinterpret_cast<uintptr_t>(in.data) % align != 0;
}

// What a run's allocations depend on besides data: the input shapes and
// which inputs are copied.
std::vector<int64_t> MemoryPlanKey(const std::vector<TensorView>& inputs) {
  std::vector<int64_t> key;
  for (const TensorView& in : inputs) {
    key.push_back(static_cast<int64_t>(in.shape.size()));
    key.insert(key.end(), in.shape.begin(), in.shape.end());
    key.push_back(NeedsAlignmentCopy(in) ? 1 : 0);
  }
  return key;
}

std::string DescribeShapes(const std::vector<TensorView>& inputs) {
  std::string text;
  for (const TensorView& in : inputs) {
    if (!text.empty()) text += ", ";
    text += ShapeToString(in.shape);
  }
  return text;
}

}  // namespace

StatusOr<std::unique_ptr<Plan>> GraphPlan::Create(Graph graph, const RuntimeSettings& settings,
                                                   PlanInfo info,
                                                   const CompileProgressFn& progress) {
  std::unique_ptr<GraphPlan> plan(new GraphPlan());
  plan->graph_ = std::move(graph);
  plan->info_ = std::move(info);
  RETURN_IF_ERROR(SortTopologically(&plan->graph_));
  for (int id : plan->graph_.inputs) {
    plan->inputs_.push_back(InfoOf(plan->graph_.values[id]));
    const InputShapeRange* range = nullptr;
    for (const InputShapeRange& r : plan->info_.shape_profile) {
      if (r.name == plan->graph_.values[id].name) range = &r;
    }
    plan->ranges_.push_back(range);
  }
  for (int id : plan->graph_.outputs) plan->outputs_.push_back(InfoOf(plan->graph_.values[id]));
  plan->memory_planning_ = settings.memory_planning && settings.max_planned_shapes > 0;
  plan->max_planned_shapes_ = static_cast<size_t>(std::max(settings.max_planned_shapes, 1));
  RETURN_IF_ERROR(plan->BuildSteps(settings, progress));
  plan->PlanLiveness(settings.in_place);
  if (!plan->info_.loaded_from_file && plan->info_.tuning_budget_ms > 0) {
    if (settings.reference_kernels_only) {
      plan->info_.tuning.skipped = "the plan uses reference kernels only";
    } else {
      plan->Tune(settings, progress);
      plan->PlanLiveness(settings.in_place);  // the new kernels may differ in InPlaceInput
    }
  }
  return std::unique_ptr<Plan>(std::move(plan));
}

Status GraphPlan::BuildSteps(const RuntimeSettings& settings, const CompileProgressFn& progress) {
  const KernelRegistry& registry = KernelRegistry::Global();
  const bool loaded = info_.loaded_from_file;
  if (loaded && info_.kernels.size() != graph_.nodes.size()) {
    return InvalidArgument("the plan lists " + std::to_string(info_.kernels.size()) +
                           " kernels for " + std::to_string(graph_.nodes.size()) + " nodes");
  }
  if (!loaded) info_.kernels.clear();
  for (size_t i = 0; i < graph_.nodes.size(); ++i) {
    const Node& node = graph_.nodes[i];
    std::string label = DescribeNode(node, i);
    std::string op_type = node.domain.empty() ? node.op_type : node.domain + "." + node.op_type;
    if (progress) {
      progress({"kernels", static_cast<int64_t>(i), static_cast<int64_t>(graph_.nodes.size()),
                label});
    }
    auto factories = registry.FindAll(node.domain, node.op_type);
    if (factories.empty()) return Unimplemented(label + " is not supported");
    if (graph_.OpsetFor(node.domain) == 0) {
      return InvalidArgument(label + ": the model imports no opset for domain '" + node.domain +
                             "'");
    }
    StatusOr<std::unique_ptr<Kernel>> kernel = Unimplemented(label + " is not supported");
    int chosen = -1;
    if (loaded) {
      // The compile's choice, exactly: a plan never silently runs other kernels.
      const PlanInfo::KernelChoice& choice = info_.kernels[i];
      if (choice.op_type != op_type) {
        return InvalidArgument("the plan's kernel list does not match its graph: entry " +
                               std::to_string(i) + " is for op " + choice.op_type + ", " + label);
      }
      KernelFactory factory = nullptr;
      for (const auto& [priority, f] : factories) {
        if (priority == choice.priority) factory = f;
      }
      if (factory == nullptr) {
        return FailedPrecondition(label + ": the plan uses the kernel of priority " +
                                  std::to_string(choice.priority) +
                                  ", which this build does not have (recompile the model)");
      }
      kernel = BuildKernel(i, factory, choice.params, settings.intra_op_threads);
      if (!kernel.ok()) {
        return kernel.status().WithPrefix(
            label + ": the kernel the plan chose (priority " + std::to_string(choice.priority) +
            (choice.params.empty()
                 ? ""
                 : ", tuning parameters '" + TuningParams::Printable(choice.params) + "'") +
            ") cannot be built");
      }
      chosen = choice.priority;
    } else {
      // Highest priority first; an Unimplemented answer passes the node on
      // to the next (ultimately the reference kernel).
      for (const auto& [priority, factory] : factories) {
        if (settings.reference_kernels_only && priority > KernelRegistry::kReferencePriority) {
          continue;
        }
        kernel = BuildKernel(i, factory, "", settings.intra_op_threads);
        chosen = priority;
        if (kernel.ok() || kernel.status().code() != StatusCode::kUnimplemented) break;
      }
      if (!kernel.ok()) return kernel.status().WithPrefix(label);
      info_.kernels.push_back({label, op_type, chosen, ""});
    }
    steps_.push_back(Step{std::move(kernel).value(), std::move(label), std::move(op_type),
                          node.inputs, node.outputs, {}});
  }
  if (progress) {
    progress({"kernels", static_cast<int64_t>(graph_.nodes.size()),
              static_cast<int64_t>(graph_.nodes.size()), ""});
  }
  return Status::Ok();
}

StatusOr<std::unique_ptr<Kernel>> GraphPlan::BuildKernel(size_t i, KernelFactory factory,
                                                         std::string_view params,
                                                         int max_threads) const {
  const Node& node = graph_.nodes[i];
  ASSIGN_OR_RETURN(SplitTuning split, SplitTuningParams(params));
  KernelBuildContext context{node, graph_.OpsetFor(node.domain), {}, {}, {}};
  context.intra_op_threads = std::max(max_threads, 1);
  if (split.threads > 0) {
    context.intra_op_threads = std::min(split.threads, context.intra_op_threads);
  }
  context.tuning_params = split.kernel_params;
  for (int v : node.inputs) {
    context.input_dtypes.push_back(v == kNoValue ? DataType::kInvalid : graph_.values[v].dtype);
    auto it = v == kNoValue ? graph_.initializers.end() : graph_.initializers.find(v);
    context.constant_inputs.push_back(it == graph_.initializers.end() ? nullptr : &it->second);
  }
  for (int v : node.outputs) {
    context.output_dtypes.push_back(v == kNoValue ? DataType::kInvalid : graph_.values[v].dtype);
  }
  ASSIGN_OR_RETURN(std::unique_ptr<Kernel> kernel, factory(context));
  const std::string applied = kernel->AppliedTuning();
  if (applied != split.kernel_params) {
    if (applied.empty()) {
      return InvalidArgument("this kernel takes no tuning parameters, but was given '" +
                             split.kernel_params + "'");
    }
    return InvalidArgument("the kernel read tuning parameters '" + split.kernel_params +
                           "' as '" + applied + "'");
  }
  return kernel;
}

void GraphPlan::Tune(const RuntimeSettings& settings, const CompileProgressFn& progress) {
  PlanInfo::Tuning& report = info_.tuning;
  // Random inputs of the opt shapes (or the model's static ones).
  std::vector<Tensor> inputs;
  std::vector<TensorView> views;
  std::mt19937 rng(20261207);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::string shapes;
  for (size_t i = 0; i < inputs_.size(); ++i) {
    const ValueInfo& in = inputs_[i];
    const bool has_shape = graph_.values[graph_.inputs[i]].shape.has_value();
    Shape shape = ranges_[i] != nullptr ? ranges_[i]->opt : in.shape;
    bool known = ranges_[i] != nullptr || has_shape;
    for (int64_t d : shape) known = known && d >= 0;
    if (!known) {
      report.skipped = "input '" + in.name + "' has shape " +
                       (has_shape ? ShapeToString(in.shape) : std::string("(unknown)")) +
                       " and no shape profile gives it an opt shape";
      return;
    }
    if (DataTypeByteSize(in.dtype) == 0) {
      report.skipped = "input '" + in.name + "' is a " + std::string(DataTypeName(in.dtype)) +
                       " tensor; tuning makes random inputs of numeric types only";
      return;
    }
    Tensor t = Tensor::AllocateDense(in.dtype, shape);
    if (in.dtype == DataType::kFp32) {
      float* p = t.mutable_data_as<float>();
      for (size_t k = 0; k < t.byte_size() / sizeof(float); ++k) p[k] = uniform(rng);
    } else {
      std::fill(t.mutable_data(), t.mutable_data() + t.byte_size(), char{0});
    }
    shapes += (shapes.empty() ? "" : ", ") + ShapeToString(shape);
    views.push_back(t.view());
    inputs.push_back(std::move(t));
  }

  Tuner tuner(info_.tuning_budget_ms);
  const KernelRegistry& registry = KernelRegistry::Global();
  std::vector<std::optional<Tuner::Choice>> choices(steps_.size());
  // Once the budget is spent the run ends: the rest of it (first runs of
  // the remaining kernels, weight packing) would only spend more.
  StepObserver observer = [&](size_t s, std::span<const Tensor* const> args, size_t outputs) {
    if (tuner.BudgetSpent()) {
      for (size_t rest = s; rest < steps_.size(); ++rest) {
        if (info_.kernels[rest].priority > KernelRegistry::kReferencePriority) {
          ++tuner.report().not_reached;
        }
      }
      return false;
    }
    const Node& node = graph_.nodes[s];
    const int current = info_.kernels[s].priority;
    // Reference kernels are what the optimized ones refused: nothing to tune.
    if (current <= KernelRegistry::kReferencePriority) return true;
    if (progress) {
      progress({"tuning", static_cast<int64_t>(s), static_cast<int64_t>(steps_.size()),
                steps_[s].label});
    }
    auto factories = registry.FindAll(node.domain, node.op_type);
    TunerNode n;
    n.step = s;
    n.label = steps_[s].label;
    n.default_priority = current;
    n.default_kernel = steps_[s].kernel.get();
    for (const auto& [priority, factory] : factories) {
      if (priority > KernelRegistry::kReferencePriority && priority != current) {
        n.other_priorities.push_back(priority);
      }
    }
    n.max_threads = std::max(settings.intra_op_threads, 1);
    n.build = [&, s](int priority, std::string_view params) -> StatusOr<std::unique_ptr<Kernel>> {
      for (const auto& [p, factory] : factories) {
        if (p == priority) return BuildKernel(s, factory, params, settings.intra_op_threads);
      }
      return Internal("no kernel factory of priority " + std::to_string(priority));
    };
    choices[s] = tuner.TuneNode(n, args, outputs);
    return true;
  };
  std::vector<Tensor> outputs;
  int64_t in_place_steps = 0;
  Status ran;
  try {
    ran = Execute(views, &outputs, nullptr, nullptr, &in_place_steps, &observer);
  } catch (const std::bad_alloc&) {
    throw;  // the compile reports it
  } catch (const std::exception& e) {
    ran = Internal(std::string("exception: ") + e.what());
  }
  if (progress) {
    progress({"tuning", static_cast<int64_t>(steps_.size()), static_cast<int64_t>(steps_.size()),
              ""});
  }
  const std::string skipped =
      ran.ok() || ran.code() == StatusCode::kCancelled
          ? ""
          : "the plan failed on random inputs of its opt shapes (" + ran.message() +
                "); tuning stopped there";
  report = std::move(tuner.report());
  report.skipped = skipped;
  report.input_shapes = shapes;
  report.spent_ms = tuner.ElapsedMs();
  for (size_t s = 0; s < steps_.size(); ++s) {
    if (!choices[s]) continue;
    steps_[s].kernel = std::move(choices[s]->kernel);
    info_.kernels[s].priority = choices[s]->priority;
    info_.kernels[s].params = choices[s]->params;
  }
}

void GraphPlan::PlanLiveness(bool in_place) {
  for (Step& step : steps_) {
    step.release.clear();
    step.in_place_value = kNoValue;
  }
  // last_use[v]: index of the last step reading v; -1 = never read.
  std::vector<int> last_use(graph_.values.size(), -1);
  for (size_t s = 0; s < steps_.size(); ++s) {
    for (int v : steps_[s].inputs) {
      if (v != kNoValue) last_use[v] = static_cast<int>(s);
    }
  }
  std::vector<bool> keep(graph_.values.size(), false);
  for (int v : graph_.outputs) keep[v] = true;
  for (size_t s = 0; s < steps_.size(); ++s) {
    // Inputs read for the last time here, and outputs nobody reads.
    for (int v : steps_[s].inputs) {
      if (v != kNoValue && !keep[v] && last_use[v] == static_cast<int>(s)) {
        keep[v] = true;  // marks "released" so a value read twice by one step is listed once
        steps_[s].release.push_back(v);
      }
    }
    for (int v : steps_[s].outputs) {
      if (v != kNoValue && !keep[v] && last_use[v] == -1) steps_[s].release.push_back(v);
    }
  }
  if (!in_place) return;
  std::vector<bool> pinned(graph_.values.size(), false);  // bytes the plan must never write
  for (int v : graph_.inputs) pinned[v] = true;
  for (int v : graph_.outputs) pinned[v] = true;
  for (const auto& [v, tensor] : graph_.initializers) pinned[v] = true;
  for (Step& step : steps_) {
    const int i = step.kernel->InPlaceInput();
    if (i < 0 || static_cast<size_t>(i) >= step.inputs.size() || step.outputs.empty() ||
        step.outputs[0] == kNoValue) {
      continue;
    }
    const int v = step.inputs[static_cast<size_t>(i)];
    if (v == kNoValue || pinned[v] ||
        std::count(step.inputs.begin(), step.inputs.end(), v) != 1 ||
        std::find(step.release.begin(), step.release.end(), v) == step.release.end()) {
      continue;
    }
    step.in_place_value = v;
  }
}

Status GraphPlan::ValidateInputs(const std::vector<TensorView>& inputs) const {
  if (inputs.size() != inputs_.size()) {
    return InvalidArgument("expected " + std::to_string(inputs_.size()) + " inputs, got " +
                           std::to_string(inputs.size()));
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    const ValueInfo& info = inputs_[i];
    const TensorView& in = inputs[i];
    const std::string who = "input " + QuotedName(info.name);
    if (in.dtype != info.dtype) {
      return InvalidArgument(who + ": expected element type " +
                             std::string(DataTypeName(info.dtype)) + ", got " +
                             std::string(DataTypeName(in.dtype)));
    }
    if (ranges_[i] != nullptr) {
      // The profile (checked against the model's fixed dims when the plan
      // was compiled) is the stricter rule and names the range.
      RETURN_IF_ERROR(CheckShapeInRange(*ranges_[i], in.shape));
    }
    const bool rank_known = graph_.values[graph_.inputs[i]].shape.has_value();
    bool shape_ok = !rank_known || in.shape.size() == info.shape.size();
    for (size_t d = 0; shape_ok && rank_known && d < in.shape.size(); ++d) {
      shape_ok = info.shape[d] < 0 || info.shape[d] == in.shape[d];
    }
    if (!shape_ok) {
      return InvalidArgument(who + ": expected shape " + ShapeToString(info.shape) + ", got " +
                             ShapeToString(in.shape));
    }
    auto count = ElementCount(in.shape);
    if (!count.ok()) return count.status().WithPrefix(who);
    if (in.dtype == DataType::kBytes) {
      auto elements = CountSerializedBytesElements(in.data, in.byte_size);
      if (!elements.ok()) return elements.status().WithPrefix(who);
      if (*elements != *count) {
        return InvalidArgument(who + ": holds " + std::to_string(*elements) +
                               " strings but shape " + ShapeToString(in.shape) + " needs " +
                               std::to_string(*count));
      }
    } else if (in.byte_size != static_cast<size_t>(*count) * DataTypeByteSize(in.dtype)) {
      return InvalidArgument(who + ": has " + std::to_string(in.byte_size) + " bytes, shape " +
                             ShapeToString(in.shape) + " needs " +
                             std::to_string(*count * DataTypeByteSize(in.dtype)));
    }
    if (in.data == nullptr && in.byte_size > 0) return InvalidArgument(who + ": data is null");
  }
  return Status::Ok();
}

Status GraphPlan::Run(const std::vector<TensorView>& inputs, std::vector<Tensor>* outputs,
                      RunProfile* profile) const {
  if (outputs == nullptr) return InvalidArgument("outputs must not be null");
  RETURN_IF_ERROR(ValidateInputs(inputs));
  if (profile != nullptr && profile->steps.size() != steps_.size()) {
    profile->steps.clear();
    for (const Step& step : steps_) profile->steps.push_back({step.label, step.op_type, 0, 0});
  }
  try {
    std::vector<int64_t> key;
    std::shared_ptr<RunMemory> memory;
    if (memory_planning_) {
      key = MemoryPlanKey(inputs);
      memory = RunMemory::Create(FindMemoryPlan(key), static_cast<int>(steps_.size()));
    }
    int64_t in_place_steps = 0;
    Status status = Execute(inputs, outputs, profile, memory.get(), &in_place_steps);
    if (memory != nullptr && status.ok()) {
      if (memory->recording()) {
        // The run's intermediates died with Execute's slots; what lives on escaped.
        AddMemoryPlan(std::move(key), memory->BuildPlan(DescribeShapes(inputs), in_place_steps));
      } else {
        memory->plan()->CountRun(memory->fell_back());
        std::lock_guard<std::mutex> lock(cache_mu_);
        last_memory_plan_ = memory->plan();
      }
    }
    return status;
  } catch (const std::bad_alloc&) {
    return ResourceExhausted("out of memory while running the model");
  } catch (const std::exception& e) {
    return Internal(std::string("unexpected exception while running the model: ") + e.what());
  }
}

std::shared_ptr<const MemoryPlan> GraphPlan::FindMemoryPlan(
    const std::vector<int64_t>& key) const {
  std::lock_guard<std::mutex> lock(cache_mu_);
  for (CachedMemoryPlan& entry : cache_) {
    if (entry.key == key) {
      entry.last_use = ++cache_clock_;
      return entry.plan;
    }
  }
  return nullptr;
}

void GraphPlan::AddMemoryPlan(std::vector<int64_t> key,
                              std::shared_ptr<const MemoryPlan> plan) const {
  std::lock_guard<std::mutex> lock(cache_mu_);
  for (CachedMemoryPlan& entry : cache_) {
    if (entry.key == key) {  // another run of these shapes recorded first
      entry.last_use = ++cache_clock_;
      last_memory_plan_ = entry.plan;
      return;
    }
  }
  if (cache_.size() >= max_planned_shapes_) {
    auto oldest = std::min_element(cache_.begin(), cache_.end(),
                                   [](const CachedMemoryPlan& a, const CachedMemoryPlan& b) {
                                     return a.last_use < b.last_use;
                                   });
    cache_.erase(oldest);
  }
  cache_.push_back({std::move(key), plan, ++cache_clock_});
  last_memory_plan_ = std::move(plan);
}

StatusOr<std::string> GraphPlan::Serialize() const {
  try {
    return EncodePlanFile(graph_, info_);
  } catch (const std::bad_alloc&) {
    return ResourceExhausted("out of memory while serializing the plan");
  }
}

std::optional<MemoryReport> GraphPlan::LastMemoryReport() const {
  std::lock_guard<std::mutex> lock(cache_mu_);
  if (last_memory_plan_ == nullptr) return std::nullopt;
  return last_memory_plan_->Report();
}

Status GraphPlan::Execute(const std::vector<TensorView>& inputs, std::vector<Tensor>* outputs,
                          RunProfile* profile, RunMemory* memory, int64_t* in_place_steps,
                          const StepObserver* observer) const {
  // slots[v] holds value v while it is live; an empty Tensor has dtype kInvalid.
  std::vector<Tensor> slots(graph_.values.size());
  for (const auto& [id, tensor] : graph_.initializers) slots[id] = tensor;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const TensorView& in = inputs[i];
    if (NeedsAlignmentCopy(in)) {
      slots[graph_.inputs[i]] = Tensor::CopyOf(in);
      continue;
    }
    // No owner: the caller's bytes. Views of them are copied before returning.
    slots[graph_.inputs[i]] = Tensor::Wrap(in.dtype, in.shape, in.data, in.byte_size, nullptr);
  }
  std::vector<const Tensor*> args;
  std::vector<Tensor> results;
  for (size_t s = 0; s < steps_.size(); ++s) {
    const Step& step = steps_[s];
    if (memory != nullptr) memory->BeginStep(static_cast<int>(s));
    args.clear();
    for (int v : step.inputs) args.push_back(v == kNoValue ? nullptr : &slots[v]);
    if (observer != nullptr && !(*observer)(s, args, step.outputs.size())) {
      return Cancelled("run ended by its observer");
    }
    // At least one slot, even for a (malformed) node without outputs, so a
    // kernel that skipped its arity check cannot write out of bounds.
    results.assign(std::max<size_t>(step.outputs.size(), 1), Tensor());
    // In place: the input dies here and its bytes are ours alone (the slot
    // holds the only reference), so the kernel may write its output there.
    const Tensor* offered = nullptr;
    if (step.in_place_value != kNoValue) {
      const Tensor& x = slots[step.in_place_value];
      if (x.owner() != nullptr && x.owner().use_count() == 1 && x.dtype() != DataType::kBytes) {
        results[0] = x;
        offered = &x;
      }
    }
    const auto start = profile ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point();
    Status status;
    {
      // Only this thread, only while the kernel runs.
      ScopedTensorAllocator hook(memory);
      status = step.kernel->Run(args, results);
    }
    if (profile) {
      profile->steps[s].total_ms += std::chrono::duration<double, std::milli>(
                                        std::chrono::steady_clock::now() - start)
                                        .count();
      ++profile->steps[s].calls;
    }
    if (!status.ok()) return status.WithPrefix(step.label);
    if (offered != nullptr && results[0].data() == offered->data()) ++*in_place_steps;
    for (size_t o = 0; o < step.outputs.size(); ++o) {
      const int v = step.outputs[o];
      if (v == kNoValue) continue;
      if (results[o].dtype() == DataType::kInvalid) {
        return Internal(step.label + " produced no value for output " +
                        QuotedName(graph_.values[v].name));
      }
      slots[v] = std::move(results[o]);
    }
    results.clear();  // omitted outputs die in their step
    for (int v : step.release) slots[v] = Tensor();
    if (memory != nullptr) memory->EndStep(static_cast<int>(s));
  }
  if (memory != nullptr) memory->Finish();
  outputs->clear();
  outputs->reserve(graph_.outputs.size());
  for (size_t i = 0; i < graph_.outputs.size(); ++i) {
    const Tensor& t = slots[graph_.outputs[i]];
    if (outputs_[i].dtype != DataType::kInvalid && t.dtype() != outputs_[i].dtype) {
      // The model's declaration contradicts what its nodes compute.
      return InvalidArgument("the model declares output " + QuotedName(outputs_[i].name) + " as " +
                             std::string(DataTypeName(outputs_[i].dtype)) + ", but it computes " +
                             std::string(DataTypeName(t.dtype())));
    }
    outputs->push_back(t.owner() ? t : Tensor::CopyOf(t.view()));
  }
  return Status::Ok();
}

}  // namespace nereid::engine

#include "core/ensemble/ensemble_plan.h"

#include <set>

namespace nereid::core {

std::string EnsembleStep::Describe(size_t index) const {
  return "step " + std::to_string(index) + " (model '" + model_name + "')";
}

std::vector<bool> EnsemblePlan::NeededSteps(const std::vector<std::string>& requested) const {
  std::vector<bool> needed(steps.size(), false);
  std::vector<std::string> pending;
  if (requested.empty()) {
    for (const auto& [name, dims] : outputs) pending.push_back(name);
  } else {
    pending = requested;
  }
  std::set<std::string> seen;
  while (!pending.empty()) {
    std::string tensor = std::move(pending.back());
    pending.pop_back();
    if (!seen.insert(tensor).second) continue;
    auto it = producer.find(tensor);
    if (it == producer.end() || needed[it->second]) continue;
    needed[it->second] = true;
    for (const auto& [input, source] : steps[it->second].inputs) pending.push_back(source);
  }
  return needed;
}

bool DimsCompatible(const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] != b[i] && a[i] != -1 && b[i] != -1) return false;
  }
  return true;
}

Shape AdaptShape(const std::vector<int64_t>& dims, bool consumer_batches, int64_t tensor_batch,
                 const Shape& shape) {
  const bool tensor_batched = tensor_batch != 0;
  if (consumer_batches == tensor_batched) return shape;
  if (consumer_batches) {
    if (!DimsCompatible(dims, shape)) return shape;  // already carries a batch dimension
    Shape out{1};
    out.insert(out.end(), shape.begin(), shape.end());
    return out;
  }
  if (tensor_batch == 1 && !shape.empty() && !DimsCompatible(dims, shape)) {
    return Shape(shape.begin() + 1, shape.end());
  }
  return shape;
}

}  // namespace nereid::core

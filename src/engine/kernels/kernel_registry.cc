#include "engine/kernels/kernel.h"

namespace nereid::engine {

KernelRegistry& KernelRegistry::Global() {
  // Leaked on purpose: registrations run from other translation units'
  // static initializers, and lookups may happen during static destruction.
  static KernelRegistry* registry = new KernelRegistry();
  return *registry;
}

bool KernelRegistry::Register(std::string_view domain, std::string_view op_type,
                              KernelFactory factory, int priority) {
  std::lock_guard<std::mutex> lock(mu_);
  factories_[{NormalizeDomain(domain), std::string(op_type)}][priority] = factory;
  return true;
}

KernelFactory KernelRegistry::Find(std::string_view domain, std::string_view op_type) const {
  auto all = FindAll(domain, op_type);
  return all.empty() ? nullptr : all.front().second;
}

KernelFactory KernelRegistry::FindReference(std::string_view domain,
                                            std::string_view op_type) const {
  for (const auto& [priority, factory] : FindAll(domain, op_type)) {
    if (priority == kReferencePriority) return factory;
  }
  return nullptr;
}

std::vector<std::pair<int, KernelFactory>> KernelRegistry::FindAll(
    std::string_view domain, std::string_view op_type) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::pair<int, KernelFactory>> out;
  auto it = factories_.find({NormalizeDomain(domain), std::string(op_type)});
  if (it == factories_.end()) return out;
  for (auto p = it->second.rbegin(); p != it->second.rend(); ++p) out.push_back(*p);
  return out;
}

std::vector<std::string> KernelRegistry::RegisteredOps() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> ops;
  for (const auto& [key, factory] : factories_) ops.push_back(key.first + ":" + key.second);
  return ops;  // std::map iteration order is already sorted
}

}  // namespace nereid::engine

#include "engine/kernels/kernel.h"

namespace nereid::engine {

KernelRegistry& KernelRegistry::Global() {
  // Leaked on purpose: registrations run from other translation units'
  // static initializers, and lookups may happen during static destruction.
  static KernelRegistry* registry = new KernelRegistry();
  return *registry;
}

bool KernelRegistry::Register(std::string_view domain, std::string_view op_type,
                              KernelFactory factory) {
  std::lock_guard<std::mutex> lock(mu_);
  factories_[{NormalizeDomain(domain), std::string(op_type)}] = factory;
  return true;
}

KernelFactory KernelRegistry::Find(std::string_view domain, std::string_view op_type) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = factories_.find({NormalizeDomain(domain), std::string(op_type)});
  return it == factories_.end() ? nullptr : it->second;
}

std::vector<std::string> KernelRegistry::RegisteredOps() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> ops;
  for (const auto& [key, factory] : factories_) ops.push_back(key.first + ":" + key.second);
  return ops;  // std::map iteration order is already sorted
}

}  // namespace nereid::engine

#include "engine/runtime/plan.h"

#include <exception>
#include <new>

#include "engine/ir/onnx_import.h"
#include "engine/kernels/kernel.h"
#include "engine/runtime/graph_plan.h"

namespace nereid::engine {
namespace {

// Import and build may allocate large initializers; keep exceptions inside.
template <typename Import>
StatusOr<std::unique_ptr<Plan>> Build(Import&& import, const CompileOptions& options) {
  try {
    ASSIGN_OR_RETURN(Graph graph, import());
    return GraphPlan::Create(std::move(graph), options);
  } catch (const std::bad_alloc&) {
    return ResourceExhausted("out of memory while loading the model");
  } catch (const std::exception& e) {
    return Internal(std::string("unexpected exception while loading the model: ") + e.what());
  }
}

ImportOptions RuntimeImportOptions() {
  ImportOptions options;
  options.infer_shapes_for = [](std::string_view domain, std::string_view op_type) {
    return KernelRegistry::Global().Find(domain, op_type) != nullptr;
  };
  return options;
}

}  // namespace

StatusOr<std::unique_ptr<Plan>> Plan::FromOnnxFile(const std::string& path,
                                                   const CompileOptions& options) {
  return Build([&] { return ImportOnnxFile(path, RuntimeImportOptions()); }, options);
}

StatusOr<std::unique_ptr<Plan>> Plan::FromOnnxBytes(std::string_view bytes,
                                                    const CompileOptions& options) {
  return Build([&] { return ImportOnnxModel(bytes, RuntimeImportOptions()); }, options);
}

}  // namespace nereid::engine

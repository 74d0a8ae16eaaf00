#include "engine/runtime/plan.h"

#include <exception>
#include <new>

#include "engine/ir/onnx_import.h"
#include "engine/kernels/kernel.h"
#include "engine/passes/assign_precision.h"
#include "engine/passes/pass.h"
#include "engine/runtime/graph_plan.h"

namespace nereid::engine {
namespace {

// What the passes could otherwise hide by removing a dead node: every node
// of the model must be an operator we run, with at least one output.
Status CheckNodes(const Graph& graph) {
  const KernelRegistry& registry = KernelRegistry::Global();
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const Node& node = graph.nodes[i];
    if (registry.Find(node.domain, node.op_type) == nullptr) {
      return Unimplemented(DescribeNode(node, i) + " is not supported");
    }
    if (node.outputs.empty()) return InvalidArgument(DescribeNode(node, i) + " has no outputs");
  }
  return Status::Ok();
}

// Import and build may allocate large initializers; keep exceptions inside.
template <typename Import>
StatusOr<std::unique_ptr<Plan>> Build(Import&& import, const CompileOptions& options) {
  try {
    ASSIGN_OR_RETURN(Graph graph, import());
    if (options.optimize) {
      RETURN_IF_ERROR(CheckNodes(graph));
      PassContext context;
      context.intra_op_threads = options.intra_op_threads;
      context.reference_kernels_only = options.reference_kernels_only;
      context.disabled = options.disabled_passes;
      RETURN_IF_ERROR(RunPasses(&graph, context));
    }
    RETURN_IF_ERROR(AssignPrecision(&graph, options, nullptr));
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

// Optimized kernels for the blocked-layout ops of the "nereid" domain
// (engine/ir/fused_ops.h):
//   BlockedPool: oneDNN pooling directly on nChw<b>c tensors (max, average
//     with or without padding in the divisor, global forms) by the pooling
//     kernel of dnnl_pool.cc, with its geometry (ceil_mode by growing the
//     right padding); dilations and anything else oneDNN cannot express
//     exactly go to the reference kernel (unblock, ONNX reference pool, block).
//   ToBlocked / FromBlocked: the layout conversions (blocked_layout.h's
//     kernel, shared with the reference), parallel over (batch, channel
//     block) within the plan's thread budget.
//
// Thread safety: Run is const and may run concurrently (dnnl_pool.h).
#include <memory>
#include <string>
#include <utility>

#include "engine/kernels/blocked_layout.h"
#include "engine/kernels/cpu/dnnl_pool.h"
#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/conv_pool_util.h"

namespace nereid::engine::cpu {
namespace {

StatusOr<std::unique_ptr<Kernel>> MakeDnnlBlockedPool(const KernelBuildContext& context) {
  KernelFactory ref_factory = KernelRegistry::Global().FindReference("nereid", "BlockedPool");
  if (ref_factory == nullptr) return Unimplemented("no reference BlockedPool kernel");
  ASSIGN_OR_RETURN(std::unique_ptr<Kernel> reference, ref_factory(context));
  const Node& node = context.node;
  ASSIGN_OR_RETURN(std::string pool, node.GetString("pool"));
  ASSIGN_OR_RETURN(int64_t block, node.GetInt("block"));
  ASSIGN_OR_RETURN(int64_t channels, node.GetInt("channels"));
  if (node.outputs.size() != 1) return Unimplemented("BlockedPool with Indices");
  DnnlPoolSpec spec;
  spec.max = pool == "MaxPool" || pool == "GlobalMaxPool";
  spec.global = pool == "GlobalAveragePool" || pool == "GlobalMaxPool";
  spec.name = pool;
  spec.block = block;
  spec.channels = channels;
  if (!spec.global) {
    ASSIGN_OR_RETURN(spec.attrs, ref::ParseWindowAttrs(node, pool, spec.max, true));
    ASSIGN_OR_RETURN(int64_t order, node.GetInt("storage_order", 0));
    if (order != 0) return Unimplemented("storage_order");
    ASSIGN_OR_RETURN(int64_t cip, node.GetInt("count_include_pad", 0));
    spec.count_include_pad = cip == 1;
  }
  return NewDnnlPoolKernel(std::move(spec), std::move(reference), context.intra_op_threads);
}

StatusOr<std::unique_ptr<Kernel>> MakeLayout(const KernelBuildContext& context, bool to_blocked) {
  // The reference factory validates the node; this kernel only adds threads.
  KernelFactory ref_factory =
      KernelRegistry::Global().FindReference("nereid", to_blocked ? "ToBlocked" : "FromBlocked");
  if (ref_factory == nullptr) return Unimplemented("no reference layout kernel");
  RETURN_IF_ERROR(ref_factory(context).status());
  ASSIGN_OR_RETURN(int64_t block, context.node.GetInt("block"));
  ASSIGN_OR_RETURN(int64_t channels, context.node.GetInt("channels", 0));
  return NewBlockedLayoutKernel(to_blocked, block, channels, context.intra_op_threads);
}

StatusOr<std::unique_ptr<Kernel>> MakeToBlocked(const KernelBuildContext& context) {
  return MakeLayout(context, true);
}
StatusOr<std::unique_ptr<Kernel>> MakeFromBlocked(const KernelBuildContext& context) {
  return MakeLayout(context, false);
}

NEREID_REGISTER_KERNEL_PRIORITY("nereid", "BlockedPool", MakeDnnlBlockedPool, 10);
NEREID_REGISTER_KERNEL_PRIORITY("nereid", "ToBlocked", MakeToBlocked, 10);
NEREID_REGISTER_KERNEL_PRIORITY("nereid", "FromBlocked", MakeFromBlocked, 10);

}  // namespace
}  // namespace nereid::engine::cpu

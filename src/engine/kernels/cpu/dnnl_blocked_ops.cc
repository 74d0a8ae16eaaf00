// Optimized kernels for the blocked-layout ops of the "nereid" domain
// (engine/ir/fused_ops.h):
//   BlockedPool: oneDNN pooling directly on nChw<b>c tensors (max, average
//     with or without padding in the divisor, global forms). ceil_mode,
//     dilations and anything else oneDNN's geometry cannot express exactly
//     go to the reference kernel (unblock, ONNX reference pool, block).
//   ToBlocked / FromBlocked: the layout conversions, parallel over
//     (batch, channel block) within the plan's thread budget.
//
// Thread safety: Run is const and may run concurrently; the shape-keyed
// primitive cache is guarded by a mutex held for lookup and creation only.
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/kernels/blocked_layout.h"
#include "engine/kernels/cpu/dnnl_common.h"
#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/conv_pool_util.h"
#include "engine/kernels/ref/ref_util.h"

namespace nereid::engine::cpu {
namespace {

using dnnl::memory;

constexpr size_t kMaxCachedShapes = 16;

struct PoolEntry {
  bool supported = false;
  dnnl::pooling_forward prim;
  memory::desc src_md, dst_md, scratch_md;
  Shape out_shape;  // physical (blocked)
};

class DnnlBlockedPoolKernel final : public Kernel {
 public:
  DnnlBlockedPoolKernel(std::string pool, ref::WindowAttrs attrs, bool count_include_pad,
                        int64_t block, int64_t channels, int threads,
                        std::unique_ptr<Kernel> reference)
      : pool_(std::move(pool)),
        attrs_(std::move(attrs)),
        count_include_pad_(count_include_pad),
        block_(block),
        channels_(channels),
        threads_(threads),
        reference_(std::move(reference)) {}

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    SetThreads(threads_);
    if (inputs.size() != 1 || inputs[0] == nullptr || outputs.empty()) {
      return reference_->Run(inputs, outputs);
    }
    const Tensor& x = *inputs[0];
    const Shape& xs = x.shape();
    if (x.dtype() != DataType::kFp32 || xs.size() != 5 || xs[4] != block_ ||
        xs[1] != (channels_ + block_ - 1) / block_ || xs[0] <= 0 || xs[2] <= 0 || xs[3] <= 0 ||
        x.byte_size() != static_cast<size_t>(ref::NumElements(xs)) * sizeof(float)) {
      return reference_->Run(inputs, outputs);
    }
    std::shared_ptr<const PoolEntry> entry;
    try {
      entry = GetEntry(xs);
    } catch (const dnnl::error& e) {
      return DnnlError(e, "pooling primitive creation");
    }
    if (!entry->supported) return reference_->Run(inputs, outputs);
    ASSIGN_OR_RETURN(outputs[0], ref::AllocateOutput(DataType::kFp32, entry->out_shape));
    try {
      const dnnl::engine& eng = CpuEngine();
      memory src(entry->src_md, eng, const_cast<char*>(x.data()));
      memory dst(entry->dst_md, eng, outputs[0].mutable_data());
      Tensor scratch_bytes;
      memory scratch = TempMemory(entry->scratch_md, &scratch_bytes);
      dnnl::stream& strm = CpuStream();
      entry->prim.execute(strm, {{DNNL_ARG_SRC, src},
                                 {DNNL_ARG_DST, dst},
                                 {DNNL_ARG_SCRATCHPAD, scratch}});
      strm.wait();
    } catch (const dnnl::error& e) {
      return DnnlError(e, "pooling execution");
    }
    return Status::Ok();
  }

 private:
  std::shared_ptr<const PoolEntry> GetEntry(const Shape& xs) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = cache_.find(xs);
    if (it != cache_.end()) return it->second;
    auto entry = CreateEntry(xs);
    if (cache_.size() >= kMaxCachedShapes) {
      cache_.erase(order_.front());
      order_.pop_front();
    }
    cache_.emplace(xs, entry);
    order_.push_back(xs);
    return entry;
  }

  std::shared_ptr<PoolEntry> CreateEntry(const Shape& xs) const {
    auto entry = std::make_shared<PoolEntry>();
    const int64_t h = xs[2], w = xs[3];
    const bool global = pool_ == "GlobalAveragePool" || pool_ == "GlobalMaxPool";
    const bool is_max = pool_ == "MaxPool" || pool_ == "GlobalMaxPool";
    memory::dims kernel, strides, pad_l, pad_r, out;
    if (global) {
      kernel = {h, w};
      strides = {1, 1};
      pad_l = pad_r = {0, 0};
      out = {1, 1};
    } else {
      if (attrs_.ceil_mode || attrs_.kernel_shape.size() != 2) return entry;
      for (int64_t d : attrs_.dilations) {
        if (d != 1) return entry;
      }
      const int64_t spatial[2] = {h, w};
      auto window = ref::ResolveWindow(attrs_, std::span<const int64_t>(spatial, 2),
                                       attrs_.kernel_shape, pool_);
      if (!window.ok()) return entry;  // the reference reports the geometry error
      for (size_t i = 0; i < 2; ++i) {
        // oneDNN's floor formula must give ONNX's output size.
        const int64_t span = spatial[i] + window->pad_begin[i] + window->pad_end[i];
        if (window->out[i] <= 0 || (span - window->kernel[i]) / window->stride[i] + 1 !=
                                       window->out[i]) {
          return entry;
        }
      }
      kernel = ToDims(window->kernel);
      strides = ToDims(window->stride);
      pad_l = ToDims(window->pad_begin);
      pad_r = ToDims(window->pad_end);
      out = ToDims(window->out);
    }
    const auto tag = block_ == 16 ? memory::format_tag::nChw16c : memory::format_tag::nChw8c;
    entry->src_md = memory::desc({xs[0], channels_, h, w}, memory::data_type::f32, tag);
    entry->dst_md = memory::desc({xs[0], channels_, out[0], out[1]}, memory::data_type::f32, tag);
    entry->out_shape = BlockedShape({xs[0], channels_, out[0], out[1]}, block_);
    const auto alg = is_max ? dnnl::algorithm::pooling_max
                     : count_include_pad_ ? dnnl::algorithm::pooling_avg_include_padding
                                          : dnnl::algorithm::pooling_avg_exclude_padding;
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    try {
      dnnl::pooling_forward::desc desc(dnnl::prop_kind::forward_inference, alg, entry->src_md,
                                       entry->dst_md, strides, kernel, pad_l, pad_r);
      dnnl::pooling_forward::primitive_desc pd(desc, attr, CpuEngine());
      entry->scratch_md = pd.scratchpad_desc();
      entry->prim = dnnl::pooling_forward(pd);
    } catch (const dnnl::error& e) {
      if (e.status != dnnl_unimplemented && e.status != dnnl_invalid_arguments) throw;
      return entry;
    }
    entry->supported = true;
    return entry;
  }

  const std::string pool_;
  const ref::WindowAttrs attrs_;
  const bool count_include_pad_;
  const int64_t block_, channels_;
  const int threads_;
  const std::unique_ptr<Kernel> reference_;

  mutable std::mutex mu_;
  mutable std::map<Shape, std::shared_ptr<PoolEntry>> cache_;  // GUARDED_BY(mu_)
  mutable std::deque<Shape> order_;                            // GUARDED_BY(mu_)
};

StatusOr<std::unique_ptr<Kernel>> MakeDnnlBlockedPool(const KernelBuildContext& context) {
  KernelFactory ref_factory = KernelRegistry::Global().FindReference("nereid", "BlockedPool");
  if (ref_factory == nullptr) return Unimplemented("no reference BlockedPool kernel");
  ASSIGN_OR_RETURN(std::unique_ptr<Kernel> reference, ref_factory(context));
  const Node& node = context.node;
  ASSIGN_OR_RETURN(std::string pool, node.GetString("pool"));
  ASSIGN_OR_RETURN(int64_t block, node.GetInt("block"));
  ASSIGN_OR_RETURN(int64_t channels, node.GetInt("channels"));
  if (node.outputs.size() != 1) return Unimplemented("BlockedPool with Indices");
  ref::WindowAttrs attrs;
  bool count_include_pad = false;
  if (pool == "MaxPool" || pool == "AveragePool") {
    ASSIGN_OR_RETURN(attrs, ref::ParseWindowAttrs(node, pool, pool == "MaxPool", true));
    ASSIGN_OR_RETURN(int64_t order, node.GetInt("storage_order", 0));
    if (order != 0) return Unimplemented("storage_order");
    ASSIGN_OR_RETURN(int64_t cip, node.GetInt("count_include_pad", 0));
    count_include_pad = cip == 1;
  }
  return std::unique_ptr<Kernel>(new DnnlBlockedPoolKernel(pool, std::move(attrs),
                                                           count_include_pad, block, channels,
                                                           context.intra_op_threads,
                                                           std::move(reference)));
}

class LayoutKernel final : public Kernel {
 public:
  LayoutKernel(bool to_blocked, int64_t block, int64_t channels, int threads)
      : to_blocked_(to_blocked), block_(block), channels_(channels), threads_(threads) {}
  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(ref::CheckInputs(inputs, 1, 1));
    if (to_blocked_) {
      ASSIGN_OR_RETURN(outputs[0], ToBlockedLayout(*inputs[0], block_, threads_));
    } else {
      ASSIGN_OR_RETURN(outputs[0], FromBlockedLayout(*inputs[0], block_, channels_, threads_));
    }
    return Status::Ok();
  }

 private:
  bool to_blocked_;
  int64_t block_, channels_;
  int threads_;
};

StatusOr<std::unique_ptr<Kernel>> MakeLayout(const KernelBuildContext& context, bool to_blocked) {
  // The reference factory validates the node; this kernel only adds threads.
  KernelFactory ref_factory =
      KernelRegistry::Global().FindReference("nereid", to_blocked ? "ToBlocked" : "FromBlocked");
  if (ref_factory == nullptr) return Unimplemented("no reference layout kernel");
  RETURN_IF_ERROR(ref_factory(context).status());
  ASSIGN_OR_RETURN(int64_t block, context.node.GetInt("block"));
  ASSIGN_OR_RETURN(int64_t channels, context.node.GetInt("channels", 0));
  return std::unique_ptr<Kernel>(
      new LayoutKernel(to_blocked, block, channels, context.intra_op_threads));
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

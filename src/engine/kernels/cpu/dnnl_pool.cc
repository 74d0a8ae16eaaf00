// MaxPool, AveragePool, GlobalMaxPool and GlobalAveragePool (FP32, 1-D to
// 3-D spatial, plain NCW/NCHW/NCDHW) on oneDNN pooling primitives,
// registered above the reference kernels. The kernel (NewDnnlPoolKernel,
// dnnl_pool.h) also runs nereid.BlockedPool on nChw16c / nChw8c tensors
// (dnnl_blocked_ops.cc) with the same geometry.
//
// The window (kernel_shape, strides, pads, auto_pad, ceil_mode) is resolved
// per input shape by the reference code (ref/conv_pool_util.h), so output
// shapes are the reference's. oneDNN wants
// (in + pad_l + pad_r - kernel) / stride + 1 == out; when ceil_mode makes
// the output longer, the right padding handed to oneDNN grows to match
// (max pooling ignores padding; exclude-padding averages divide by the
// in-bounds taps, as the reference does).
//
// Run on the reference kernel instead (factory: Unimplemented; run time:
// delegated): dtypes other than FP32, MaxPool's Indices output, dilations
// other than 1, windows that can lie entirely in the padding (a pad >=
// the kernel extent), AveragePool count_include_pad=1 when a ceil_mode
// window reaches past the end padding (the reference counts only the
// declared padding; oneDNN would count the whole kernel), empty tensors,
// ranks outside 3..5, geometry errors (the reference reports them), or
// anything oneDNN answers unimplemented. storage_order only matters for
// Indices, so it is accepted when Indices is not wanted.
// NaN inputs: oneDNN's max may not pick the NaN the reference's
// first-tap-wins comparison picks (ONNX leaves NaN order unspecified).
//
// Thread safety: Run is const. The input-shape-keyed primitive cache is
// guarded by a mutex held only for lookup and insertion; primitives execute
// outside it with per-call memory objects and a per-call scratchpad.
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "engine/kernels/blocked_layout.h"
#include "engine/kernels/cpu/cpu_util.h"
#include "engine/kernels/cpu/dnnl_common.h"
#include "engine/kernels/cpu/dnnl_pool.h"
#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/conv_pool_util.h"
#include "engine/kernels/ref/ref_util.h"

namespace nereid::engine::cpu {
namespace {

using dnnl::memory;

constexpr size_t kMaxCachedShapes = 16;

struct PoolEntry {
  bool supported = false;  // false: the reference kernel runs this shape
  dnnl::pooling_forward prim;
  memory::desc src_md;
  memory::desc dst_md;
  memory::desc scratch_md;
  Shape out_shape;  // in the kernel's memory format (blocked: physical)
};

class DnnlPoolKernel final : public FallbackKernel {
 public:
  DnnlPoolKernel(DnnlPoolSpec spec, std::unique_ptr<Kernel> reference, int threads)
      : FallbackKernel(std::move(reference), threads), spec_(std::move(spec)) {}

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    if (inputs.size() != 1 || outputs.empty()) return Fallback(inputs, outputs);
    const std::optional<Shape> logical = LogicalShape(inputs[0]);
    if (!logical) return Fallback(inputs, outputs);
    const Tensor& x = *inputs[0];
    std::shared_ptr<const PoolEntry> entry;
    try {
      entry = GetEntry(*logical);
    } catch (const dnnl::error& e) {
      return DnnlError(e, spec_.name + " primitive creation");
    }
    if (!entry->supported) return Fallback(inputs, outputs);
    SetThreads(threads_);
    ASSIGN_OR_RETURN(outputs[0], ref::AllocateOutput(DataType::kFp32, entry->out_shape));
    try {
      const dnnl::engine& eng = CpuEngine();
      dnnl::stream& strm = CpuStream();
      memory src(entry->src_md, eng, const_cast<char*>(x.data()));
      memory dst(entry->dst_md, eng, outputs[0].mutable_data());
      std::unordered_map<int, memory> args = {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}};
      Tensor scratch_bytes;
      if (entry->scratch_md.get_size() != 0) {
        args.emplace(DNNL_ARG_SCRATCHPAD, TempMemory(entry->scratch_md, &scratch_bytes));
      }
      entry->prim.execute(strm, args);
      strm.wait();
    } catch (const dnnl::error& e) {
      return DnnlError(e, spec_.name + " execution");
    }
    return Status::Ok();
  }

 private:
  // The logical N, C, spatial... shape of a dense FP32 input in the kernel's
  // memory format with no empty dim; nullopt sends it to the reference.
  std::optional<Shape> LogicalShape(const Tensor* x) const {
    if (!IsDenseFp32(x)) return std::nullopt;
    const Shape& xs = x->shape();
    for (int64_t d : xs) {
      if (d <= 0) return std::nullopt;
    }
    if (spec_.block == 0) {
      if (xs.size() < 3 || xs.size() > 5) return std::nullopt;
      return xs;
    }
    const int64_t b = spec_.block;
    if (xs.size() != 5 || xs[4] != b || xs[1] != (spec_.channels + b - 1) / b) {
      return std::nullopt;
    }
    return Shape{xs[0], spec_.channels, xs[2], xs[3]};
  }

  memory::format_tag Tag(size_t rank) const {
    if (spec_.block == 0) return PlainTag(rank);
    return spec_.block == 16 ? memory::format_tag::nChw16c : memory::format_tag::nChw8c;
  }

  std::shared_ptr<const PoolEntry> GetEntry(const Shape& xs) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = cache_.find(xs);
    if (it != cache_.end()) return it->second;
    std::shared_ptr<const PoolEntry> entry = CreateEntry(xs);
    if (cache_.size() >= kMaxCachedShapes) {
      cache_.erase(order_.front());
      order_.pop_front();
    }
    cache_.emplace(xs, entry);
    order_.push_back(xs);
    return entry;
  }

  // `xs` is the logical shape. Throws dnnl::error only for unexpected oneDNN
  // failures.
  std::shared_ptr<const PoolEntry> CreateEntry(const Shape& xs) const {
    auto entry = std::make_shared<PoolEntry>();
    const std::span<const int64_t> spatial = std::span(xs).subspan(2);
    ref::WindowAttrs attrs = spec_.attrs;
    if (spec_.global) {
      attrs = ref::WindowAttrs{};
      attrs.kernel_shape.assign(spatial.begin(), spatial.end());
    }
    auto window = ref::ResolveWindow(attrs, spatial, attrs.kernel_shape, spec_.name);
    if (!window.ok()) return entry;  // the reference reports the error
    const ref::Window& w = *window;
    memory::dims strides, kernel, pad_l, pad_r;
    for (size_t i = 0; i < w.rank(); ++i) {
      const int64_t k = w.kernel[i];
      const int64_t s = w.stride[i];
      if (w.dilation[i] != 1 || w.out[i] < 1) return entry;
      if (w.pad_begin[i] >= k || w.pad_end[i] >= k) return entry;  // possibly empty windows
      int64_t right = w.pad_end[i];
      if ((w.in[i] + w.pad_begin[i] + right - k) / s + 1 != w.out[i]) {
        right = (w.out[i] - 1) * s + k - w.in[i] - w.pad_begin[i];  // ceil_mode: grow
        if (right < 0 || right >= k) return entry;
        if (!spec_.max && spec_.count_include_pad && right > w.pad_end[i]) return entry;
      }
      strides.push_back(s);
      kernel.push_back(k);
      pad_l.push_back(w.pad_begin[i]);
      pad_r.push_back(right);
    }
    Shape out = {xs[0], xs[1]};
    out.insert(out.end(), w.out.begin(), w.out.end());
    entry->out_shape = spec_.block == 0 ? out : BlockedShape(out, spec_.block);
    const auto f32 = memory::data_type::f32;
    entry->src_md = memory::desc(ToDims(xs), f32, Tag(xs.size()));
    entry->dst_md = memory::desc(ToDims(out), f32, Tag(xs.size()));
    const dnnl::algorithm alg = spec_.max ? dnnl::algorithm::pooling_max
                                : spec_.count_include_pad
                                    ? dnnl::algorithm::pooling_avg_include_padding
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
      if (e.status == dnnl_unimplemented || e.status == dnnl_invalid_arguments) return entry;
      throw;
    }
    entry->supported = true;
    return entry;
  }

  const DnnlPoolSpec spec_;

  mutable std::mutex mu_;
  mutable std::map<Shape, std::shared_ptr<const PoolEntry>> cache_;  // GUARDED_BY(mu_)
  mutable std::deque<Shape> order_;                                 // GUARDED_BY(mu_)
};

}  // namespace

std::unique_ptr<Kernel> NewDnnlPoolKernel(DnnlPoolSpec spec, std::unique_ptr<Kernel> reference,
                                          int threads) {
  return std::make_unique<DnnlPoolKernel>(std::move(spec), std::move(reference), threads);
}

namespace {

StatusOr<std::unique_ptr<Kernel>> MakePool(const KernelBuildContext& context, bool max,
                                           bool global) {
  const std::string& name = context.node.op_type;
  // The reference factory validates arity and every attribute.
  ASSIGN_OR_RETURN(std::unique_ptr<Kernel> reference,
                   BuildFp32Reference(context, "oneDNN pooling is FP32 only"));
  const Node& node = context.node;
  for (size_t i = 1; i < node.outputs.size(); ++i) {
    if (node.outputs[i] != kNoValue) {
      return Unimplemented(name + ": the Indices output runs on the reference kernel");
    }
  }
  DnnlPoolSpec spec;
  spec.max = max;
  spec.global = global;
  spec.name = name;
  if (!global) {
    ASSIGN_OR_RETURN(spec.attrs, ref::ParseWindowAttrs(node, name, true, true));
    for (int64_t d : spec.attrs.dilations) {
      if (d != 1) return Unimplemented(name + ": dilated pooling runs on the reference kernel");
    }
    if (!max) {
      ASSIGN_OR_RETURN(int64_t cip, node.GetInt("count_include_pad", 0));
      spec.count_include_pad = cip == 1;
    }
  }
  return NewDnnlPoolKernel(std::move(spec), std::move(reference), context.intra_op_threads);
}

StatusOr<std::unique_ptr<Kernel>> MakeMaxPool(const KernelBuildContext& c) {
  return MakePool(c, /*max=*/true, /*global=*/false);
}
StatusOr<std::unique_ptr<Kernel>> MakeAveragePool(const KernelBuildContext& c) {
  return MakePool(c, /*max=*/false, /*global=*/false);
}
StatusOr<std::unique_ptr<Kernel>> MakeGlobalMaxPool(const KernelBuildContext& c) {
  return MakePool(c, /*max=*/true, /*global=*/true);
}
StatusOr<std::unique_ptr<Kernel>> MakeGlobalAveragePool(const KernelBuildContext& c) {
  return MakePool(c, /*max=*/false, /*global=*/true);
}

NEREID_REGISTER_KERNEL_PRIORITY("", "MaxPool", MakeMaxPool, 10);
NEREID_REGISTER_KERNEL_PRIORITY("", "AveragePool", MakeAveragePool, 10);
NEREID_REGISTER_KERNEL_PRIORITY("", "GlobalMaxPool", MakeGlobalMaxPool, 10);
NEREID_REGISTER_KERNEL_PRIORITY("", "GlobalAveragePool", MakeGlobalAveragePool, 10);

}  // namespace
}  // namespace nereid::engine::cpu

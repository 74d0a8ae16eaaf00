// MaxPool, AveragePool, GlobalMaxPool and GlobalAveragePool (FP32, 1-D to
// 3-D spatial, plain NCW/NCHW/NCDHW) on oneDNN pooling primitives,
// registered above the reference kernels.
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
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "engine/kernels/cpu/cpu_util.h"
#include "engine/kernels/cpu/dnnl_common.h"
#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/conv_pool_util.h"
#include "engine/kernels/ref/ref_util.h"

namespace nereid::engine::cpu {
namespace {

using dnnl::memory;

constexpr size_t kMaxCachedShapes = 16;

enum class Kind { kMax, kAverage };

struct PoolEntry {
  bool supported = false;  // false: the reference kernel runs this shape
  dnnl::pooling_forward prim;
  memory::desc src_md;
  memory::desc dst_md;
  memory::desc scratch_md;
  Shape out_shape;
};

class DnnlPoolKernel final : public Kernel {
 public:
  DnnlPoolKernel(std::unique_ptr<Kernel> reference, int threads, Kind kind, bool global,
                 ref::WindowAttrs attrs, bool count_include_pad, std::string name)
      : reference_(std::move(reference)),
        threads_(threads),
        kind_(kind),
        global_(global),
        attrs_(std::move(attrs)),
        count_include_pad_(count_include_pad),
        name_(std::move(name)) {}

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    if (inputs.size() != 1 || outputs.empty() || !IsDenseFp32(inputs[0])) {
      return Fallback(inputs, outputs);
    }
    const Tensor& x = *inputs[0];
    const Shape& xs = x.shape();
    if (xs.size() < 3 || xs.size() > 5) return Fallback(inputs, outputs);
    for (int64_t d : xs) {
      if (d <= 0) return Fallback(inputs, outputs);
    }
    std::shared_ptr<const PoolEntry> entry;
    try {
      entry = GetEntry(xs);
    } catch (const dnnl::error& e) {
      return DnnlError(e, name_ + " primitive creation");
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
      return DnnlError(e, name_ + " execution");
    }
    return Status::Ok();
  }

 private:
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

  // Throws dnnl::error only for unexpected oneDNN failures.
  std::shared_ptr<const PoolEntry> CreateEntry(const Shape& xs) const {
    auto entry = std::make_shared<PoolEntry>();
    const std::span<const int64_t> spatial = std::span(xs).subspan(2);
    ref::WindowAttrs attrs = attrs_;
    if (global_) {
      attrs = ref::WindowAttrs{};
      attrs.kernel_shape.assign(spatial.begin(), spatial.end());
    }
    auto window = ref::ResolveWindow(attrs, spatial, attrs.kernel_shape, name_);
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
        if (kind_ == Kind::kAverage && count_include_pad_ && right > w.pad_end[i]) return entry;
      }
      strides.push_back(s);
      kernel.push_back(k);
      pad_l.push_back(w.pad_begin[i]);
      pad_r.push_back(right);
    }
    entry->out_shape = {xs[0], xs[1]};
    entry->out_shape.insert(entry->out_shape.end(), w.out.begin(), w.out.end());
    const auto f32 = memory::data_type::f32;
    entry->src_md = memory::desc(ToDims(xs), f32, PlainTag(xs.size()));
    entry->dst_md = memory::desc(ToDims(entry->out_shape), f32, PlainTag(xs.size()));
    const dnnl::algorithm alg = kind_ == Kind::kMax ? dnnl::algorithm::pooling_max
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
      if (e.status == dnnl_unimplemented || e.status == dnnl_invalid_arguments) return entry;
      throw;
    }
    entry->supported = true;
    return entry;
  }

  Status Fallback(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const {
    CountFallback();
    return reference_->Run(inputs, outputs);
  }

  const std::unique_ptr<Kernel> reference_;
  const int threads_;
  const Kind kind_;
  const bool global_;
  const ref::WindowAttrs attrs_;
  const bool count_include_pad_;
  const std::string name_;

  mutable std::mutex mu_;
  mutable std::map<Shape, std::shared_ptr<const PoolEntry>> cache_;  // GUARDED_BY(mu_)
  mutable std::deque<Shape> order_;                                 // GUARDED_BY(mu_)
};

StatusOr<std::unique_ptr<Kernel>> MakePool(const KernelBuildContext& context, Kind kind,
                                           bool global) {
  const std::string& name = context.node.op_type;
  // The reference factory validates arity and every attribute.
  ASSIGN_OR_RETURN(std::unique_ptr<Kernel> reference, BuildReferenceKernel(context));
  if (!AllInputsMayBeFp32(context)) return Unimplemented(name + ": oneDNN pooling is FP32 only");
  const Node& node = context.node;
  for (size_t i = 1; i < node.outputs.size(); ++i) {
    if (node.outputs[i] != kNoValue) {
      return Unimplemented(name + ": the Indices output runs on the reference kernel");
    }
  }
  ref::WindowAttrs attrs;
  bool count_include_pad = false;
  if (!global) {
    ASSIGN_OR_RETURN(attrs, ref::ParseWindowAttrs(node, name, true, true));
    for (int64_t d : attrs.dilations) {
      if (d != 1) return Unimplemented(name + ": dilated pooling runs on the reference kernel");
    }
    if (kind == Kind::kAverage) {
      ASSIGN_OR_RETURN(int64_t cip, node.GetInt("count_include_pad", 0));
      count_include_pad = cip == 1;
    }
  }
  return std::unique_ptr<Kernel>(new DnnlPoolKernel(std::move(reference), context.intra_op_threads,
                                                    kind, global, std::move(attrs),
                                                    count_include_pad, name));
}

StatusOr<std::unique_ptr<Kernel>> MakeMaxPool(const KernelBuildContext& c) {
  return MakePool(c, Kind::kMax, false);
}
StatusOr<std::unique_ptr<Kernel>> MakeAveragePool(const KernelBuildContext& c) {
  return MakePool(c, Kind::kAverage, false);
}
StatusOr<std::unique_ptr<Kernel>> MakeGlobalMaxPool(const KernelBuildContext& c) {
  return MakePool(c, Kind::kMax, true);
}
StatusOr<std::unique_ptr<Kernel>> MakeGlobalAveragePool(const KernelBuildContext& c) {
  return MakePool(c, Kind::kAverage, true);
}

NEREID_REGISTER_KERNEL_PRIORITY("", "MaxPool", MakeMaxPool, 10);
NEREID_REGISTER_KERNEL_PRIORITY("", "AveragePool", MakeAveragePool, 10);
NEREID_REGISTER_KERNEL_PRIORITY("", "GlobalMaxPool", MakeGlobalMaxPool, 10);
NEREID_REGISTER_KERNEL_PRIORITY("", "GlobalAveragePool", MakeGlobalAveragePool, 10);

}  // namespace
}  // namespace nereid::engine::cpu

// Conv (opsets 1 and 11) and nereid.FusedConv on oneDNN: fp32 1-D/2-D/3-D
// grouped (including depthwise), strided, dilated, padded (explicit or
// auto_pad) convolution with an optional bias, via
// dnnl::convolution_forward. FusedConv adds post-ops: a residual sum (input
// Z, added in place in the destination) and an eltwise activation, and may
// read and write the blocked nChw<b>c layout (engine/ir/fused_ops.h), which
// oneDNN's direct convolutions use natively, so chains of blocked
// convolutions run without any reorder.
//
// Layouts: X and Y are plain (ncw / nchw / ncdhw) tensors, wrapped without
// copies; the weights use the layout the primitive prefers (format_tag::any).
// For kernels larger than 1x1 the primitive runs on blocked activations
// (format_tag::any), with a reorder of X in and of Y out per call: faster
// than the plain-layout gemm convolution even with the copies (see
// CreateEntry). Blocked-layout propagation across layers is a later pass.
// Constant weights (an initializer) are reordered into that layout once per
// input shape and cached with the primitive; non-constant weights are
// reordered on every run (no copy when the primitive takes them plain).
//
// The geometry (auto_pad, pads, strides, dilations) is resolved at run time
// from the actual input shape by the same code as the reference kernel
// (ref/conv_pool_util.h); oneDNN's dilation is ONNX's minus one.
//
// Auto-tuning (ConvTuning, engine/kernels/tuning.h): TuningCandidates lists
// the algorithms (direct, Winograd), activation layouts (plain, blocked) and
// oneDNN implementations (primitive_desc::next_impl) that build for given
// shapes; a kernel built with one applies it to every shape it can and the
// heuristics above to the others.
//
// Fallback: the factory builds the reference Conv kernel too. Build time:
// Unimplemented when a known dtype is not fp32 or a constant W has an
// unsupported rank (the plan then picks the reference kernel). Run time:
// anything this kernel does not handle (other dtypes, rank > 5, zero-sized
// tensors, malformed shapes, a convolution oneDNN reports unimplemented) is
// delegated to the reference kernel, which also produces the error messages
// for malformed inputs.
//
// Thread safety: Run is const and may run concurrently. The shape-keyed cache
// of {primitive, packed weights} (ShapeCache) locks only for lookup and
// insertion; primitives execute outside it with per-call memory objects
// and a per-call user scratchpad.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <limits>
#include <unordered_map>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "engine/kernels/blocked_layout.h"
#include "engine/kernels/cpu/dnnl_conv.h"
#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/conv_pool_util.h"
#include "engine/kernels/ref/ref_util.h"

namespace nereid::engine::cpu {
namespace {

using dnnl::memory;

constexpr size_t kMaxCachedShapes = 16;

// One compiled convolution for one (X shape, W shape, bias) key.
struct ConvEntry {
  bool supported = false;  // false: oneDNN has no implementation; use the reference
  dnnl::convolution_forward prim;
  memory::desc src_md;       // X as given (plain or blocked)
  memory::desc user_w_md;    // plain W (oi.. or goi..)
  memory::desc prim_w_md;    // W in the primitive's layout
  memory::desc bias_md;      // [M]; zero desc when no bias
  memory::desc dst_md;       // Y as produced (plain or blocked)
  memory::desc scratch_md;   // user scratchpad
  // Blocked activations: the primitive runs on src/dst in its preferred
  // (blocked) layout, reordered from/to the plain tensors on every call.
  bool blocked = false;
  memory::desc prim_src_md;
  memory::desc prim_dst_md;
  dnnl::reorder src_to_prim;
  dnnl::reorder prim_to_dst;
  dnnl::reorder dst_to_prim;  // residual Z into the primitive's dst (sum post-op)
  bool reorder_w = false;    // user_w_md != prim_w_md
  // Reduced precision (BF16 / INT8): the flow below replaces the FP32 ones.
  bool reduced = false;
  bool src_direct = false;   // X is already the primitive's src (quantized NHWC)
  bool dst_direct = false;   // the primitive writes Y itself
  // Residual Z into the buffer the primitive accumulates into: copied as it
  // is (same dtype and layout), or converted by dst_to_prim from z_md.
  bool z_copy = false;
  memory::desc z_md;
  Shape z_shape;            // what Z must look like
  DataType z_dtype = DataType::kFp32;
  DataType out_dtype = DataType::kFp32;
  // INT8: oneDNN 2.x applies the output scales to the accumulator after the
  // bias is added, so the bias is given in accumulator units: b / (input
  // scale x weight scale), per output channel.
  std::vector<float> bias_rescale;
  std::vector<float> scaled_constant_bias;  // b x bias_rescale when the bias is constant
  std::optional<memory> packed_w;  // constant weights in prim_w_md
  Shape out_shape;  // of the output tensor (blocked: the 5-D physical shape)
};


// NEREID_CONV_WINOGRAD=0 keeps every convolution direct (A/B and numerics
// debugging).
bool DisableWinograd() {
  static const bool off = [] {
    const char* v = std::getenv("NEREID_CONV_WINOGRAD");
    return v != nullptr && std::string(v) == "0";
  }();
  return off;
}

memory::format_tag BlockedTag(int64_t block) {
  return block == 16 ? memory::format_tag::nChw16c : memory::format_tag::nChw8c;
}


// What CreateEntry would build, without building it (TuningCandidates).
struct ConvProbe {
  bool supported = false;
  bool winograd = false;
  bool blocked = false;            // reorders to/from oneDNN's layout
  std::vector<std::string> impls;  // the chosen one first, then the other non-reference ones
};

bool IsQuantized(DataType dt) { return dt == DataType::kUint8 || dt == DataType::kInt8; }

memory::data_type QuantizedType(bool is_unsigned) {
  return is_unsigned ? memory::data_type::u8 : memory::data_type::s8;
}

// [N, C, H, W] -> [N, H, W, C]: the shape of a quantized (NHWC) tensor.
Shape NhwcShape(const Shape& nchw) { return {nchw[0], nchw[2], nchw[3], nchw[1]}; }

class DnnlConvKernel final : public Kernel {
 public:
  DnnlConvKernel(ref::WindowAttrs attrs, int64_t group, bool constant_w, bool constant_b,
                 int threads,
                 std::unique_ptr<Kernel> reference, ConvFusion fusion, ConvPrecision precision,
                 ConvTuning tuning)
      : attrs_(std::move(attrs)),
        fusion_(fusion),
        precision_(precision),
        tuning_(std::move(tuning)),
        group_(group),
        constant_w_(constant_w),
        constant_b_(constant_b),
        threads_(threads),
        reference_(std::move(reference)) {}

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    SetThreads(threads_);
    if (!Handles(inputs) || outputs.empty()) {
      for (size_t i = 0; i < inputs.size(); ++i) {
        if (inputs[i] != nullptr && IsQuantized(inputs[i]->dtype())) {
          return InvalidArgument("quantized input " + std::to_string(i) + " (" +
                                 std::string(DataTypeName(inputs[i]->dtype())) + ", shape " +
                                 ShapeToString(inputs[i]->shape()) +
                                 ") does not fit this INT8 convolution");
        }
      }
      return reference_->Run(inputs, outputs);
    }
    const Tensor& x = *inputs[0];
    const Tensor& w = *inputs[1];
    const Tensor* b = inputs.size() > 2 ? inputs[2] : nullptr;
    const Tensor* z = fusion_.sum ? inputs[3] : nullptr;
    std::shared_ptr<const ConvEntry> entry;
    try {
      auto found = GetEntry(x, w, b, z);
      if (!found.ok()) return reference_->Run(inputs, outputs);  // geometry error: ref reports
      entry = std::move(*found);
    } catch (const dnnl::error& e) {
      return DnnlError(e, "Conv primitive creation");
    }
    // Quantized tensors in or out: nothing else can run this node.
    const bool quantized_io = IsQuantized(x.dtype()) || (z != nullptr && IsQuantized(z->dtype())) ||
                              precision_.quantized_output;
    if (entry == nullptr || !entry->supported) {
      if (!quantized_io) return reference_->Run(inputs, outputs);
      return Unimplemented("no oneDNN int8 convolution for input shape " +
                           ShapeToString(x.shape()) + " and weights " +
                           ShapeToString(w.shape()) + " with quantized (NHWC) tensors");
    }
    if (z != nullptr && (z->shape() != entry->z_shape || z->dtype() != entry->z_dtype ||
                         z->byte_size() != static_cast<size_t>(ref::NumElements(z->shape())) *
                                               DataTypeByteSize(z->dtype()))) {
      if (quantized_io) {
        return InvalidArgument("residual input of shape " + ShapeToString(z->shape()) +
                               " does not match the output " + ShapeToString(entry->z_shape));
      }
      // A residual that broadcasts (or is malformed) is added unfused.
      return reference_->Run(inputs, outputs);
    }

    ASSIGN_OR_RETURN(outputs[0], ref::AllocateOutput(entry->out_dtype, entry->out_shape));
    // The sum post-op accumulates into the destination: start it as Z.
    if (z != nullptr && !entry->reduced && !entry->blocked) {
      std::memcpy(outputs[0].mutable_data(), z->data(), z->byte_size());
    }
    try {
      const dnnl::engine& eng = CpuEngine();
      dnnl::stream& strm = CpuStream();
      memory src(entry->src_md, eng, const_cast<char*>(x.data()));
      memory dst(entry->dst_md, eng, outputs[0].mutable_data());
      Tensor scratch_bytes, src_bytes, dst_bytes;
      memory scratch = TempMemory(entry->scratch_md, &scratch_bytes);
      memory weights;
      if (entry->packed_w.has_value()) {
        weights = *entry->packed_w;
      } else {
        memory user_w(entry->user_w_md, eng, const_cast<char*>(w.data()));
        if (entry->reorder_w) {
          weights = memory(entry->prim_w_md, eng);
          dnnl::reorder(user_w, weights).execute(strm, user_w, weights);
        } else {
          weights = user_w;
        }
      }
      std::unordered_map<int, memory> args = {{DNNL_ARG_SRC, src},
                                              {DNNL_ARG_WEIGHTS, weights},
                                              {DNNL_ARG_DST, dst},
                                              {DNNL_ARG_SCRATCHPAD, scratch}};
      std::vector<float> scaled_bias;
      if (b != nullptr && !entry->scaled_constant_bias.empty()) {
        args.emplace(DNNL_ARG_BIAS, memory(entry->bias_md, eng,
                                           const_cast<float*>(entry->scaled_constant_bias.data())));
      } else if (b != nullptr && !entry->bias_rescale.empty()) {
        const float* bd = b->data_as<float>();
        for (size_t i = 0; i < entry->bias_rescale.size(); ++i) {
          scaled_bias.push_back(bd[i] * entry->bias_rescale[i]);
        }
        args.emplace(DNNL_ARG_BIAS, memory(entry->bias_md, eng, scaled_bias.data()));
      } else if (b != nullptr) {
        args.emplace(DNNL_ARG_BIAS, memory(entry->bias_md, eng, const_cast<char*>(b->data())));
      }
      if (entry->reduced) {
        // Reduced precision: X converted on the way in unless it comes
        // quantized; Y written directly or converted on the way out; Z
        // placed where the primitive accumulates.
        memory prim_src = src;
        if (!entry->src_direct) {
          prim_src = TempMemory(entry->prim_src_md, &src_bytes);
          entry->src_to_prim.execute(strm, src, prim_src);
        }
        memory prim_dst = entry->dst_direct ? dst : TempMemory(entry->prim_dst_md, &dst_bytes);
        if (z != nullptr) {
          if (entry->z_copy) {
            std::memcpy(prim_dst.get_data_handle(), z->data(), z->byte_size());
          } else {
            memory user_z(entry->z_md, eng, const_cast<char*>(z->data()));
            entry->dst_to_prim.execute(strm, user_z, prim_dst);
          }
        }
        args[DNNL_ARG_SRC] = prim_src;
        args[DNNL_ARG_DST] = prim_dst;
        entry->prim.execute(strm, args);
        if (!entry->dst_direct) entry->prim_to_dst.execute(strm, prim_dst, dst);
      } else if (entry->blocked) {
        memory prim_src = TempMemory(entry->prim_src_md, &src_bytes);
        memory prim_dst = TempMemory(entry->prim_dst_md, &dst_bytes);
        entry->src_to_prim.execute(strm, src, prim_src);
        if (z != nullptr) {
          memory user_z(entry->dst_md, eng, const_cast<char*>(z->data()));
          entry->dst_to_prim.execute(strm, user_z, prim_dst);
        }
        args[DNNL_ARG_SRC] = prim_src;
        args[DNNL_ARG_DST] = prim_dst;
        entry->prim.execute(strm, args);
        entry->prim_to_dst.execute(strm, prim_dst, dst);
      } else {
        entry->prim.execute(strm, args);
      }
      strm.wait();
    } catch (const dnnl::error& e) {
      return DnnlError(e, "Conv execution");
    }
    return Status::Ok();
  }

  // Candidates: the default, then every (algorithm, layout, oneDNN
  // implementation) that builds for these shapes and differs from it in
  // effect. FP32 only; reduced precision keeps its one path.
  std::vector<TuningCandidate> TuningCandidates(
      std::span<const Tensor* const> inputs) const override {
    if (!Handles(inputs) || (precision_.kind != ConvPrecision::kFp32 && constant_w_)) return {};
    const Tensor* b = inputs.size() > 2 ? inputs[2] : nullptr;
    const Tensor* z = fusion_.sum ? inputs[3] : nullptr;
    auto probe = [&](const ConvTuning& t) -> std::optional<ConvProbe> {
      try {
        ConvProbe p;
        auto entry = CreateEntry(*inputs[0], *inputs[1], b, z, t, &p);
        if (!entry.ok() || !p.supported || p.impls.empty()) return std::nullopt;
        return p;
      } catch (const dnnl::error&) {
        return std::nullopt;
      }
    };
    auto describe = [](bool winograd, bool blocked, const std::string& impl) {
      return std::string(winograd ? "winograd" : "direct") + ", " +
             (blocked ? "blocked" : "plain") + ", " + impl;
    };
    std::optional<ConvProbe> base = probe({});
    if (!base) return {};
    std::vector<TuningCandidate> out = {
        {"", "default (" + describe(base->winograd, base->blocked, base->impls[0]) + ")"}};
    std::vector<std::string> seen = {describe(base->winograd, base->blocked, base->impls[0])};
    const bool plain_io = fusion_.src_block == 0 && fusion_.dst_block == 0;
    for (const char* alg : {"direct", "winograd"}) {
      for (const char* layout : {"plain", "blocked"}) {
        if (!plain_io && std::string(layout) == "plain") continue;
        ConvTuning t{alg, plain_io ? layout : "", ""};
        std::optional<ConvProbe> p = probe(t);
        if (!p || p->winograd != (t.alg == "winograd")) continue;
        for (const std::string& impl : p->impls) {
          const std::string what = describe(p->winograd, p->blocked, impl);
          if (std::find(seen.begin(), seen.end(), what) != seen.end()) continue;
          seen.push_back(what);
          t.impl = impl;
          out.push_back({ConvTuningToString(t), what});
        }
      }
    }
    if (out.size() < 2) return {};
    return out;
  }

  std::string AppliedTuning() const override { return ConvTuningToString(tuning_); }

 private:
  // True when the inputs are well-formed tensors this kernel computes: fp32,
  // or (INT8) X and Z quantized; everything else goes to the reference
  // kernel.
  bool Handles(std::span<const Tensor* const> inputs) const {
    const size_t max_inputs = fusion_.sum ? 4 : 3;
    if (inputs.size() < 2 || inputs.size() > max_inputs || inputs[0] == nullptr ||
        inputs[1] == nullptr || (fusion_.sum && (inputs.size() < 4 || inputs[3] == nullptr))) {
      return false;
    }
    const bool int8 = precision_.kind == ConvPrecision::kInt8;
    for (size_t i = 0; i < inputs.size(); ++i) {
      const Tensor* t = inputs[i];
      if (t == nullptr || t->dtype() == DataType::kFp32) continue;
      if (int8 && (i == 0 || i == 3) && IsQuantized(t->dtype())) continue;
      return false;
    }
    const Shape& ws = inputs[1]->shape();
    for (int64_t d : ws) {
      if (d <= 0) return false;
    }
    if (IsQuantized(inputs[0]->dtype())) {
      // [N, H, W, C] holding C = ws[1] * group channels, of the signedness
      // the calibration chose.
      const Shape& xs = inputs[0]->shape();
      if (xs.size() != 4 || ws.size() != 4 || xs[3] != ws[1] * group_ ||
          inputs[0]->dtype() != (precision_.input_unsigned ? DataType::kUint8 : DataType::kInt8)) {
        return false;
      }
      for (int64_t d : xs) {
        if (d <= 0) return false;
      }
      const Tensor* b = inputs.size() > 2 ? inputs[2] : nullptr;
      return ws[0] % group_ == 0 &&
             (b == nullptr || (b->shape().size() == 1 && b->shape()[0] == ws[0])) &&
             inputs[0]->byte_size() == static_cast<size_t>(ref::NumElements(xs)) &&
             inputs[1]->byte_size() == static_cast<size_t>(ref::NumElements(ws)) * sizeof(float);
    }
    if (fusion_.src_block > 0) {
      // [N, ceil(C/b), H, W, b] holding C = ws[1] * group channels.
      const Shape& xb = inputs[0]->shape();
      if (xb.size() != 5 || ws.size() != 4 || xb[4] != fusion_.src_block ||
          xb[1] != (ws[1] * group_ + fusion_.src_block - 1) / fusion_.src_block) {
        return false;
      }
      for (int64_t d : xb) {
        if (d <= 0) return false;
      }
      if (fusion_.dst_block > 0 && ws.size() != 4) return false;
      return ws[0] % group_ == 0 &&
             (inputs.size() < 3 || inputs[2] == nullptr ||
              (inputs[2]->shape().size() == 1 && inputs[2]->shape()[0] == ws[0])) &&
             inputs[0]->byte_size() ==
                 static_cast<size_t>(ref::NumElements(xb)) * sizeof(float) &&
             inputs[1]->byte_size() == static_cast<size_t>(ref::NumElements(ws)) * sizeof(float);
    }
    const Shape& xs = inputs[0]->shape();
    if (xs.size() < 3 || xs.size() > 5 || ws.size() != xs.size()) return false;
    if (fusion_.dst_block > 0 && xs.size() != 4) return false;
    for (int64_t d : xs) {
      if (d <= 0) return false;
    }
    if (xs[1] % group_ != 0 || xs[1] / group_ != ws[1] || ws[0] % group_ != 0) return false;
    const Tensor* b = inputs.size() > 2 ? inputs[2] : nullptr;
    if (b != nullptr && (b->shape().size() != 1 || b->shape()[0] != ws[0])) return false;
    size_t x_elems = 1;
    for (int64_t d : xs) x_elems *= static_cast<size_t>(d);
    size_t w_elems = 1;
    for (int64_t d : ws) w_elems *= static_cast<size_t>(d);
    if (inputs[0]->byte_size() != x_elems * sizeof(float) ||
        inputs[1]->byte_size() != w_elems * sizeof(float)) {
      return false;
    }
    return true;
  }

  // The cached entry for these inputs, creating it on a miss. A non-OK
  // status means the geometry is invalid (the reference reports it).
  // Throws dnnl::error on unexpected oneDNN failures.
  StatusOr<std::shared_ptr<const ConvEntry>> GetEntry(const Tensor& x, const Tensor& w,
                                                      const Tensor* b, const Tensor* z) const {
    std::vector<int64_t> key = x.shape();
    key.insert(key.end(), w.shape().begin(), w.shape().end());
    key.push_back(b != nullptr ? 1 : 0);
    key.push_back(static_cast<int64_t>(x.dtype()));
    key.push_back(z != nullptr ? static_cast<int64_t>(z->dtype()) : -1);
    if (auto found = cache_.Find(key)) return found;
    // Created outside the cache's lock: a new shape does not stall the others.
    ASSIGN_OR_RETURN(std::shared_ptr<ConvEntry> entry, CreateEntry(x, w, b, z, tuning_));
    return cache_.Insert(key, std::move(entry));
  }

  // With `probe`, only says what it would build (x and w data unread).
  StatusOr<std::shared_ptr<ConvEntry>> CreateEntry(const Tensor& x, const Tensor& w,
                                                   const Tensor* b, const Tensor* z,
                                                   const ConvTuning& tuning,
                                                   ConvProbe* probe = nullptr) const {
    const Shape& ws = w.shape();
    // Logical NC... shape of X (a blocked X holds ws[1] * group channels, a
    // quantized one is NHWC).
    Shape xs = x.shape();
    if (IsQuantized(x.dtype())) {
      xs = {xs[0], xs[3], xs[1], xs[2]};
    } else if (fusion_.src_block > 0) {
      xs = {xs[0], ws[1] * group_, xs[2], xs[3]};
    }
    ASSIGN_OR_RETURN(ref::Window window,
                     ref::ResolveWindow(attrs_, std::span(xs).subspan(2),
                                        std::span(ws).subspan(2), "Conv"));
    auto entry = std::make_shared<ConvEntry>();
    Shape out_logical = {xs[0], ws[0]};
    out_logical.insert(out_logical.end(), window.out.begin(), window.out.end());
    entry->out_shape =
        fusion_.dst_block > 0 ? BlockedShape(out_logical, fusion_.dst_block) : out_logical;
    entry->z_shape = entry->out_shape;
    for (int64_t d : window.out) {
      if (d <= 0) return entry;  // empty output: unsupported here, the reference handles it
    }
    const size_t rank = xs.size();
    const memory::dims w_dims = ConvWeightDims(ws, group_);
    memory::dims strides = ToDims(window.stride);
    memory::dims dilates;
    for (int64_t d : window.dilation) dilates.push_back(d - 1);
    memory::dims pad_l = ToDims(window.pad_begin);
    memory::dims pad_r = ToDims(window.pad_end);

    const auto f32 = memory::data_type::f32;
    entry->src_md = memory::desc(
        ToDims(xs), f32, fusion_.src_block > 0 ? BlockedTag(fusion_.src_block) : PlainTag(rank));
    entry->dst_md = memory::desc(ToDims(out_logical), f32,
                                 fusion_.dst_block > 0 ? BlockedTag(fusion_.dst_block)
                                                       : PlainTag(rank));
    entry->user_w_md = memory::desc(w_dims, f32, PlainTag(w_dims.size()));
    memory::desc any_w(w_dims, f32, memory::format_tag::any);
    if (b != nullptr) entry->bias_md = memory::desc({ws[0]}, f32, memory::format_tag::a);

    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    dnnl::post_ops post_ops;
    if (fusion_.sum) post_ops.append_sum(1.0f);
    if (fusion_.act != dnnl::algorithm::undef) {
      post_ops.append_eltwise(1.0f, fusion_.act, fusion_.alpha, fusion_.beta);
    }
    attr.set_post_ops(post_ops);
    if (precision_.kind != ConvPrecision::kFp32 && constant_w_) {
      if (probe != nullptr) return entry;  // no alternatives
      return CreateReducedEntry(std::move(entry), x, w, b, z, w_dims, strides, dilates, pad_l,
                                pad_r, out_logical, std::move(attr));
    }
    const bool quantized_io = IsQuantized(x.dtype()) || (z != nullptr && IsQuantized(z->dtype())) ||
                              precision_.quantized_output;
    if (quantized_io) return entry;  // supported == false: Run says why
    const auto prop = dnnl::prop_kind::forward_inference;
    auto alg = dnnl::algorithm::convolution_direct;
    auto make_pd = [&](const memory::desc& src_md, const memory::desc& dst_md) {
      auto desc = b != nullptr
                      ? dnnl::convolution_forward::desc(prop, alg, src_md, any_w, entry->bias_md,
                                                        dst_md, strides, dilates, pad_l, pad_r)
                      : dnnl::convolution_forward::desc(prop, alg, src_md, any_w, dst_md,
                                                        strides, dilates, pad_l, pad_r);
      return MakePrimitiveDesc<dnnl::convolution_forward::primitive_desc>(
          desc, attr, tuning.impl, probe != nullptr ? &probe->impls : nullptr);
    };
    auto try_pd = [&](const memory::desc& src_md, const memory::desc& dst_md)
        -> std::optional<dnnl::convolution_forward::primitive_desc> {
      try {
        auto pd = make_pd(src_md, dst_md);
        if (IsReferenceImpl(pd)) return std::nullopt;
        return pd;
      } catch (const dnnl::error& e) {
        if (e.status != dnnl_unimplemented && e.status != dnnl_invalid_arguments) throw;
        return std::nullopt;
      }
    };
    std::optional<dnnl::convolution_forward::primitive_desc> pd;
    // Tensors in the blocked layout: run on them directly (no reorders).
    const bool user_blocked = fusion_.src_block > 0 || fusion_.dst_block > 0;
    // 3x3, stride 1, undilated, ungrouped, blocked on both sides: Winograd
    // F(2x2, 3x3) needs 2.25x fewer multiplies; oneDNN's AVX-512 kernel
    // measured 1.2x (7x7 maps) to 1.9x (56x56) faster than the direct one
    // on ResNet-50's layers, one thread, for ~1e-6 relative difference.
    // Tuning may ask for it (or refuse it) on any layout.
    const bool winograd_shape = group_ == 1 && rank == 4 && ws[2] == 3 && ws[3] == 3 &&
                                window.stride[0] == 1 && window.stride[1] == 1 &&
                                window.dilation[0] == 1 && window.dilation[1] == 1 &&
                                !DisableWinograd();
    const bool winograd =
        winograd_shape && (tuning.alg.empty() ? fusion_.src_block > 0 && fusion_.dst_block > 0
                                              : tuning.alg == "winograd");
    if (winograd && user_blocked) {
      alg = dnnl::algorithm::convolution_winograd;
      pd = try_pd(entry->src_md, entry->dst_md);
      if (!pd) alg = dnnl::algorithm::convolution_direct;
    }
    if (user_blocked && !pd) pd = try_pd(entry->src_md, entry->dst_md);
    // Spatial kernels (not 1x1) on plain tensors: oneDNN's direct
    // convolutions on blocked activations beat its gemm convolution on plain
    // ones by ~1.9x even with the reorders in and out (ResNet-50 3x3 and 7x7
    // layers, AVX-512, one thread); for 1x1 the plain gemm path is about as
    // fast, so keep it.
    bool spatial_kernel = false;
    for (size_t i = 2; i < ws.size(); ++i) spatial_kernel = spatial_kernel || ws[i] > 1;
    const bool want_blocked =
        user_blocked || (tuning.layout.empty() ? spatial_kernel : tuning.layout == "blocked");
    if (!pd && want_blocked) {
      memory::desc any_src(ToDims(xs), f32, memory::format_tag::any);
      memory::desc any_dst(ToDims(out_logical), f32, memory::format_tag::any);
      if (winograd && !user_blocked) {
        alg = dnnl::algorithm::convolution_winograd;
        pd = try_pd(any_src, any_dst);
        if (!pd) alg = dnnl::algorithm::convolution_direct;
      }
      if (!pd) pd = try_pd(any_src, any_dst);
      if (pd) {
        entry->prim_src_md = pd->src_desc();
        entry->prim_dst_md = pd->dst_desc();
        entry->blocked =
            entry->prim_src_md != entry->src_md || entry->prim_dst_md != entry->dst_md;
      }
    }
    if (!entry->blocked && !pd) pd = try_pd(entry->src_md, entry->dst_md);
    if (!pd) return entry;  // supported == false: the reference runs this shape
    if (probe != nullptr) {
      probe->supported = true;
      probe->winograd = alg == dnnl::algorithm::convolution_winograd;
      probe->blocked = entry->blocked || user_blocked;
      return entry;  // probe->impls: listed by make_pd
    }
    if (entry->blocked) MakeReorders(entry.get());
    entry->prim_w_md = pd->weights_desc();
    entry->scratch_md = pd->scratchpad_desc();
    entry->reorder_w = entry->prim_w_md != entry->user_w_md;
    entry->prim = dnnl::convolution_forward(*pd);
    if (constant_w_) {
      const dnnl::engine& eng = CpuEngine();
      memory packed(entry->prim_w_md, eng);
      memory user_w(entry->user_w_md, eng, const_cast<char*>(w.data()));
      dnnl::stream& strm = CpuStream();
      dnnl::reorder(user_w, packed).execute(strm, user_w, packed);
      strm.wait();
      entry->packed_w = std::move(packed);
    }
    entry->supported = true;
    return entry;
  }

  // FP32: the reorders between the caller's X/Y and the primitive's
  // layouts: X in, Y out, and the residual Z in, for the sum post-op.
  void MakeReorders(ConvEntry* entry) const {
    const dnnl::engine& eng = CpuEngine();
    entry->src_to_prim = dnnl::reorder(
        dnnl::reorder::primitive_desc(eng, entry->src_md, eng, entry->prim_src_md));
    entry->prim_to_dst = dnnl::reorder(
        dnnl::reorder::primitive_desc(eng, entry->prim_dst_md, eng, entry->dst_md));
    if (fusion_.sum) {
      entry->dst_to_prim = dnnl::reorder(
          dnnl::reorder::primitive_desc(eng, entry->dst_md, eng, entry->prim_dst_md));
    }
  }

  // BF16 / INT8 (see ConvPrecision). Weights are constant (the precision
  // assignment marks only such convolutions); they are converted once here.
  StatusOr<std::shared_ptr<ConvEntry>> CreateReducedEntry(
      std::shared_ptr<ConvEntry> entry, const Tensor& x, const Tensor& w, const Tensor* b,
      const Tensor* z, const memory::dims& w_dims, const memory::dims& strides,
      const memory::dims& dilates, const memory::dims& pad_l, const memory::dims& pad_r,
      const Shape& out_logical, dnnl::primitive_attr attr) const {
    const bool int8 = precision_.kind == ConvPrecision::kInt8;
    const bool x_quantized = IsQuantized(x.dtype());
    const bool z_quantized = z != nullptr && IsQuantized(z->dtype());
    const bool q_out = int8 && precision_.quantized_output;
    const auto f32 = memory::data_type::f32;
    const auto src_dt = !int8 ? memory::data_type::bf16 : QuantizedType(precision_.input_unsigned);
    const auto w_dt = int8 ? memory::data_type::s8 : memory::data_type::bf16;
    const int64_t oc = w.shape()[0];
    entry->reduced = true;
    if (x_quantized) {
      entry->src_md = memory::desc(entry->src_md.dims(), src_dt, memory::format_tag::nhwc);
    }
    if (q_out) {
      entry->out_dtype = precision_.output_unsigned ? DataType::kUint8 : DataType::kInt8;
      entry->out_shape = NhwcShape(out_logical);
      entry->dst_md = memory::desc(ToDims(out_logical), QuantizedType(precision_.output_unsigned),
                                   memory::format_tag::nhwc);
    }
    if (z != nullptr) {
      entry->z_dtype = z->dtype();
      entry->z_shape = z_quantized ? NhwcShape(out_logical) : entry->z_shape;
      entry->z_md = z_quantized ? memory::desc(ToDims(out_logical), QuantizedType(z->dtype() ==
                                                                                 DataType::kUint8),
                                               memory::format_tag::nhwc)
                                : memory::desc(ToDims(out_logical), f32,
                                               fusion_.dst_block > 0
                                                   ? BlockedTag(fusion_.dst_block)
                                                   : PlainTag(out_logical.size()));
    }
    std::vector<float> w_scales;  // INT8: per output channel, real = scale * q
    // INT8 with a quantized output: the accumulator scale and the post-ops
    // work in output units (divided by output_scale) when the activation
    // commutes with a positive scale (none, ReLU, LeakyReLU, Clip with its
    // bounds scaled); other activations run on real values and their
    // post-op's own scale quantizes the result.
    const bool homogeneous =
        fusion_.act == dnnl::algorithm::undef || fusion_.act == dnnl::algorithm::eltwise_relu ||
        fusion_.act == dnnl::algorithm::eltwise_clip;
    const float fold = q_out && homogeneous ? 1.0f / precision_.output_scale : 1.0f;
    if (int8) {
      const float* wd = w.data_as<float>();
      const size_t per_oc = w.byte_size() / sizeof(float) / static_cast<size_t>(oc);
      for (int64_t o = 0; o < oc; ++o) {
        float m = 0;
        for (size_t k = 0; k < per_oc; ++k) m = std::max(m, std::fabs(wd[o * per_oc + k]));
        w_scales.push_back(m > 0 ? m / 127.0f : 1.0f);
      }
      std::vector<float> out_scales;
      for (float ws : w_scales) {
        const float accumulator_scale = precision_.input_scale * ws;  // real per unit
        out_scales.push_back(accumulator_scale * fold);
        // The bias joins the accumulator before the output scales: in its units.
        if (b != nullptr) entry->bias_rescale.push_back(1.0f / accumulator_scale);
      }
      attr.set_output_scales(1 << 1, out_scales);
      if (b != nullptr && constant_b_) {
        const float* bd = b->data_as<float>();
        for (size_t i = 0; i < entry->bias_rescale.size(); ++i) {
          entry->scaled_constant_bias.push_back(bd[i] * entry->bias_rescale[i]);
        }
      }
    }
    memory::desc q_src = x_quantized
                             ? entry->src_md
                             : memory::desc(entry->src_md.dims(), src_dt, memory::format_tag::any);
    memory::desc q_w(w_dims, w_dt, memory::format_tag::any);
    memory::desc any_dst(ToDims(out_logical), f32, memory::format_tag::any);
    // How Z reaches the buffer the primitive accumulates into, and the sum
    // post-op's factor from that buffer's units to the accumulator's.
    float z_factor = 1;
    // A quantized Z into a quantized Y is copied as it is (the sum post-op
    // reads it with Z's own data type); an FP32 Z cannot go into a
    // quantized Y (the chain pass never asks: a u8 Y would lose Z's sign).
    if (q_out && z != nullptr && !z_quantized) return entry;  // Run says why
    auto sum_placement = [&](const memory::desc& prim_dst_md) {
      if (z == nullptr) return;
      entry->z_copy = entry->z_md == prim_dst_md || (q_out && z_quantized);
      z_factor = z_quantized && entry->z_copy ? precision_.sum_scale : 1.0f;
    };
    auto post_ops_for = [&](float sum_factor) {
      dnnl::primitive_attr a = attr;
      if (!int8) return a;
      dnnl::post_ops po;
      if (fusion_.sum) {
        po.append_sum(sum_factor * fold, 0,
                      z_quantized && q_out ? QuantizedType(z->dtype() == DataType::kUint8)
                                           : memory::data_type::undef);
      }
      if (fusion_.act != dnnl::algorithm::undef) {
        float alpha = fusion_.alpha, beta = fusion_.beta;
        if (fusion_.act == dnnl::algorithm::eltwise_clip) {
          alpha *= fold;
          beta *= fold;
        }
        const float eltwise_scale = q_out && !homogeneous ? 1.0f / precision_.output_scale : 1.0f;
        po.append_eltwise(eltwise_scale, fusion_.act, alpha, beta);
      }
      a.set_post_ops(po);
      return a;
    };
    const auto prop = dnnl::prop_kind::forward_inference;
    auto make_pd = [&](const memory::desc& dst_md)
        -> std::optional<dnnl::convolution_forward::primitive_desc> {
      try {
        sum_placement(dst_md);
        auto desc =
            b != nullptr
                ? dnnl::convolution_forward::desc(prop, dnnl::algorithm::convolution_direct, q_src,
                                                  q_w, entry->bias_md, dst_md, strides, dilates,
                                                  pad_l, pad_r)
                : dnnl::convolution_forward::desc(prop, dnnl::algorithm::convolution_direct, q_src,
                                                  q_w, dst_md, strides, dilates, pad_l, pad_r);
        auto pd = dnnl::convolution_forward::primitive_desc(desc, post_ops_for(z_factor),
                                                            CpuEngine());
        if (IsReferenceImpl(pd)) return std::nullopt;
        return pd;
      } catch (const dnnl::error& e) {
        if (e.status != dnnl_unimplemented && e.status != dnnl_invalid_arguments) throw;
        return std::nullopt;
      }
    };
    // Y straight in the caller's layout when the primitive can (always for
    // a quantized Y); else via a reorder like the FP32 blocked path.
    auto pd = make_pd(entry->dst_md);
    entry->dst_direct = pd.has_value();
    if (!pd && !q_out) pd = make_pd(any_dst);
    if (!pd) return entry;  // unsupported: the reference runs it in FP32, or Run says why
    entry->blocked = true;
    entry->prim_src_md = pd->src_desc();
    entry->prim_dst_md = pd->dst_desc();
    entry->src_direct = x_quantized && entry->prim_src_md == entry->src_md;
    if (x_quantized && !entry->src_direct) return entry;  // the chain assumed NHWC
    const dnnl::engine& eng = CpuEngine();
    if (!entry->src_direct) {
      dnnl::primitive_attr src_attr;
      if (int8) src_attr.set_output_scales(0, {1.0f / precision_.input_scale});
      entry->src_to_prim = dnnl::reorder(
          dnnl::reorder::primitive_desc(eng, entry->src_md, eng, entry->prim_src_md, src_attr));
    }
    if (!entry->dst_direct) {
      entry->prim_to_dst = dnnl::reorder(
          dnnl::reorder::primitive_desc(eng, entry->prim_dst_md, eng, entry->dst_md));
    }
    if (z != nullptr && !entry->z_copy) {
      // Z converted into the FP32 accumulation buffer, as real values.
      const float zs = z_quantized ? precision_.sum_scale : 1.0f;
      dnnl::primitive_attr z_attr;
      if (zs != 1.0f) z_attr.set_output_scales(0, {zs});
      entry->dst_to_prim = dnnl::reorder(
          dnnl::reorder::primitive_desc(eng, entry->z_md, eng, entry->prim_dst_md, z_attr));
    }
    entry->prim_w_md = pd->weights_desc();
    entry->scratch_md = pd->scratchpad_desc();
    entry->reorder_w = true;
    entry->prim = dnnl::convolution_forward(*pd);
    dnnl::primitive_attr w_attr;
    if (int8) {
      std::vector<float> inv;
      for (float ws : w_scales) inv.push_back(1.0f / ws);
      // Output channels are dim 0, or dims 0 and 1 ([G, OC/G, ...]) when grouped.
      w_attr.set_output_scales(group_ == 1 ? 1 : 3, inv);
    }
    memory packed(entry->prim_w_md, eng);
    memory user_w(entry->user_w_md, eng, const_cast<char*>(w.data()));
    dnnl::stream& strm = CpuStream();
    dnnl::reorder(dnnl::reorder::primitive_desc(eng, entry->user_w_md, eng, entry->prim_w_md,
                                                w_attr))
        .execute(strm, user_w, packed);
    strm.wait();
    entry->packed_w = std::move(packed);
    entry->supported = true;
    return entry;
  }

  const ref::WindowAttrs attrs_;
  const ConvFusion fusion_;
  const ConvPrecision precision_;
  const ConvTuning tuning_;
  const int64_t group_;
  const bool constant_w_;
  const bool constant_b_;  // the bias is an initializer: INT8 rescales it once
  const int threads_;
  const std::unique_ptr<Kernel> reference_;

  ShapeCache<ConvEntry> cache_{kMaxCachedShapes};
};

}  // namespace

std::unique_ptr<Kernel> NewDnnlConvKernel(ref::WindowAttrs attrs, int64_t group, bool constant_w,
                                          bool constant_b, int threads,
                                          std::unique_ptr<Kernel> reference,
                                          ConvFusion fusion, ConvPrecision precision,
                                          ConvTuning tuning) {
  return std::make_unique<DnnlConvKernel>(std::move(attrs), group, constant_w, constant_b, threads,
                                          std::move(reference), fusion, precision,
                                          std::move(tuning));
}

}  // namespace nereid::engine::cpu

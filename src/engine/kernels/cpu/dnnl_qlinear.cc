// ONNX's integer products on oneDNN int8 primitives (AVX-512 VNNI here),
// registered above the reference kernels (ref/qlinear_ops.cc, whose header
// states the semantics):
//   MatMulInteger, QLinearMatMul -> dnnl::matmul        (u8/s8 A, s8 B)
//   ConvInteger,   QLinearConv   -> dnnl::convolution   (u8/s8 X, s8 W)
//
// Mapping onto oneDNN 2.6 (probed on this CPU; the tests check each against
// the reference kernel):
//   - A / X zero point (one element): a run-time source zero point. oneDNN
//     treats padding as the zero point (it contributes nothing), as ONNX does.
//   - B / W: oneDNN's int8 primitives take s8 weights only (u8 x u8 has no
//     implementation) and convolutions have no weight zero point. So B / W is
//     rewritten as s8 values w - w_zp (per tensor, or per output channel /
//     column) when every value fits in [-128, 127] - exact. Otherwise a
//     MatMul with one B zero point runs on s8 (B - 128) with weight zero point
//     zp - 128 (u8 B) or on B with weight zero point zp (s8 B); a convolution
//     (or per-column zero points) goes to the reference kernel.
//   - QLinear*: the output scales a_scale * b_scale / y_scale (per output
//     channel / column when the weight scale is), computed in double and
//     rounded to float. ONNX rounds half to even and then adds y_zero_point;
//     oneDNN adds its destination zero point before rounding (half to even),
//     which is the same only for an even zero point. So an even y zero point
//     is a run-time destination zero point (oneDNN saturates to u8/s8), and
//     for an odd one the primitive writes the rounded int32 values, to which
//     a final pass adds the zero point and saturates. oneDNN scales in float
//     where the reference uses double, so a result a hair from a .5 boundary
//     can differ by one (measured in dnnl_qlinear_test.cc).
//     The scales are baked into the primitive (run-time scales send oneDNN
//     2.6 to its slower gemm:jit matmul and have no int8 convolution), so
//     they are part of the cache key.
//   - QLinearConv's int32 bias: oneDNN 2.x adds the bias to the accumulator
//     before the output scales, i.e. in accumulator units - what ONNX means.
//   - Convolutions run on channels-last activations (the layout oneDNN's
//     int8 kernels use; format_tag::any picks it): X is reordered in and Y
//     out on every call. Weights go to the primitive's layout (with the
//     compensation oneDNN computes for s8 sources and zero points).
//
// Constant weights (an initializer, with a constant or absent zero point)
// are rewritten and reordered once per cached shape; others on every call.
// Everything else runs the reference kernel, built by the same factory:
// per-row A zero points or scales, weights that do not fit (above), empty or
// malformed tensors (the reference reports those), more than one y zero
// point, non-float scales, a primitive oneDNN lacks or would run with its
// "ref" implementation.
//
// Thread safety: Run is const. The shape-keyed cache (16 entries, oldest
// evicted) is guarded by a mutex held for lookup and creation only;
// primitives execute outside it with per-call memory objects and a per-call
// user scratchpad.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <deque>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "engine/kernels/cpu/dnnl_common.h"
#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/conv_pool_util.h"
#include "engine/kernels/ref/matmul_shape.h"
#include "engine/kernels/ref/misc_util.h"
#include "engine/kernels/ref/ref_util.h"

namespace nereid::engine::cpu {

// Test hook: how many Run calls of these kernels handed their work to the
// reference kernel (declared by dnnl_qlinear_test.cc).
int64_t DnnlQLinearFallbackCountForTesting();

namespace {

std::atomic<int64_t> g_fallbacks{0};

using dnnl::memory;
using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

constexpr size_t kMaxCacheEntries = 16;

bool Is8Bit(DataType d) { return d == DataType::kUint8 || d == DataType::kInt8; }

int32_t Load8(const Tensor& t, int64_t i) {
  return t.dtype() == DataType::kUint8 ? static_cast<int32_t>(t.data_as<uint8_t>()[i])
                                       : static_cast<int32_t>(t.data_as<int8_t>()[i]);
}

// A dense tensor: its bytes hold exactly its shape's elements.
bool Dense(const Tensor& t) {
  return t.byte_size() == static_cast<size_t>(ref::NumElements(t.shape())) *
                              DataTypeByteSize(t.dtype());
}

// Input positions of the operands; -1 when the op has none.
struct Roles {
  int x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp, bias;
};
constexpr Roles kIntegerRoles{0, -1, 2, 1, -1, 3, -1, -1, -1};
constexpr Roles kQLinearRoles{0, 1, 2, 3, 4, 5, 6, 7, 8};

const Tensor* Input(std::span<const Tensor* const> inputs, int i) {
  return i >= 0 && static_cast<size_t>(i) < inputs.size() ? inputs[i] : nullptr;
}

// The zero point of an 8-bit `data`: absent (0), or 1 or `channels` elements
// of the data's type. nullopt for anything else (the reference reports it).
std::optional<std::vector<int32_t>> ReadZeroPoint(const Tensor* zp, const Tensor& data,
                                                  int64_t channels) {
  if (zp == nullptr) return std::vector<int32_t>{0};
  if (zp->dtype() != data.dtype() || !Dense(*zp)) return std::nullopt;
  const int64_t n = ref::NumElements(zp->shape());
  if (n != 1 && (channels <= 0 || n != channels)) return std::nullopt;
  std::vector<int32_t> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) out[i] = Load8(*zp, i);
  return out;
}

// Positive finite scales, 1 or `channels` elements; nullopt otherwise.
std::optional<std::vector<double>> ReadScale(const Tensor* s, int64_t channels) {
  if (s == nullptr || !Dense(*s)) return std::nullopt;
  auto v = ref::ReadDoubles(*s, "scale");
  if (!v.ok()) return std::nullopt;
  const auto n = static_cast<int64_t>(v->size());
  if (n != 1 && (channels <= 0 || n != channels)) return std::nullopt;
  for (double x : *v) {
    if (!(x > 0) || !std::isfinite(x)) return std::nullopt;
  }
  return std::move(*v);
}

// The output scales a_scale * w_scale[c] / y_scale of a QLinear op (one,
// or one per output channel), as oneDNN takes them.
std::vector<float> OutputScales(const std::vector<double>& x_scale,
                                const std::vector<double>& w_scale,
                                const std::vector<double>& y_scale) {
  std::vector<float> out;
  for (double ws : w_scale) out.push_back(static_cast<float>(x_scale[0] * ws / y_scale[0]));
  return out;
}

// The weights as oneDNN takes them: s8 values and a weight zero point.
struct S8Weights {
  Tensor values;    // dense s8, same shape as the input weights
  int32_t zero = 0;  // weight zero point left for oneDNN (0: none)
};

// w - zp (zp per tensor or per channel, channel c of element i being
// (i / inner) % zp.size()) as s8 when every value fits. Otherwise, when
// `allow_zero_point` and zp is per tensor, s8 (w - 128) with zero point
// zp - 128 for u8 w, or w itself with zero point zp for s8 w. nullopt when
// neither applies.
std::optional<S8Weights> ToS8(const Tensor& w, const std::vector<int32_t>& zp, int64_t inner,
                              bool allow_zero_point) {
  const int64_t n = ref::NumElements(w.shape());
  const auto channels = static_cast<int64_t>(zp.size());
  S8Weights out;
  out.values = Tensor::AllocateDense(DataType::kInt8, w.shape());
  int8_t* dst = out.values.mutable_data_as<int8_t>();
  bool fits = true;
  if (w.dtype() == DataType::kInt8 && channels == 1 && zp[0] == 0) {
    std::memcpy(dst, w.data(), static_cast<size_t>(n));
    return out;
  }
  for (int64_t i = 0; i < n && fits; ++i) {
    const int32_t v = Load8(w, i) - zp[channels == 1 ? 0 : (i / inner) % channels];
    fits = v >= -128 && v <= 127;
    dst[i] = static_cast<int8_t>(v);
  }
  if (fits) return out;
  if (!allow_zero_point || channels != 1) return std::nullopt;
  const int32_t shift = w.dtype() == DataType::kUint8 ? 128 : 0;
  for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<int8_t>(Load8(w, i) - shift);
  out.zero = zp[0] - shift;
  return out;
}


// Appends a float's bits to a cache key.
void AppendScales(std::vector<int64_t>* key, const std::vector<float>& scales) {
  key->push_back(static_cast<int64_t>(scales.size()));
  for (float s : scales) {
    uint32_t bits;
    std::memcpy(&bits, &s, sizeof(bits));
    key->push_back(bits);
  }
}

// How the y zero point is applied (see the file comment).
enum class YZero { kNone = 0, kFused = 1, kAfter = 2 };

YZero YZeroMode(int32_t y_zp) {
  return y_zp == 0 ? YZero::kNone : (y_zp % 2 == 0 ? YZero::kFused : YZero::kAfter);
}

// y = saturate(acc + zp) into the u8/s8 `y` (YZero::kAfter).
void AddZeroPointAndSaturate(const Tensor& acc, int32_t zp, Tensor* y) {
  const int32_t* in = acc.data_as<int32_t>();
  const int64_t n = static_cast<int64_t>(acc.byte_size() / sizeof(int32_t));
  auto store = [&]<typename Q>(Q* out) {
    constexpr int64_t lo = std::numeric_limits<Q>::lowest(), hi = std::numeric_limits<Q>::max();
    for (int64_t i = 0; i < n; ++i) {
      out[i] = static_cast<Q>(std::clamp<int64_t>(int64_t{in[i]} + zp, lo, hi));
    }
  };
  if (y->dtype() == DataType::kUint8) {
    store(y->mutable_data_as<uint8_t>());
  } else {
    store(y->mutable_data_as<int8_t>());
  }
}

// A one-element s32 memory for a run-time zero point.
memory ZeroPointMemory(int32_t* value) {
  return memory(memory::desc({1}, dt::s32, tag::a), CpuEngine(), value);
}

// Builds the reference kernel of the same node (the run-time fallback).
StatusOr<std::unique_ptr<Kernel>> MakeReference(const KernelBuildContext& context) {
  KernelFactory factory = KernelRegistry::Global().FindReference("", context.node.op_type);
  if (factory == nullptr) return Unimplemented("no reference kernel for " + context.node.op_type);
  return factory(context);
}

// Unimplemented when a known dtype of X or W is not 8-bit (the reference
// kernel reports it).
Status CheckKnownDtypes(const KernelBuildContext& context, const Roles& roles) {
  for (int i : {roles.x, roles.w}) {
    if (static_cast<size_t>(i) < context.input_dtypes.size()) {
      const DataType d = context.input_dtypes[i];
      if (d != DataType::kInvalid && !Is8Bit(d)) {
        return Unimplemented("oneDNN " + context.node.op_type + ": 8-bit operands only");
      }
    }
  }
  return Status::Ok();
}

// What both kernels share: the reference fallback, the thread budget, the
// constant weights (and zero point) and the cache.
template <typename Entry>
class DnnlIntBase : public Kernel {
 protected:
  DnnlIntBase(const KernelBuildContext& context, std::unique_ptr<Kernel> reference, bool quantized)
      : reference_(std::move(reference)),
        roles_(quantized ? kQLinearRoles : kIntegerRoles),
        quantized_(quantized),
        threads_(context.intra_op_threads) {
    auto constant = [&](int i) -> const Tensor* {
      return i >= 0 && static_cast<size_t>(i) < context.constant_inputs.size()
                 ? context.constant_inputs[i]
                 : nullptr;
    };
    const Tensor* w = constant(roles_.w);
    const bool zp_input = roles_.w_zp < static_cast<int>(context.node.inputs.size()) &&
                          context.node.inputs[roles_.w_zp] != kNoValue;
    const Tensor* zp = constant(roles_.w_zp);
    if (w != nullptr && (!zp_input || zp != nullptr)) {
      constant_w_ = *w;
      if (zp != nullptr) constant_w_zp_ = *zp;
      has_constant_w_ = true;
    }
  }

  Status Fallback(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const {
    g_fallbacks.fetch_add(1, std::memory_order_relaxed);
    return reference_->Run(inputs, outputs);
  }

  // True when W (and its zero point) are the build-time constants.
  bool UsesConstantWeights(std::span<const Tensor* const> inputs) const {
    if (!has_constant_w_) return false;
    const Tensor* w = Input(inputs, roles_.w);
    const Tensor* zp = Input(inputs, roles_.w_zp);
    return w != nullptr && w->data() == constant_w_.data() && w->shape() == constant_w_.shape() &&
           w->dtype() == constant_w_.dtype() &&
           (zp == nullptr ? constant_w_zp_.data() == nullptr
                          : zp->data() == constant_w_zp_.data() &&
                                zp->shape() == constant_w_zp_.shape());
  }

  // The cached entry for `key`, made by `create` on a miss.
  template <typename Create>
  std::shared_ptr<const Entry> GetEntry(std::vector<int64_t> key, Create&& create) const {
    return cache_.GetOrCreate(key, std::forward<Create>(create));
  }

  // QLinear parameters: output scales and y zero point; false when they are
  // not what this kernel takes (the reference decides).
  bool ReadQuantization(std::span<const Tensor* const> inputs, int64_t channels,
                        std::vector<float>* scales, int32_t* y_zp, DataType* y_dtype) const {
    const Tensor* y_zp_t = Input(inputs, roles_.y_zp);
    if (y_zp_t == nullptr || !Is8Bit(y_zp_t->dtype()) || !Dense(*y_zp_t) ||
        ref::NumElements(y_zp_t->shape()) != 1) {
      return false;
    }
    auto x_scale = ReadScale(Input(inputs, roles_.x_scale), 0);
    auto w_scale = ReadScale(Input(inputs, roles_.w_scale), channels);
    auto y_scale = ReadScale(Input(inputs, roles_.y_scale), 0);
    if (!x_scale || !w_scale || !y_scale) return false;
    *scales = OutputScales(*x_scale, *w_scale, *y_scale);
    for (float s : *scales) {
      if (!(s > 0) || !std::isfinite(s)) return false;  // under/overflowed in float
    }
    *y_zp = Load8(*y_zp_t, 0);
    *y_dtype = y_zp_t->dtype();
    return true;
  }

  std::unique_ptr<Kernel> reference_;
  Roles roles_;
  bool quantized_;
  int threads_;
  Tensor constant_w_;
  Tensor constant_w_zp_;
  bool has_constant_w_ = false;

 private:
  ShapeCache<Entry> cache_{kMaxCacheEntries};
};

// Weights in the primitive's layout: the packed constant, or `plain` (s8,
// dense, described by `plain_md`) reordered per call into `holder`.
memory WeightsMemory(const std::optional<memory>& packed, const memory::desc& plain_md,
                     const memory::desc& prim_md, const Tensor& plain, Tensor* holder) {
  if (packed.has_value()) return *packed;
  memory user(plain_md, CpuEngine(), const_cast<char*>(plain.data()));
  if (prim_md == plain_md) return user;
  memory out = TempMemory(prim_md, holder);
  dnnl::reorder(user, out).execute(CpuStream(), user, out);
  return out;
}

memory PackOnce(const memory::desc& plain_md, const memory::desc& prim_md, const Tensor& plain) {
  memory user(plain_md, CpuEngine(), const_cast<char*>(plain.data()));
  memory packed(prim_md, CpuEngine());
  dnnl::reorder(user, packed).execute(CpuStream(), user, packed);
  CpuStream().wait();
  return packed;
}

// ---------------------------------------------------------------------------
// MatMulInteger / QLinearMatMul
// ---------------------------------------------------------------------------

struct MatMulEntry {
  bool supported = false;  // false: run the reference
  dnnl::matmul prim;
  memory::desc src_md, plain_w_md, prim_w_md, dst_md, scratch_md;
  std::optional<memory> packed_w;  // constant B in prim_w_md
  int32_t w_zero = 0;              // constant B's weight zero point
};

class DnnlIntMatMulKernel final : public DnnlIntBase<MatMulEntry> {
 public:
  DnnlIntMatMulKernel(const KernelBuildContext& context, std::unique_ptr<Kernel> reference,
                      bool quantized)
      : DnnlIntBase(context, std::move(reference), quantized) {}

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    SetThreads(threads_);
    const size_t arity = quantized_ ? 8 : 4;
    const Tensor* a = Input(inputs, roles_.x);
    const Tensor* b = Input(inputs, roles_.w);
    if (inputs.size() > arity || outputs.size() != 1 || a == nullptr || b == nullptr ||
        (quantized_ && inputs.size() != arity) || !Is8Bit(a->dtype()) || !Is8Bit(b->dtype()) ||
        !Dense(*a) || !Dense(*b)) {
      return Fallback(inputs, outputs);
    }
    auto geometry = ref::MatMulShapes(a->shape(), b->shape());
    if (!geometry.ok()) return Fallback(inputs, outputs);
    const ref::MatMulGeometry& g = *geometry;
    if (g.m == 0 || g.k == 0 || g.n == 0 || ref::NumElements(g.batch) == 0 ||
        g.batch.size() + 2 > DNNL_MAX_NDIMS) {
      return Fallback(inputs, outputs);
    }
    // A per tensor only; B per tensor or per column.
    auto a_zp = ReadZeroPoint(Input(inputs, roles_.x_zp), *a, 0);
    auto b_zp = ReadZeroPoint(Input(inputs, roles_.w_zp), *b, g.n);
    if (!a_zp || !b_zp) return Fallback(inputs, outputs);
    std::vector<float> scales;
    int32_t y_zp = 0;
    DataType y_dtype = DataType::kInt32;
    if (quantized_ && !ReadQuantization(inputs, g.n, &scales, &y_zp, &y_dtype)) {
      return Fallback(inputs, outputs);
    }

    memory::dims src_dims, wei_dims, dst_dims;
    if (g.b.size() == 2) {
      // One B matrix: A's batch dims fold into its rows (A is dense).
      const int64_t rows = ref::NumElements(g.a) / g.k;
      src_dims = {rows, g.k};
      wei_dims = {g.k, g.n};
      dst_dims = {rows, g.n};
    } else {
      src_dims.assign(g.batch_a.begin(), g.batch_a.end());
      src_dims.insert(src_dims.end(), {g.m, g.k});
      wei_dims.assign(g.batch_b.begin(), g.batch_b.end());
      wei_dims.insert(wei_dims.end(), {g.k, g.n});
      dst_dims.assign(g.batch.begin(), g.batch.end());
      dst_dims.insert(dst_dims.end(), {g.m, g.n});
    }
    const bool constant = UsesConstantWeights(inputs);
    // Non-constant B is rewritten to s8 on every call.
    std::optional<S8Weights> call_w;
    if (!constant) {
      call_w = ToS8(*b, *b_zp, 1, true);
      if (!call_w) return Fallback(inputs, outputs);
    }
    std::vector<int64_t> key(src_dims.begin(), src_dims.end());
    key.push_back(-1);
    key.insert(key.end(), wei_dims.begin(), wei_dims.end());
    key.insert(key.end(), {static_cast<int64_t>(a->dtype()), static_cast<int64_t>(y_dtype),
                           constant ? 1 : 0, constant || call_w->zero == 0 ? 0 : 1,
                           (*a_zp)[0] != 0 ? 1 : 0, static_cast<int64_t>(YZeroMode(y_zp))});
    AppendScales(&key, scales);
    std::shared_ptr<const MatMulEntry> entry;
    try {
      entry = GetEntry(std::move(key), [&] {
        return Create(src_dims, wei_dims, dst_dims, a->dtype(), y_dtype, scales, (*a_zp)[0] != 0,
                      YZeroMode(y_zp), constant ? nullptr : &*call_w, *b_zp);
      });
    } catch (const dnnl::error& e) {
      return DnnlError(e, op() + " primitive creation");
    }
    if (entry == nullptr || !entry->supported) return Fallback(inputs, outputs);

    ASSIGN_OR_RETURN(outputs[0], ref::AllocateOutput(y_dtype, g.out));
    const YZero y_mode = YZeroMode(y_zp);
    Tensor acc;  // YZero::kAfter: the rounded values before the zero point
    if (y_mode == YZero::kAfter) acc = Tensor::AllocateDense(DataType::kInt32, g.out);
    Tensor& dst_tensor = y_mode == YZero::kAfter ? acc : outputs[0];
    try {
      const dnnl::engine& eng = CpuEngine();
      dnnl::stream& strm = CpuStream();
      Tensor w_bytes, scratch_bytes;
      std::unordered_map<int, memory> args;
      args.emplace(DNNL_ARG_SRC, memory(entry->src_md, eng, const_cast<char*>(a->data())));
      args.emplace(DNNL_ARG_WEIGHTS,
                   WeightsMemory(entry->packed_w, entry->plain_w_md, entry->prim_w_md,
                                 constant ? constant_w_ : call_w->values, &w_bytes));
      args.emplace(DNNL_ARG_DST, memory(entry->dst_md, eng, dst_tensor.mutable_data()));
      args.emplace(DNNL_ARG_SCRATCHPAD, TempMemory(entry->scratch_md, &scratch_bytes));
      int32_t src_zero = (*a_zp)[0];
      int32_t w_zero = constant ? entry->w_zero : call_w->zero;
      int32_t dst_zero = y_zp;
      if (src_zero != 0) {
        args.emplace(DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC, ZeroPointMemory(&src_zero));
      }
      if (w_zero != 0) {
        args.emplace(DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_WEIGHTS, ZeroPointMemory(&w_zero));
      }
      if (y_mode == YZero::kFused) {
        args.emplace(DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_DST, ZeroPointMemory(&dst_zero));
      }
      entry->prim.execute(strm, args);
      strm.wait();
    } catch (const dnnl::error& e) {
      return DnnlError(e, op() + " execution");
    }
    if (y_mode == YZero::kAfter) AddZeroPointAndSaturate(acc, y_zp, &outputs[0]);
    return Status::Ok();
  }

 private:
  std::string op() const { return quantized_ ? "QLinearMatMul" : "MatMulInteger"; }

  // The primitive for these dims and parameters; `call_w` is the per-call
  // s8 B (null: the constant B, rewritten and packed here). Throws
  // dnnl::error for failures other than "unimplemented".
  std::shared_ptr<const MatMulEntry> Create(const memory::dims& src_dims,
                                            const memory::dims& wei_dims,
                                            const memory::dims& dst_dims, DataType a_dtype,
                                            DataType y_dtype, const std::vector<float>& scales,
                                            bool src_zp, YZero y_mode, const S8Weights* call_w,
                                            const std::vector<int32_t>& b_zp) const {
    auto entry = std::make_shared<MatMulEntry>();
    std::optional<S8Weights> constant_w;
    if (call_w == nullptr) {
      constant_w = ToS8(constant_w_, b_zp, 1, true);
      if (!constant_w) return entry;
      entry->w_zero = constant_w->zero;
    }
    const int32_t w_zero = call_w != nullptr ? call_w->zero : entry->w_zero;
    const int rank = static_cast<int>(dst_dims.size());
    entry->src_md = memory::desc(src_dims, ToDnnlType(a_dtype), PlainTag(src_dims.size()));
    entry->plain_w_md = memory::desc(wei_dims, dt::s8, PlainTag(wei_dims.size()));
    entry->dst_md = memory::desc(dst_dims, y_mode == YZero::kAfter ? dt::s32 : ToDnnlType(y_dtype),
                                 PlainTag(dst_dims.size()));
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    if (src_zp) attr.set_zero_points(DNNL_ARG_SRC, 0, {DNNL_RUNTIME_S32_VAL});
    if (w_zero != 0) attr.set_zero_points(DNNL_ARG_WEIGHTS, 0, {DNNL_RUNTIME_S32_VAL});
    if (y_mode == YZero::kFused) attr.set_zero_points(DNNL_ARG_DST, 0, {DNNL_RUNTIME_S32_VAL});
    if (!scales.empty()) attr.set_output_scales(scales.size() == 1 ? 0 : 1 << (rank - 1), scales);
    dnnl::matmul::primitive_desc pd;
    try {
      dnnl::matmul::desc d(entry->src_md, memory::desc(wei_dims, dt::s8, tag::any),
                           entry->dst_md);
      pd = dnnl::matmul::primitive_desc(d, attr, CpuEngine());
    } catch (const dnnl::error& e) {
      if (e.status == dnnl_unimplemented) return entry;
      throw;
    }
    if (IsReferenceImpl(pd)) return entry;
    entry->prim_w_md = pd.weights_desc();
    entry->scratch_md = pd.scratchpad_desc();
    entry->prim = dnnl::matmul(pd);
    if (constant_w) entry->packed_w = PackOnce(entry->plain_w_md, entry->prim_w_md,
                                               constant_w->values);
    entry->supported = true;
    return entry;
  }
};

// ---------------------------------------------------------------------------
// ConvInteger / QLinearConv
// ---------------------------------------------------------------------------

struct ConvEntry {
  bool supported = false;  // false: run the reference
  dnnl::convolution_forward prim;
  memory::desc user_src_md, prim_src_md, plain_w_md, prim_w_md, bias_md, user_dst_md,
      prim_dst_md, scratch_md;
  dnnl::reorder src_in, dst_out;  // plain <-> the primitive's layout
  bool reorder_src = false, reorder_dst = false;
  std::optional<memory> packed_w;  // constant W in prim_w_md
  Shape out_shape;
};

class DnnlIntConvKernel final : public DnnlIntBase<ConvEntry> {
 public:
  DnnlIntConvKernel(const KernelBuildContext& context, std::unique_ptr<Kernel> reference,
                    bool quantized, ref::WindowAttrs attrs, int64_t group)
      : DnnlIntBase(context, std::move(reference), quantized),
        attrs_(std::move(attrs)),
        group_(group) {}

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    SetThreads(threads_);
    const size_t max_arity = quantized_ ? 9 : 4;
    const Tensor* x = Input(inputs, roles_.x);
    const Tensor* w = Input(inputs, roles_.w);
    if (inputs.size() > max_arity || outputs.size() != 1 || x == nullptr || w == nullptr ||
        (quantized_ && inputs.size() < 8) || !Is8Bit(x->dtype()) || !Is8Bit(w->dtype()) ||
        !Dense(*x) || !Dense(*w)) {
      return Fallback(inputs, outputs);
    }
    const Shape& xs = x->shape();
    const Shape& ws = w->shape();
    if (xs.size() < 3 || xs.size() > 5 || ws.size() != xs.size() || ws[0] <= 0 ||
        ws[0] % group_ != 0 || xs[1] != ws[1] * group_) {
      return Fallback(inputs, outputs);
    }
    for (int64_t d : xs) {
      if (d <= 0) return Fallback(inputs, outputs);
    }
    for (int64_t d : ws) {
      if (d <= 0) return Fallback(inputs, outputs);
    }
    auto window = ref::ResolveWindow(attrs_, std::span(xs).subspan(2), std::span(ws).subspan(2),
                                     op());
    if (!window.ok()) return Fallback(inputs, outputs);
    for (int64_t d : window->out) {
      if (d <= 0) return Fallback(inputs, outputs);
    }
    const int64_t oc = ws[0];
    auto x_zp = ReadZeroPoint(Input(inputs, roles_.x_zp), *x, 0);
    auto w_zp = ReadZeroPoint(Input(inputs, roles_.w_zp), *w, oc);
    if (!x_zp || !w_zp) return Fallback(inputs, outputs);
    std::vector<float> scales;
    int32_t y_zp = 0;
    DataType y_dtype = DataType::kInt32;
    const Tensor* bias = Input(inputs, roles_.bias);
    if (quantized_) {
      if (!ReadQuantization(inputs, oc, &scales, &y_zp, &y_dtype)) return Fallback(inputs, outputs);
      if (bias != nullptr && (bias->dtype() != DataType::kInt32 || bias->shape().size() != 1 ||
                              bias->shape()[0] != oc || !Dense(*bias))) {
        return Fallback(inputs, outputs);
      }
    }
    const bool constant = UsesConstantWeights(inputs);
    const int64_t per_oc = ref::NumElements(ws) / oc;
    std::optional<S8Weights> call_w;
    if (!constant) {
      call_w = ToS8(*w, *w_zp, per_oc, false);
      if (!call_w) return Fallback(inputs, outputs);
    }
    std::vector<int64_t> key(xs.begin(), xs.end());
    key.push_back(-1);
    key.insert(key.end(), ws.begin(), ws.end());
    key.insert(key.end(), {static_cast<int64_t>(x->dtype()), static_cast<int64_t>(y_dtype),
                           constant ? 1 : 0, (*x_zp)[0] != 0 ? 1 : 0,
                           static_cast<int64_t>(YZeroMode(y_zp)), bias != nullptr ? 1 : 0});
    AppendScales(&key, scales);
    std::shared_ptr<const ConvEntry> entry;
    try {
      entry = GetEntry(std::move(key), [&] {
        return Create(*x, ws, *window, y_dtype, scales, (*x_zp)[0] != 0, YZeroMode(y_zp),
                      bias != nullptr, constant ? nullptr : &*call_w, *w_zp, per_oc);
      });
    } catch (const dnnl::error& e) {
      return DnnlError(e, op() + " primitive creation");
    }
    if (entry == nullptr || !entry->supported) return Fallback(inputs, outputs);

    ASSIGN_OR_RETURN(outputs[0], ref::AllocateOutput(y_dtype, entry->out_shape));
    const YZero y_mode = YZeroMode(y_zp);
    Tensor acc;  // YZero::kAfter: the rounded values before the zero point
    if (y_mode == YZero::kAfter) acc = Tensor::AllocateDense(DataType::kInt32, entry->out_shape);
    Tensor& dst_tensor = y_mode == YZero::kAfter ? acc : outputs[0];
    try {
      const dnnl::engine& eng = CpuEngine();
      dnnl::stream& strm = CpuStream();
      Tensor w_bytes, scratch_bytes, src_bytes, dst_bytes;
      memory user_src(entry->user_src_md, eng, const_cast<char*>(x->data()));
      memory user_dst(entry->user_dst_md, eng, dst_tensor.mutable_data());
      memory src = user_src;
      if (entry->reorder_src) {
        src = TempMemory(entry->prim_src_md, &src_bytes);
        entry->src_in.execute(strm, user_src, src);
      }
      memory dst = entry->reorder_dst ? TempMemory(entry->prim_dst_md, &dst_bytes) : user_dst;
      std::unordered_map<int, memory> args;
      args.emplace(DNNL_ARG_SRC, src);
      args.emplace(DNNL_ARG_WEIGHTS,
                   WeightsMemory(entry->packed_w, entry->plain_w_md, entry->prim_w_md,
                                 constant ? constant_w_ : call_w->values, &w_bytes));
      args.emplace(DNNL_ARG_DST, dst);
      args.emplace(DNNL_ARG_SCRATCHPAD, TempMemory(entry->scratch_md, &scratch_bytes));
      if (bias != nullptr) {
        args.emplace(DNNL_ARG_BIAS, memory(entry->bias_md, eng, const_cast<char*>(bias->data())));
      }
      int32_t src_zero = (*x_zp)[0];
      int32_t dst_zero = y_zp;
      if (src_zero != 0) {
        args.emplace(DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC, ZeroPointMemory(&src_zero));
      }
      if (y_mode == YZero::kFused) {
        args.emplace(DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_DST, ZeroPointMemory(&dst_zero));
      }
      entry->prim.execute(strm, args);
      if (entry->reorder_dst) entry->dst_out.execute(strm, dst, user_dst);
      strm.wait();
    } catch (const dnnl::error& e) {
      return DnnlError(e, op() + " execution");
    }
    if (y_mode == YZero::kAfter) AddZeroPointAndSaturate(acc, y_zp, &outputs[0]);
    return Status::Ok();
  }

 private:
  std::string op() const { return quantized_ ? "QLinearConv" : "ConvInteger"; }

  std::shared_ptr<const ConvEntry> Create(const Tensor& x, const Shape& ws,
                                          const ref::Window& window, DataType y_dtype,
                                          const std::vector<float>& scales, bool src_zp,
                                          YZero y_mode, bool has_bias, const S8Weights* call_w,
                                          const std::vector<int32_t>& w_zp,
                                          int64_t per_oc) const {
    auto entry = std::make_shared<ConvEntry>();
    std::optional<S8Weights> constant_w;
    if (call_w == nullptr) {
      constant_w = ToS8(constant_w_, w_zp, per_oc, false);
      if (!constant_w) return entry;
    }
    const Shape& xs = x.shape();
    const size_t rank = xs.size();
    Shape out = {xs[0], ws[0]};
    out.insert(out.end(), window.out.begin(), window.out.end());
    entry->out_shape = out;
    const memory::dims w_dims = ConvWeightDims(ws, group_);
    memory::dims dilates;
    for (int64_t d : window.dilation) dilates.push_back(d - 1);
    const dt src_dt = ToDnnlType(x.dtype());
    const dt dst_dt = y_mode == YZero::kAfter ? dt::s32 : ToDnnlType(y_dtype);
    entry->user_src_md = memory::desc(ToDims(xs), src_dt, PlainTag(rank));
    entry->user_dst_md = memory::desc(ToDims(out), dst_dt, PlainTag(rank));
    entry->plain_w_md = memory::desc(w_dims, dt::s8, PlainTag(w_dims.size()));
    if (has_bias) entry->bias_md = memory::desc({ws[0]}, dt::s32, tag::a);
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    if (src_zp) attr.set_zero_points(DNNL_ARG_SRC, 0, {DNNL_RUNTIME_S32_VAL});
    if (y_mode == YZero::kFused) attr.set_zero_points(DNNL_ARG_DST, 0, {DNNL_RUNTIME_S32_VAL});
    // Per output channel: dst dim 1, whatever the grouping.
    if (!scales.empty()) attr.set_output_scales(scales.size() == 1 ? 0 : 1 << 1, scales);
    const memory::desc any_src(ToDims(xs), src_dt, tag::any);
    const memory::desc any_w(w_dims, dt::s8, tag::any);
    const memory::desc any_dst(ToDims(out), dst_dt, tag::any);
    const auto prop = dnnl::prop_kind::forward_inference;
    const auto alg = dnnl::algorithm::convolution_direct;
    dnnl::convolution_forward::primitive_desc pd;
    try {
      auto desc = has_bias ? dnnl::convolution_forward::desc(
                                 prop, alg, any_src, any_w, entry->bias_md, any_dst,
                                 ToDims(window.stride), dilates, ToDims(window.pad_begin),
                                 ToDims(window.pad_end))
                           : dnnl::convolution_forward::desc(
                                 prop, alg, any_src, any_w, any_dst, ToDims(window.stride),
                                 dilates, ToDims(window.pad_begin), ToDims(window.pad_end));
      pd = dnnl::convolution_forward::primitive_desc(desc, attr, CpuEngine());
    } catch (const dnnl::error& e) {
      if (e.status == dnnl_unimplemented) return entry;
      throw;
    }
    if (IsReferenceImpl(pd)) return entry;
    const dnnl::engine& eng = CpuEngine();
    entry->prim_src_md = pd.src_desc();
    entry->prim_dst_md = pd.dst_desc();
    entry->prim_w_md = pd.weights_desc();
    entry->scratch_md = pd.scratchpad_desc();
    entry->reorder_src = entry->prim_src_md != entry->user_src_md;
    entry->reorder_dst = entry->prim_dst_md != entry->user_dst_md;
    if (entry->reorder_src) {
      entry->src_in = dnnl::reorder(
          dnnl::reorder::primitive_desc(eng, entry->user_src_md, eng, entry->prim_src_md));
    }
    if (entry->reorder_dst) {
      entry->dst_out = dnnl::reorder(
          dnnl::reorder::primitive_desc(eng, entry->prim_dst_md, eng, entry->user_dst_md));
    }
    entry->prim = dnnl::convolution_forward(pd);
    if (constant_w) entry->packed_w = PackOnce(entry->plain_w_md, entry->prim_w_md,
                                               constant_w->values);
    entry->supported = true;
    return entry;
  }

  const ref::WindowAttrs attrs_;
  const int64_t group_;
};

// ---------------------------------------------------------------------------
// Factories
// ---------------------------------------------------------------------------

template <bool kQuantized>
StatusOr<std::unique_ptr<Kernel>> MakeDnnlIntConv(const KernelBuildContext& context) {
  // The reference factory validates arity and attributes; its errors are ours.
  ASSIGN_OR_RETURN(std::unique_ptr<Kernel> reference, MakeReference(context));
  RETURN_IF_ERROR(CheckKnownDtypes(context, kQuantized ? kQLinearRoles : kIntegerRoles));
  const std::string op = kQuantized ? "QLinearConv" : "ConvInteger";
  ASSIGN_OR_RETURN(ref::WindowAttrs attrs, ref::ParseWindowAttrs(context.node, op, true, false));
  ASSIGN_OR_RETURN(int64_t group, context.node.GetInt("group", 1));
  return std::unique_ptr<Kernel>(
      new DnnlIntConvKernel(context, std::move(reference), kQuantized, std::move(attrs), group));
}

template <bool kQuantized>
StatusOr<std::unique_ptr<Kernel>> MakeDnnlIntMatMul(const KernelBuildContext& context) {
  ASSIGN_OR_RETURN(std::unique_ptr<Kernel> reference, MakeReference(context));
  RETURN_IF_ERROR(CheckKnownDtypes(context, kQuantized ? kQLinearRoles : kIntegerRoles));
  return std::unique_ptr<Kernel>(
      new DnnlIntMatMulKernel(context, std::move(reference), kQuantized));
}

NEREID_REGISTER_KERNEL_PRIORITY("", "ConvInteger", MakeDnnlIntConv<false>, 10);
NEREID_REGISTER_KERNEL_PRIORITY("", "QLinearConv", MakeDnnlIntConv<true>, 10);
NEREID_REGISTER_KERNEL_PRIORITY("", "MatMulInteger", MakeDnnlIntMatMul<false>, 10);
NEREID_REGISTER_KERNEL_PRIORITY("", "QLinearMatMul", MakeDnnlIntMatMul<true>, 10);

}  // namespace

int64_t DnnlQLinearFallbackCountForTesting() { return g_fallbacks.load(); }

}  // namespace nereid::engine::cpu

// MatMul (numpy matmul: N-d batched with broadcasting, 1-D promotion) and
// Gemm (Y = alpha * A' * B' + beta * C, C broadcast unidirectionally).
// Accumulation: float for 16-bit floats, the type itself for float/double,
// wrapping 64-bit for integers.
#include <string>
#include <vector>

#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/broadcast.h"
#include "engine/kernels/ref/dispatch.h"
#include "engine/kernels/ref/matmul_shape.h"
#include "engine/kernels/ref/ref_util.h"

namespace nereid::engine::ref {
namespace {

// A matrix operand: element (r, c) is data[r * row_stride + c * col_stride].
template <typename T>
struct MatrixRef {
  const T* data;
  int64_t row_stride;
  int64_t col_stride;
  T at(int64_t r, int64_t c) const { return data[r * row_stride + c * col_stride]; }
};

// acc[M x N] = a[M x K] * b[K x N], row by row (i-k-j order).
template <typename T>
void MultiplyInto(MatrixRef<T> a, MatrixRef<T> b, int64_t m, int64_t k, int64_t n,
                  AccType<T>* acc) {
  using Acc = AccType<T>;
  for (int64_t i = 0; i < m; ++i) {
    Acc* row = acc + i * n;
    for (int64_t j = 0; j < n; ++j) row[j] = Acc{0};
    for (int64_t p = 0; p < k; ++p) {
      const Acc av = static_cast<Acc>(a.at(i, p));
      for (int64_t j = 0; j < n; ++j) row[j] += av * static_cast<Acc>(b.at(p, j));
    }
  }
}

class MatMulKernel final : public Kernel {
 public:
  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, 2, 2));
    RETURN_IF_ERROR(CheckSameDtype(inputs));
    const Tensor& a = *inputs[0];
    const Tensor& b = *inputs[1];
    ASSIGN_OR_RETURN(const MatMulGeometry g, MatMulShapes(a.shape(), b.shape()));
    const int64_t m = g.m, k = g.k, n = g.n;
    const Shape& batch = g.batch;
    const Shape& batch_a = g.batch_a;
    const Shape& batch_b = g.batch_b;
    const Shape& out_shape = g.out;
    // Batch strides in units of whole matrices.
    const auto stride_a = BroadcastStrides(batch_a, batch);
    const auto stride_b = BroadcastStrides(batch_b, batch);
    return DispatchNumeric(a.dtype(), "MatMul", [&]<typename T>() -> Status {
      ASSIGN_OR_RETURN(outputs[0], AllocateOutput(a.dtype(), out_shape));
      if (NumElements(out_shape) == 0) return Status::Ok();
      std::vector<AccType<T>> acc(static_cast<size_t>(m * n));
      T* out = outputs[0].mutable_data_as<T>();
      ForEachBroadcast(batch, stride_a, stride_b, [&](int64_t o, int64_t ia, int64_t ib) {
        MatrixRef<T> ma{a.data_as<T>() + ia * m * k, k, 1};
        MatrixRef<T> mb{b.data_as<T>() + ib * k * n, n, 1};
        MultiplyInto(ma, mb, m, k, n, acc.data());
        T* dst = out + o * m * n;
        for (int64_t i = 0; i < m * n; ++i) dst[i] = static_cast<T>(acc[i]);
      });
      return Status::Ok();
    });
  }
};

class GemmKernel final : public Kernel {
 public:
  GemmKernel(float alpha, float beta, bool trans_a, bool trans_b)
      : alpha_(alpha), beta_(beta), trans_a_(trans_a), trans_b_(trans_b) {}

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, 2, 3));
    RETURN_IF_ERROR(CheckSameDtype(inputs));
    const Tensor& a = *inputs[0];
    const Tensor& b = *inputs[1];
    const Tensor* c = inputs.size() > 2 ? inputs[2] : nullptr;
    if (a.shape().size() != 2 || b.shape().size() != 2) {
      return InvalidArgument("Gemm inputs A and B must be 2-D, got " + ShapeToString(a.shape()) +
                             " and " + ShapeToString(b.shape()));
    }
    const int64_t m = trans_a_ ? a.shape()[1] : a.shape()[0];
    const int64_t k = trans_a_ ? a.shape()[0] : a.shape()[1];
    const int64_t kb = trans_b_ ? b.shape()[1] : b.shape()[0];
    const int64_t n = trans_b_ ? b.shape()[0] : b.shape()[1];
    if (k != kb) {
      return InvalidArgument("Gemm inner dimensions differ: A " + ShapeToString(a.shape()) +
                             ", B " + ShapeToString(b.shape()));
    }
    const Shape out_shape = {m, n};
    if (c && !BroadcastsTo(c->shape(), out_shape)) {
      return InvalidArgument("Gemm C of shape " + ShapeToString(c->shape()) +
                             " does not broadcast to " + ShapeToString(out_shape));
    }
    return DispatchNumeric(a.dtype(), "Gemm", [&]<typename T>() -> Status {
      ASSIGN_OR_RETURN(outputs[0], AllocateOutput(a.dtype(), out_shape));
      std::vector<AccType<T>> acc(static_cast<size_t>(m * n));
      MatrixRef<T> ma{a.data_as<T>(), trans_a_ ? 1 : k, trans_a_ ? m : 1};
      MatrixRef<T> mb{b.data_as<T>(), trans_b_ ? 1 : n, trans_b_ ? k : 1};
      MultiplyInto(ma, mb, m, k, n, acc.data());
      Finish<T>(acc, c, &outputs[0]);
      return Status::Ok();
    });
  }

 private:
  // out = alpha * acc + beta * C.
  template <typename T>
  void Finish(const std::vector<AccType<T>>& acc, const Tensor* c, Tensor* out) const {
    const Shape& shape = out->shape();
    const std::vector<int64_t> none(2, 0);
    const auto sc = c ? BroadcastStrides(c->shape(), shape) : none;
    const T* pc = c ? c->data_as<T>() : nullptr;
    T* po = out->mutable_data_as<T>();
    ForEachBroadcast(shape, sc, none, [&](int64_t o, int64_t ic, int64_t) {
      if constexpr (kIsFloating<T>) {
        using Acc = AccType<T>;
        Acc v = static_cast<Acc>(alpha_) * acc[o];
        if (pc) v += static_cast<Acc>(beta_) * static_cast<Acc>(pc[ic]);
        po[o] = T(v);
      } else {
        // Integer Gemm: exact when alpha == beta == 1, else through double.
        if (alpha_ == 1.0f && (!pc || beta_ == 1.0f)) {
          po[o] = static_cast<T>(acc[o] + (pc ? static_cast<uint64_t>(pc[ic]) : 0));
        } else {
          double v = alpha_ * static_cast<double>(static_cast<T>(acc[o]));
          if (pc) v += beta_ * static_cast<double>(pc[ic]);
          po[o] = Convert<T>(v);
        }
      }
    });
  }

  float alpha_;
  float beta_;
  bool trans_a_;
  bool trans_b_;
};

StatusOr<std::unique_ptr<Kernel>> MakeMatMul(const KernelBuildContext& context) {
  RETURN_IF_ERROR(CheckArity(context, 2, 2));
  return std::unique_ptr<Kernel>(new MatMulKernel());
}

StatusOr<std::unique_ptr<Kernel>> MakeGemm(const KernelBuildContext& context) {
  RETURN_IF_ERROR(CheckArity(context, 2, 3));
  const Node& node = context.node;
  ASSIGN_OR_RETURN(float alpha, node.GetFloat("alpha", 1.0f));
  ASSIGN_OR_RETURN(float beta, node.GetFloat("beta", 1.0f));
  ASSIGN_OR_RETURN(int64_t trans_a, node.GetInt("transA", 0));
  ASSIGN_OR_RETURN(int64_t trans_b, node.GetInt("transB", 0));
  // Opsets < 7 had a 'broadcast' flag; numpy broadcasting of C covers both settings.
  return std::unique_ptr<Kernel>(new GemmKernel(alpha, beta, trans_a != 0, trans_b != 0));
}

NEREID_REGISTER_KERNEL("", "MatMul", MakeMatMul);
NEREID_REGISTER_KERNEL("", "Gemm", MakeGemm);

}  // namespace
}  // namespace nereid::engine::ref

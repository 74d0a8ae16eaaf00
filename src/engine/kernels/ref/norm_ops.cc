// Normalization: BatchNormalization (inference, and the opset 14/15
// training_mode batch statistics), InstanceNormalization,
// LayerNormalization (opset 17, with the optional Mean/InvStdDev outputs)
// and LRN. Statistics are accumulated in double whatever the element type;
// parameter tensors (scale, bias, mean, var) may have their own floating
// type where the spec allows it (BatchNormalization opset 15).
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/broadcast.h"
#include "engine/kernels/ref/conv_pool_util.h"
#include "engine/kernels/ref/dispatch.h"
#include "engine/kernels/ref/ref_util.h"

namespace nereid::engine::ref {
namespace {

// Allocates a tensor of floating `dtype` and `shape` holding `values`.
StatusOr<Tensor> MakeFloatTensor(DataType dtype, Shape shape, const std::vector<double>& values,
                                 const std::string& op) {
  Tensor out;
  RETURN_IF_ERROR(DispatchFloat(dtype, op, [&]<typename T>() -> Status {
    ASSIGN_OR_RETURN(out, AllocateOutput(dtype, std::move(shape)));
    T* p = out.mutable_data_as<T>();
    for (size_t i = 0; i < values.size(); ++i) p[i] = static_cast<T>(values[i]);
    return Status::Ok();
  }));
  return out;
}

// Mean and population variance of a set of elements.
struct Moments {
  double mean = 0;
  double var = 0;
};

// ---------------------------------------------------------------------------
// BatchNormalization
// ---------------------------------------------------------------------------

class BatchNormKernel final : public Kernel {
 public:
  BatchNormKernel(double epsilon, double momentum, bool spatial, bool training)
      : epsilon_(epsilon), momentum_(momentum), spatial_(spatial), training_(training) {}

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, 5, 5));
    const Tensor& x = *inputs[0];
    const Shape& xs = x.shape();
    if (!IsFloatDtype(x.dtype())) return UnsupportedDtype("BatchNormalization", x.dtype());
    RETURN_IF_ERROR(CheckShapeBounded(xs, "BatchNormalization input X"));
    if (xs.size() < 2) {
      return InvalidArgument("BatchNormalization input X must have rank >= 2, got " +
                             ShapeToString(xs));
    }
    const int64_t batch = xs[0];
    const int64_t channels = xs[1];
    const int64_t spatial = DimProduct(xs, 2, xs.size());
    // spatial=0 (opsets < 9): one parameter per (channel, position).
    const int64_t params = spatial_ ? channels : channels * spatial;
    ASSIGN_OR_RETURN(std::vector<double> scale, LoadParam(*inputs[1], params, "scale"));
    ASSIGN_OR_RETURN(std::vector<double> bias, LoadParam(*inputs[2], params, "B"));
    ASSIGN_OR_RETURN(std::vector<double> mean, LoadParam(*inputs[3], params, "input_mean"));
    ASSIGN_OR_RETURN(std::vector<double> var, LoadParam(*inputs[4], params, "input_var"));
    const int64_t inner = spatial_ ? spatial : 1;  // elements sharing one parameter, per batch
    std::vector<double> used_mean = mean;
    std::vector<double> used_var = var;
    if (training_) {
      BatchMoments(x, batch, params, inner, &used_mean, &used_var);
    }
    RETURN_IF_ERROR(DispatchFloat(x.dtype(), "BatchNormalization", [&]<typename T>() -> Status {
      ASSIGN_OR_RETURN(outputs[0], AllocateOutput(x.dtype(), xs));
      const T* in = x.data_as<T>();
      T* out = outputs[0].mutable_data_as<T>();
      for (int64_t n = 0; n < batch; ++n) {
        for (int64_t c = 0; c < params; ++c) {
          const double k = scale[c] / std::sqrt(used_var[c] + epsilon_);
          const double shift = bias[c] - used_mean[c] * k;
          const int64_t base = (n * params + c) * inner;
          for (int64_t i = 0; i < inner; ++i) {
            out[base + i] = static_cast<T>(static_cast<double>(in[base + i]) * k + shift);
          }
        }
      }
      return Status::Ok();
    }));
    if (!training_) return Status::Ok();
    // Running statistics: input * momentum + batch * (1 - momentum).
    for (int64_t c = 0; c < params; ++c) {
      mean[c] = mean[c] * momentum_ + used_mean[c] * (1 - momentum_);
      var[c] = var[c] * momentum_ + used_var[c] * (1 - momentum_);
    }
    if (outputs.size() > 1) {
      ASSIGN_OR_RETURN(outputs[1], MakeFloatTensor(inputs[3]->dtype(), inputs[3]->shape(), mean,
                                                   "BatchNormalization"));
    }
    if (outputs.size() > 2) {
      ASSIGN_OR_RETURN(outputs[2], MakeFloatTensor(inputs[4]->dtype(), inputs[4]->shape(), var,
                                                   "BatchNormalization"));
    }
    return Status::Ok();
  }

 private:
  // Per-parameter mean and population variance over batch and `inner`.
  static void BatchMoments(const Tensor& x, int64_t batch, int64_t params, int64_t inner,
                           std::vector<double>* mean, std::vector<double>* var) {
    const double count = static_cast<double>(batch * inner);
    for (int64_t c = 0; c < params; ++c) {
      double sum = 0;
      for (int64_t n = 0; n < batch; ++n) {
        for (int64_t i = 0; i < inner; ++i) sum += LoadFloat(x, (n * params + c) * inner + i);
      }
      const double m = count > 0 ? sum / count : 0;
      double sq = 0;
      for (int64_t n = 0; n < batch; ++n) {
        for (int64_t i = 0; i < inner; ++i) {
          const double d = LoadFloat(x, (n * params + c) * inner + i) - m;
          sq += d * d;
        }
      }
      (*mean)[c] = m;
      (*var)[c] = count > 0 ? sq / count : 0;
    }
  }

  double epsilon_;
  double momentum_;
  bool spatial_;
  bool training_;
};

StatusOr<std::unique_ptr<Kernel>> MakeBatchNorm(const KernelBuildContext& context) {
  const Node& node = context.node;
  RETURN_IF_ERROR(CheckInputCount(context, 5, 5));
  RETURN_IF_ERROR(CheckOutputs(context, context.opset >= 14 ? 3 : 5));
  ASSIGN_OR_RETURN(float epsilon, node.GetFloat("epsilon", 1e-5f));
  ASSIGN_OR_RETURN(float momentum, node.GetFloat("momentum", 0.9f));
  ASSIGN_OR_RETURN(int64_t spatial, node.GetInt("spatial", 1));
  ASSIGN_OR_RETURN(int64_t training, node.GetInt("training_mode", 0));
  if (spatial != 0 && spatial != 1) {
    return InvalidArgument("BatchNormalization attribute 'spatial' must be 0 or 1");
  }
  if (training != 0 && training != 1) {
    return InvalidArgument("BatchNormalization attribute 'training_mode' must be 0 or 1");
  }
  if (!(epsilon >= 0) || !std::isfinite(epsilon)) {
    return InvalidArgument("BatchNormalization attribute 'epsilon' must be >= 0");
  }
  if (context.opset < 14) {
    // Before opset 14 the extra outputs exist only in training, which those
    // opsets select implicitly (is_test=0 / output count).
    for (size_t i = 1; i < node.outputs.size(); ++i) {
      if (WantsOutput(context, i)) {
        return Unimplemented(
            "BatchNormalization training outputs (mean, var, saved_mean, saved_var) before "
            "opset 14 are not supported");
      }
    }
  } else if (training == 0 && (WantsOutput(context, 1) || WantsOutput(context, 2))) {
    return InvalidArgument(
        "BatchNormalization outputs running_mean/running_var require training_mode=1");
  }
  return std::unique_ptr<Kernel>(
      new BatchNormKernel(epsilon, momentum, spatial == 1, training == 1));
}

// ---------------------------------------------------------------------------
// InstanceNormalization and LayerNormalization share a row normalizer.
// ---------------------------------------------------------------------------

template <typename T>
Moments RowMoments(const T* row, int64_t len) {
  Moments m;
  if (len == 0) return m;
  double sum = 0;
  for (int64_t i = 0; i < len; ++i) sum += static_cast<double>(row[i]);
  m.mean = sum / static_cast<double>(len);
  double sq = 0;
  for (int64_t i = 0; i < len; ++i) {
    const double d = static_cast<double>(row[i]) - m.mean;
    sq += d * d;
  }
  m.var = sq / static_cast<double>(len);
  return m;
}

class InstanceNormKernel final : public Kernel {
 public:
  explicit InstanceNormKernel(double epsilon) : epsilon_(epsilon) {}

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, 3, 3));
    RETURN_IF_ERROR(CheckSameDtype(inputs));
    const Tensor& x = *inputs[0];
    const Shape& xs = x.shape();
    RETURN_IF_ERROR(CheckShapeBounded(xs, "InstanceNormalization input"));
    if (xs.size() < 2) {
      return InvalidArgument("InstanceNormalization input must have rank >= 2, got " +
                             ShapeToString(xs));
    }
    const int64_t channels = xs[1];
    ASSIGN_OR_RETURN(std::vector<double> scale, LoadParam(*inputs[1], channels, "scale"));
    ASSIGN_OR_RETURN(std::vector<double> bias, LoadParam(*inputs[2], channels, "B"));
    const int64_t spatial = DimProduct(xs, 2, xs.size());
    return DispatchFloat(x.dtype(), "InstanceNormalization", [&]<typename T>() -> Status {
      ASSIGN_OR_RETURN(outputs[0], AllocateOutput(x.dtype(), xs));
      const T* in = x.data_as<T>();
      T* out = outputs[0].mutable_data_as<T>();
      for (int64_t plane = 0; plane < xs[0] * channels; ++plane) {
        const int64_t c = plane % channels;
        const T* row = in + plane * spatial;
        const Moments m = RowMoments(row, spatial);
        const double k = scale[c] / std::sqrt(m.var + epsilon_);
        for (int64_t i = 0; i < spatial; ++i) {
          out[plane * spatial + i] =
              static_cast<T>((static_cast<double>(row[i]) - m.mean) * k + bias[c]);
        }
      }
      return Status::Ok();
    });
  }

 private:
  double epsilon_;
};

StatusOr<std::unique_ptr<Kernel>> MakeInstanceNorm(const KernelBuildContext& context) {
  RETURN_IF_ERROR(CheckArity(context, 3, 3));
  ASSIGN_OR_RETURN(float epsilon, context.node.GetFloat("epsilon", 1e-5f));
  if (!(epsilon >= 0) || !std::isfinite(epsilon)) {
    return InvalidArgument("InstanceNormalization attribute 'epsilon' must be >= 0");
  }
  return std::unique_ptr<Kernel>(new InstanceNormKernel(epsilon));
}

// Expands an optional Scale/B tensor to one double per normalized element.
StatusOr<std::vector<double>> ExpandToRow(const Tensor* t, const Shape& row_shape,
                                          int64_t row_len, double fill, const char* what) {
  std::vector<double> row(static_cast<size_t>(row_len), fill);
  if (t == nullptr) return row;
  if (!BroadcastsTo(t->shape(), row_shape)) {
    return InvalidArgument(std::string("LayerNormalization ") + what + " of shape " +
                           ShapeToString(t->shape()) + " does not broadcast to " +
                           ShapeToString(row_shape));
  }
  const std::vector<int64_t> strides = BroadcastStrides(t->shape(), row_shape);
  ForEachBroadcast(row_shape, strides, strides, [&](int64_t o, int64_t a, int64_t) {
    row[static_cast<size_t>(o)] = LoadFloat(*t, a);
  });
  return row;
}

class LayerNormKernel final : public Kernel {
 public:
  LayerNormKernel(int64_t axis, double epsilon, DataType stash_dtype)
      : axis_(axis), epsilon_(epsilon), stash_dtype_(stash_dtype) {}

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, 2, 3));
    RETURN_IF_ERROR(CheckSameDtype(inputs));
    const Tensor& x = *inputs[0];
    const Shape& xs = x.shape();
    RETURN_IF_ERROR(CheckShapeBounded(xs, "LayerNormalization input"));
    ASSIGN_OR_RETURN(const int64_t axis, NormalizeAxis(axis_, static_cast<int64_t>(xs.size())));
    const Shape row_shape(xs.begin() + axis, xs.end());
    const int64_t rows = DimProduct(xs, 0, axis);
    const int64_t len = DimProduct(xs, axis, xs.size());
    ASSIGN_OR_RETURN(std::vector<double> scale, ExpandToRow(inputs[1], row_shape, len, 1.0, "Scale"));
    const Tensor* b = inputs.size() > 2 ? inputs[2] : nullptr;
    ASSIGN_OR_RETURN(std::vector<double> bias, ExpandToRow(b, row_shape, len, 0.0, "B"));
    std::vector<double> means(static_cast<size_t>(rows));
    std::vector<double> inv_std(static_cast<size_t>(rows));
    RETURN_IF_ERROR(DispatchFloat(x.dtype(), "LayerNormalization", [&]<typename T>() -> Status {
      ASSIGN_OR_RETURN(outputs[0], AllocateOutput(x.dtype(), xs));
      const T* in = x.data_as<T>();
      T* out = outputs[0].mutable_data_as<T>();
      for (int64_t r = 0; r < rows; ++r) {
        const T* row = in + r * len;
        const Moments m = RowMoments(row, len);
        const double inv = 1.0 / std::sqrt(m.var + epsilon_);
        means[r] = m.mean;
        inv_std[r] = inv;
        for (int64_t i = 0; i < len; ++i) {
          out[r * len + i] =
              static_cast<T>((static_cast<double>(row[i]) - m.mean) * inv * scale[i] + bias[i]);
        }
      }
      return Status::Ok();
    }));
    // Mean / InvStdDev: X.shape[:axis] followed by ones.
    Shape stat_shape(xs.begin(), xs.begin() + axis);
    stat_shape.resize(xs.size(), 1);
    if (outputs.size() > 1) {
      ASSIGN_OR_RETURN(outputs[1],
                       MakeFloatTensor(stash_dtype_, stat_shape, means, "LayerNormalization"));
    }
    if (outputs.size() > 2) {
      ASSIGN_OR_RETURN(outputs[2],
                       MakeFloatTensor(stash_dtype_, stat_shape, inv_std, "LayerNormalization"));
    }
    return Status::Ok();
  }

 private:
  int64_t axis_;
  double epsilon_;
  DataType stash_dtype_;
};

StatusOr<std::unique_ptr<Kernel>> MakeLayerNorm(const KernelBuildContext& context) {
  const Node& node = context.node;
  RETURN_IF_ERROR(CheckInputCount(context, 2, 3));
  RETURN_IF_ERROR(CheckOutputs(context, 3));
  ASSIGN_OR_RETURN(int64_t axis, node.GetInt("axis", -1));
  ASSIGN_OR_RETURN(float epsilon, node.GetFloat("epsilon", 1e-5f));
  ASSIGN_OR_RETURN(int64_t stash_type, node.GetInt("stash_type", 1));
  if (!(epsilon >= 0) || !std::isfinite(epsilon)) {
    return InvalidArgument("LayerNormalization attribute 'epsilon' must be >= 0");
  }
  // stash_type is an ONNX TensorProto data type: FLOAT (1) or BFLOAT16 (16).
  DataType stash_dtype;
  if (stash_type == 1) {
    stash_dtype = DataType::kFp32;
  } else if (stash_type == 16) {
    stash_dtype = DataType::kBf16;
  } else {
    return InvalidArgument("LayerNormalization attribute 'stash_type' must be 1 (float) or 16 "
                           "(bfloat16), got " + std::to_string(stash_type));
  }
  return std::unique_ptr<Kernel>(new LayerNormKernel(axis, epsilon, stash_dtype));
}

// ---------------------------------------------------------------------------
// LRN: y = x / (bias + alpha / size * sum of x^2 over nearby channels)^beta,
// the window covering channels [c - floor((size-1)/2), c + ceil((size-1)/2)].
// ---------------------------------------------------------------------------

class LrnKernel final : public Kernel {
 public:
  LrnKernel(int64_t size, double alpha, double beta, double bias)
      : size_(size), alpha_(alpha), beta_(beta), bias_(bias) {}

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, 1, 1));
    const Tensor& x = *inputs[0];
    const Shape& xs = x.shape();
    RETURN_IF_ERROR(CheckShapeBounded(xs, "LRN input"));
    if (xs.size() < 2) {
      return InvalidArgument("LRN input must have rank >= 2, got " + ShapeToString(xs));
    }
    const int64_t channels = xs[1];
    const int64_t spatial = DimProduct(xs, 2, xs.size());
    const int64_t before = (size_ - 1) / 2;
    const int64_t after = size_ - 1 - before;
    return DispatchFloat(x.dtype(), "LRN", [&]<typename T>() -> Status {
      ASSIGN_OR_RETURN(outputs[0], AllocateOutput(x.dtype(), xs));
      const T* in = x.data_as<T>();
      T* out = outputs[0].mutable_data_as<T>();
      for (int64_t n = 0; n < xs[0]; ++n) {
        const int64_t base = n * channels * spatial;
        for (int64_t c = 0; c < channels; ++c) {
          const int64_t lo = std::max<int64_t>(0, c - before);
          const int64_t hi = std::min<int64_t>(channels - 1, c + after);
          for (int64_t i = 0; i < spatial; ++i) {
            double sq = 0;
            for (int64_t j = lo; j <= hi; ++j) {
              const double v = static_cast<double>(in[base + j * spatial + i]);
              sq += v * v;
            }
            const double v = static_cast<double>(in[base + c * spatial + i]);
            const double denom = std::pow(bias_ + alpha_ / static_cast<double>(size_) * sq, beta_);
            out[base + c * spatial + i] = static_cast<T>(v / denom);
          }
        }
      }
      return Status::Ok();
    });
  }

 private:
  int64_t size_;
  double alpha_;
  double beta_;
  double bias_;
};

StatusOr<std::unique_ptr<Kernel>> MakeLrn(const KernelBuildContext& context) {
  const Node& node = context.node;
  RETURN_IF_ERROR(CheckArity(context, 1, 1));
  ASSIGN_OR_RETURN(int64_t size, node.GetInt("size"));
  ASSIGN_OR_RETURN(float alpha, node.GetFloat("alpha", 1e-4f));
  ASSIGN_OR_RETURN(float beta, node.GetFloat("beta", 0.75f));
  ASSIGN_OR_RETURN(float bias, node.GetFloat("bias", 1.0f));
  if (size < 1 || size > kMaxWindowAttr) {
    return InvalidArgument("LRN attribute 'size' must be in [1, 2^30], got " +
                           std::to_string(size));
  }
  return std::unique_ptr<Kernel>(new LrnKernel(size, alpha, beta, bias));
}

NEREID_REGISTER_KERNEL("", "BatchNormalization", MakeBatchNorm);
NEREID_REGISTER_KERNEL("", "InstanceNormalization", MakeInstanceNorm);
NEREID_REGISTER_KERNEL("", "LayerNormalization", MakeLayerNorm);
NEREID_REGISTER_KERNEL("", "LRN", MakeLrn);

}  // namespace
}  // namespace nereid::engine::ref

// Helpers shared by the reference kernels: output allocation with overflow
// checks, axis normalization, views, input checks, half conversions.
//
// Thread safety: stateless.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "common/data_type.h"
#include "common/status.h"
#include "common/tensor.h"
#include "engine/kernels/kernel.h"

namespace nereid::engine::ref {

// Dense output tensor for `shape` (uninitialized). InvalidArgument when the
// byte size overflows; throws std::bad_alloc like Tensor::Allocate (the
// runtime maps it to ResourceExhausted).
StatusOr<Tensor> AllocateOutput(DataType dtype, Shape shape);

// For kernels that declare Kernel::InPlaceInput(): keeps `*out` when the
// runtime pre-filled it with storage of exactly `dtype` and `shape` (the
// input being reused), else sets it to AllocateOutput(dtype, shape).
Status ReuseOrAllocateOutput(Tensor* out, DataType dtype, const Shape& shape);

// Product of dims of a shape already known to be valid (a tensor's shape).
int64_t NumElements(const Shape& shape);
// Product of shape[begin, end).
int64_t DimProduct(const Shape& shape, size_t begin, size_t end);

// Maps `axis` in [-rank, rank) (or [-rank, rank] when `allow_rank`) to
// [0, rank); InvalidArgument otherwise.
StatusOr<int64_t> NormalizeAxis(int64_t axis, int64_t rank, bool allow_rank = false);

// A tensor with `shape` over the same bytes (and owner) as `in`.
Tensor MakeView(const Tensor& in, Shape shape);

// InvalidArgument unless `min <= inputs.size() <= max` and inputs [0, min)
// are present.
Status CheckInputs(std::span<const Tensor* const> inputs, size_t min, size_t max);

// Build-time arity check: InvalidArgument unless the node has between
// `min_inputs` and `max_inputs` inputs and exactly `outputs` outputs, the
// first of which is named.
Status CheckArity(const KernelBuildContext& context, size_t min_inputs, size_t max_inputs,
                  size_t outputs = 1);

// InvalidArgument unless all present inputs share the dtype of inputs[0].
Status CheckSameDtype(std::span<const Tensor* const> inputs);

// InvalidArgument for BYTES (variable-size elements) tensors.
Status CheckFixedSize(const Tensor& t, std::string_view op);

}  // namespace nereid::engine::ref

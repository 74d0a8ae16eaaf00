// Gathering several requests' inputs into one batch and scattering a batched
// output back, along the first (batch) dimension.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <vector>

#include "common/status.h"
#include "common/tensor.h"

namespace nereid::backends {

// Concatenates `parts` (same dtype, same non-batch dims) along dim 0 into
// new storage. BYTES parts are concatenated in serialized form.
StatusOr<Tensor> GatherBatch(const std::vector<TensorView>& parts);

// Splits `batched` along dim 0 into pieces of `sizes` (which must sum to
// dim 0). The pieces share `batched`'s storage.
StatusOr<std::vector<Tensor>> ScatterBatch(const Tensor& batched, const std::vector<int64_t>& sizes);

}  // namespace nereid::backends

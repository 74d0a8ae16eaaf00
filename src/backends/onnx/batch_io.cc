#include "backends/onnx/batch_io.h"

#include <cstring>

namespace nereid::backends {

StatusOr<Tensor> GatherBatch(const std::vector<TensorView>& parts) {
  if (parts.empty()) return InvalidArgument("nothing to gather");
  const TensorView& first = parts[0];
  if (first.shape.empty()) return InvalidArgument("cannot batch a scalar tensor");
  Shape shape = first.shape;
  int64_t batch = 0;
  size_t bytes = 0;
  for (const auto& p : parts) {
    if (p.dtype != first.dtype || p.shape.size() != first.shape.size() ||
        !std::equal(p.shape.begin() + 1, p.shape.end(), first.shape.begin() + 1)) {
      return InvalidArgument("requests in a batch have different shapes or data types: " +
                             ShapeToString(p.shape) + " vs " + ShapeToString(first.shape));
    }
    batch += p.shape[0];
    bytes += p.byte_size;
  }
  shape[0] = batch;
  Tensor out = Tensor::Allocate(first.dtype, shape, bytes);
  size_t offset = 0;
  for (const auto& p : parts) {
    if (p.byte_size) std::memcpy(out.mutable_data() + offset, p.data, p.byte_size);
    offset += p.byte_size;
  }
  return out;
}

StatusOr<std::vector<Tensor>> ScatterBatch(const Tensor& batched,
                                           const std::vector<int64_t>& sizes) {
  if (batched.shape().empty()) return InvalidArgument("cannot split a scalar output by batch");
  int64_t total = 0;
  for (int64_t s : sizes) total += s;
  if (total != batched.shape()[0]) {
    return Internal("output batch dimension " + std::to_string(batched.shape()[0]) +
                    " does not match the batch of the requests (" + std::to_string(total) + ")");
  }
  std::vector<Tensor> pieces;
  int64_t per_item = 1;
  for (size_t i = 1; i < batched.shape().size(); ++i) per_item *= batched.shape()[i];
  size_t offset = 0;
  for (int64_t s : sizes) {
    Shape shape = batched.shape();
    shape[0] = s;
    size_t len = 0;
    if (batched.dtype() == DataType::kBytes) {
      // Walk s * per_item serialized elements.
      for (int64_t e = 0; e < s * per_item; ++e) {
        if (offset + len + 4 > batched.byte_size()) return Internal("truncated BYTES output");
        uint32_t n;
        std::memcpy(&n, batched.data() + offset + len, 4);
        len += 4 + n;
      }
    } else {
      len = static_cast<size_t>(s * per_item) * DataTypeByteSize(batched.dtype());
    }
    pieces.push_back(Tensor::Wrap(batched.dtype(), shape, batched.data() + offset, len,
                                  batched.owner()));
    offset += len;
  }
  return pieces;
}

}  // namespace nereid::backends

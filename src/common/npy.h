// Reading and writing NumPy .npy files (format versions 1-3, C order,
// little-endian), for `nereid run` and tests.
#pragma once

#include <string>

#include "common/status.h"
#include "common/tensor.h"

namespace nereid {

// Loads a .npy file. Supported dtypes: bool, int8..int64, uint8..uint64,
// float16, float32, float64. Errors name the file and the problem.
StatusOr<Tensor> ReadNpy(const std::string& path);

// Writes `tensor` (not BYTES/BF16) as a version-1 .npy file.
Status WriteNpy(const std::string& path, const Tensor& tensor);

}  // namespace nereid

// Triton's classification extension, protocol-neutral: a requested output
// with parameters.classification = N is replaced by a BYTES tensor holding,
// per batch item, the N highest-scoring classes as "score:index[:label]",
// highest first. Equal scores keep index order (lower index first); N larger
// than the number of classes is clamped; labels come from the output's
// label_filename (one label per line) and are left out for indexes past the
// end of the file or when the output has none.
//
// Shapes: batched outputs [batch, ...] -> [batch, min(N, classes)], where
// classes = elements per batch item; unbatched [...] -> [min(N, classes)].
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/tensor.h"
#include "core/request/inference_request.h"

namespace nereid::core {

// True for the data types classification can rank (integers and floats).
bool IsClassifiable(DataType dtype);

// The classification of `scores`; InvalidArgument for non-numeric tensors
// or k < 1. `labels` may be null.
StatusOr<Tensor> Classify(const Tensor& scores, int64_t k, bool batched,
                          const std::vector<std::string>* labels);

// parameters.classification of a requested output: 0 when absent, the
// count when a positive integer, InvalidArgument otherwise.
StatusOr<int64_t> ClassificationCount(const RequestedOutput& output);

class Model;

// One requested output to classify.
struct ClassifyOutput {
  std::string name;
  int64_t k = 0;
  std::shared_ptr<const std::vector<std::string>> labels;  // may be null
};

// The requested outputs of `request` that ask for classification, checked
// against `model`'s config (positive count, numeric output data type).
StatusOr<std::vector<ClassifyOutput>> CollectClassifications(const InferenceRequest& request,
                                                             const Model& model);

// Replaces each classified output of `response` by its classification.
Status ApplyClassifications(const std::vector<ClassifyOutput>& outputs, bool batched,
                            InferenceResponse* response);

// Reads a label file: one label per line ('\r' before '\n' dropped).
StatusOr<std::vector<std::string>> ReadLabelFile(const std::string& path);

}  // namespace nereid::core

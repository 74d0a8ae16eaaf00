// ONNX import: ModelProto bytes -> Graph.
//
// Parses the model, runs ONNX shape inference (best effort: a failure only
// loses intermediate shapes, never the model), converts initializers and
// attributes, and records the opset imported per domain. Graph inputs that
// are also initializers are dropped from Graph::inputs (they are constants).
// The resulting graph is topologically sorted.
//
// Errors: unreadable bytes or an inconsistent graph -> InvalidArgument;
// features the engine does not handle (non-tensor graph inputs, external
// data, unmapped element types) -> Unimplemented. Operators are NOT checked
// here; the runtime rejects unknown ones.
//
// Thread safety: free functions; no shared state besides ONNX's schema
// registry, which is read-only after start-up.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "engine/ir/graph.h"

namespace nereid::engine {

struct ImportOptions {
  // ONNX shape inference runs only when the ONNX checker accepts the model
  // and every node passes this filter (null: every node passes). ONNX's
  // inference functions are not hardened against malformed models (some
  // crash), so the runtime limits inference to graphs made only of ops it
  // can run, whose inference functions are fuzz-tested through the engine.
  std::function<bool(std::string_view domain, std::string_view op_type)> infer_shapes_for;
  // Directory that external-data `location`s are relative to (the model
  // file's directory). Empty: a model with external data is refused.
  std::string external_data_dir;
  // Graph input name -> dims to fix before shape inference (-1: keep the
  // model's). A compiled plan's shape profile specializes the model this
  // way where min == max.
  std::map<std::string, std::vector<int64_t>, std::less<>> input_dims;
};

StatusOr<Graph> ImportOnnxModel(std::string_view model_bytes, const ImportOptions& options = {});
StatusOr<Graph> ImportOnnxFile(const std::string& path, const ImportOptions& options = {});

}  // namespace nereid::engine

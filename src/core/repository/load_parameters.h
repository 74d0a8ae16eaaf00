// What a repository "load" request may carry besides the model name, and the
// file-system helpers the model manager needs for it and for polling.
//
//   LoadParameters   a config override (Triton's JSON ModelConfig) and model
//                    files ("<version>/<file>" -> bytes) to load from instead
//                    of the repository's own files.
//
// Thread safety: free functions; no shared state.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "common/status.h"

namespace inference {
class ModelConfig;
}

namespace nereid::core {

struct LoadParameters {
  // JSON ModelConfig replacing config.pbtxt. Integers and floats may be
  // written as JSON strings (protobuf's JSON mapping accepts both).
  std::optional<std::string> config_json;
  // Relative path inside the model directory ("1/model.onnx") -> content.
  // When not empty, the model is loaded from a private temporary directory
  // holding only these files; config_json is then required (as in Triton).
  std::map<std::string, std::string> files;
};

// Parses a JSON ModelConfig. Unknown fields are an error naming them.
Status ParseConfigJson(const std::string& json, inference::ModelConfig* config);

// Checks that `rel` is a safe relative path: non-empty components, none of
// them "." or "..", no leading '/', no NUL.
Status ValidateModelFilePath(const std::string& rel);

// Creates a new private directory under `parent` (the system temporary
// directory when empty) and writes `files` into it. Returns its path.
StatusOr<std::string> WriteModelFiles(const std::map<std::string, std::string>& files,
                                      const std::string& parent);

// A string that changes when any file under `dir` is added, removed, resized
// or rewritten (relative paths, sizes, modification times). Poll mode
// compares it to decide whether a model must be reloaded.
std::string DirectoryFingerprint(const std::string& dir);

}  // namespace nereid::core

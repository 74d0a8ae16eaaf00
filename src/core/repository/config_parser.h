// Reading and checking config.pbtxt.
//
// ParseModelConfig parses Triton's text format with protobuf TextFormat and
// keeps the location of every field, so that both syntax errors and later
// semantic errors can name the file, the line and the field:
//
//   /repo/simple/config.pbtxt:7: field 'input[1].data_type': TYPE_INVALID ...
//
// Thread safety: free functions; no shared state.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

namespace inference {
class ModelConfig;
}

namespace nereid::core {

// Maps a field path to the line it was written on. Paths look like
// "input[1].dims" (repeated fields are indexed, maps are not). An empty
// locator (for configs made in code or auto-completed) knows no lines.
class ConfigLocator {
 public:
  ConfigLocator();
  ~ConfigLocator();
  ConfigLocator(ConfigLocator&&) noexcept;
  ConfigLocator& operator=(ConfigLocator&&) noexcept;

  // 1-based line of the deepest existing prefix of `path`, or 0.
  int LineOf(std::string_view path) const;

  // "<file>:<line>: field '<path>': <message>" (line omitted when unknown).
  Status Error(std::string_view path, std::string_view message) const;

  const std::string& file() const { return file_; }

 private:
  friend StatusOr<ConfigLocator> ParseModelConfig(std::string_view, const std::string&,
                                                  inference::ModelConfig*);
  struct Tree;
  std::string file_;
  std::unique_ptr<Tree> tree_;
};

// Parses `text` (the content of `file`) into `config`. Syntax errors name
// file, line and column.
StatusOr<ConfigLocator> ParseModelConfig(std::string_view text, const std::string& file,
                                         inference::ModelConfig* config);

// response_cache { enable: true } where Triton refuses it: with
// sequence_batching or model_transaction_policy { decoupled: true }.
// ValidateAndNormalize calls it; a load then fails with "failed to load
// '<model>': <file>:<line>: field 'response_cache.enable': ...".
Status CheckResponseCache(const ConfigLocator& where, const inference::ModelConfig& config);

// Checks the fields core relies on (names, data types, dims, batch size,
// instance groups, version policy, schedulers we do not have yet, an
// ensemble's own dataflow: see ensemble/ensemble_config.h) and fills
// Triton's defaults: instance_group (not for ensembles), version_policy,
// group names and counts.
// `model_name` is the directory name; the config's name must match it.
Status ValidateAndNormalize(const std::string& model_name, const ConfigLocator& where,
                            inference::ModelConfig* config);

}  // namespace nereid::core

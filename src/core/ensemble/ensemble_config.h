// Checks of an ensemble's config.pbtxt (platform "ensemble" with
// ensemble_scheduling) and the EnsemblePlan built from it, in two stages as
// Triton does them:
//
//   1. ValidateEnsembleConfig / BuildEnsemblePlan: what the ensemble's own
//      config decides. Fields an ensemble may not have (instance_group,
//      optimization, model_warmup, dynamic batching), empty steps or maps,
//      a tensor produced twice, a step writing an ensemble input, a step
//      input that is neither an ensemble input nor produced by a step, an
//      ensemble output no step produces, cycles between steps, ensemble
//      inputs no step reads and step outputs nobody reads (Triton refuses
//      unused tensors).
//   2. BindComposingModels: once the composing models are loaded, each step
//      against its model's complete config: the ensemble's max_batch_size
//      must not exceed a batching composing model's, input_map/output_map
//      keys must be that model's inputs/outputs, every non-optional input is
//      mapped, and every ensemble tensor has one data type and dims that can
//      match (-1 matches anything; a batching and a non-batching side match
//      when their shapes agree with the batch dimension added, as in Triton).
//
// Every error names the ensemble and, where there is one, the step (index
// and model) and the tensor.
//
// Thread safety: free functions, no shared state.
#pragma once

#include <vector>

#include "common/status.h"
#include "core/ensemble/ensemble_plan.h"

namespace inference {
class ModelConfig;
}

namespace nereid::core {

class ConfigLocator;

// The platform name that selects the ensemble scheduler.
inline constexpr const char* kEnsemblePlatform = "ensemble";

// True when `config` asks for an ensemble (platform "ensemble" or an
// ensemble_scheduling section); ValidateEnsembleConfig then requires both.
bool IsEnsembleConfig(const inference::ModelConfig& config);

// Stage 1 for config.pbtxt: errors name file, line and field through `where`.
Status ValidateEnsembleConfig(const ConfigLocator& where, const inference::ModelConfig& config);

// The dataflow of a config that passed stage 1 (or an InvalidArgument
// naming the problem when it did not; `where` may be null).
StatusOr<EnsemblePlan> BuildEnsemblePlan(const inference::ModelConfig& config,
                                         const ConfigLocator* where = nullptr);

// Stage 2. `composing[i]` is the complete config of step i's model (never
// null). Fills each step's model_batches and input_dims.
Status BindComposingModels(const inference::ModelConfig& ensemble,
                           const std::vector<const inference::ModelConfig*>& composing,
                           EnsemblePlan* plan);

}  // namespace nereid::core

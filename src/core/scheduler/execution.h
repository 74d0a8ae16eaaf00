// Running one batch on one instance, shared by the schedulers: trace stamps,
// statistics (each request's completion is recorded before the client sees
// it, the execution once the last request completes; decoupled requests are
// recorded once, at their final response), and backend exceptions turned
// into errors. Requests the backend leaves incomplete answer with an error.
//
// Thread safety: called on the instance's own thread.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "core/backend/backend.h"
#include "core/statistics.h"

namespace nereid::core {

// Executes `batch` (emptied on return). `stats` may be null.
void ExecuteBatch(const std::string& model_name, ModelInstance* instance,
                  std::vector<std::unique_ptr<InferenceRequest>>& batch, Clock& clock,
                  ModelStatistics* stats);

}  // namespace nereid::core

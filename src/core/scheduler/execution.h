// Running one batch on one instance, shared by the schedulers: trace stamps,
// statistics (each request's completion is recorded before the client sees
// it, the execution once the last request completes; decoupled requests are
// recorded once, at their final response), and backend exceptions turned
// into errors. Requests the backend leaves incomplete answer with an error.
//
// Thread safety: called on the instance's own thread.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "core/backend/backend.h"
#include "core/statistics.h"

namespace nereid::core {

// Executes `batch` (emptied on return). `stats` may be null.
void ExecuteBatch(const std::string& model_name, ModelInstance* instance,
                  std::vector<std::unique_ptr<InferenceRequest>>& batch, Clock& clock,
                  ModelStatistics* stats);

// A scheduler's Stop(): sets `*stopping` under `mu`, wakes every thread
// waiting on `cv` and joins `threads` (they drain what is queued first).
// Later calls return at once.
void StopAndJoin(std::mutex& mu, std::condition_variable& cv, bool* stopping,
                 std::vector<std::thread>* threads);

}  // namespace nereid::core

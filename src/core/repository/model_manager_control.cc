// ModelManager, continued: the control thread (asynchronous load/unload for
// the front ends) and poll mode's rescans. See model_manager.h.
#include <set>

#include "common/logging.h"
#include "core/repository/model_manager.h"
#include "core/repository/repository_scanner.h"

namespace nereid::core {

void ModelManager::Submit(std::function<void(bool)> task) {
  {
    std::lock_guard<std::mutex> lock(task_mu_);
    if (!tasks_stopping_) {
      if (!task_thread_.joinable()) task_thread_ = std::thread([this] { TaskLoop(); });
      tasks_.push_back(std::move(task));
      task_cv_.notify_one();
      return;
    }
  }
  task(true);
}

void ModelManager::TaskLoop() {
  std::unique_lock<std::mutex> lock(task_mu_);
  for (;;) {
    task_cv_.wait(lock, [this] { return tasks_stopping_ || !tasks_.empty(); });
    if (tasks_.empty()) return;  // stopping and nothing left
    auto task = std::move(tasks_.front());
    tasks_.pop_front();
    bool cancelled = tasks_stopping_;
    lock.unlock();
    task(cancelled);
    lock.lock();
  }
}

void ModelManager::LoadAsync(std::string name, LoadParameters params,
                             std::function<void(Status)> done) {
  Submit([this, name = std::move(name), params = std::move(params),
          done = std::move(done)](bool cancelled) {
    if (cancelled) return done(Unavailable("failed to load '" + name + "': the server is "
                                           "shutting down"));
    done(Load(name, params));
  });
}

void ModelManager::UnloadAsync(std::string name, bool unload_dependents,
                               std::function<void(Status)> done) {
  Submit([this, name = std::move(name), unload_dependents,
          done = std::move(done)](bool cancelled) {
    if (cancelled) return done(Unavailable("the server is shutting down"));
    done(Unload(name, unload_dependents));
  });
}

Status ModelManager::Poll() {
  if (options_.control_mode != ModelControlMode::kPoll) {
    return FailedPrecondition("repository polling needs --model-control-mode=poll");
  }
  std::lock_guard<std::mutex> control(control_mu_);
  ASSIGN_OR_RETURN(ScanResult scan, ScanRepositories(options_.repositories));
  std::set<std::string> present, changed;
  LoadPass pass;
  for (const auto& [loc, status] : scan.conflicts) present.insert(loc.name);
  for (const auto& loc : scan.models) {
    present.insert(loc.name);
    pass.dirs[loc.name] = loc.dir;
    // Walk the directory before taking mu_: lookups must not wait for disk.
    const std::string fingerprint = DirectoryFingerprint(loc.dir);
    std::lock_guard<std::mutex> lock(mu_);
    auto it = models_.find(loc.name);
    if (it == models_.end() || it->second.dir != loc.dir ||
        it->second.fingerprint != fingerprint) {
      changed.insert(loc.name);
    }
  }
  std::set<std::string> gone;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [name, e] : models_) {
      if (!present.count(name)) gone.insert(name);
    }
  }
  // Ensembles are checked again when a model they use changed or went away.
  std::set<std::string> dependents = changed;
  AddDependentEnsembles(gone, &dependents);
  for (const auto& name : dependents) {
    if (!changed.count(name) && pass.dirs.count(name)) {
      NLOG(INFO) << "poll: ensemble '" << name << "' uses a changed model; loading it again";
      changed.insert(name);
    }
  }
  // Removed models go first, so that ensembles using them are checked
  // without them.
  for (const auto& name : gone) {
    NLOG(INFO) << "poll: model '" << name << "' was removed from the repository; unloading";
    (void)UnloadLocked(name, /*erase=*/true);
  }
  pass.pending = changed;
  for (const auto& loc : scan.models) {
    if (!changed.count(loc.name) || pass.attempted.count(loc.name)) continue;
    NLOG(INFO) << "poll: model '" << loc.name << "' is new or changed; loading";
    (void)LoadWithComposing(loc.name, loc.dir, nullptr, "", &pass, /*requested=*/false);
  }
  return Status::Ok();
}

void ModelManager::PollLoop() {
  std::unique_lock<std::mutex> lock(poll_mu_);
  while (!stopping_) {
    poll_cv_.wait_for(lock, options_.poll_interval, [this] { return stopping_; });
    if (stopping_) break;
    lock.unlock();
    Status s = Poll();
    if (!s.ok()) NLOG(ERROR) << "repository poll failed: " << s.message();
    lock.lock();
  }
}

}  // namespace nereid::core

#include "core/trace/trace_manager.h"

#include <charconv>
#include <cstdio>
#include <fstream>

#include "common/logging.h"

namespace nereid::core {

// Collects finished traces as JSON objects and writes them out.
class TraceSink {
 public:
  TraceSink(Clock& clock, std::string file, int64_t log_frequency)
      : clock_(clock), file_(std::move(file)), log_frequency_(log_frequency) {}

  uint64_t Now() const { return clock_.NowNs(); }

  void Add(std::string json) {
    std::lock_guard<std::mutex> lock(mu_);
    pending_.push_back(std::move(json));
    if (log_frequency_ > 0 && static_cast<int64_t>(pending_.size()) >= log_frequency_) {
      WriteLocked(file_ + "." + std::to_string(next_index_++));
    }
  }

  void SetLogFrequency(int64_t n) {
    std::lock_guard<std::mutex> lock(mu_);
    if (log_frequency_ == 0 && n > 0) {
      // Traces already in file_ stay there; the rest go to numbered files.
      pending_.erase(pending_.begin(), pending_.begin() + static_cast<long>(flushed_));
      flushed_ = 0;
    }
    log_frequency_ = n;
  }

  // With log_frequency 0 every flush rewrites the whole file with every
  // trace so far, so flushing twice (shutdown, then destruction) loses none.
  void Flush() {
    std::lock_guard<std::mutex> lock(mu_);
    if (pending_.size() == flushed_) return;
    if (log_frequency_ > 0) {
      WriteLocked(file_ + "." + std::to_string(next_index_++));
    } else {
      WriteLocked(file_, /*keep=*/true);
    }
  }

  // Traces still alive after the manager (held by a late response) are
  // written when the last of them goes.
  ~TraceSink() { Flush(); }

 private:
  void WriteLocked(const std::string& path, bool keep = false) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << "[";
    for (size_t i = 0; i < pending_.size(); ++i) out << (i ? ",\n" : "\n") << pending_[i];
    out << "\n]\n";
    if (!out) NLOG(ERROR) << "cannot write trace file " << path;
    if (keep) {
      flushed_ = pending_.size();
    } else {
      pending_.clear();
      flushed_ = 0;
    }
  }

  Clock& clock_;
  const std::string file_;
  std::mutex mu_;
  int64_t log_frequency_;             // guarded by mu_
  std::vector<std::string> pending_;  // guarded by mu_
  uint64_t next_index_ = 0;           // guarded by mu_
  size_t flushed_ = 0;                // pending_ already in file_ (log_frequency 0)
};

namespace {

void AppendJsonString(std::string* out, const std::string& s) {
  out->push_back('"');
  for (char c : s) {
    unsigned char u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(c);
    } else if (u < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", u);
      out->append(buf);
    } else {
      out->push_back(c);
    }
  }
  out->push_back('"');
}

StatusOr<int64_t> ParseInt(const std::string& name, const std::string& text) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || p != text.data() + text.size()) {
    return InvalidArgument("trace setting " + name + " must be an integer, got '" + text + "'");
  }
  return v;
}

Status CheckValues(const TraceSettings& s) {
  if (s.rate < 1) return InvalidArgument("trace_rate must be at least 1");
  if (s.count < -1) return InvalidArgument("trace_count must be -1 (unlimited) or at least 0");
  if (s.log_frequency < 0) return InvalidArgument("log_frequency must be at least 0");
  if (s.level != TraceLevel::kOff && s.file.empty()) {
    return InvalidArgument(
        "tracing needs a trace file: start the server with --trace-config triton,file=PATH");
  }
  return Status::Ok();
}

}  // namespace

Status ParseTraceConfig(const std::string& text, TraceSettings* settings) {
  std::string body = text;
  if (body.rfind("triton,", 0) == 0) body = body.substr(7);
  if (body.rfind("opentelemetry,", 0) == 0) {
    return Unimplemented("--trace-config opentelemetry,... : only Triton's trace mode is supported");
  }
  size_t eq = body.find('=');
  if (eq == std::string::npos) {
    return InvalidArgument("--trace-config expects [triton,]NAME=VALUE, got '" + text + "'");
  }
  std::string name = body.substr(0, eq), value = body.substr(eq + 1);
  if (name == "level") {
    if (value == "OFF") {
      settings->level = TraceLevel::kOff;
    } else if (value == "TIMESTAMPS") {
      settings->level = TraceLevel::kTimestamps;
    } else if (value == "TENSORS") {
      return Unimplemented("trace level TENSORS is not supported (only OFF and TIMESTAMPS)");
    } else {
      return InvalidArgument("unknown trace level '" + value + "' (OFF or TIMESTAMPS)");
    }
  } else if (name == "rate") {
    ASSIGN_OR_RETURN(settings->rate, ParseInt(name, value));
  } else if (name == "count") {
    ASSIGN_OR_RETURN(settings->count, ParseInt(name, value));
  } else if (name == "log-frequency" || name == "log_frequency") {
    ASSIGN_OR_RETURN(settings->log_frequency, ParseInt(name, value));
  } else if (name == "file") {
    settings->file = value;
  } else if (name == "mode") {
    if (value != "triton") {
      return Unimplemented("trace mode '" + value + "' is not supported (only 'triton')");
    }
  } else {
    return InvalidArgument("unknown --trace-config setting '" + name + "'");
  }
  return Status::Ok();
}

Trace::Trace(std::shared_ptr<TraceSink> sink, uint64_t id, std::string model_name)
    : sink_(std::move(sink)), id_(id), model_name_(std::move(model_name)) {
  stamps_.reserve(8);
}

void Trace::Record(const char* name) {
  uint64_t now = sink_->Now();
  std::lock_guard<std::mutex> lock(mu_);
  stamps_.emplace_back(name, now);
}

Trace::~Trace() {
  std::string json = "{\"id\":" + std::to_string(id_) + ",\"model_name\":";
  AppendJsonString(&json, model_name_);
  json += ",\"model_version\":" + std::to_string(version_.load()) + ",\"timestamps\":[";
  for (size_t i = 0; i < stamps_.size(); ++i) {
    if (i) json += ",";
    json += "{\"name\":\"";
    json += stamps_[i].first;
    json += "\",\"ns\":" + std::to_string(stamps_[i].second) + "}";
  }
  json += "]}";
  sink_->Add(std::move(json));
}

StatusOr<std::unique_ptr<TraceManager>> TraceManager::Create(TraceSettings initial,
                                                             Clock& clock) {
  RETURN_IF_ERROR(CheckValues(initial));
  return std::unique_ptr<TraceManager>(new TraceManager(std::move(initial), clock));
}

TraceManager::TraceManager(TraceSettings initial, Clock& clock)
    : initial_(initial),
      sink_(std::make_shared<TraceSink>(clock, initial.file, initial.log_frequency)),
      global_(std::move(initial)) {
  std::lock_guard<std::mutex> lock(mu_);
  UpdateActive();
}

TraceManager::~TraceManager() { Flush(); }

void TraceManager::Flush() { sink_->Flush(); }

TraceSettings TraceManager::Effective(const std::string& model) const {
  TraceSettings s = global_;
  auto it = model.empty() ? models_.end() : models_.find(model);
  if (it != models_.end()) {
    if (it->second.level) s.level = *it->second.level;
    if (it->second.rate) s.rate = *it->second.rate;
    if (it->second.count) s.count = *it->second.count;
  }
  return s;
}

void TraceManager::UpdateActive() {
  bool on = global_.level != TraceLevel::kOff;
  for (const auto& [name, scope] : models_) {
    on |= scope.level.value_or(TraceLevel::kOff) != TraceLevel::kOff;
  }
  active_.store(on, std::memory_order_relaxed);
}

TraceSettings TraceManager::Settings(const std::string& model) const {
  std::lock_guard<std::mutex> lock(mu_);
  return Effective(model);
}

std::shared_ptr<Trace> TraceManager::StartSlow(const std::string& model) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = models_.find(model);
    Scope* scope = it == models_.end() ? nullptr : &it->second;
    TraceSettings s = Effective(model);
    if (s.level == TraceLevel::kOff) return nullptr;
    // A model with its own rate samples among its own requests.
    uint64_t seen = scope && scope->rate ? ++scope->seen : ++global_seen_;
    if (seen % static_cast<uint64_t>(s.rate) != 0 || s.count == 0) return nullptr;
    int64_t* count = scope && scope->count ? &*scope->count : &global_.count;
    if (*count > 0) --*count;
  }
  return std::make_shared<Trace>(sink_, next_id_.fetch_add(1), model);
}

Status TraceManager::Update(const std::string& model, const TraceSettingsUpdate& u) {
  if (u.file.present) {
    return InvalidArgument(
        "trace_file cannot be changed through the API; use --trace-config triton,file=PATH");
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (model.empty()) {
    TraceSettings next = global_;
    if (u.level.present) next.level = u.level.value.value_or(initial_.level);
    if (u.rate.present) next.rate = u.rate.value.value_or(initial_.rate);
    if (u.count.present) next.count = u.count.value.value_or(initial_.count);
    if (u.log_frequency.present) {
      next.log_frequency = u.log_frequency.value.value_or(initial_.log_frequency);
    }
    RETURN_IF_ERROR(CheckValues(next));
    if (next.log_frequency != global_.log_frequency) sink_->SetLogFrequency(next.log_frequency);
    global_ = std::move(next);
  } else {
    if (u.log_frequency.present) {
      return InvalidArgument("log_frequency is a global trace setting; set it on /v2/trace/setting");
    }
    Scope next = models_[model];
    if (u.level.present) next.level = u.level.value;
    if (u.rate.present) next.rate = u.rate.value;
    if (u.count.present) next.count = u.count.value;
    TraceSettings effective = global_;
    if (next.level) effective.level = *next.level;
    if (next.rate) effective.rate = *next.rate;
    if (next.count) effective.count = *next.count;
    Status st = CheckValues(effective);
    if (!st.ok()) {
      if (!models_[model].level && !models_[model].rate && !models_[model].count) {
        models_.erase(model);
      }
      return st;
    }
    models_[model] = next;
  }
  UpdateActive();
  return Status::Ok();
}

}  // namespace nereid::core

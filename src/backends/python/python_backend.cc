#include "backends/python/python_backend.h"

#include <google/protobuf/util/json_util.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "backends/python/py_sources.h"
#include "backends/python/python_instance.h"
#include "core/model_config_json.h"
#include "proto/model_config.pb.h"

namespace nereid::backends {
namespace {

namespace fs = std::filesystem;
using python::PythonInstance;
using python::PythonModelInfo;

class PythonModel final : public core::BackendModel {
 public:
  explicit PythonModel(std::shared_ptr<const PythonModelInfo> info) : info_(std::move(info)) {}
  StatusOr<std::unique_ptr<core::ModelInstance>> CreateInstance(
      const core::InstanceOptions& options) override {
    ASSIGN_OR_RETURN(auto instance, PythonInstance::Create(info_, options));
    return std::unique_ptr<core::ModelInstance>(std::move(instance));
  }

 private:
  std::shared_ptr<const PythonModelInfo> info_;
};

StatusOr<double> PositiveNumber(const std::string& name, const std::string& text) {
  double value = 0;
  size_t used = 0;
  try {
    value = std::stod(text, &used);
  } catch (...) {
    used = 0;
  }
  if (used == 0 || used != text.size() || !(value > 0)) {
    return InvalidArgument(name + " must be a positive number, got '" + text + "'");
  }
  return value;
}

StatusOr<std::chrono::milliseconds> SecondsParameter(const inference::ModelConfig& config,
                                                     const std::string& name,
                                                     std::chrono::milliseconds def) {
  auto it = config.parameters().find(name);
  if (it == config.parameters().end()) return def;
  ASSIGN_OR_RETURN(double seconds, PositiveNumber("parameter " + name, it->second.string_value()));
  return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
}

Status CheckDataType(const std::string& kind, const std::string& name, int dtype) {
  const DataType t = static_cast<DataType>(dtype);
  if (t == DataType::kBf16) {
    return InvalidArgument(kind + " '" + name +
                           "': TYPE_BF16 has no numpy type, so Python models cannot use it");
  }
  return Status::Ok();
}

}  // namespace

Status ApplyPythonBackendConfig(const std::map<std::string, std::string>& settings,
                                PythonBackendOptions* options) {
  for (const auto& [key, value] : settings) {
    if (key == "interpreter") {
      options->interpreter = value;
    } else if (key == "execute-timeout-seconds" || key == "initialize-timeout-seconds") {
      ASSIGN_OR_RETURN(double s, PositiveNumber("--backend-config python," + key, value));
      auto ms = std::chrono::milliseconds(static_cast<int64_t>(s * 1000));
      (key[0] == 'e' ? options->execute_timeout : options->initialize_timeout) = ms;
    } else if (key == "shm-default-byte-size") {
      ASSIGN_OR_RETURN(double bytes, PositiveNumber("--backend-config python," + key, value));
      options->region_bytes = static_cast<size_t>(bytes);
    } else {
      return InvalidArgument("--backend-config python," + key +
                             ": unknown setting (known: interpreter, execute-timeout-seconds, "
                             "initialize-timeout-seconds, shm-default-byte-size)");
    }
  }
  return Status::Ok();
}

PythonBackend::PythonBackend(PythonBackendOptions options) : options_(std::move(options)) {}

PythonBackend::~PythonBackend() {
  if (!dir_.empty()) {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
}

StatusOr<std::string> PythonBackend::WorkerScript() {
  std::lock_guard<std::mutex> lock(mu_);
  if (dir_.empty()) {
    std::error_code ec;
    std::string templ = (fs::temp_directory_path(ec) / "nereid_python_XXXXXX").string();
    if (ec || !::mkdtemp(templ.data())) {
      return Internal("cannot create a directory for the Python worker scripts under " +
                      fs::temp_directory_path(ec).string());
    }
    for (const auto& [file, text] :
         {std::pair<const char*, const char*>{"nereid_python_worker.py", python::kWorkerScript},
          {"triton_python_backend_utils.py", python::kUtilsModule}}) {
      std::ofstream out(fs::path(templ) / file, std::ios::binary);
      out << text;
      if (!out.flush()) return Internal("cannot write " + (fs::path(templ) / file).string());
    }
    dir_ = templ;
  }
  return (fs::path(dir_) / "nereid_python_worker.py").string();
}

Status PythonBackend::AutoCompleteConfig(const core::ModelFiles& files,
                                         inference::ModelConfig* config) {
  // Starting an interpreter costs ~0.2 s: only when model.py can define the
  // method at all.
  std::ifstream in(files.model_path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  if (text.str().find("auto_complete_config") == std::string::npos) return Status::Ok();

  ASSIGN_OR_RETURN(std::string script, WorkerScript());
  python::WorkerProcess::Options wo{options_.interpreter, script,
                                    "python model '" + config->name() + "'", 4096};
  ASSIGN_OR_RETURN(auto proc, python::WorkerProcess::Spawn(wo));
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  const std::string config_json = core::MessageToTritonJson(*config);
  w.StartObject();
  w.Key("op");
  w.String("auto_complete");
  w.Key("model_file");
  w.String(files.model_path.c_str());
  w.Key("config");
  w.RawValue(config_json.data(), config_json.size(), rapidjson::kObjectType);
  w.EndObject();
  RETURN_IF_ERROR(proc->Send(std::string_view(sb.GetString(), sb.GetSize())));
  const auto deadline = std::chrono::steady_clock::now() + options_.initialize_timeout;
  python::Frame frame;
  rapidjson::Document doc;
  while (true) {
    Status got = proc->Receive(&frame, deadline);
    if (!got.ok()) {
      return FailedPrecondition("the Python worker " + proc->ExitDescription(
                                                           std::chrono::milliseconds(100)) +
                                " before auto_complete_config() answered");
    }
    doc.Parse(frame.json.data(), frame.json.size());
    if (!doc.IsObject() || !doc.HasMember("op") || !doc["op"].IsString()) continue;
    const std::string op = doc["op"].GetString();
    if (op == "error") {
      return InvalidArgument(doc.HasMember("message") && doc["message"].IsString()
                                 ? doc["message"].GetString()
                                 : "auto_complete_config() failed");
    }
    if (op == "config" && doc.HasMember("config")) break;
  }
  rapidjson::StringBuffer out;
  rapidjson::Writer<rapidjson::StringBuffer> ow(out);
  doc["config"].Accept(ow);
  inference::ModelConfig completed;
  google::protobuf::util::JsonParseOptions options;
  auto st = google::protobuf::util::JsonStringToMessage(std::string(out.GetString(), out.GetSize()),
                                                        &completed, options);
  if (!st.ok()) {
    return InvalidArgument("auto_complete_config() returned a config that is not a valid "
                           "ModelConfig: " +
                           std::string(st.message()));
  }
  *config = std::move(completed);
  return Status::Ok();
}

StatusOr<std::unique_ptr<core::BackendModel>> PythonBackend::Load(
    const inference::ModelConfig& config, const core::ModelFiles& files) {
  if (config.parameters().count("EXECUTION_ENV_PATH")) {
    return Unimplemented("parameter EXECUTION_ENV_PATH (packed conda environments) is not "
                         "supported; point --backend-config python,interpreter=PATH at the "
                         "environment's interpreter instead");
  }
  for (const auto& in : config.input()) RETURN_IF_ERROR(CheckDataType("input", in.name(), in.data_type()));
  auto info = std::make_shared<PythonModelInfo>();
  for (const auto& out : config.output()) {
    RETURN_IF_ERROR(CheckDataType("output", out.name(), out.data_type()));
    info->outputs[out.name()].dtype = static_cast<DataType>(out.data_type());
  }
  ASSIGN_OR_RETURN(info->worker_script, WorkerScript());
  info->interpreter = options_.interpreter;
  info->model_file = files.model_path;
  info->model_name = config.name();
  info->model_dir = files.model_dir;
  try {
    info->version = std::stoll(fs::path(files.version_dir).filename().string());
  } catch (...) {
    info->version = 0;
  }
  info->config_json = core::MessageToTritonJson(config);
  info->decoupled = config.model_transaction_policy().decoupled();
  info->region_bytes = options_.region_bytes;
  ASSIGN_OR_RETURN(info->execute_timeout,
                   SecondsParameter(config, "EXECUTE_TIMEOUT_SECONDS", options_.execute_timeout));
  ASSIGN_OR_RETURN(info->initialize_timeout, SecondsParameter(config, "INITIALIZE_TIMEOUT_SECONDS",
                                                              options_.initialize_timeout));
  return std::unique_ptr<core::BackendModel>(std::make_unique<PythonModel>(std::move(info)));
}

}  // namespace nereid::backends

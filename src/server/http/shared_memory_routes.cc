#include "server/http/shared_memory_routes.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <simdjson.h>

#include "server/http/infer_codec.h"
#include "server/kserve/kserve.h"

namespace nereid::server::http {
namespace {

HttpResponse Reply(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

HttpResponse Error(const Status& s) { return Reply(HttpStatusFor(s.code()), ErrorJson(s.message())); }

HttpResponse Ok() {
  HttpResponse r = Reply(200, "");
  r.content_type.clear();
  return r;
}

std::string RegionsJson(const std::vector<core::ShmRegionInfo>& regions) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  w.StartArray();
  for (const auto& r : regions) {
    w.StartObject();
    w.Key("name");
    w.String(r.name.c_str(), r.name.size());
    w.Key("key");
    w.String(r.key.c_str(), r.key.size());
    w.Key("offset");
    w.Uint64(r.offset);
    w.Key("byte_size");
    w.Uint64(r.byte_size);
    w.EndObject();
  }
  w.EndArray();
  return std::string(sb.GetString(), sb.GetSize());
}

StatusOr<uint64_t> UintMember(simdjson::dom::object obj, const char* key, bool required) {
  auto v = obj[key];
  if (v.error()) {
    if (required) return InvalidArgument(std::string("register request needs '") + key + "'");
    return uint64_t{0};
  }
  uint64_t n;
  if (v.get_uint64().get(n)) {
    return InvalidArgument(std::string("'") + key + "' must be a non-negative integer");
  }
  return n;
}

Status RegisterSystem(core::SystemSharedMemoryRegistry& reg, const std::string& name,
                      const std::string& body) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (auto err = parser.parse(body).get(doc)) {
    return InvalidArgument(std::string("malformed JSON in register request: ") +
                           simdjson::error_message(err));
  }
  simdjson::dom::object obj;
  if (doc.get_object().get(obj)) return InvalidArgument("register request must be a JSON object");
  std::string_view key;
  if (obj["key"].get_string().get(key)) {
    return InvalidArgument("register request needs a string 'key'");
  }
  ASSIGN_OR_RETURN(uint64_t offset, UintMember(obj, "offset", false));
  ASSIGN_OR_RETURN(uint64_t byte_size, UintMember(obj, "byte_size", true));
  return reg.Register(name, std::string(key), offset, byte_size);
}

// Parses [v2, kind, (region, r,)? action]; region is "" when absent.
bool ParseShmPath(const std::vector<std::string>& p, std::string* region, std::string* action) {
  if (p.size() == 3) {
    *action = p[2];
    return true;
  }
  if (p.size() == 5 && p[2] == "region") {
    *region = p[3];
    *action = p[4];
    return true;
  }
  return false;
}

}  // namespace

HttpResponse HandleSharedMemory(core::InferenceServer& server, const HttpRequest& request,
                                const std::vector<std::string>& p) {
  std::string region, action;
  std::string path = request.target.substr(0, request.target.find('?'));
  if (!ParseShmPath(p, &region, &action) ||
      (action != "status" && action != "register" && action != "unregister") ||
      (action == "register" && region.empty())) {
    return Error(NotFound("no such endpoint: " + path));
  }
  if ((action == "status") != (request.method == "GET") ||
      (action != "status" && request.method != "POST")) {
    return Reply(405, ErrorJson("method " + request.method + " is not allowed on " + path));
  }
  core::SystemSharedMemoryRegistry& reg = server.system_shared_memory();
  if (p[1] == "cudasharedmemory") {
    if (!reg.enabled()) return Error(reg.Regions("").status());
    if (action == "register") {
      return Error(Unimplemented(
          "CUDA shared memory is not supported on this build/machine (no CUDA device is used); "
          "use system shared memory"));
    }
    if (action == "unregister") return Ok();
    if (!region.empty()) {
      return Error(NotFound("CUDA shared memory region '" + region + "' is not registered"));
    }
    return Reply(200, "[]");
  }
  if (action == "status") {
    auto regions = reg.Regions(region);
    if (!regions.ok()) return Error(regions.status());
    return Reply(200, RegionsJson(*regions));
  }
  Status st = action == "register" ? RegisterSystem(reg, region, *request.body)
              : region.empty()     ? reg.UnregisterAll()
                                   : reg.Unregister(region);
  return st.ok() ? Ok() : Error(st);
}

}  // namespace nereid::server::http

#include "core/model_config_json.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <charconv>
#include <cmath>

namespace nereid::core {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;
using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void WriteMessage(Writer& w, const Message& m);

void WriteDouble(Writer& w, double v) {
  if (!std::isfinite(v)) {
    w.Double(0);
    return;
  }
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  w.RawValue(buf, r.ptr - buf, rapidjson::kNumberType);
}

// One value of `field`; `index` < 0 for singular fields.
void WriteValue(Writer& w, const Message& m, const FieldDescriptor* f, int index) {
  const Reflection* r = m.GetReflection();
  bool rep = index >= 0;
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      w.Int(rep ? r->GetRepeatedInt32(m, f, index) : r->GetInt32(m, f));
      break;
    case FieldDescriptor::CPPTYPE_INT64:
      w.Int64(rep ? r->GetRepeatedInt64(m, f, index) : r->GetInt64(m, f));
      break;
    case FieldDescriptor::CPPTYPE_UINT32:
      w.Uint(rep ? r->GetRepeatedUInt32(m, f, index) : r->GetUInt32(m, f));
      break;
    case FieldDescriptor::CPPTYPE_UINT64:
      w.Uint64(rep ? r->GetRepeatedUInt64(m, f, index) : r->GetUInt64(m, f));
      break;
    case FieldDescriptor::CPPTYPE_DOUBLE:
      WriteDouble(w, rep ? r->GetRepeatedDouble(m, f, index) : r->GetDouble(m, f));
      break;
    case FieldDescriptor::CPPTYPE_FLOAT:
      WriteDouble(w, rep ? r->GetRepeatedFloat(m, f, index) : r->GetFloat(m, f));
      break;
    case FieldDescriptor::CPPTYPE_BOOL:
      w.Bool(rep ? r->GetRepeatedBool(m, f, index) : r->GetBool(m, f));
      break;
    case FieldDescriptor::CPPTYPE_ENUM: {
      const auto* e = rep ? r->GetRepeatedEnum(m, f, index) : r->GetEnum(m, f);
      w.String(e->name().c_str(), e->name().size());
      break;
    }
    case FieldDescriptor::CPPTYPE_STRING: {
      std::string s = rep ? r->GetRepeatedString(m, f, index) : r->GetString(m, f);
      w.String(s.c_str(), s.size());
      break;
    }
    case FieldDescriptor::CPPTYPE_MESSAGE:
      WriteMessage(w, rep ? r->GetRepeatedMessage(m, f, index) : r->GetMessage(m, f));
      break;
  }
}

// A map entry's key as a JSON object key.
std::string MapKey(const Message& entry) {
  const auto* kf = entry.GetDescriptor()->FindFieldByNumber(1);
  const Reflection* r = entry.GetReflection();
  switch (kf->cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING: return r->GetString(entry, kf);
    case FieldDescriptor::CPPTYPE_INT32: return std::to_string(r->GetInt32(entry, kf));
    case FieldDescriptor::CPPTYPE_INT64: return std::to_string(r->GetInt64(entry, kf));
    case FieldDescriptor::CPPTYPE_UINT32: return std::to_string(r->GetUInt32(entry, kf));
    case FieldDescriptor::CPPTYPE_UINT64: return std::to_string(r->GetUInt64(entry, kf));
    case FieldDescriptor::CPPTYPE_BOOL: return r->GetBool(entry, kf) ? "true" : "false";
    default: return "";
  }
}

void WriteMessage(Writer& w, const Message& m) {
  const auto* d = m.GetDescriptor();
  const Reflection* r = m.GetReflection();
  w.StartObject();
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    if (f->real_containing_oneof() && !r->HasField(m, f)) continue;
    if (!f->is_repeated() && f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE &&
        !r->HasField(m, f)) {
      continue;
    }
    w.Key(f->name().c_str(), f->name().size());
    if (f->is_map()) {
      w.StartObject();
      const auto* vf = f->message_type()->FindFieldByNumber(2);
      for (int j = 0; j < r->FieldSize(m, f); ++j) {
        const Message& entry = r->GetRepeatedMessage(m, f, j);
        std::string key = MapKey(entry);
        w.Key(key.c_str(), key.size());
        WriteValue(w, entry, vf, -1);
      }
      w.EndObject();
    } else if (f->is_repeated()) {
      w.StartArray();
      for (int j = 0; j < r->FieldSize(m, f); ++j) WriteValue(w, m, f, j);
      w.EndArray();
    } else {
      WriteValue(w, m, f, -1);
    }
  }
  w.EndObject();
}

}  // namespace

std::string MessageToTritonJson(const Message& message) {
  rapidjson::StringBuffer sb;
  Writer w(sb);
  WriteMessage(w, message);
  return std::string(sb.GetString(), sb.GetSize());
}

}  // namespace nereid::core

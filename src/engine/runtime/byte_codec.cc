#include "engine/runtime/byte_codec.h"

#include <cstring>

namespace nereid::engine {

bool ByteReader::Take(void* out, size_t size, const char* field) {
  if (!ok()) return false;
  if (size > remaining()) {
    Fail(std::string("truncated while reading ") + field);
    return false;
  }
  std::memcpy(out, bytes_.data() + pos_, size);
  pos_ += size;
  return true;
}

void ByteReader::Fail(std::string_view why) {
  if (!ok()) return;
  error_ = std::string(why);
  error_pos_ = pos_;
}

Status ByteReader::status() const {
  if (ok()) return Status::Ok();
  return InvalidArgument(what_ + " is malformed: " + error_ + " (at byte " +
                         std::to_string(error_pos_) + ")");
}

#define NEREID_READ_SCALAR(Name, Type, field)       \
  Type ByteReader::Name() {                         \
    Type v{};                                       \
    if (!Take(&v, sizeof(v), field)) return Type{}; \
    return v;                                       \
  }
NEREID_READ_SCALAR(U8, uint8_t, "a byte")
NEREID_READ_SCALAR(U32, uint32_t, "a 32-bit integer")
NEREID_READ_SCALAR(U64, uint64_t, "a 64-bit integer")
NEREID_READ_SCALAR(I32, int32_t, "a 32-bit integer")
NEREID_READ_SCALAR(I64, int64_t, "a 64-bit integer")
NEREID_READ_SCALAR(F32, float, "a float")
NEREID_READ_SCALAR(F64, double, "a double")
#undef NEREID_READ_SCALAR

std::string ByteReader::Str() {
  const uint64_t size = U64();
  if (!ok()) return {};
  if (size > remaining()) {
    Fail("a string of " + std::to_string(size) + " bytes runs past the end");
    return {};
  }
  std::string s(bytes_.data() + pos_, size);
  pos_ += size;
  return s;
}

std::string_view ByteReader::Raw(uint64_t size) {
  if (!ok()) return {};
  if (size > remaining()) {
    Fail(std::to_string(size) + " bytes of data run past the end");
    return {};
  }
  std::string_view v = bytes_.substr(pos_, size);
  pos_ += size;
  return v;
}

uint32_t ByteReader::Count(size_t min_element_bytes) {
  const uint32_t count = U32();
  if (!ok()) return 0;
  if (min_element_bytes > 0 && count > remaining() / min_element_bytes) {
    Fail("a count of " + std::to_string(count) + " cannot fit in the " +
         std::to_string(remaining()) + " bytes left");
    return 0;
  }
  return count;
}

Shape ByteReader::Dims(int64_t min_dim) {
  const uint32_t rank = Count(sizeof(int64_t));
  if (!ok()) return {};
  if (rank > 64) {
    Fail("rank " + std::to_string(rank) + " is larger than 64");
    return {};
  }
  Shape shape(rank);
  for (uint32_t i = 0; i < rank; ++i) {
    shape[i] = I64();
    if (ok() && shape[i] < min_dim) {
      Fail("dimension " + std::to_string(shape[i]) + " is out of range");
      return {};
    }
  }
  return ok() ? shape : Shape{};
}

DataType ByteReader::Type(bool allow_invalid) {
  const uint8_t v = U8();
  if (!ok()) return DataType::kInvalid;
  if (v > static_cast<uint8_t>(DataType::kBf16) || (v == 0 && !allow_invalid)) {
    Fail("unknown element type " + std::to_string(v));
    return DataType::kInvalid;
  }
  return static_cast<DataType>(v);
}

}  // namespace nereid::engine

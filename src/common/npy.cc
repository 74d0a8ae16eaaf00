#include "common/npy.h"

#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>

namespace nereid {
namespace {

struct NpyType {
  const char* descr;
  DataType dtype;
};

constexpr NpyType kTypes[] = {
    {"|b1", DataType::kBool},   {"|i1", DataType::kInt8},   {"|u1", DataType::kUint8},
    {"<i2", DataType::kInt16},  {"<u2", DataType::kUint16}, {"<i4", DataType::kInt32},
    {"<u4", DataType::kUint32}, {"<i8", DataType::kInt64},  {"<u8", DataType::kUint64},
    {"<f2", DataType::kFp16},   {"<f4", DataType::kFp32},   {"<f8", DataType::kFp64},
};

}  // namespace

StatusOr<Tensor> ReadNpy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("cannot open " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string data = ss.str();
  if (data.size() < 10 || data.compare(0, 6, "\x93NUMPY") != 0) {
    return InvalidArgument(path + " is not a .npy file");
  }
  const int major = static_cast<unsigned char>(data[6]);
  size_t header_len = 0, start = 0;
  if (major == 1) {
    header_len = static_cast<unsigned char>(data[8]) | (static_cast<unsigned char>(data[9]) << 8);
    start = 10;
  } else if (major == 2 || major == 3) {
    if (data.size() < 12) return InvalidArgument(path + ": truncated header");
    uint32_t n;
    std::memcpy(&n, data.data() + 8, 4);
    header_len = n;
    start = 12;
  } else {
    return InvalidArgument(path + ": unsupported .npy version " + std::to_string(major));
  }
  if (start + header_len > data.size()) return InvalidArgument(path + ": truncated header");
  const std::string header = data.substr(start, header_len);
  std::smatch m;
  if (!std::regex_search(header, m, std::regex("'descr':\\s*'([^']+)'"))) {
    return InvalidArgument(path + ": header has no descr");
  }
  const std::string descr = m[1];
  if (std::regex_search(header, std::regex("'fortran_order':\\s*True"))) {
    return Unimplemented(path + ": Fortran-ordered arrays are not supported");
  }
  if (!std::regex_search(header, m, std::regex("'shape':\\s*\\(([^)]*)\\)"))) {
    return InvalidArgument(path + ": header has no shape");
  }
  Shape shape;
  std::stringstream dims(m[1].str());
  std::string dim;
  while (std::getline(dims, dim, ',')) {
    dim.erase(0, dim.find_first_not_of(' '));
    if (dim.empty()) continue;
    try {
      shape.push_back(std::stoll(dim));
    } catch (...) {
      return InvalidArgument(path + ": bad dimension '" + dim + "'");
    }
  }
  DataType dtype = DataType::kInvalid;
  for (const auto& t : kTypes) {
    if (descr == t.descr) dtype = t.dtype;
  }
  if (dtype == DataType::kInvalid) return Unimplemented(path + ": unsupported dtype " + descr);
  ASSIGN_OR_RETURN(int64_t n, ElementCount(shape));
  const size_t bytes = static_cast<size_t>(n) * DataTypeByteSize(dtype);
  const size_t offset = start + header_len;
  if (data.size() - offset != bytes) {
    return InvalidArgument(path + ": holds " + std::to_string(data.size() - offset) +
                           " data bytes, shape " + ShapeToString(shape) + " needs " +
                           std::to_string(bytes));
  }
  Tensor t = Tensor::Allocate(dtype, shape, bytes);
  if (bytes) std::memcpy(t.mutable_data(), data.data() + offset, bytes);
  return t;
}

Status WriteNpy(const std::string& path, const Tensor& tensor) {
  const char* descr = nullptr;
  for (const auto& t : kTypes) {
    if (t.dtype == tensor.dtype()) descr = t.descr;
  }
  if (!descr) {
    return Unimplemented("cannot write " + std::string(DataTypeName(tensor.dtype())) + " as .npy");
  }
  std::string shape;
  for (int64_t d : tensor.shape()) shape += std::to_string(d) + ", ";
  if (tensor.shape().size() > 1) shape.resize(shape.size() - 2);
  if (tensor.shape().size() == 1) shape.resize(shape.size() - 1);
  std::string header = "{'descr': '" + std::string(descr) + "', 'fortran_order': False, 'shape': (" +
                       shape + "), }";
  size_t total = 10 + header.size() + 1;
  header += std::string((64 - total % 64) % 64, ' ') + "\n";
  std::ofstream out(path, std::ios::binary);
  if (!out) return Unavailable("cannot write " + path);
  out.write("\x93NUMPY\x01\x00", 8);
  const uint16_t len = static_cast<uint16_t>(header.size());
  out.put(static_cast<char>(len & 0xff));
  out.put(static_cast<char>(len >> 8));
  out << header;
  out.write(tensor.data(), static_cast<std::streamsize>(tensor.byte_size()));
  return out ? Status::Ok() : Unavailable("writing " + path + " failed");
}

}  // namespace nereid

#include "cells/npy.h"

#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/file_reader.h"

namespace sund::cells {

std::int64_t Tensor::Elements() const {
  if (shape.empty()) return 0;
  for (auto d : shape) {
    if (d == 0) return 0;
  }
  std::int64_t n = 1;
  for (auto d : shape) {
    if (__builtin_mul_overflow(n, d, &n)) return -1;  // never for a tensor ParseNpy returns
  }
  return n;
}

namespace {

// The value of 'key': in the header dict, as the text up to the next top-level comma.
std::string DictValue(const std::string& header, const std::string& key) {
  std::size_t at = header.find("'" + key + "'");
  if (at == std::string::npos) return {};
  std::size_t colon = header.find(':', at);
  if (colon == std::string::npos) return {};
  std::size_t i = colon + 1;
  while (i < header.size() && header[i] == ' ') ++i;
  if (i < header.size() && header[i] == '(') {
    std::size_t end = header.find(')', i);
    return end == std::string::npos ? std::string() : header.substr(i, end - i + 1);
  }
  std::size_t end = header.find_first_of(",}", i);
  return header.substr(i, end == std::string::npos ? std::string::npos : end - i);
}

}  // namespace

Result<Tensor> ParseNpy(const std::string& bytes) {
  if (bytes.size() < 10 || bytes.compare(0, 6, "\x93NUMPY") != 0) {
    return InvalidArgument("not a .npy file");
  }
  auto major = static_cast<unsigned char>(bytes[6]);
  std::size_t header_len = 0;
  std::size_t offset = 0;
  if (major == 1) {
    header_len = static_cast<unsigned char>(bytes[8]) |
                 (static_cast<std::size_t>(static_cast<unsigned char>(bytes[9])) << 8);
    offset = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) return InvalidArgument(".npy header is truncated");
    for (int i = 3; i >= 0; --i)
      header_len = (header_len << 8) | static_cast<unsigned char>(bytes[8 + i]);
    offset = 12;
  } else {
    return InvalidArgument(".npy version " + std::to_string(major) + " is not supported");
  }
  if (offset + header_len > bytes.size()) return InvalidArgument(".npy header is truncated");
  std::string header = bytes.substr(offset, header_len);
  std::string descr = DictValue(header, "descr");
  std::string order = DictValue(header, "fortran_order");
  std::string shape_text = DictValue(header, "shape");
  if (order.find("False") == std::string::npos) {
    return InvalidArgument(".npy in Fortran order is not supported");
  }
  int width = 0;
  if (descr.find("<f4") != std::string::npos) {
    width = 4;
  } else if (descr.find("<f8") != std::string::npos) {
    width = 8;
  } else {
    return InvalidArgument(".npy element type " + descr + " is not supported (float32/64)");
  }
  Tensor t;
  std::size_t i = 1;
  while (i < shape_text.size()) {
    while (i < shape_text.size() && (shape_text[i] == ' ' || shape_text[i] == ',')) ++i;
    if (i >= shape_text.size() || shape_text[i] == ')') break;
    std::size_t end = shape_text.find_first_of(",)", i);
    try {
      t.shape.push_back(std::stoll(shape_text.substr(i, end - i)));
    } catch (const std::exception&) {
      return InvalidArgument(".npy shape is not readable");
    }
    i = end;
  }
  if (t.shape.empty()) t.shape.push_back(1);  // a scalar
  // The element count, checked against the bytes present before anything is multiplied out,
  // so that a hostile shape can neither overflow nor ask for more memory than the file holds.
  std::size_t data = offset + header_len;
  std::size_t available = (bytes.size() - data) / static_cast<std::size_t>(width);
  std::size_t n = 1;
  for (std::int64_t d : t.shape) {
    if (d < 0) return InvalidArgument(".npy shape has a negative dimension");
    if (d == 0) n = 0;
  }
  for (std::int64_t d : t.shape) {
    if (n == 0) break;
    if (static_cast<std::uint64_t>(d) > available / n) {
      return InvalidArgument(".npy data is truncated");
    }
    n *= static_cast<std::size_t>(d);
  }
  t.values.resize(n);
  if (width == 4) {
    if (n > 0) std::memcpy(t.values.data(), bytes.data() + data, n * 4);  // data() may be null
  } else {
    for (std::size_t k = 0; k < n; ++k) {
      double d;
      std::memcpy(&d, bytes.data() + data + k * 8, 8);
      t.values[k] = static_cast<float>(d);
    }
  }
  return t;
}

Result<Tensor> ReadNpy(const std::string& path) {
  SUND_ASSIGN_OR_RETURN(std::string bytes, ReadFileDecompressed(path));
  auto t = ParseNpy(bytes);
  if (!t.ok()) {
    return InvalidArgument(std::filesystem::path(path).filename().string() + ": " +
                           t.status().message());
  }
  return t;
}

Status WriteNpy(const std::string& path, const Tensor& tensor) {
  std::string shape = "(";
  for (std::size_t i = 0; i < tensor.shape.size(); ++i) {
    shape += std::to_string(tensor.shape[i]);
    shape += tensor.shape.size() == 1 || i + 1 < tensor.shape.size() ? ", " : "";
  }
  if (shape.ends_with(", ") && tensor.shape.size() > 1) shape.resize(shape.size() - 2);
  shape += ")";
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + ", }";
  // Pad so that the data starts at a multiple of 64 bytes, ending the header with a newline.
  std::size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::string out = "\x93NUMPY";
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(header.size() & 0xFF);
  out += static_cast<char>((header.size() >> 8) & 0xFF);
  out += header;
  out.append(reinterpret_cast<const char*>(tensor.values.data()), tensor.values.size() * 4);
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(out.data(), static_cast<std::streamsize>(out.size()));
  if (!f) return Internal("cannot write " + std::filesystem::path(path).filename().string());
  return Status::Ok();
}

}  // namespace sund::cells

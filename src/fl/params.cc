#include "fl/params.h"

#include <cmath>
#include <cstdio>
#include <cstring>

namespace sund::fl {
namespace {

void PutU64(std::string& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

std::uint64_t GetU64(const unsigned char* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = v << 8 | p[i];
  return v;
}

}  // namespace

void AddScaled(Params& out, const Params& x, double scale) {
  for (std::size_t i = 0; i < out.size() && i < x.size(); ++i) out[i] += scale * x[i];
}

std::string ParamsJson(const Params& x) {
  std::string out = "[";
  char buf[32];
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (i > 0) out += ',';
    if (std::isfinite(x[i])) {
      std::snprintf(buf, sizeof buf, "%.17g", x[i]);
      out += buf;
    } else {
      out += "null";
    }
  }
  return out + "]";
}

double L2Norm(const Params& x) {
  double s = 0;
  for (double v : x) s += v * v;
  return std::sqrt(s);
}

double ClipL2(Params& x, double max_norm) {
  double n = L2Norm(x);
  if (!(n > max_norm) || n == 0) return 1.0;
  double f = max_norm / n;
  for (double& v : x) v *= f;
  return f;
}

std::string Serialize(const Params& x) {
  std::string out;
  out.reserve(8 + 8 * x.size());
  PutU64(out, x.size());
  for (double v : x) {
    std::uint64_t bits;
    std::memcpy(&bits, &v, 8);
    PutU64(out, bits);
  }
  return out;
}

Result<Params> Deserialize(std::string_view bytes) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  if (bytes.size() < 8) return InvalidArgument("parameters: truncated");
  std::uint64_t n = GetU64(p);
  if (n > (bytes.size() - 8) / 8 || bytes.size() != 8 + 8 * n) {
    return InvalidArgument("parameters: the length does not match the count");
  }
  Params x(n);
  for (std::uint64_t i = 0; i < n; ++i) {
    std::uint64_t bits = GetU64(p + 8 + 8 * i);
    std::memcpy(&x[i], &bits, 8);
    if (!std::isfinite(x[i])) return InvalidArgument("parameters: a value that is not finite");
  }
  return x;
}

}  // namespace sund::fl

#include "fl/fixed_point.h"

#include <algorithm>
#include <cmath>

namespace sund::fl {
namespace {

constexpr int kMaxFractionBits = 62;
constexpr unsigned __int128 kMaxSum = (static_cast<unsigned __int128>(1) << 63) - 1;

bool Fits(double bound, std::uint32_t max_summands, int fraction_bits) {
  double top = std::ceil(std::ldexp(bound, fraction_bits));
  if (!(top <= 0x1p62)) return false;
  return static_cast<unsigned __int128>(top) * max_summands <= kMaxSum;
}

}  // namespace

FixedPointCodec::FixedPointCodec(double bound, std::uint32_t max_summands, int fraction_bits)
    : bound_(bound),
      max_summands_(max_summands),
      fraction_bits_(fraction_bits),
      scale_(std::ldexp(1.0, fraction_bits)) {}

Result<FixedPointCodec> FixedPointCodec::Create(double bound, std::uint32_t max_summands,
                                                int fraction_bits) {
  if (!std::isfinite(bound) || !(bound > 0)) {
    return InvalidArgument("fixed point: the bound must be finite and positive");
  }
  if (max_summands == 0) return InvalidArgument("fixed point: max_summands must be at least 1");
  if (fraction_bits < 0 || fraction_bits > kMaxFractionBits) {
    return InvalidArgument("fixed point: fraction_bits must be in 0..62");
  }
  if (!Fits(bound, max_summands, fraction_bits)) {
    return InvalidArgument("fixed point: max_summands values of this bound and scale overflow");
  }
  return FixedPointCodec(bound, max_summands, fraction_bits);
}

Result<FixedPointCodec> FixedPointCodec::ForBound(double bound, std::uint32_t max_summands) {
  SUND_RETURN_IF_ERROR(Create(bound, max_summands, 0).status());
  int bits = kMaxFractionBits;
  while (!Fits(bound, max_summands, bits)) --bits;  // stops at 0 at the latest
  return FixedPointCodec(bound, max_summands, bits);
}

Result<std::vector<std::uint64_t>> FixedPointCodec::Encode(const Params& x) const {
  std::vector<std::uint64_t> out(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (!std::isfinite(x[i])) return InvalidArgument("fixed point: a value that is not finite");
    double v = std::nearbyint(std::clamp(x[i], -bound_, bound_) * scale_);
    out[i] = static_cast<std::uint64_t>(static_cast<std::int64_t>(v));
  }
  return out;
}

Result<Params> FixedPointCodec::DecodeSum(std::span<const std::uint64_t> sum,
                                          std::uint32_t summands) const {
  if (summands == 0 || summands > max_summands_) {
    return InvalidArgument("fixed point: the number of summands is outside 1..max_summands");
  }
  Params out(sum.size());
  for (std::size_t i = 0; i < sum.size(); ++i) {
    out[i] = static_cast<double>(static_cast<std::int64_t>(sum[i])) / scale_;
  }
  return out;
}

}  // namespace sund::fl

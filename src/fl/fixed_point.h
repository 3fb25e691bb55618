// Fixed-point encoding of a parameter vector into the ring Z_{2^64}, where secure aggregation
// (secagg.h) adds the nodes' masked inputs. A value v is clamped to [-bound, bound], multiplied
// by scale = 2^fraction_bits, rounded to the nearest integer and stored in two's complement mod
// 2^64. A sum of k <= max_summands encodings is read back as a signed 64-bit integer and divided
// by the scale; it is exact (the sum of the rounded values) because the codec is only built when
//
//     max_summands * ceil(bound * scale) <= 2^63 - 1,
//
// so no sum of at most max_summands clamped values can wrap. Each value's rounding error is at
// most 1 / (2 * scale), the sum's at most k / (2 * scale).
//
// Choosing the bound: a clipped update (privacy.h) has every coordinate within the clip norm C,
// and the node's Gaussian noise adds sigma_node per coordinate; a bound of C + 8 sigma_node
// clamps a coordinate with probability about 1e-15. Clamping happens after the noise, so it is
// post-processing and costs no privacy; it only biases the rare clamped values.
// Thread-safety: an immutable value.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/status.h"
#include "fl/params.h"

namespace sund::fl {

class FixedPointCodec {
 public:
  // InvalidArgument unless bound is finite and > 0, max_summands >= 1, 0 <= fraction_bits <= 62
  // and the overflow condition above holds.
  static Result<FixedPointCodec> Create(double bound, std::uint32_t max_summands,
                                        int fraction_bits);
  // The codec with the most fraction bits (the finest resolution) for which the overflow
  // condition holds. InvalidArgument when even fraction_bits = 0 overflows, or bound is not
  // finite and > 0, or max_summands is 0.
  static Result<FixedPointCodec> ForBound(double bound, std::uint32_t max_summands);

  double bound() const { return bound_; }
  std::uint32_t max_summands() const { return max_summands_; }
  int fraction_bits() const { return fraction_bits_; }
  double scale() const { return scale_; }
  // The spacing of representable values, 1 / scale.
  double resolution() const { return 1.0 / scale_; }

  // InvalidArgument for a NaN or infinite value (values beyond the bound are clamped).
  Result<std::vector<std::uint64_t>> Encode(const Params& x) const;
  // The values of a ring sum of `summands` encodings. InvalidArgument when summands is 0 or
  // more than max_summands (the sum could have wrapped).
  Result<Params> DecodeSum(std::span<const std::uint64_t> sum, std::uint32_t summands) const;

 private:
  FixedPointCodec(double bound, std::uint32_t max_summands, int fraction_bits);

  double bound_;
  std::uint32_t max_summands_;
  int fraction_bits_;
  double scale_;
};

}  // namespace sund::fl

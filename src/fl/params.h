// A model's parameters as one flat vector of doubles: what nodes train, what travels (masked,
// clipped, noised) and what the coordinator aggregates. Models (models.h) map their weights to
// and from it; secure aggregation (secagg.h) encodes it into a finite ring.
//
// Wire form (Serialize): the count as a little-endian uint64, then each value as a little-endian
// IEEE 754 binary64. Thread-safety: values and pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace sund::fl {

using Params = std::vector<double>;

// out += scale * x (sizes must match; checked by the caller).
void AddScaled(Params& out, const Params& x, double scale);
double L2Norm(const Params& x);
// Scales x down so that its L2 norm is at most `max_norm`; returns the factor applied (<= 1).
double ClipL2(Params& x, double max_norm);

std::string Serialize(const Params& x);
// The values as a JSON array, every double exactly (%.17g); a non-finite value as null.
std::string ParamsJson(const Params& x);
// InvalidArgument for a truncated or oversized buffer, or non-finite values.
Result<Params> Deserialize(std::string_view bytes);

}  // namespace sund::fl

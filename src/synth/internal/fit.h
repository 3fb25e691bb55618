// The parts of fitting shared by model.cc and mst.cc. Internal to synth.
#pragma once

#include <cstdint>
#include <vector>

#include "core/status.h"
#include "synth/dp.h"
#include "synth/model.h"

namespace sund::synth::internal {

// The table as codes, one vector per schema column, under model.coding.
using Codes = std::vector<std::vector<std::uint32_t>>;

// Fits the MST forest: fills model.kept, order, parent, tables, rows, notes and the privacy
// steps, spending at most `rho` (what is left of the budget after the quantiles).
Status FitMst(const Codes& codes, double rho, const FitOptions& options, Rng& rng, Model& model);

// The compressed domain size of column c (model.kept applied).
std::size_t CompressedSize(const Model& model, std::size_t c);

// Standard normal quantile (inverse CDF) for p in (0, 1).
double NormalQuantile(double p);

}  // namespace sund::synth::internal

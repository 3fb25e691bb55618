// Differential privacy for synth: zero-concentrated DP accounting, the Gaussian and exponential
// mechanisms, and private quantiles. Used by the MST model (mst.h) and later by fl.
//
// Accounting is in rho-zCDP (Bun & Steinke 2016): the Gaussian mechanism with L2 sensitivity s
// and standard deviation sigma is s^2 / (2 sigma^2)-zCDP; an epsilon-DP exponential mechanism is
// epsilon^2 / 8-zCDP (Cesar & Rogers 2021); rhos add up under composition. The conversion to
// (epsilon, delta) is the tight one of Canonne, Kamath & Steinke 2020 (Proposition 12 / Cor. 13):
// delta = inf over alpha > 1 of exp((alpha-1)(alpha rho - epsilon)) (1 - 1/alpha)^alpha /
// (alpha-1). Neighbouring tables differ by one row added or removed.
//
// Noise is drawn in double precision from a seeded generator (reproducible runs for tests and
// benchmarks; a model for release is fitted without --seed, from the operating system's entropy).
// Floating-point noise has known theoretical weaknesses (Mironov 2012); docs/synth.md says so.
// Thread-safety: pure functions; a Rng is used by one thread at a time.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <vector>

namespace sund::synth {

using Rng = std::mt19937_64;

// (epsilon, delta)-DP from rho-zCDP.
double CdpDelta(double rho, double epsilon);
// The smallest epsilon for which rho-zCDP gives (epsilon, delta)-DP.
double CdpEpsilon(double rho, double delta);
// The largest rho whose conversion stays within (epsilon, delta).
double CdpRho(double epsilon, double delta);

// rho of the Gaussian mechanism.
inline double GaussianRho(double sigma, double sensitivity = 1.0) {
  return sensitivity * sensitivity / (2 * sigma * sigma);
}
// sigma that spends `rho` with the given L2 sensitivity.
double GaussianSigma(double rho, double sensitivity = 1.0);
// rho of an epsilon-DP exponential mechanism.
inline double ExponentialRho(double epsilon) { return epsilon * epsilon / 8; }

// The exponential mechanism: index i with probability proportional to
// exp(epsilon * scores[i] / (2 * sensitivity)). `scores` must not be empty.
std::size_t ExponentialMechanism(std::span<const double> scores, double epsilon, double sensitivity,
                                 Rng& rng);

// Private quantiles (Smith 2011), each by its own epsilon-DP exponential mechanism over the
// intervals between the sorted values clamped to [lower, upper]: the utility of a point is minus
// the distance of its rank from q * n. `sorted` must be sorted ascending. Returns one value per q
// (in the order given), within [lower, upper].
std::vector<double> PrivateQuantiles(std::span<const double> sorted, std::span<const double> qs,
                                     double lower, double upper, double epsilon_each, Rng& rng);

// Private quantiles by recursive splitting (after Kaplan, Schnapp & Stemmer 2022): the middle
// quantile of `qs` (ascending) first, then the lower ones among the values below it and the
// upper ones among the values above it, and so on. Each row takes part in one exponential
// mechanism per level, so the cost is that of ceil(log2(qs.size() + 1)) quantiles, not
// qs.size(): spend rho = levels * epsilon_level^2 / 8. Returns ascending values in [lower, upper].
std::vector<double> RecursiveQuantiles(std::span<const double> sorted, std::span<const double> qs,
                                       double lower, double upper, double epsilon_level, Rng& rng);
// The levels RecursiveQuantiles needs for `count` quantiles.
int QuantileLevels(std::size_t count);

}  // namespace sund::synth

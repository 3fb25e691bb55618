#include "synth/dp.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace sund::synth {

double CdpDelta(double rho, double epsilon) {
  if (rho <= 0) return 0;
  if (epsilon < 0) return 1;
  // f(alpha) = (alpha-1)(alpha rho - eps) + alpha log(1 - 1/alpha) - log(alpha - 1) is convex;
  // its derivative (2 alpha - 1) rho - eps + log(1 - 1/alpha) is increasing: bisect for its root.
  double lo = 1.01, hi = (epsilon + 1) / (2 * rho) + 2;
  for (int i = 0; i < 64; ++i) {
    double a = (lo + hi) / 2;
    double d = (2 * a - 1) * rho - epsilon + std::log1p(-1 / a);
    (d < 0 ? lo : hi) = a;
  }
  double a = (lo + hi) / 2;
  double log_delta = (a - 1) * (a * rho - epsilon) + a * std::log1p(-1 / a) - std::log(a - 1);
  return std::min(1.0, std::exp(log_delta));
}

double CdpEpsilon(double rho, double delta) {
  if (rho <= 0) return 0;
  if (delta >= 1) return 0;
  double lo = 0, hi = rho + 2 * std::sqrt(rho * std::log(1 / delta)) + 1;  // the classic bound
  while (CdpDelta(rho, hi) > delta) hi *= 2;
  for (int i = 0; i < 64; ++i) {
    double e = (lo + hi) / 2;
    (CdpDelta(rho, e) <= delta ? hi : lo) = e;
  }
  return hi;
}

double CdpRho(double epsilon, double delta) {
  if (epsilon <= 0) return 0;
  double lo = 0, hi = epsilon + 1;
  for (int i = 0; i < 64; ++i) {
    double r = (lo + hi) / 2;
    (CdpEpsilon(r, delta) <= epsilon ? lo : hi) = r;
  }
  return lo;
}

double GaussianSigma(double rho, double sensitivity) { return sensitivity / std::sqrt(2 * rho); }

std::size_t ExponentialMechanism(std::span<const double> scores, double epsilon, double sensitivity,
                                 Rng& rng) {
  double best = *std::max_element(scores.begin(), scores.end());
  std::vector<double> w(scores.size());
  double total = 0;
  for (std::size_t i = 0; i < scores.size(); ++i) {
    w[i] = std::exp(epsilon * (scores[i] - best) / (2 * sensitivity));
    total += w[i];
  }
  double u = std::uniform_real_distribution<double>(0, total)(rng);
  for (std::size_t i = 0; i < w.size(); ++i) {
    if (u < w[i]) return i;
    u -= w[i];
  }
  return scores.size() - 1;
}

std::vector<double> PrivateQuantiles(std::span<const double> sorted, std::span<const double> qs,
                                     double lower, double upper, double epsilon_each, Rng& rng) {
  std::vector<double> out;
  out.reserve(qs.size());
  if (!(upper > lower)) {
    out.assign(qs.size(), lower);
    return out;
  }
  std::size_t n = sorted.size();
  // Points lower, x_1..x_n (clamped), upper; interval i lies between points i and i+1 and has
  // i data values below it.
  std::vector<double> pts(n + 2);
  pts[0] = lower;
  for (std::size_t i = 0; i < n; ++i) pts[i + 1] = std::clamp(sorted[i], lower, upper);
  pts[n + 1] = upper;
  std::vector<double> logw(n + 1);
  for (double q : qs) {
    double target = q * static_cast<double>(n);
    double best = -std::numeric_limits<double>::infinity();
    for (std::size_t i = 0; i <= n; ++i) {
      double width = pts[i + 1] - pts[i];
      logw[i] = width > 0 ? std::log(width) - epsilon_each / 2 * std::fabs(i - target)
                          : -std::numeric_limits<double>::infinity();
      best = std::max(best, logw[i]);
    }
    double total = 0;
    for (auto& l : logw) {
      l = std::exp(l - best);
      total += l;
    }
    double u = std::uniform_real_distribution<double>(0, total)(rng);
    std::size_t pick = n;
    for (std::size_t i = 0; i <= n; ++i) {
      if (u < logw[i]) {
        pick = i;
        break;
      }
      u -= logw[i];
    }
    while (pick > 0 && logw[pick] == 0) --pick;  // rounding past the end: the last real interval
    out.push_back(std::uniform_real_distribution<double>(pts[pick], pts[pick + 1])(rng));
  }
  return out;
}

int QuantileLevels(std::size_t count) {
  int levels = 0;
  while ((std::size_t{1} << levels) < count + 1) ++levels;
  return levels;
}

namespace {

void Recurse(std::span<const double> sorted, std::span<const double> qs, double q_lo, double q_hi,
             double lower, double upper, double eps, Rng& rng, double* out) {
  if (qs.empty()) return;
  std::size_t mid = qs.size() / 2;
  // The middle quantile's rank among this slice's values.
  double rel = (qs[mid] - q_lo) / (q_hi - q_lo);
  double one[] = {std::clamp(rel, 0.0, 1.0)};
  double x = PrivateQuantiles(sorted, one, lower, upper, eps, rng)[0];
  out[mid] = x;
  auto split = std::lower_bound(sorted.begin(), sorted.end(), x);
  std::size_t at = static_cast<std::size_t>(split - sorted.begin());
  Recurse(sorted.subspan(0, at), qs.subspan(0, mid), q_lo, qs[mid], lower, x, eps, rng, out);
  Recurse(sorted.subspan(at), qs.subspan(mid + 1), qs[mid], q_hi, x, upper, eps, rng,
          out + mid + 1);
}

}  // namespace

std::vector<double> RecursiveQuantiles(std::span<const double> sorted, std::span<const double> qs,
                                       double lower, double upper, double epsilon_level, Rng& rng) {
  std::vector<double> out(qs.size(), lower);
  Recurse(sorted, qs, 0.0, 1.0, lower, upper, epsilon_level, rng, out.data());
  return out;
}

}  // namespace sund::synth

// Node-level differential privacy for federated learning: each node clips its model update to
// an L2 norm C and adds Gaussian noise, and an accountant tracks the privacy spent over rounds
// and stops training when a task's budget would be exceeded. The unit of privacy is a node (a
// site's whole data set): neighbouring runs differ by one node taking part or not (add/remove
// adjacency, as in DP-FedAvg: H. B. McMahan et al., "Learning Differentially Private Recurrent
// Language Models", ICLR 2018), so the summed update has L2 sensitivity C. (Under replace-one
// adjacency the sensitivity would be 2C and every rho four times as large.)
//
// Distributed noise: with secure aggregation (secagg.h) the coordinator sees only the sum, so
// each node adds N(0, sigma^2 / m) per coordinate with sigma = z * C and m = noise_shares; when
// at least m nodes contribute, the noise in the sum has variance at least sigma^2. Pass the
// secure-aggregation threshold t as m: a round that completes has at least t contributors, so
// drop-outs never leave the sum with less noise than accounted (n > t contributors give n / t
// times the variance: the price of tolerating drop-outs). Without secure aggregation pass
// m = 1 (every update carries the full noise). The guarantee assumes the coordinator does not
// collude with nodes (colluders know, and could subtract, their own noise).
//
// Accounting in zero-concentrated DP (synth/dp.h): one round is the Gaussian mechanism with
// sensitivity C and standard deviation z * C, rho = 1 / (2 z^2); k rounds compose to k * rho,
// reported as (epsilon, delta)-DP by synth::CdpEpsilon. No amplification by sampling nodes is
// claimed (every round is charged in full, which is conservative when the coordinator samples).
// Noise is drawn in double precision from the caller's generator (see synth/dp.h for the
// caveats of floating-point noise). Thread-safety: pure functions and values; a Rng and an
// accountant are used by one thread at a time.
#pragma once

#include <cmath>
#include <cstdint>

#include "core/status.h"
#include "fl/params.h"
#include "synth/dp.h"

namespace sund::fl {

using Rng = synth::Rng;

// Clips `update` to L2 norm `clip_norm`, then adds independent N(0, (noise_multiplier *
// clip_norm)^2 / noise_shares) noise to every coordinate. Returns the clipping factor applied
// (1 when the update was within the norm). InvalidArgument, leaving `update` alone, unless
// clip_norm is finite and > 0, noise_multiplier is finite and >= 0, noise_shares >= 1 and the
// update is finite.
Result<double> ClipAndNoise(Params& update, double clip_norm, double noise_multiplier, Rng& rng,
                            std::uint32_t noise_shares = 1);

// The standard deviation each node adds per coordinate.
inline double NodeNoiseSigma(double clip_norm, double noise_multiplier,
                             std::uint32_t noise_shares) {
  return noise_multiplier * clip_norm / std::sqrt(static_cast<double>(noise_shares));
}

// The privacy spent by rounds of the Gaussian mechanism with one noise multiplier.
class DpAccountant {
 public:
  // InvalidArgument unless noise_multiplier is finite and > 0 and 0 < delta < 1.
  static Result<DpAccountant> Create(double noise_multiplier, double delta);

  double noise_multiplier() const { return z_; }
  double delta() const { return delta_; }
  // 1 / (2 z^2).
  double rho_per_round() const { return rho_round_; }
  std::uint64_t rounds() const { return rounds_; }
  // rounds() * rho_per_round().
  double rho() const { return rho_round_ * static_cast<double>(rounds_); }
  // epsilon at this accountant's delta after the rounds recorded so far (0 before any).
  double Epsilon() const { return EpsilonAfter(rounds_); }
  // epsilon after `rounds` rounds in all: synth::CdpEpsilon(rounds * rho, delta).
  double EpsilonAfter(std::uint64_t rounds) const;
  void RecordRound() { ++rounds_; }

 private:
  DpAccountant(double z, double delta);
  double z_;
  double delta_;
  double rho_round_;
  std::uint64_t rounds_ = 0;
};

// A task's privacy budget: training may run a round only while the epsilon after it stays
// within the budget.
class DpBudget {
 public:
  // InvalidArgument for a bad noise multiplier or delta (DpAccountant::Create), or an epsilon
  // that is not finite and > 0.
  static Result<DpBudget> Create(double epsilon, double noise_multiplier, double delta);

  double epsilon_budget() const { return epsilon_; }
  // The epsilon the rounds charged so far have spent.
  double epsilon_spent() const { return accountant_.Epsilon(); }
  const DpAccountant& accountant() const { return accountant_; }

  // Whether one more round keeps epsilon within the budget.
  bool CanRunRound() const;
  // How many more rounds fit in the budget.
  std::uint64_t RoundsLeft() const;
  // Charges one round. PreconditionFailed, charging nothing, when it would exceed the budget:
  // training must stop.
  Status ChargeRound();

 private:
  DpBudget(double epsilon, DpAccountant accountant);
  double epsilon_;
  DpAccountant accountant_;
};

}  // namespace sund::fl

#include "fl/privacy.h"

#include <algorithm>
#include <cmath>
#include <random>

namespace sund::fl {

Result<double> ClipAndNoise(Params& update, double clip_norm, double noise_multiplier, Rng& rng,
                            std::uint32_t noise_shares) {
  if (!std::isfinite(clip_norm) || !(clip_norm > 0)) {
    return InvalidArgument("dp: the clip norm must be finite and positive");
  }
  if (!std::isfinite(noise_multiplier) || noise_multiplier < 0) {
    return InvalidArgument("dp: the noise multiplier must be finite and not negative");
  }
  if (noise_shares == 0) return InvalidArgument("dp: noise_shares must be at least 1");
  for (double v : update) {
    if (!std::isfinite(v)) return InvalidArgument("dp: an update value that is not finite");
  }
  double factor = ClipL2(update, clip_norm);
  double sigma = NodeNoiseSigma(clip_norm, noise_multiplier, noise_shares);
  if (sigma > 0) {
    std::normal_distribution<double> normal(0.0, 1.0);
    for (double& v : update) v += sigma * normal(rng);
  }
  return factor;
}

DpAccountant::DpAccountant(double z, double delta)
    : z_(z), delta_(delta), rho_round_(synth::GaussianRho(z)) {}

Result<DpAccountant> DpAccountant::Create(double noise_multiplier, double delta) {
  if (!std::isfinite(noise_multiplier) || !(noise_multiplier > 0)) {
    return InvalidArgument("dp: the noise multiplier must be finite and positive");
  }
  if (!(delta > 0 && delta < 1)) return InvalidArgument("dp: delta must be in (0, 1)");
  return DpAccountant(noise_multiplier, delta);
}

double DpAccountant::EpsilonAfter(std::uint64_t rounds) const {
  return synth::CdpEpsilon(rho_round_ * static_cast<double>(rounds), delta_);
}

DpBudget::DpBudget(double epsilon, DpAccountant accountant)
    : epsilon_(epsilon), accountant_(accountant) {}

Result<DpBudget> DpBudget::Create(double epsilon, double noise_multiplier, double delta) {
  if (!std::isfinite(epsilon) || !(epsilon > 0)) {
    return InvalidArgument("dp: the epsilon budget must be finite and positive");
  }
  SUND_ASSIGN_OR_RETURN(DpAccountant accountant, DpAccountant::Create(noise_multiplier, delta));
  return DpBudget(epsilon, accountant);
}

bool DpBudget::CanRunRound() const {
  return accountant_.EpsilonAfter(accountant_.rounds() + 1) <= epsilon_;
}

std::uint64_t DpBudget::RoundsLeft() const {
  const std::uint64_t done = accountant_.rounds();
  // A first guess from the rho the budget allows, then exact steps against EpsilonAfter (the
  // guess and the bisections inside CdpRho and CdpEpsilon may differ in the last place).
  double rho_budget = synth::CdpRho(epsilon_, accountant_.delta());
  double guess = std::floor(rho_budget / accountant_.rho_per_round());
  std::uint64_t total = guess > 1e15 ? std::uint64_t{1} << 50 : static_cast<std::uint64_t>(guess);
  total = std::max(total, done);
  while (total > done && accountant_.EpsilonAfter(total) > epsilon_) --total;
  while (accountant_.EpsilonAfter(total + 1) <= epsilon_) ++total;
  return total - done;
}

Status DpBudget::ChargeRound() {
  if (!CanRunRound()) {
    return PreconditionFailed("dp: the privacy budget does not allow another round");
  }
  accountant_.RecordRound();
  return Status::Ok();
}

}  // namespace sund::fl

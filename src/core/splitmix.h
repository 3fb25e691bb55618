// SplitMix64 (Steele, Lea & Flood, "Fast splittable pseudorandom number generators", 2014): a
// small generator with good mixing that gives the same numbers on every platform and standard
// library (unlike <random>'s distributions), for seeded, reproducible sampling: the random
// forests of cells, synth's evaluation samples and synthetic FHIR output. Not for secrets (use
// core/crypto.h). Thread-safety: one thread per object.
#pragma once

#include <cstddef>
#include <cstdint>

namespace sund {

class SplitMix64 {
 public:
  explicit SplitMix64(std::uint64_t seed) : state_(seed) {}
  // A generator for sub-stream `stream` of `seed`, decorrelated from the seed's other streams.
  static SplitMix64 Stream(std::uint64_t seed, std::uint64_t stream) {
    return SplitMix64(seed ^ (stream * 0xD1B54A32D192ED03ull));
  }

  // A seed for sub-stream `stream` of `seed`: the second draw of Stream(seed, stream).
  static std::uint64_t StreamSeed(std::uint64_t seed, std::uint64_t stream) {
    SplitMix64 mix = Stream(seed, stream);
    mix.Next();
    return mix.Next();
  }

  std::uint64_t Next() {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n) for n > 0 (Lemire's multiply-shift; the bias is below n / 2^64).
  std::size_t Below(std::size_t n) {
    return static_cast<std::size_t>((static_cast<unsigned __int128>(Next()) * n) >> 64);
  }
  // Uniform in [0, 1), 53 bits.
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

 private:
  std::uint64_t state_;
};

}  // namespace sund

// UCUM unit conversion: turns a value with a UCUM unit expression ("mg/dL", "mm[Hg]", "Cel",
// "{beats}/min") into a value in canonical base units, so that quantities can be compared and
// searched across units (FHIR R4 search.html#quantity: "canonical" matching). Specification: The
// Unified Code for Units of Measure, https://ucum.org/ucum; the table is the UCUM essence file,
// converted by scripts/gen-ucum.py into src/fhir/data/ucum.json and compiled into the binary.
//
// Canonical form. Every unit reduces to factor x (product of base units with integer exponents).
// The base units are UCUM's seven: m (length), s (time), g (mass), rad (plane angle), K
// (temperature), C (charge), cd (luminous intensity); in addition, each arbitrary unit ([iU],
// [arb'U], [CFU] ...) is its own base, since UCUM makes it commensurable with nothing else.
// The canonical unit string lists the bases sorted by code (byte order) joined with ".", each
// followed by its exponent when that is not 1: "g.m-3", "m.s-2", "K", "[iU].m-3"; a dimensionless
// quantity is "1". Two quantities are comparable iff their canonical unit strings are equal.
// As in UCUM, mol is the dimensionless number 6.0221367e23, so "mmol/L" becomes "m-3".
// Annotations ({beats}) do not change the unit: "{beats}/min" equals "/min" equals "s-1".
// Special (non-ratio) units convert through their functions: Cel and [degF] to K (with offset),
// [pH] to mol/l, B, dB and Np to ratios, [p'diop] and %[slope] to rad, and so on; they may be used
// alone only (with a prefix, e.g. dB), not inside a larger expression.
//
// Thread-safety: Ucum::Get() builds the table once (thread-safe) and it is immutable afterwards;
// Canonicalize() is const and safe to call from any thread.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"

namespace sund::fhir {

struct CanonicalQuantity {
  double value = 0;  // in base units
  std::string unit;  // canonical unit string, see the header comment; "1" when dimensionless
};

class Ucum {
 public:
  // The table compiled into the binary. Aborts on first use if that table is corrupt (a build
  // defect, not outside input).
  static const Ucum& Get();

  // Parses a UCUM expression (case-sensitive codes: prefixes, exponents, '.', '/', parentheses,
  // annotations {..}, integer factors, 10*3 style powers) and converts `value` to base units.
  // InvalidArgument for an unknown unit, bad syntax, a special unit inside a larger expression,
  // or a value that is not finite (before or after conversion). Messages quote the unit
  // expression (not patient data) but never the value.
  Result<CanonicalQuantity> Canonicalize(double value, std::string_view unit) const;

  ~Ucum();
  Ucum(const Ucum&) = delete;
  Ucum& operator=(const Ucum&) = delete;

  struct Table;  // defined in ucum.cc

 private:
  Ucum();
  std::unique_ptr<Table> table_;
};

}  // namespace sund::fhir

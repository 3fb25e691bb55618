#include "cells/plate.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>
#include <numeric>
#include <optional>
#include <tuple>
#include <utility>

#include "core/csv.h"
#include "core/file_reader.h"

namespace sund::cells {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kLn10 = 2.302585092994045684;
constexpr double kMadToSd = 1.4826;  // 1 / Phi^-1(3/4): MAD of a normal sample -> its sd

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// A field for an error message: quoted, at most 40 characters.
std::string Quoted(std::string_view s) {
  constexpr std::size_t kMax = 40;
  std::string out = "'" + std::string(s.substr(0, kMax));
  if (s.size() > kMax) out += "...";
  return out + "'";
}

// Row (0 = A, 26 = AA, ..., 31 = AF) and column (1-48) of a well name.
struct WellIndex {
  int row = 0;
  int col = 0;
  auto operator<=>(const WellIndex&) const = default;
};

constexpr int kMaxRows = 32;
constexpr int kMaxCols = 48;

std::optional<WellIndex> ParseWellIndex(std::string_view s) {
  s = Trim(s);
  std::size_t letters = 0;
  while (letters < s.size() && std::isalpha(static_cast<unsigned char>(s[letters]))) ++letters;
  std::size_t digits = s.size() - letters;
  if (letters < 1 || letters > 2 || digits < 1 || digits > 2) return std::nullopt;
  WellIndex w;
  char first = static_cast<char>(std::toupper(static_cast<unsigned char>(s[0])));
  if (letters == 1) {
    w.row = first - 'A';
  } else {
    char second = static_cast<char>(std::toupper(static_cast<unsigned char>(s[1])));
    if (first != 'A') return std::nullopt;
    w.row = 26 + (second - 'A');
  }
  if (w.row < 0 || w.row >= kMaxRows) return std::nullopt;
  for (std::size_t i = letters; i < s.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return std::nullopt;
    w.col = w.col * 10 + (s[i] - '0');
  }
  if (w.col < 1 || w.col > kMaxCols) return std::nullopt;
  return w;
}

std::string FormatWell(WellIndex w) {
  std::string out;
  if (w.row >= 26) {
    out += 'A';
    out += static_cast<char>('A' + (w.row - 26));
  } else {
    out += static_cast<char>('A' + w.row);
  }
  out += static_cast<char>('0' + w.col / 10);
  out += static_cast<char>('0' + w.col % 10);
  return out;
}

std::optional<double> ParseNumber(std::string_view s) {
  double v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

double Mean(std::span<const double> v) {
  if (v.empty()) return kNaN;
  return std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

// Sample standard deviation (n - 1); NaN for fewer than two values.
double SampleSd(std::span<const double> v) {
  if (v.size() < 2) return kNaN;
  double m = Mean(v);
  double ss = 0;
  for (double x : v) ss += (x - m) * (x - m);
  return std::sqrt(ss / static_cast<double>(v.size() - 1));
}

double Median(std::vector<double> v) {
  if (v.empty()) return kNaN;
  std::size_t mid = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid), v.end());
  double upper = v[mid];
  if (v.size() % 2 == 1) return upper;
  double lower = *std::max_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid));
  return (lower + upper) / 2;
}

// a / b, NaN when b is 0 or either is not finite.
double Ratio(double a, double b) {
  if (b == 0 || !std::isfinite(a) || !std::isfinite(b)) return kNaN;
  return a / b;
}

// The plate map as two lookups: plate-specific entries and blank-plate ones.
class MapIndex {
 public:
  explicit MapIndex(const PlateMap& map) {
    for (const PlateMapEntry& e : map.entries) {
      if (e.plate.empty()) {
        any_plate_[e.well] = &e;
      } else {
        by_plate_[{e.plate, e.well}] = &e;
      }
    }
  }
  const PlateMapEntry* Find(const std::string& plate, const std::string& well) const {
    if (auto it = by_plate_.find({plate, well}); it != by_plate_.end()) return it->second;
    if (auto it = any_plate_.find(well); it != any_plate_.end()) return it->second;
    return nullptr;
  }

 private:
  std::map<std::pair<std::string, std::string>, const PlateMapEntry*> by_plate_;
  std::map<std::string, const PlateMapEntry*> any_plate_;
};

// Well means of one plate by role (finite means only).
struct PlateGroups {
  std::vector<double> negative, positive, sample;
};

std::map<std::string, PlateGroups> GroupByPlate(const MapIndex& index,
                                                const std::vector<WellStats>& wells) {
  std::map<std::string, PlateGroups> plates;
  for (const WellStats& w : wells) {
    PlateGroups& g = plates[w.plate];
    if (!std::isfinite(w.mean)) continue;
    const PlateMapEntry* e = index.Find(w.plate, w.well);
    if (e == nullptr) continue;
    switch (e->role) {
      case WellRole::kNegative:
        g.negative.push_back(w.mean);
        break;
      case WellRole::kPositive:
        g.positive.push_back(w.mean);
        break;
      case WellRole::kSample:
        g.sample.push_back(w.mean);
        break;
      case WellRole::kUnmapped:
        break;
    }
  }
  return plates;
}

// --- Small dense linear algebra for the 4-parameter fit --------------------------------------

constexpr int kP = 4;  // parameters: bottom, top, log10 ic50, hill
enum Param { kBottom = 0, kTop = 1, kLogIc50 = 2, kHill = 3 };
using Vec4 = std::array<double, kP>;
using Mat4 = std::array<Vec4, kP>;

// Solves A x = b for a symmetric positive definite A by Cholesky on the matrix scaled to a unit
// diagonal (the parameters differ in scale by orders of magnitude). False when A is not
// numerically positive definite.
bool SolveSpd(const Mat4& a, const Vec4& b, Vec4& x) {
  Vec4 d;
  for (int i = 0; i < kP; ++i) {
    if (!(a[i][i] > 0) || !std::isfinite(a[i][i])) return false;
    d[i] = 1 / std::sqrt(a[i][i]);
  }
  Mat4 l{};
  for (int j = 0; j < kP; ++j) {
    double diag = a[j][j] * d[j] * d[j];
    for (int k = 0; k < j; ++k) diag -= l[j][k] * l[j][k];
    if (!(diag > 1e-14)) return false;
    l[j][j] = std::sqrt(diag);
    for (int i = j + 1; i < kP; ++i) {
      double v = a[i][j] * d[i] * d[j];
      for (int k = 0; k < j; ++k) v -= l[i][k] * l[j][k];
      l[i][j] = v / l[j][j];
    }
  }
  Vec4 y;
  for (int i = 0; i < kP; ++i) {
    double v = b[i] * d[i];
    for (int k = 0; k < i; ++k) v -= l[i][k] * y[k];
    y[i] = v / l[i][i];
  }
  for (int i = kP - 1; i >= 0; --i) {
    double v = y[i];
    for (int k = i + 1; k < kP; ++k) v -= l[k][i] * x[k];
    x[i] = v / l[i][i];
  }
  for (int i = 0; i < kP; ++i) x[i] *= d[i];
  return true;
}

bool InvertSpd(const Mat4& a, Mat4& inverse) {
  for (int j = 0; j < kP; ++j) {
    Vec4 e{};
    e[j] = 1;
    Vec4 col;
    if (!SolveSpd(a, e, col)) return false;
    for (int i = 0; i < kP; ++i) inverse[i][j] = col[i];
  }
  return true;
}

// --- The 4PL model in log10 concentration -----------------------------------------------------

// s = 1 / (1 + 10^(hill (u - m))) and 1 - s, without overflow.
std::pair<double, double> Logistic(double hill, double u, double m) {
  double z = hill * (u - m) * kLn10;
  if (z > 0) {
    double e = std::exp(-z);
    return {e / (1 + e), 1 / (1 + e)};
  }
  double e = std::exp(z);
  return {1 / (1 + e), e / (1 + e)};
}

struct Observations {
  std::vector<double> u;  // log10 concentration
  std::vector<double> y;
};

double Rss(const Observations& obs, const Vec4& p) {
  double rss = 0;
  for (std::size_t i = 0; i < obs.u.size(); ++i) {
    auto [s, sc] = Logistic(p[kHill], obs.u[i], p[kLogIc50]);
    double r = obs.y[i] - (p[kBottom] + (p[kTop] - p[kBottom]) * s);
    rss += r * r;
  }
  return rss;
}

// J^T J and J^T r at p (J: d model / d parameter, r = y - model).
void Normal(const Observations& obs, const Vec4& p, Mat4& jtj, Vec4& jtr) {
  jtj = {};
  jtr = {};
  double span = p[kTop] - p[kBottom];
  for (std::size_t i = 0; i < obs.u.size(); ++i) {
    auto [s, sc] = Logistic(p[kHill], obs.u[i], p[kLogIc50]);
    double r = obs.y[i] - (p[kBottom] + span * s);
    double q = span * s * sc * kLn10;
    Vec4 j;
    j[kBottom] = sc;
    j[kTop] = s;
    j[kLogIc50] = q * p[kHill];
    j[kHill] = -q * (obs.u[i] - p[kLogIc50]);
    for (int a = 0; a < kP; ++a) {
      jtr[a] += j[a] * r;
      for (int b = 0; b < kP; ++b) jtj[a][b] += j[a] * j[b];
    }
  }
}

// Incomplete beta function I_x(a, b), by its continued fraction (Lentz's method).
double BetaContinuedFraction(double a, double b, double x) {
  constexpr double kTiny = 1e-300;
  double c = 1;
  double d = 1 - (a + b) * x / (a + 1);
  if (std::fabs(d) < kTiny) d = kTiny;
  d = 1 / d;
  double h = d;
  for (int m = 1; m <= 300; ++m) {
    double m2 = 2.0 * m;
    double num = m * (b - m) * x / ((a + m2 - 1) * (a + m2));
    d = 1 + num * d;
    if (std::fabs(d) < kTiny) d = kTiny;
    c = 1 + num / c;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1 / d;
    h *= d * c;
    num = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1));
    d = 1 + num * d;
    if (std::fabs(d) < kTiny) d = kTiny;
    c = 1 + num / c;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1 / d;
    double delta = d * c;
    h *= delta;
    if (std::fabs(delta - 1) < 1e-15) break;
  }
  return h;
}

double RegularisedIncompleteBeta(double a, double b, double x) {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  double front = std::exp(std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + a * std::log(x) +
                          b * std::log1p(-x));
  if (x < (a + 1) / (a + b + 2)) return front * BetaContinuedFraction(a, b, x) / a;
  return 1 - front * BetaContinuedFraction(b, a, 1 - x) / b;
}

// P(T > t) for t >= 0.
double StudentTUpperTail(double t, int dof) {
  double v = dof;
  return 0.5 * RegularisedIncompleteBeta(v / 2, 0.5, v / (v + t * t));
}

Estimate MakeEstimate(double value, double se, double t) {
  if (!std::isfinite(se)) return {value, kInf, -kInf, kInf};
  return {value, se, value - t * se, value + t * se};
}

}  // namespace

// --- Plate map --------------------------------------------------------------------------------

std::string_view WellRoleName(WellRole role) {
  switch (role) {
    case WellRole::kNegative:
      return "negative";
    case WellRole::kPositive:
      return "positive";
    case WellRole::kSample:
      return "sample";
    case WellRole::kUnmapped:
      return "unmapped";
  }
  return "unmapped";
}

const PlateMapEntry* PlateMap::Find(std::string_view plate, std::string_view well) const {
  const PlateMapEntry* any = nullptr;
  for (const PlateMapEntry& e : entries) {
    if (e.well != well) continue;
    if (e.plate == plate) return &e;
    if (e.plate.empty()) any = &e;
  }
  return any;
}

Result<std::string> NormaliseWell(std::string_view well) {
  std::optional<WellIndex> w = ParseWellIndex(well);
  if (!w) {
    return InvalidArgument("bad well " + Quoted(well) +
                           ": expected a row A-P (to AF) and a column 1-48, as A01 or A1");
  }
  return FormatWell(*w);
}

Result<PlateMap> ParsePlateMap(std::string_view text) {
  Result<CsvTable> parsed = ParseCsv(text);
  if (!parsed.ok()) return InvalidArgument("plate map: " + parsed.status().message());
  const CsvTable& table = *parsed;
  auto column = [&](std::string_view name) -> std::optional<std::size_t> {
    for (std::size_t i = 0; i < table.header.size(); ++i) {
      if (Lower(Trim(table.header[i])) == name) return i;
    }
    return std::nullopt;
  };
  std::array<std::size_t, 5> cols{};
  constexpr std::array<std::string_view, 5> kNames = {"well", "compound", "concentration", "unit",
                                                      "role"};
  for (std::size_t i = 0; i < kNames.size(); ++i) {
    std::optional<std::size_t> c = column(kNames[i]);
    if (!c) {
      return InvalidArgument("plate map: no '" + std::string(kNames[i]) +
                             "' column (needs well, compound, concentration, unit, role; "
                             "plate is optional)");
    }
    cols[i] = *c;
  }
  std::optional<std::size_t> plate_col = column("plate");

  PlateMap map;
  std::map<std::pair<std::string, std::string>, std::size_t> seen;  // (plate, well) -> line
  for (std::size_t r = 0; r < table.rows.size(); ++r) {
    const std::vector<std::string>& row = table.rows[r];
    std::string where = "plate map line " + std::to_string(table.lines[r]) + ": ";
    PlateMapEntry e;
    if (plate_col) e.plate = std::string(Trim(row[*plate_col]));
    Result<std::string> well = NormaliseWell(Trim(row[cols[0]]));
    if (!well.ok()) return InvalidArgument(where + well.status().message());
    e.well = *well;
    e.compound = std::string(Trim(row[cols[1]]));
    std::string_view conc = Trim(row[cols[2]]);
    if (!conc.empty()) {
      std::optional<double> v = ParseNumber(conc);
      if (!v || !std::isfinite(*v)) {
        return InvalidArgument(where + "concentration " + Quoted(conc) + " is not a number");
      }
      if (*v < 0) return InvalidArgument(where + "concentration " + Quoted(conc) + " is negative");
      e.concentration = *v;
    }
    e.unit = std::string(Trim(row[cols[3]]));
    std::string role = Lower(Trim(row[cols[4]]));
    if (role == "negative") {
      e.role = WellRole::kNegative;
    } else if (role == "positive") {
      e.role = WellRole::kPositive;
    } else if (role == "sample") {
      e.role = WellRole::kSample;
    } else {
      return InvalidArgument(where + "unknown role " + Quoted(Trim(row[cols[4]])) +
                             " (negative, positive or sample)");
    }
    auto [it, inserted] = seen.emplace(std::make_pair(e.plate, e.well), table.lines[r]);
    if (!inserted) {
      return InvalidArgument(where + "well " + e.well +
                             (e.plate.empty() ? " (every plate)" : " of plate " + Quoted(e.plate)) +
                             " is already on line " + std::to_string(it->second));
    }
    map.entries.push_back(std::move(e));
  }
  return map;
}

Result<PlateMap> ReadPlateMap(const std::string& csv_path) {
  SUND_ASSIGN_OR_RETURN(std::string text, ReadFileDecompressed(csv_path));
  Result<PlateMap> map = ParsePlateMap(text);
  if (!map.ok()) return InvalidArgument(csv_path + ": " + map.status().message());
  return map;
}

// --- Per-well aggregates ----------------------------------------------------------------------

Result<std::vector<WellStats>> AggregateWells(const std::vector<ImageValue>& values) {
  struct Group {
    std::vector<double> finite;
    int missing = 0;
  };
  std::map<std::pair<std::string, WellIndex>, Group> groups;
  for (const ImageValue& v : values) {
    std::optional<WellIndex> w = ParseWellIndex(v.well);
    if (!w) {
      return InvalidArgument("plate " + Quoted(v.plate) + ": bad well " + Quoted(v.well) +
                             " (expected A01 or A1)");
    }
    Group& g = groups[{v.plate, *w}];
    if (std::isfinite(v.value)) {
      g.finite.push_back(v.value);
    } else {
      ++g.missing;
    }
  }
  std::vector<WellStats> out;
  out.reserve(groups.size());
  for (const auto& [key, g] : groups) {
    WellStats s;
    s.plate = key.first;
    s.well = FormatWell(key.second);
    s.n = static_cast<int>(g.finite.size());
    s.n_missing = g.missing;
    s.mean = Mean(g.finite);
    s.sd = SampleSd(g.finite);
    out.push_back(std::move(s));
  }
  return out;
}

// --- Normalisation and plate quality ---------------------------------------------------------

std::vector<double> RobustZ(std::span<const double> values, std::span<const double> reference) {
  std::vector<double> ref(reference.begin(), reference.end());
  double median = Median(ref);
  for (double& x : ref) x = std::fabs(x - median);
  double scale = kMadToSd * Median(ref);
  std::vector<double> z;
  z.reserve(values.size());
  for (double v : values) z.push_back(Ratio(v - median, scale));
  return z;
}

std::vector<NormalisedWell> NormaliseWells(const PlateMap& map,
                                           const std::vector<WellStats>& wells) {
  MapIndex index(map);
  std::map<std::string, PlateGroups> plates = GroupByPlate(index, wells);
  struct PlateRef {
    double neg, pos, median, robust_scale;
  };
  std::map<std::string, PlateRef> refs;
  for (const auto& [plate, g] : plates) {
    std::vector<double> dev = g.sample;
    double median = Median(dev);
    for (double& x : dev) x = std::fabs(x - median);
    refs[plate] = {Mean(g.negative), Mean(g.positive), median, kMadToSd * Median(dev)};
  }
  std::vector<NormalisedWell> out;
  out.reserve(wells.size());
  for (const WellStats& w : wells) {
    const PlateRef& ref = refs[w.plate];
    NormalisedWell n;
    n.plate = w.plate;
    n.well = w.well;
    if (const PlateMapEntry* e = index.Find(w.plate, w.well)) {
      n.role = e->role;
      n.compound = e->compound;
      n.concentration = e->concentration;
      n.unit = e->unit;
    }
    n.n = w.n;
    n.mean = w.mean;
    n.percent_of_negative = 100 * Ratio(w.mean, ref.neg);
    n.percent_inhibition = 100 * Ratio(ref.neg - w.mean, ref.neg - ref.pos);
    n.robust_z = Ratio(w.mean - ref.median, ref.robust_scale);
    out.push_back(std::move(n));
  }
  return out;
}

ControlQuality ComputeControlQuality(std::span<const double> negative,
                                     std::span<const double> positive) {
  ControlQuality q;
  q.n_negative = static_cast<int>(negative.size());
  q.n_positive = static_cast<int>(positive.size());
  q.mean_negative = Mean(negative);
  q.sd_negative = SampleSd(negative);
  q.mean_positive = Mean(positive);
  q.sd_positive = SampleSd(positive);
  q.cv_negative = 100 * Ratio(q.sd_negative, std::fabs(q.mean_negative));
  q.cv_positive = 100 * Ratio(q.sd_positive, std::fabs(q.mean_positive));
  q.z_prime =
      1 - 3 * Ratio(q.sd_positive + q.sd_negative, std::fabs(q.mean_positive - q.mean_negative));
  q.ssmd = Ratio(q.mean_positive - q.mean_negative,
                 std::sqrt(q.sd_positive * q.sd_positive + q.sd_negative * q.sd_negative));
  return q;
}

std::vector<PlateQuality> ComputePlateQuality(const PlateMap& map,
                                              const std::vector<WellStats>& wells) {
  MapIndex index(map);
  std::vector<PlateQuality> out;
  for (const auto& [plate, g] : GroupByPlate(index, wells)) {
    out.push_back({plate, ComputeControlQuality(g.negative, g.positive)});
  }
  return out;
}

// --- Dose-response ----------------------------------------------------------------------------

double StudentTQuantile(double p, int dof) {
  if (!(p > 0 && p < 1) || dof < 1) return kNaN;
  if (p == 0.5) return 0;
  if (p < 0.5) return -StudentTQuantile(1 - p, dof);
  double tail = 1 - p;
  double lo = 0;
  double hi = 1;
  while (StudentTUpperTail(hi, dof) > tail && hi < 1e300) hi *= 2;
  for (int i = 0; i < 200 && hi - lo > 1e-13 * hi; ++i) {
    double mid = (lo + hi) / 2;
    (StudentTUpperTail(mid, dof) > tail ? lo : hi) = mid;
  }
  return (lo + hi) / 2;
}

Result<DoseResponseFit> FitDoseResponse(std::span<const DosePoint> points) {
  Observations obs;
  for (std::size_t i = 0; i < points.size(); ++i) {
    const DosePoint& pt = points[i];
    if (!std::isfinite(pt.concentration) || pt.concentration <= 0) {
      return InvalidArgument("dose-response point " + std::to_string(i + 1) +
                             ": the concentration must be a finite number > 0");
    }
    if (!std::isfinite(pt.response)) {
      return InvalidArgument("dose-response point " + std::to_string(i + 1) +
                             ": the response is not a finite number");
    }
    obs.u.push_back(std::log10(pt.concentration));
    obs.y.push_back(pt.response);
  }
  const int n = static_cast<int>(points.size());
  // Mean response per distinct concentration, by increasing concentration.
  std::map<double, std::pair<double, int>> by_conc;
  for (int i = 0; i < n; ++i) {
    auto& [sum, count] = by_conc[obs.u[i]];
    sum += obs.y[i];
    ++count;
  }
  if (n <= kP || by_conc.size() < 5) {
    return InvalidArgument(
        "a 4-parameter dose-response fit needs at least 5 distinct "
        "concentrations and 5 points; got " +
        std::to_string(by_conc.size()) + " concentrations and " + std::to_string(n) + " points");
  }
  const double y_mean = Mean(obs.y);
  double tss = 0;
  for (double y : obs.y) tss += (y - y_mean) * (y - y_mean);
  if (!(tss > 0)) return InvalidArgument("dose-response: all responses are equal");

  // Starting values.
  std::vector<std::pair<double, double>> means;  // (log10 conc, mean response)
  for (const auto& [u, sc] : by_conc) means.emplace_back(u, sc.first / sc.second);
  auto [min_it, max_it] = std::minmax_element(
      means.begin(), means.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
  Vec4 p;
  p[kBottom] = min_it->second;
  p[kTop] = max_it->second;
  if (p[kTop] == p[kBottom]) {
    p[kBottom] = *std::min_element(obs.y.begin(), obs.y.end());
    p[kTop] = *std::max_element(obs.y.begin(), obs.y.end());
  }
  double mid = (p[kTop] + p[kBottom]) / 2;
  p[kLogIc50] = std::min_element(means.begin(), means.end(), [&](const auto& a, const auto& b) {
                  return std::fabs(a.second - mid) < std::fabs(b.second - mid);
                })->first;
  double u_bar = 0, m_bar = 0;
  for (const auto& [u, m] : means) u_bar += u, m_bar += m;
  u_bar /= static_cast<double>(means.size());
  m_bar /= static_cast<double>(means.size());
  double trend = 0;
  for (const auto& [u, m] : means) trend += (u - u_bar) * (m - m_bar);
  p[kHill] = trend <= 0 ? 1 : -1;  // top > bottom: hill > 0 falls with concentration

  // Safeguards: the IC50 within 1000-fold of the tested range, |hill| <= 20; steps leaving
  // that box or giving a non-finite RSS are rejected like steps that do not reduce the RSS.
  const double u_lo = means.front().first - 3;
  const double u_hi = means.back().first + 3;
  constexpr double kMaxHill = 20;
  auto admissible = [&](const Vec4& q) {
    for (double v : q) {
      if (!std::isfinite(v)) return false;
    }
    return q[kLogIc50] >= u_lo && q[kLogIc50] <= u_hi && std::fabs(q[kHill]) <= kMaxHill;
  };

  // Levenberg-Marquardt with Marquardt's diagonal scaling.
  constexpr int kMaxIterations = 500;
  double lambda = 1e-3;
  double rss = Rss(obs, p);
  bool converged = false;
  int iter = 0;
  for (; iter < kMaxIterations && !converged; ++iter) {
    Mat4 jtj;
    Vec4 jtr;
    Normal(obs, p, jtj, jtr);
    double max_diag = 0;
    for (int a = 0; a < kP; ++a) max_diag = std::max(max_diag, jtj[a][a]);
    // Gradient test: every column of J nearly orthogonal to the residuals.
    double cosine = 0;
    for (int a = 0; a < kP; ++a) {
      if (jtj[a][a] > 0 && rss > 0) {
        cosine = std::max(cosine, std::fabs(jtr[a]) / std::sqrt(jtj[a][a] * rss));
      }
    }
    if (rss == 0 || cosine < 1e-12) {
      converged = true;
      break;
    }
    bool accepted = false;
    while (!accepted && lambda < 1e16) {
      Mat4 m = jtj;
      for (int a = 0; a < kP; ++a) {
        m[a][a] += lambda * std::max(jtj[a][a], 1e-12 * max_diag);
      }
      Vec4 step;
      if (SolveSpd(m, jtr, step)) {
        Vec4 q;
        for (int a = 0; a < kP; ++a) q[a] = p[a] + step[a];
        double rss_new = admissible(q) ? Rss(obs, q) : kInf;
        if (std::isfinite(rss_new) && rss_new < rss) {
          double step_norm = 0, p_norm = 0;
          for (int a = 0; a < kP; ++a) {
            step_norm += step[a] * step[a];
            p_norm += p[a] * p[a];
          }
          bool small_step = std::sqrt(step_norm) <= 1e-10 * (std::sqrt(p_norm) + 1e-10);
          bool small_gain = rss - rss_new <= 1e-12 * rss;
          p = q;
          rss = rss_new;
          lambda = std::max(lambda / 10, 1e-12);
          accepted = true;
          converged = small_step || small_gain;
          break;
        }
      }
      lambda *= 10;
    }
    // No step reduces the RSS even when tiny: a minimum to working precision.
    if (!accepted) {
      converged = true;
      break;
    }
  }

  // A fit that ends against a safeguard has its optimum outside them (a step, or no
  // transition in the tested range): not a converged 4PL fit.
  if (std::fabs(p[kHill]) > 0.99 * kMaxHill || p[kLogIc50] < u_lo + 0.01 ||
      p[kLogIc50] > u_hi - 0.01) {
    converged = false;
  }

  // Report with top >= bottom (the same curve with the sign of the hill slope flipped).
  if (p[kTop] < p[kBottom]) {
    std::swap(p[kTop], p[kBottom]);
    p[kHill] = -p[kHill];
  }
  DoseResponseFit fit;
  fit.n = n;
  fit.dof = n - kP;
  fit.iterations = iter;
  fit.converged = converged;
  fit.rss = rss;
  fit.r_squared = 1 - rss / tss;
  Mat4 jtj;
  Vec4 jtr;
  Normal(obs, p, jtj, jtr);
  Mat4 inverse;
  Vec4 se;
  if (InvertSpd(jtj, inverse)) {
    double s2 = rss / fit.dof;
    for (int a = 0; a < kP; ++a) se[a] = std::sqrt(std::max(0.0, s2 * inverse[a][a]));
  } else {
    se.fill(kInf);
  }
  double t = StudentTQuantile(0.975, fit.dof);
  fit.bottom = MakeEstimate(p[kBottom], se[kBottom], t);
  fit.top = MakeEstimate(p[kTop], se[kTop], t);
  fit.hill = MakeEstimate(p[kHill], se[kHill], t);
  fit.log10_ic50 = MakeEstimate(p[kLogIc50], se[kLogIc50], t);
  double ic50 = std::pow(10.0, p[kLogIc50]);
  fit.ic50 = {ic50, std::isfinite(se[kLogIc50]) ? ic50 * kLn10 * se[kLogIc50] : kInf,
              std::pow(10.0, fit.log10_ic50.ci_low), std::pow(10.0, fit.log10_ic50.ci_high)};
  return fit;
}

Result<std::map<std::string, std::vector<DosePoint>>> CollectDosePoints(
    const std::vector<NormalisedWell>& wells, Readout readout) {
  std::map<std::string, std::vector<DosePoint>> out;
  std::map<std::string, std::string> units;
  for (const NormalisedWell& w : wells) {
    if (w.role != WellRole::kSample || w.compound.empty() || !(w.concentration > 0)) continue;
    double v = 0;
    switch (readout) {
      case Readout::kMean:
        v = w.mean;
        break;
      case Readout::kPercentOfNegative:
        v = w.percent_of_negative;
        break;
      case Readout::kPercentInhibition:
        v = w.percent_inhibition;
        break;
      case Readout::kRobustZ:
        v = w.robust_z;
        break;
    }
    if (!std::isfinite(v)) continue;
    auto [it, inserted] = units.emplace(w.compound, w.unit);
    if (!inserted && it->second != w.unit) {
      return InvalidArgument("compound " + Quoted(w.compound) + " has concentrations in " +
                             Quoted(it->second) + " and in " + Quoted(w.unit) + " (plate " +
                             Quoted(w.plate) + ", well " + w.well + ")");
    }
    out[w.compound].push_back({w.concentration, v});
  }
  return out;
}

}  // namespace sund::cells

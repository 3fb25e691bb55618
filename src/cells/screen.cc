#include "cells/screen.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <utility>

#include "cells/pipeline.h"
#include "core/csv.h"
#include "core/file_reader.h"
#include "core/html.h"

namespace sund::cells {

namespace fs = std::filesystem;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// --- Files ------------------------------------------------------------------------------------

Result<CsvTable> ReadCsvFile(const fs::path& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    return NotFound("no " + path.filename().string() + " in " + path.parent_path().string());
  }
  SUND_ASSIGN_OR_RETURN(std::string text, ReadFileDecompressed(path.string()));
  Result<CsvTable> table = ParseCsv(text);
  if (!table.ok()) return InvalidArgument(path.string() + ": " + table.status().message());
  return table;
}

Status WriteText(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc | std::ios::binary);
  out << text;
  out.close();
  if (!out) return Internal("cannot write " + path.string());
  return Status::Ok();
}

// A number from a CSV field: nullopt when it is not one; NaN for a blank field.
std::optional<double> ParseField(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  if (s.empty()) return kNaN;
  if (s.front() == '+') s.remove_prefix(1);
  double v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

std::string Column(const CsvTable& t, std::size_t row, std::optional<std::size_t> col) {
  return col ? t.rows[row][*col] : std::string();
}

// --- Text -------------------------------------------------------------------------------------

// A number for people: `digits` significant digits, "n/a" when undefined.
std::string Num(double v, int digits = 4) {
  if (std::isnan(v)) return "n/a";
  if (std::isinf(v)) return v > 0 ? "\xE2\x88\x9E" : "-\xE2\x88\x9E";  // infinity sign
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*g", digits, v);
  return buf;
}

std::string Px(double v) { return SvgNumber(v); }

std::string Bool(bool b) { return b ? "true" : "false"; }

std::string ReadoutLabel(Readout r) {
  switch (r) {
    case Readout::kMean:
      return "well mean";
    case Readout::kPercentOfNegative:
      return "% of negative control";
    case Readout::kPercentInhibition:
      return "% inhibition";
    case Readout::kRobustZ:
      return "robust z-score";
  }
  return "";
}

// Percent-encodes a file name for a relative URL.
std::string UrlPath(std::string_view s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

// --- Readout ------------------------------------------------------------------------------------

std::vector<std::string> CountColumns(const CsvTable& t) {
  std::vector<std::string> out;
  for (const auto& h : t.header) {
    if (h.starts_with("Count_")) out.push_back(h);
  }
  return out;
}

std::string JoinNames(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s.empty() ? "none" : s;
}

Result<std::string> ChooseReadout(const fs::path& dir, const CsvTable& image,
                                  const ScreenOptions& o) {
  std::vector<std::string> counts = CountColumns(image);
  if (!o.readout.empty()) {
    if (image.Column(o.readout)) return o.readout;
    if (o.readout.starts_with("Image_") && image.Column(o.readout.substr(6))) {
      return o.readout.substr(6);
    }
    return InvalidArgument("Image.csv has no column " + o.readout +
                           " (the readout); its counts: " + JoinNames(counts));
  }
  std::error_code ec;
  if (fs::is_regular_file(dir / "pipeline.json", ec)) {
    auto text = ReadFileDecompressed((dir / "pipeline.json").string());
    if (text.ok()) {
      auto pipeline = ParsePipeline(*text);
      if (pipeline.ok() && !pipeline->Objects().empty()) {
        std::string name = "Count_" + pipeline->Objects().front();
        if (image.Column(name)) return name;
        return InvalidArgument("Image.csv has no column " + name +
                               " (the count of the pipeline's first objects)");
      }
    }
  }
  if (counts.size() == 1) return counts.front();
  return InvalidArgument(
      "cannot tell which Image.csv column is the readout (no readable pipeline.json; its "
      "counts: " +
      JoinNames(counts) + "): name one");
}

// --- Well positions -----------------------------------------------------------------------------

// "B03" -> {1, 2}; "AA01" -> {26, 0}. Wells here are normalised (plate.h NormaliseWell).
std::pair<int, int> WellPosition(std::string_view well) {
  int row = 0;
  std::size_t i = 0;
  if (well.size() >= 2 && std::isalpha(static_cast<unsigned char>(well[1]))) {
    row = 26 + (well[1] - 'A');
    i = 2;
  } else if (!well.empty()) {
    row = well[0] - 'A';
    i = 1;
  }
  int col = 0;
  for (; i < well.size(); ++i) col = col * 10 + (well[i] - '0');
  return {row, col - 1};
}

std::string RowName(int row) {
  if (row < 26) return std::string(1, static_cast<char>('A' + row));
  return std::string("A") + static_cast<char>('A' + row - 26);
}

// --- CSV outputs --------------------------------------------------------------------------------

std::string WellsCsv(const ScreenResult& r) {
  std::string out = CsvRecord({"plate", "well", "role", "compound", "concentration", "unit", "n",
                               "mean", "percent_of_negative", "percent_inhibition", "robust_z"}) +
                    "\n";
  for (const NormalisedWell& w : r.wells) {
    out += CsvRecord({w.plate, w.well, std::string(WellRoleName(w.role)), w.compound,
                      FormatValue(w.concentration), w.unit, std::to_string(w.n),
                      FormatValue(w.mean), FormatValue(w.percent_of_negative),
                      FormatValue(w.percent_inhibition), FormatValue(w.robust_z)}) +
           "\n";
  }
  return out;
}

std::string PlatesCsv(const ScreenResult& r) {
  std::string out =
      CsvRecord({"plate", "n_negative", "mean_negative", "sd_negative", "cv_negative", "n_positive",
                 "mean_positive", "sd_positive", "cv_positive", "z_prime", "ssmd", "quality"}) +
      "\n";
  for (const PlateQuality& p : r.plates) {
    const ControlQuality& q = p.controls;
    out +=
        CsvRecord({p.plate, std::to_string(q.n_negative), FormatValue(q.mean_negative),
                   FormatValue(q.sd_negative), FormatValue(q.cv_negative),
                   std::to_string(q.n_positive), FormatValue(q.mean_positive),
                   FormatValue(q.sd_positive), FormatValue(q.cv_positive), FormatValue(q.z_prime),
                   FormatValue(q.ssmd), std::string(PlateVerdict(q.z_prime))}) +
        "\n";
  }
  return out;
}

std::string DoseResponseCsv(const ScreenResult& r) {
  std::string out = CsvRecord({"compound", "unit", "readout", "n", "top", "bottom", "ic50",
                               "ic50_ci_low", "ic50_ci_high", "hill", "hill_ci_low", "hill_ci_high",
                               "r_squared", "converged", "error"}) +
                    "\n";
  for (const CompoundResponse& c : r.compounds) {
    std::vector<std::string> row = {c.compound, c.unit, std::string(ReadoutName(r.dose_readout)),
                                    std::to_string(c.points.size())};
    if (c.fitted) {
      const DoseResponseFit& f = c.fit;
      for (double v : {f.top.value, f.bottom.value, f.ic50.value, f.ic50.ci_low, f.ic50.ci_high,
                       f.hill.value, f.hill.ci_low, f.hill.ci_high, f.r_squared}) {
        row.push_back(FormatValue(v));
      }
      row.push_back(Bool(f.converged));
      row.push_back("");
    } else {
      row.resize(row.size() + 10);
      row.push_back(c.error);
    }
    out += CsvRecord(row) + "\n";
  }
  return out;
}

}  // namespace

// --- Names --------------------------------------------------------------------------------------

std::string_view ReadoutName(Readout readout) {
  switch (readout) {
    case Readout::kMean:
      return "mean";
    case Readout::kPercentOfNegative:
      return "percent_of_negative";
    case Readout::kPercentInhibition:
      return "percent_inhibition";
    case Readout::kRobustZ:
      return "robust_z";
  }
  return "";
}

Result<Readout> ParseReadout(std::string_view name) {
  for (Readout r : {Readout::kMean, Readout::kPercentOfNegative, Readout::kPercentInhibition,
                    Readout::kRobustZ}) {
    if (name == ReadoutName(r)) return r;
  }
  return InvalidArgument(
      "unknown dose-response readout (expected mean, percent_of_negative, percent_inhibition or "
      "robust_z)");
}

std::string_view PlateVerdict(double z_prime) {
  if (std::isnan(z_prime)) return "n/a";
  if (z_prime >= 0.5) return "good";
  if (z_prime >= 0) return "marginal";
  return "fail";
}

// --- AnalyzeScreen ------------------------------------------------------------------------------

Result<ScreenResult> AnalyzeScreen(const std::string& results_dir, const PlateMap& map,
                                   const ScreenOptions& o) {
  const fs::path dir(results_dir);
  SUND_ASSIGN_OR_RETURN(CsvTable image, ReadCsvFile(dir / "Image.csv"));
  if (image.rows.empty()) return InvalidArgument("Image.csv has no image sets");
  ScreenResult result;
  result.dose_readout = o.dose_readout;
  SUND_ASSIGN_OR_RETURN(result.readout, ChooseReadout(dir, image, o));
  const std::string kNeed =
      ": a plate map needs Metadata_Plate and Metadata_Well for every image set; give them in "
      "the manifest (LoadData columns Metadata_Plate, Metadata_Well) or as Plate and Well groups "
      "of the file-name pattern";
  auto plate_col = image.Column("Metadata_Plate");
  auto well_col = image.Column("Metadata_Well");
  if (!plate_col || !well_col) {
    return InvalidArgument(std::string("Image.csv has no ") +
                           (!plate_col ? "Metadata_Plate" : "Metadata_Well") + " column" + kNeed);
  }
  auto number_col = image.Column("ImageNumber");
  const std::size_t value_col = *image.Column(result.readout);

  std::vector<ImageValue> values;
  values.reserve(image.rows.size());
  for (std::size_t i = 0; i < image.rows.size(); ++i) {
    const auto& row = image.rows[i];
    std::string number = number_col ? row[*number_col] : "line " + std::to_string(image.lines[i]);
    if (row[*plate_col].empty() || row[*well_col].empty()) {
      return InvalidArgument("image set " + number + " has a blank " +
                             (row[*plate_col].empty() ? "Metadata_Plate" : "Metadata_Well") +
                             kNeed);
    }
    std::optional<double> v = ParseField(row[value_col]);
    if (!v) {
      return InvalidArgument("Image.csv image set " + number + ": " + result.readout +
                             " is not a number");
    }
    values.push_back({row[*plate_col], row[*well_col], *v});
  }
  result.images = static_cast<int>(values.size());
  auto wells = AggregateWells(values);
  if (!wells.ok()) return InvalidArgument("Image.csv: " + wells.status().message());

  // Unmapped wells take no part in the statistics: NormaliseWells and ComputePlateQuality count
  // only wells the map names, CollectDosePoints only sample wells.
  std::set<std::pair<std::string, std::string>> present;
  for (const WellStats& w : *wells) {
    present.emplace(w.plate, w.well);
    if (map.Find(w.plate, w.well) == nullptr) {
      result.unmapped_wells.push_back(w.plate + "/" + w.well);
      result.unmapped_images += w.n + w.n_missing;
    }
  }
  std::set<std::string> plates;
  for (const auto& [plate, well] : present) plates.insert(plate);
  for (const std::string& plate : plates) {
    for (const PlateMapEntry& e : map.entries) {
      if (!e.plate.empty() && e.plate != plate) continue;
      if (map.Find(plate, e.well) != &e || present.contains({plate, e.well})) continue;
      PlateMapEntry missing = e;
      missing.plate = plate;
      result.wells_without_images.push_back(std::move(missing));
    }
  }
  result.wells = NormaliseWells(map, *wells);
  result.plates = ComputePlateQuality(map, *wells);

  SUND_ASSIGN_OR_RETURN(auto points, CollectDosePoints(result.wells, o.dose_readout));
  std::map<std::string, std::string> units;
  for (const NormalisedWell& w : result.wells) {
    if (w.role == WellRole::kSample && w.concentration > 0) units.emplace(w.compound, w.unit);
  }
  for (auto& [compound, p] : points) {
    CompoundResponse c;
    c.compound = compound;
    c.unit = units[compound];
    c.points = std::move(p);
    std::sort(c.points.begin(), c.points.end(), [](const DosePoint& a, const DosePoint& b) {
      return a.concentration < b.concentration;
    });
    Result<DoseResponseFit> fit = FitDoseResponse(c.points);
    if (fit.ok()) {
      c.fitted = true;
      c.fit = *fit;
    } else {
      c.error = fit.status().message();
    }
    result.compounds.push_back(std::move(c));
  }

  SUND_RETURN_IF_ERROR(WriteText(dir / "Wells.csv", WellsCsv(result)));
  SUND_RETURN_IF_ERROR(WriteText(dir / "Plates.csv", PlatesCsv(result)));
  SUND_RETURN_IF_ERROR(WriteText(dir / "DoseResponse.csv", DoseResponseCsv(result)));
  return result;
}

// --- Report -------------------------------------------------------------------------------------

namespace {

// Viridis (matplotlib's), a perceptually uniform scale legible with every common colour-vision
// deficiency, at t = 0, 0.1, ..., 1.
constexpr std::array<std::array<int, 3>, 11> kViridis = {{{68, 1, 84},
                                                          {72, 36, 117},
                                                          {65, 68, 135},
                                                          {53, 95, 141},
                                                          {42, 120, 142},
                                                          {33, 145, 140},
                                                          {34, 168, 132},
                                                          {68, 191, 112},
                                                          {122, 209, 81},
                                                          {189, 223, 38},
                                                          {253, 231, 37}}};

std::string Viridis(double t) {
  t = std::clamp(std::isfinite(t) ? t : 0.0, 0.0, 1.0);
  double x = t * 10;
  int i = std::min(9, static_cast<int>(x));
  double f = x - i;
  char buf[8];
  int rgb[3];
  for (int k = 0; k < 3; ++k) {
    rgb[k] =
        static_cast<int>(std::lround(kViridis[i][k] + f * (kViridis[i + 1][k] - kViridis[i][k])));
  }
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x", rgb[0], rgb[1], rgb[2]);
  return buf;
}

// Okabe-Ito colours (colour-blind safe) for the curves.
constexpr const char* kBlue = "#0072B2";
constexpr const char* kVermillion = "#D55E00";

constexpr const char* kCss = R"(
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:1.5rem auto;max-width:76rem;padding:0 1rem;color:#1a1a1a;line-height:1.45}
h1{font-size:1.6rem}h2{font-size:1.3rem;margin-top:2rem;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.5rem 0 1rem}caption{text-align:left;font-weight:600;padding:.3rem 0}
th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f2f2f2}.n{text-align:right}
.good{background:#d9f0d3}.marginal{background:#fff2bf}.fail{background:#f7c9c4}.na{background:#eee}
.warn{border-left:4px solid #E69F00;background:#fff8e6;padding:.4rem .8rem}
figure{display:inline-block;margin:0 1rem 1rem 0;vertical-align:top}figcaption{font-size:.9rem;max-width:27rem}
.thumbs img{width:200px;height:auto;border:1px solid #999}
svg text{font-family:inherit}
)";

using Html = HtmlWriter;

void TableHead(Html& h, std::string_view caption, const std::vector<std::string>& columns) {
  h.TableHead(caption, columns);
}

// Right-aligned in tables: numbers, and numbers with a unit.
bool LooksNumeric(std::string_view s) {
  return !s.empty() && (std::isdigit(static_cast<unsigned char>(s[0])) || s[0] == '-' ||
                        s[0] == '.' || s == "n/a");
}

// One row; cells are escaped; the first is a row header.
void TableRow(Html& h, const std::vector<std::string>& cells, std::string_view row_class = "") {
  h.Raw(row_class.empty() ? "<tr>" : "<tr class=\"" + std::string(row_class) + "\">");
  for (std::size_t i = 0; i < cells.size(); ++i) {
    if (i == 0) {
      h.Element("th", cells[i], "scope=\"row\"");
    } else {
      h.Element("td", cells[i], LooksNumeric(cells[i]) ? "class=\"n\"" : "");
    }
  }
  h.Raw("</tr>\n");
}

struct RunFacts {
  int succeeded = 0;
  int failed = 0;
  std::vector<std::pair<std::string, std::string>> failures;  // image set, reason
  std::vector<std::string> counts;                            // Count_ columns
  double execution_seconds = 0;                               // ExecutionTime_ summed
  std::map<std::string, std::string> names;                   // ImageNumber -> image set name
};

std::string ImageSetName(const CsvTable& t, std::size_t row) {
  std::string name;
  for (const char* key : {"Metadata_Plate", "Metadata_Well", "Metadata_Site"}) {
    std::string v = Column(t, row, t.Column(key));
    if (!v.empty()) name += (name.empty() ? "" : "/") + v;
  }
  if (!name.empty()) return name;
  for (std::size_t c = 0; c < t.header.size(); ++c) {
    if (t.header[c].starts_with("FileName_")) return t.rows[row][c];
  }
  return "";
}

void Summary(Html& h, const CsvTable& image, const RunFacts& facts, const ReportInput& in) {
  h.Raw("<section aria-labelledby=\"run\"><h2 id=\"run\">Run summary</h2>\n");
  int total = in.analysis ? in.analysis->image_sets : facts.succeeded + facts.failed;
  int failed = in.analysis ? in.analysis->failed : facts.failed;
  TableHead(h, "", {"run", "value"});
  TableRow(h, {"image sets", std::to_string(total)});
  TableRow(h, {"analysed", std::to_string(facts.succeeded)});
  TableRow(h, {"failed", std::to_string(failed)}, failed > 0 ? "fail" : "");
  if (in.analysis) {
    TableRow(h, {"wall time", Num(in.analysis->seconds, 3) + " s"});
  }
  TableRow(h, {"processing time (summed over image sets)", Num(facts.execution_seconds, 3) + " s"});
  h.Raw("</tbody></table>\n");

  if (!facts.counts.empty()) {
    TableHead(h, "Objects per object set",
              {"objects", "total", "mean per image set", "min", "max"});
    for (const std::string& col : facts.counts) {
      std::size_t c = *image.Column(col);
      double sum = 0, lo = INFINITY, hi = -INFINITY;
      int n = 0;
      for (const auto& row : image.rows) {
        std::optional<double> v = ParseField(row[c]);
        if (!v || !std::isfinite(*v)) continue;
        sum += *v;
        lo = std::min(lo, *v);
        hi = std::max(hi, *v);
        ++n;
      }
      TableRow(h, {col.substr(6), Num(sum, 12), Num(n > 0 ? sum / n : kNaN), Num(n > 0 ? lo : kNaN),
                   Num(n > 0 ? hi : kNaN)});
    }
    h.Raw("</tbody></table>\n");
  }
  if (!facts.failures.empty()) {
    constexpr std::size_t kMaxFailures = 100;
    TableHead(h, "Failed image sets", {"image set", "reason"});
    for (std::size_t i = 0; i < facts.failures.size() && i < kMaxFailures; ++i) {
      TableRow(h, {facts.failures[i].first, facts.failures[i].second});
    }
    h.Raw("</tbody></table>\n");
    if (facts.failures.size() > kMaxFailures) {
      h.Element("p", "The first " + std::to_string(kMaxFailures) + " of " +
                         std::to_string(facts.failures.size()) +
                         " failures; all are in failures.csv.");
    }
  }
  h.Raw("</section>\n");
}

void CountsPerImageSet(Html& h, const CsvTable& image, const RunFacts& facts, bool open) {
  constexpr std::size_t kMaxRows = 500;
  h.Raw("<section aria-labelledby=\"counts\"><h2 id=\"counts\">Counts per image set</h2>\n");
  h.Raw(open ? "<details open>" : "<details>");
  h.Element("summary", std::to_string(image.rows.size()) + " image sets" +
                           (image.rows.size() > kMaxRows
                                ? " (the first " + std::to_string(kMaxRows) + "; all in Image.csv)"
                                : ""));
  std::vector<std::size_t> cols;
  std::vector<std::string> header;
  for (std::size_t c = 0; c < image.header.size(); ++c) {
    const std::string& name = image.header[c];
    if (name == "ImageNumber" || name.starts_with("Metadata_")) {
      cols.push_back(c);
      header.push_back(name == "ImageNumber" ? "image set" : name.substr(9));
    }
  }
  for (const std::string& count : facts.counts) {
    cols.push_back(*image.Column(count));
    header.push_back(count.substr(6));
  }
  TableHead(h, "", header);
  for (std::size_t r = 0; r < image.rows.size() && r < kMaxRows; ++r) {
    std::vector<std::string> cells;
    for (std::size_t c : cols) cells.push_back(image.rows[r][c]);
    TableRow(h, cells);
  }
  h.Raw("</tbody></table></details></section>\n");
}

// A plate's wells as a grid of circles coloured by the well mean of the readout.
void Heatmap(Html& h, const ScreenResult& s, const std::string& plate, int index) {
  std::vector<const NormalisedWell*> wells;
  std::vector<const PlateMapEntry*> missing;
  int rows = 0, cols = 0;
  double lo = INFINITY, hi = -INFINITY;
  for (const NormalisedWell& w : s.wells) {
    if (w.plate != plate) continue;
    wells.push_back(&w);
    auto [r, c] = WellPosition(w.well);
    rows = std::max(rows, r + 1);
    cols = std::max(cols, c + 1);
    if (std::isfinite(w.mean)) {
      lo = std::min(lo, w.mean);
      hi = std::max(hi, w.mean);
    }
  }
  for (const PlateMapEntry& e : s.wells_without_images) {
    if (e.plate != plate) continue;
    missing.push_back(&e);
    auto [r, c] = WellPosition(e.well);
    rows = std::max(rows, r + 1);
    cols = std::max(cols, c + 1);
  }
  // The smallest standard plate holding every well.
  for (auto [r, c] : {std::pair{8, 12}, std::pair{16, 24}, std::pair{32, 48}}) {
    if (rows <= r && cols <= c) {
      rows = r;
      cols = c;
      break;
    }
  }
  const double cell = cols <= 12 ? 30 : cols <= 24 ? 20 : 12;
  const double left = 28, top = 22, legend = 46;
  const double width = left + cols * cell + 10, height = top + rows * cell + legend;
  const std::string label = "Plate " + plate + ": " + s.readout + " per well (mean of its images)";
  const std::string id = "hm" + std::to_string(index);
  h.Raw("<figure><svg role=\"img\" aria-labelledby=\"" + id + "-t\" width=\"" + Px(width) +
        "\" height=\"" + Px(height) + "\" viewBox=\"0 0 " + Px(width) + " " + Px(height) + "\">");
  h.Element("title", label, "id=\"" + id + "-t\"");
  h.Raw("<defs><linearGradient id=\"" + id + "-g\">");
  for (int i = 0; i <= 10; ++i) {
    h.Raw("<stop offset=\"" + std::to_string(i * 10) + "%\" stop-color=\"" + Viridis(i / 10.0) +
          "\"/>");
  }
  h.Raw("</linearGradient></defs>\n");
  const double font = std::max(7.0, cell * 0.42);
  for (int c = 0; c < cols; ++c) {
    if (cell < 20 && c % 2 == 1) continue;
    h.Raw("<text x=\"" + Px(left + (c + 0.5) * cell) + "\" y=\"" + Px(top - 6) +
          "\" text-anchor=\"middle\" font-size=\"" + Px(font) + "\" aria-hidden=\"true\">" +
          std::to_string(c + 1) + "</text>");
  }
  for (int r = 0; r < rows; ++r) {
    h.Raw("<text x=\"" + Px(left - 5) + "\" y=\"" + Px(top + (r + 0.5) * cell + font * 0.35) +
          "\" text-anchor=\"end\" font-size=\"" + Px(font) + "\" aria-hidden=\"true\">" +
          RowName(r) + "</text>");
  }
  const double radius = cell * 0.45;
  h.Raw("<g aria-hidden=\"true\" fill=\"none\" stroke=\"#d0d0d0\">");
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < cols; ++c) {
      h.Raw("<circle cx=\"" + Px(left + (c + 0.5) * cell) + "\" cy=\"" +
            Px(top + (r + 0.5) * cell) + "\" r=\"" + Px(radius) + "\"/>");
    }
  }
  h.Raw("</g>\n");
  for (const NormalisedWell* w : wells) {
    auto [r, c] = WellPosition(w->well);
    const double cx = left + (c + 0.5) * cell, cy = top + (r + 0.5) * cell;
    const bool has_value = std::isfinite(w->mean);
    const double t = hi > lo ? (w->mean - lo) / (hi - lo) : 0.5;
    std::string fill = !has_value                       ? "#ffffff"
                       : w->role == WellRole::kUnmapped ? "#c8c8c8"
                                                        : Viridis(t);
    std::string tip = w->well + " \xE2\x80\x94 " + std::string(WellRoleName(w->role));
    if (!w->compound.empty()) tip += " " + w->compound;
    if (w->concentration > 0) tip += " " + Num(w->concentration, 3) + " " + w->unit;
    tip += ": " + s.readout + " " + Num(w->mean) + " (" + std::to_string(w->n) + " image" +
           (w->n == 1 ? "" : "s") + ")";
    if (w->role == WellRole::kUnmapped) {
      tip += "; not in the plate map, left out of the statistics";
    } else {
      tip += ", " + Num(w->percent_of_negative, 3) + "% of negative, " +
             Num(w->percent_inhibition, 3) + "% inhibition, robust z " + Num(w->robust_z, 3);
    }
    h.Raw("<g><title>");
    h.Text(tip);
    h.Raw("</title><circle cx=\"" + Px(cx) + "\" cy=\"" + Px(cy) + "\" r=\"" + Px(radius) +
          "\" fill=\"" + fill + "\" stroke=\"" + (w->role == WellRole::kSample ? "#777" : "#000") +
          "\" stroke-width=\"" +
          (w->role == WellRole::kNegative || w->role == WellRole::kPositive ? "2" : "0.6") +
          "\"/>");
    const char* mark = w->role == WellRole::kNegative   ? "N"
                       : w->role == WellRole::kPositive ? "P"
                       : w->role == WellRole::kUnmapped ? "?"
                                                        : nullptr;
    if (mark != nullptr) {
      const bool dark = has_value && w->role != WellRole::kUnmapped && t < 0.55;
      h.Raw("<text x=\"" + Px(cx) + "\" y=\"" + Px(cy + font * 0.35) +
            "\" text-anchor=\"middle\" font-weight=\"700\" font-size=\"" + Px(font) + "\" fill=\"" +
            (dark ? "#fff" : "#000") + "\" aria-hidden=\"true\">" + mark + "</text>");
    }
    h.Raw("</g>\n");
  }
  for (const PlateMapEntry* e : missing) {
    auto [r, c] = WellPosition(e->well);
    h.Raw("<g><title>");
    h.Text(e->well + " \xE2\x80\x94 " + std::string(WellRoleName(e->role)) + " " + e->compound +
           ": no images");
    h.Raw("</title><circle cx=\"" + Px(left + (c + 0.5) * cell) + "\" cy=\"" +
          Px(top + (r + 0.5) * cell) + "\" r=\"" + Px(radius) +
          "\" fill=\"#fff\" stroke=\"#000\" stroke-dasharray=\"2 2\"/></g>\n");
  }
  // Legend: the colour scale with its ends.
  const double ly = top + rows * cell + 14, lw = std::min(200.0, cols * cell);
  h.Raw("<rect x=\"" + Px(left) + "\" y=\"" + Px(ly) + "\" width=\"" + Px(lw) +
        "\" height=\"10\" fill=\"url(#" + id + "-g)\" stroke=\"#000\" stroke-width=\"0.5\"/>");
  h.Raw("<text x=\"" + Px(left) + "\" y=\"" + Px(ly + 24) + "\" font-size=\"11\">");
  h.Text(Num(std::isfinite(lo) ? lo : kNaN));
  h.Raw("</text><text x=\"" + Px(left + lw) + "\" y=\"" + Px(ly + 24) +
        "\" font-size=\"11\" text-anchor=\"end\">");
  h.Text(Num(std::isfinite(hi) ? hi : kNaN));
  h.Raw("</text></svg><figcaption>");
  h.Text(label +
         ". Colour from low (dark purple) to high (yellow); N negative control, P "
         "positive control, ? not in the plate map, dashed: no images. Hover a well for "
         "its values.");
  h.Raw("</figcaption></figure>\n");
}

void QualityTable(Html& h, const ScreenResult& s) {
  TableHead(h, "Plate quality (Z' \xE2\x89\xA5 0.5 good, 0 to 0.5 marginal, below 0 fail)",
            {"plate", "Z'", "SSMD", "quality", "negative wells", "negative mean", "negative sd",
             "negative CV %", "positive wells", "positive mean", "positive sd", "positive CV %"});
  for (const PlateQuality& p : s.plates) {
    const ControlQuality& q = p.controls;
    std::string verdict(PlateVerdict(q.z_prime));
    h.Raw("<tr>");
    h.Element("th", p.plate, "scope=\"row\"");
    h.Element("td", Num(q.z_prime, 3), "class=\"n\"");
    h.Element("td", Num(q.ssmd, 3), "class=\"n\"");
    h.Element("td", verdict, "class=\"" + std::string(verdict == "n/a" ? "na" : verdict) + "\"");
    for (double v :
         {static_cast<double>(q.n_negative), q.mean_negative, q.sd_negative, q.cv_negative,
          static_cast<double>(q.n_positive), q.mean_positive, q.sd_positive, q.cv_positive}) {
      h.Element("td", Num(v), "class=\"n\"");
    }
    h.Raw("</tr>\n");
  }
  h.Raw("</tbody></table>\n");
}

double Curve(const DoseResponseFit& f, double x) {
  return f.bottom.value +
         (f.top.value - f.bottom.value) / (1 + std::pow(x / f.ic50.value, f.hill.value));
}

std::string FormatConcentration(double c, const std::string& unit) {
  return Num(c, 3) + (unit.empty() ? "" : " " + unit);
}

void DoseChart(Html& h, const ScreenResult& s, const CompoundResponse& c, int index) {
  const double width = 430, height = 290, ml = 58, mr = 14, mt = 14, mb = 48;
  const double pw = width - ml - mr, ph = height - mt - mb;
  double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
  for (const DosePoint& p : c.points) {
    xmin = std::min(xmin, std::log10(p.concentration));
    xmax = std::max(xmax, std::log10(p.concentration));
    ymin = std::min(ymin, p.response);
    ymax = std::max(ymax, p.response);
  }
  xmin -= 0.5;
  xmax += 0.5;
  const bool curve = c.fitted && std::isfinite(c.fit.ic50.value) && c.fit.ic50.value > 0;
  if (curve) {
    for (double lx : {xmin, xmax}) {
      double y = Curve(c.fit, std::pow(10.0, lx));
      const double span = std::max(ymax - ymin, 1.0);
      if (std::isfinite(y) && y > ymin - span && y < ymax + span) {
        ymin = std::min(ymin, y);
        ymax = std::max(ymax, y);
      }
    }
  }
  if (s.dose_readout == Readout::kPercentOfNegative ||
      s.dose_readout == Readout::kPercentInhibition) {
    ymin = std::min(ymin, 0.0);
    ymax = std::max(ymax, 100.0);
  }
  if (!(ymax > ymin)) {
    ymin -= 1;
    ymax += 1;
  }
  const double pad = 0.06 * (ymax - ymin);
  ymin -= pad;
  ymax += pad;
  auto X = [&](double log_c) { return ml + (log_c - xmin) / (xmax - xmin) * pw; };
  auto Y = [&](double y) { return mt + (ymax - y) / (ymax - ymin) * ph; };

  const std::string id = "dr" + std::to_string(index);
  std::string label = "Dose-response of " + c.compound + ": " + ReadoutLabel(s.dose_readout) +
                      " against concentration (log scale)";
  if (curve) {
    label += "; IC50 " + FormatConcentration(c.fit.ic50.value, c.unit) + " (95% CI " +
             Num(c.fit.ic50.ci_low, 3) + " to " + Num(c.fit.ic50.ci_high, 3) + ")";
  }
  h.Raw("<figure><svg role=\"img\" aria-labelledby=\"" + id + "-t\" width=\"" + Px(width) +
        "\" height=\"" + Px(height) + "\" viewBox=\"0 0 " + Px(width) + " " + Px(height) + "\">");
  h.Element("title", label, "id=\"" + id + "-t\"");
  h.Raw("<defs><clipPath id=\"" + id + "-c\"><rect x=\"" + Px(ml) + "\" y=\"" + Px(mt) +
        "\" width=\"" + Px(pw) + "\" height=\"" + Px(ph) + "\"/></clipPath></defs>\n");
  h.Raw("<rect x=\"" + Px(ml) + "\" y=\"" + Px(mt) + "\" width=\"" + Px(pw) + "\" height=\"" +
        Px(ph) + "\" fill=\"none\" stroke=\"#000\"/>\n");
  // x axis: decades, with minor ticks at 2..9 x 10^k.
  for (int k = static_cast<int>(std::floor(xmin)); k <= static_cast<int>(std::ceil(xmax)); ++k) {
    for (int m = 1; m <= 9; ++m) {
      double lx = k + std::log10(m);
      if (lx < xmin || lx > xmax) continue;
      double x = X(lx);
      h.Raw("<line x1=\"" + Px(x) + "\" x2=\"" + Px(x) + "\" y1=\"" + Px(mt + ph) + "\" y2=\"" +
            Px(mt + ph + (m == 1 ? 6 : 3)) + "\" stroke=\"#000\"/>");
      if (m == 1) {
        h.Raw("<text x=\"" + Px(x) + "\" y=\"" + Px(mt + ph + 18) +
              "\" text-anchor=\"middle\" font-size=\"11\">");
        h.Text(Num(std::pow(10.0, k), 3));
        h.Raw("</text>");
      }
    }
  }
  h.Raw("<text x=\"" + Px(ml + pw / 2) + "\" y=\"" + Px(height - 8) +
        "\" text-anchor=\"middle\" font-size=\"12\">");
  h.Text("concentration" + (c.unit.empty() ? std::string() : " (" + c.unit + ")") + ", log scale");
  h.Raw("</text>\n");
  for (double v : NiceTicks(ymin, ymax)) {
    double y = Y(v);
    h.Raw("<line x1=\"" + Px(ml - 5) + "\" x2=\"" + Px(ml) + "\" y1=\"" + Px(y) + "\" y2=\"" +
          Px(y) + "\" stroke=\"#000\"/><line x1=\"" + Px(ml) + "\" x2=\"" + Px(ml + pw) +
          "\" y1=\"" + Px(y) + "\" y2=\"" + Px(y) + "\" stroke=\"#e3e3e3\"/><text x=\"" +
          Px(ml - 8) + "\" y=\"" + Px(y + 4) + "\" text-anchor=\"end\" font-size=\"11\">");
    h.Text(Num(v, 4));
    h.Raw("</text>");
  }
  h.Raw("<text transform=\"translate(14 " + Px(mt + ph / 2) +
        ") rotate(-90)\" text-anchor=\"middle\" font-size=\"12\">");
  h.Text(ReadoutLabel(s.dose_readout));
  h.Raw("</text>\n<g clip-path=\"url(#" + id + "-c)\">");
  if (curve) {
    const DoseResponseFit& f = c.fit;
    const double mid = (f.top.value + f.bottom.value) / 2;
    const double lic = std::log10(f.ic50.value);
    // The IC50's 95% interval as a band (clipped to the plot when unbounded).
    double lo = f.ic50.ci_low > 0 ? std::log10(f.ic50.ci_low) : xmin - 1;
    double hi = std::isfinite(f.ic50.ci_high) ? std::log10(f.ic50.ci_high) : xmax + 1;
    lo = std::clamp(lo, xmin, xmax);
    hi = std::clamp(hi, xmin, xmax);
    if (hi > lo) {
      h.Raw("<rect x=\"" + Px(X(lo)) + "\" y=\"" + Px(mt) + "\" width=\"" + Px(X(hi) - X(lo)) +
            "\" height=\"" + Px(ph) + "\" fill=\"" + kVermillion +
            "\" fill-opacity=\"0.12\"><title>");
      h.Text("95% interval of the IC50: " + FormatConcentration(f.ic50.ci_low, c.unit) + " to " +
             FormatConcentration(f.ic50.ci_high, c.unit));
      h.Raw("</title></rect>");
    }
    std::string path;
    constexpr int kSteps = 160;
    for (int i = 0; i <= kSteps; ++i) {
      double lx = xmin + (xmax - xmin) * i / kSteps;
      double y = Curve(f, std::pow(10.0, lx));
      if (!std::isfinite(y)) continue;
      y = std::clamp(y, ymin - (ymax - ymin), ymax + (ymax - ymin));
      path += (path.empty() ? "M" : " L") + Px(X(lx)) + " " + Px(Y(y));
    }
    h.Raw("<path d=\"" + path + "\" fill=\"none\" stroke=\"" + kVermillion +
          "\" stroke-width=\"2\"/>\n");
    if (lic >= xmin && lic <= xmax) {
      h.Raw("<line x1=\"" + Px(X(lic)) + "\" x2=\"" + Px(X(lic)) + "\" y1=\"" + Px(mt) +
            "\" y2=\"" + Px(mt + ph) + "\" stroke=\"#000\" stroke-dasharray=\"4 3\"/>");
      h.Raw("<g><title>");
      h.Text("IC50 " + FormatConcentration(f.ic50.value, c.unit));
      h.Raw("</title><path d=\"M" + Px(X(lic)) + " " + Px(Y(mid) - 6) + " l6 6 l-6 6 l-6 -6 z\" " +
            "fill=\"#000\"/></g>");
    }
  }
  for (const DosePoint& p : c.points) {
    h.Raw("<circle cx=\"" + Px(X(std::log10(p.concentration))) + "\" cy=\"" + Px(Y(p.response)) +
          "\" r=\"3.5\" fill=\"" + kBlue + "\" fill-opacity=\"0.85\"><title>");
    h.Text(FormatConcentration(p.concentration, c.unit) + ": " + Num(p.response));
    h.Raw("</title></circle>");
  }
  h.Raw("</g></svg><figcaption>");
  h.Element("strong", c.compound);
  h.Text(": ");
  if (curve) {
    const DoseResponseFit& f = c.fit;
    h.Text("IC50 " + FormatConcentration(f.ic50.value, c.unit) + " (95% CI " +
           Num(f.ic50.ci_low, 3) + " to " + Num(f.ic50.ci_high, 3) + "), hill " +
           Num(f.hill.value, 3) + ", R\xC2\xB2 " + Num(f.r_squared, 4) + ", " +
           std::to_string(f.n) + " wells" +
           (f.converged ? "" : "; the fit did not converge: treat it with caution") +
           ". Dots: wells; line: 4-parameter logistic fit; dashed line and diamond: IC50; band: "
           "its 95% interval.");
  } else {
    h.Text("no curve fitted (" + c.error + "). Dots: wells.");
  }
  h.Raw("</figcaption></figure>\n");
}

void DoseTable(Html& h, const ScreenResult& s) {
  TableHead(h, "Dose-response fits (" + ReadoutLabel(s.dose_readout) + ", 4-parameter logistic)",
            {"compound", "IC50", "95% CI", "hill (95% CI)", "top", "bottom", "R\xC2\xB2", "wells",
             "fit"});
  for (const CompoundResponse& c : s.compounds) {
    if (!c.fitted) {
      TableRow(h,
               {c.compound, "", "", "", "", "", "", std::to_string(c.points.size()),
                "not fitted: " + c.error},
               "fail");
      continue;
    }
    const DoseResponseFit& f = c.fit;
    TableRow(h,
             {c.compound, FormatConcentration(f.ic50.value, c.unit),
              Num(f.ic50.ci_low, 3) + " to " + Num(f.ic50.ci_high, 3),
              Num(f.hill.value, 3) + " (" + Num(f.hill.ci_low, 3) + " to " +
                  Num(f.hill.ci_high, 3) + ")",
              Num(f.top.value), Num(f.bottom.value), Num(f.r_squared, 4), std::to_string(f.n),
              f.converged ? "converged" : "did not converge"},
             f.converged ? "" : "marginal");
  }
  h.Raw("</tbody></table>\n");
}

void Thumbnails(Html& h, const fs::path& dir, const RunFacts& facts, int max_thumbnails) {
  std::error_code ec;
  if (!fs::is_directory(dir / "overlays", ec)) return;
  std::vector<std::pair<long, std::string>> files;
  for (const auto& e : fs::directory_iterator(dir / "overlays", ec)) {
    if (e.path().extension() != ".png") continue;
    std::string name = e.path().filename().string();
    long number = 0;
    std::from_chars(name.data(), name.data() + name.size(), number);
    files.emplace_back(number, name);
  }
  if (files.empty() || max_thumbnails <= 0) return;
  std::sort(files.begin(), files.end());
  h.Raw("<section aria-labelledby=\"overlays\"><h2 id=\"overlays\">Sample overlays</h2>\n");
  std::size_t k = std::min<std::size_t>(max_thumbnails, files.size());
  h.Element("p", "Object outlines on " + std::to_string(k) + " of " + std::to_string(files.size()) +
                     " image sets, spread over the run (overlays/ holds them all).");
  h.Raw("<div class=\"thumbs\">");
  for (std::size_t i = 0; i < k; ++i) {
    // Spread evenly, first and last included.
    const auto& [number, name] = files[k == 1 ? 0 : i * (files.size() - 1) / (k - 1)];
    std::string caption = "image set " + std::to_string(number);
    if (auto it = facts.names.find(std::to_string(number));
        it != facts.names.end() && !it->second.empty()) {
      caption += " (" + it->second + ")";
    }
    std::string href = HtmlEscape("overlays/" + UrlPath(name));
    h.Raw("<figure><a href=\"" + href + "\"><img src=\"" + href + "\" alt=\"" +
          HtmlEscape("Object outlines on " + caption) + "\" loading=\"lazy\"></a><figcaption>");
    h.Text(caption);
    h.Raw("</figcaption></figure>");
  }
  h.Raw("</div></section>\n");
}

}  // namespace

Status WriteReport(const std::string& results_dir, const ReportInput& in) {
  const fs::path dir(results_dir);
  SUND_ASSIGN_OR_RETURN(CsvTable image, ReadCsvFile(dir / "Image.csv"));
  RunFacts facts;
  facts.succeeded = static_cast<int>(image.rows.size());
  facts.counts = CountColumns(image);
  auto number_col = image.Column("ImageNumber");
  for (std::size_t r = 0; r < image.rows.size(); ++r) {
    for (std::size_t c = 0; c < image.header.size(); ++c) {
      if (!image.header[c].starts_with("ExecutionTime_")) continue;
      std::optional<double> v = ParseField(image.rows[r][c]);
      if (v && std::isfinite(*v)) facts.execution_seconds += *v;
    }
    if (number_col) facts.names[image.rows[r][*number_col]] = ImageSetName(image, r);
  }
  std::error_code ec;
  if (fs::is_regular_file(dir / "failures.csv", ec)) {
    SUND_ASSIGN_OR_RETURN(CsvTable failures, ReadCsvFile(dir / "failures.csv"));
    auto set = failures.Column("ImageSet");
    auto error = failures.Column("Error");
    facts.failed = static_cast<int>(failures.rows.size());
    for (std::size_t r = 0; r < failures.rows.size(); ++r) {
      facts.failures.emplace_back(Column(failures, r, set), Column(failures, r, error));
    }
  } else if (in.analysis) {
    facts.failures = in.analysis->failures;
    facts.failed = in.analysis->failed;
  }

  Html h;
  h.BeginPage(in.title, kCss);
  Summary(h, image, facts, in);
  const bool screen = in.screen.has_value();
  if (screen) {
    const ScreenResult& s = *in.screen;
    h.Raw("<section aria-labelledby=\"plates\"><h2 id=\"plates\">Plates</h2>\n");
    h.Element("p", "Readout: " + s.readout + ", averaged over the images (sites) of each well; " +
                       std::to_string(s.images) + " images in " + std::to_string(s.wells.size()) +
                       " wells on " + std::to_string(s.plates.size()) + " plate" +
                       (s.plates.size() == 1 ? "" : "s") + ".");
    if (!s.unmapped_wells.empty()) {
      std::string list;
      for (std::size_t i = 0; i < s.unmapped_wells.size() && i < 20; ++i) {
        list += (i ? ", " : "") + s.unmapped_wells[i];
      }
      if (s.unmapped_wells.size() > 20) list += ", ...";
      h.Element(
          "p",
          std::to_string(s.unmapped_wells.size()) + " wells (" + std::to_string(s.unmapped_images) +
              " images) are not in the plate map and are left out of every statistic: " + list +
              ".",
          "class=\"warn\" role=\"note\"");
    }
    if (!s.wells_without_images.empty()) {
      h.Element("p",
                std::to_string(s.wells_without_images.size()) +
                    " wells of the plate map have no images (failed or not imaged).",
                "class=\"warn\" role=\"note\"");
    }
    QualityTable(h, s);
    for (std::size_t i = 0; i < s.plates.size(); ++i) {
      Heatmap(h, s, s.plates[i].plate, static_cast<int>(i));
    }
    h.Raw("</section>\n");
    if (!s.compounds.empty()) {
      h.Raw("<section aria-labelledby=\"dose\"><h2 id=\"dose\">Dose-response</h2>\n");
      DoseTable(h, s);
      for (std::size_t i = 0; i < s.compounds.size(); ++i) {
        DoseChart(h, s, s.compounds[i], static_cast<int>(i));
      }
      h.Raw("</section>\n");
    }
  }
  CountsPerImageSet(h, image, facts, !screen);
  Thumbnails(h, dir, facts, in.max_thumbnails);
  h.EndPage();
  return WriteText(dir / "report.html", h.str());
}

// --- RunScreen ----------------------------------------------------------------------------------

Result<ScreenResult> RunScreen(const std::string& results_dir, const std::string& plate_map_path,
                               const ScreenOptions& o,
                               const std::optional<AnalyzeSummary>& analysis) {
  ReportInput in;
  in.analysis = analysis;
  ScreenResult result;
  if (!plate_map_path.empty()) {
    SUND_ASSIGN_OR_RETURN(PlateMap map, ReadPlateMap(plate_map_path));
    SUND_ASSIGN_OR_RETURN(result, AnalyzeScreen(results_dir, map, o));
    in.screen = result;
  }
  SUND_RETURN_IF_ERROR(WriteReport(results_dir, in));
  return result;
}

std::string ScreenSummaryText(const ScreenResult& r) {
  std::string out;
  if (r.plates.empty()) return out;
  out += "readout " + r.readout + ": " + std::to_string(r.images) + " images in " +
         std::to_string(r.wells.size()) + " wells on " + std::to_string(r.plates.size()) +
         " plate" + (r.plates.size() == 1 ? "" : "s") + "\n";
  for (const PlateQuality& p : r.plates) {
    out += "plate " + p.plate + ": Z' " + Num(p.controls.z_prime, 3) + " (" +
           std::string(PlateVerdict(p.controls.z_prime)) + "), SSMD " + Num(p.controls.ssmd, 3) +
           "\n";
  }
  for (const CompoundResponse& c : r.compounds) {
    if (!c.fitted) {
      out += c.compound + ": no curve (" + c.error + ")\n";
      continue;
    }
    const DoseResponseFit& f = c.fit;
    out += c.compound + ": IC50 " + FormatConcentration(f.ic50.value, c.unit) + " (95% CI " +
           Num(f.ic50.ci_low, 3) + " to " + Num(f.ic50.ci_high, 3) + "), hill " +
           Num(f.hill.value, 3) + ", R^2 " + Num(f.r_squared, 4) +
           (f.converged ? "" : ", did not converge") + "\n";
  }
  if (!r.unmapped_wells.empty()) {
    out += std::to_string(r.unmapped_wells.size()) + " wells (" +
           std::to_string(r.unmapped_images) +
           " images) not in the plate map, left out of the statistics\n";
  }
  if (!r.wells_without_images.empty()) {
    out +=
        std::to_string(r.wells_without_images.size()) + " wells of the plate map have no images\n";
  }
  return out;
}

}  // namespace sund::cells

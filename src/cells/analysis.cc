#include "cells/analysis.h"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <set>
#include <thread>

#include "cells/image_io.h"
#include "cells/model.h"
#include "cells/texture.h"
#include "core/csv.h"
#include "core/file_reader.h"
#include "core/progress.h"

namespace sund::cells {

namespace fs = std::filesystem;

ModelCache::ModelCache(std::vector<std::string> roots) : roots_(std::move(roots)) {}
ModelCache::~ModelCache() = default;

Result<SegmentationModel*> ModelCache::Get(const std::string& name) {
  auto it = models_.find(name);
  if (it != models_.end()) return it->second.get();
  SUND_ASSIGN_OR_RETURN(std::string dir, FindModel(name, roots_));
  SUND_ASSIGN_OR_RETURN(auto model, SegmentationModel::Load(dir));
  SegmentationModel* raw = model.get();
  models_[name] = std::move(model);
  return raw;
}

const ObjectResult* ImageSetResult::Find(const std::string& name) const {
  for (const auto& o : objects) {
    if (o.name == name) return &o;
  }
  return nullptr;
}

std::string FormatValue(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, end);
}

namespace {

// For each child object (1..children.count), the parent label covering most of its pixels
// (0: none), as CellProfiler's RelateObjects assigns parents.
std::vector<std::int32_t> ParentsByOverlap(const Labels& parents, const Labels& children) {
  std::vector<std::map<std::int32_t, std::int64_t>> overlap(children.count + 1);
  for (std::size_t i = 0; i < children.pixels.size(); ++i) {
    std::int32_t c = children.pixels[i];
    std::int32_t p = parents.pixels[i];
    if (c > 0 && p > 0) ++overlap[c][p];
  }
  std::vector<std::int32_t> parent(children.count + 1, 0);
  for (std::int32_t c = 1; c <= children.count; ++c) {
    std::int64_t best = 0;
    for (const auto& [p, n] : overlap[c]) {
      if (n > best) {
        best = n;
        parent[c] = p;
      }
    }
  }
  return parent;
}

// Parent_<parent> in the child table, Children_<child>_Count in the parent table.
void AddRelation(ObjectResult& parent, ObjectResult& child,
                 const std::vector<std::int32_t>& parent_of) {
  std::vector<double>& p = child.table.AddColumn("Parent_" + parent.name);
  std::vector<double>& c = parent.table.AddColumn("Children_" + child.name + "_Count");
  std::fill(c.begin(), c.end(), 0.0);
  for (std::int32_t i = 1; i <= child.labels.count; ++i) {
    std::int32_t pi = parent_of[i];
    p[i - 1] = pi;
    if (pi > 0 && pi <= parent.labels.count) c[pi - 1] += 1;
  }
}

// Same numbering: secondary object i grows from primary i, tertiary i is secondary i minus
// primary i. An object that came out empty has no parent and is no child.
std::vector<std::int32_t> ParentsByNumber(const Labels& child) {
  std::vector<std::int64_t> area(child.count + 1, 0);
  for (auto v : child.pixels) ++area[v];
  std::vector<std::int32_t> parent(child.count + 1, 0);
  for (std::int32_t i = 1; i <= child.count; ++i) parent[i] = area[i] > 0 ? i : 0;
  return parent;
}

Status AddBasics(ObjectResult& o, bool with_z) {
  o.table.rows = o.labels.count;
  SUND_RETURN_IF_ERROR(MeasureLocation(o.labels, o.table, with_z));
  std::vector<double>& n = o.table.AddColumn("Number_Object_Number");
  for (std::int32_t i = 0; i < o.labels.count; ++i) n[i] = i + 1;
  return Status::Ok();
}

// The median equivalent diameter of the blobs the step's threshold finds (blobs of fewer than
// 9 pixels left out as noise); 0 when there are none.
Result<double> TypicalDiameter(const Image& image, const ThresholdOptions& threshold) {
  SUND_ASSIGN_OR_RETURN(ThresholdResult t, ApplyThreshold(image, {}, threshold));
  cv::Mat fg(image.height, image.width, CV_8U, t.foreground.data());
  cv::Mat labels, stats, centroids;
  int n = cv::connectedComponentsWithStats(fg, labels, stats, centroids, 8, CV_32S);
  std::vector<double> diameters;
  for (int i = 1; i < n; ++i) {
    int area = stats.at<int>(i, cv::CC_STAT_AREA);
    if (area >= 9) diameters.push_back(2.0 * std::sqrt(area / M_PI));
  }
  if (diameters.empty()) return 0.0;
  std::nth_element(diameters.begin(), diameters.begin() + diameters.size() / 2, diameters.end());
  return diameters[diameters.size() / 2];
}

const char* ModuleName(StepKind k) {
  switch (k) {
    case StepKind::kPrimary:
      return "IdentifyPrimaryObjects";
    case StepKind::kSecondary:
      return "IdentifySecondaryObjects";
    case StepKind::kTertiary:
      return "IdentifyTertiaryObjects";
    case StepKind::kModel:
      return "SegmentWithModel";
    case StepKind::kRelate:
      return "RelateObjects";
    case StepKind::kMeasureIntensity:
      return "MeasureObjectIntensity";
    case StepKind::kMeasureSizeShape:
      return "MeasureObjectSizeShape";
    case StepKind::kMeasureTexture:
      return "MeasureTexture";
  }
  return "?";
}

}  // namespace

Result<ImageSetResult> RunPipeline(const Pipeline& pipeline, const ImageSet& set,
                                   ModelCache& models) {
  ImageSetResult r;
  int width = -1, height = -1;
  for (const std::string& ch : pipeline.Channels()) {
    auto file = set.channels.find(ch);
    if (file == set.channels.end()) return InvalidArgument("no " + ch + " image");
    auto img = ReadGrayscale(file->second.path, file->second.plane);
    if (!img.ok()) return Status(img.status().code(), ch + ": " + img.status().message());
    if (width >= 0 && (img->width != width || img->height != height)) {
      return InvalidArgument(ch + ": " + std::to_string(img->width) + "x" +
                             std::to_string(img->height) + " where the other channels are " +
                             std::to_string(width) + "x" + std::to_string(height));
    }
    width = img->width;
    height = img->height;
    auto [lo, hi] = std::minmax_element(img->pixels.begin(), img->pixels.end());
    if (*lo == *hi) {
      return InvalidArgument(ch + ": a blank image (every pixel " + FormatValue(*lo) + ")");
    }
    fs::path p(file->second.path);
    r.text.emplace_back("FileName_" + ch, p.filename().string());
    r.text.emplace_back("PathName_" + ch, p.parent_path().string());
    r.values.emplace_back("Height_" + ch, img->height);
    r.values.emplace_back("Width_" + ch, img->width);
    r.channels.emplace(ch, std::move(img).value());
  }
  for (const auto& [k, v] : set.metadata) r.text.emplace_back("Metadata_" + k, v);

  auto object = [&](const std::string& name) -> ObjectResult* {
    for (auto& o : r.objects) {
      if (o.name == name) return &o;
    }
    return nullptr;
  };
  // IdentifyPrimary's objects before its border and size filters: secondary objects grow from
  // them, so that discarded nuclei still claim their space (as in CellProfiler).
  std::map<std::string, Labels> unedited;
  int number = 0;
  for (const Step& step : pipeline.steps) {
    auto start = std::chrono::steady_clock::now();
    ++number;
    switch (step.kind) {
      case StepKind::kPrimary:
      case StepKind::kModel: {
        ObjectResult o;
        o.name = step.name;
        PrimaryStats stats;
        Result<Labels> labels = Labels();
        if (step.kind == StepKind::kPrimary) {
          PrimaryOptions opts = step.primary_options;
          if (step.auto_diameter > 0) {
            SUND_ASSIGN_OR_RETURN(double d,
                                  TypicalDiameter(r.channels.at(step.image), opts.threshold));
            opts.min_diameter = std::max(2, static_cast<int>(std::lround(d * step.auto_diameter)));
            opts.max_diameter = std::max(opts.min_diameter, opts.max_diameter);
            opts.discard_outside_diameter = false;
            r.values.emplace_back("Threshold_TypicalDiameter_" + step.name, d);
          }
          labels = IdentifyPrimary(r.channels.at(step.image), opts, &stats, &unedited[step.name]);
        } else {
          SUND_ASSIGN_OR_RETURN(SegmentationModel * model, models.Get(step.model));
          labels = model->Segment(r.channels.at(step.image), step.primary_options,
                                  step.probability_threshold, &stats, &unedited[step.name]);
        }
        if (!labels.ok())
          return Status(labels.status().code(), step.name + ": " + labels.status().message());
        o.labels = std::move(labels).value();
        SUND_RETURN_IF_ERROR(AddBasics(o, true));
        r.values.emplace_back("Threshold_FinalThreshold_" + step.name, stats.final_threshold);
        r.values.emplace_back("Threshold_OrigThreshold_" + step.name, stats.original_threshold);
        r.objects.push_back(std::move(o));
        break;
      }
      case StepKind::kSecondary: {
        ObjectResult* primary = object(step.primary);
        ObjectResult o;
        o.name = step.name;
        SecondaryStats stats;
        auto seeds = unedited.find(step.primary);
        auto labels =
            IdentifySecondary(r.channels.at(step.image), primary->labels, step.secondary_options,
                              seeds == unedited.end() ? Labels() : seeds->second, &stats);
        if (!labels.ok())
          return Status(labels.status().code(), step.name + ": " + labels.status().message());
        o.labels = std::move(labels).value();
        SUND_RETURN_IF_ERROR(AddBasics(o, true));
        r.values.emplace_back("Threshold_FinalThreshold_" + step.name, stats.final_threshold);
        r.values.emplace_back("Threshold_OrigThreshold_" + step.name, stats.original_threshold);
        AddRelation(*primary, o, ParentsByNumber(o.labels));
        r.objects.push_back(std::move(o));
        break;
      }
      case StepKind::kTertiary: {
        ObjectResult o;
        o.name = step.name;
        {
          ObjectResult* larger = object(step.larger);
          ObjectResult* smaller = object(step.smaller);
          SUND_ASSIGN_OR_RETURN(
              o.labels, IdentifyTertiary(larger->labels, smaller->labels, step.shrink_smaller));
        }
        SUND_RETURN_IF_ERROR(AddBasics(o, false));
        auto parents = ParentsByNumber(o.labels);
        r.objects.push_back(std::move(o));
        ObjectResult& t = r.objects.back();
        AddRelation(*object(step.larger), t, parents);
        AddRelation(*object(step.smaller), t, parents);
        break;
      }
      case StepKind::kRelate:
        AddRelation(*object(step.parent), *object(step.child),
                    ParentsByOverlap(object(step.parent)->labels, object(step.child)->labels));
        break;
      case StepKind::kMeasureIntensity:
        for (const auto& name : step.objects) {
          ObjectResult* o = object(name);
          for (const auto& ch : step.images) {
            SUND_RETURN_IF_ERROR(MeasureIntensity(o->labels, r.channels.at(ch), ch, o->table));
          }
        }
        break;
      case StepKind::kMeasureSizeShape:
        for (const auto& name : step.objects) {
          ObjectResult* o = object(name);
          SUND_RETURN_IF_ERROR(MeasureSizeShape(o->labels, o->table, step.zernike));
        }
        break;
      case StepKind::kMeasureTexture:
        for (const auto& name : step.objects) {
          ObjectResult* o = object(name);
          for (const auto& ch : step.images) {
            for (int scale : step.scales) {
              SUND_RETURN_IF_ERROR(MeasureTexture(o->labels, r.channels.at(ch), ch, scale,
                                                  step.gray_levels, o->table));
            }
          }
        }
        break;
    }
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    char key[96];
    std::snprintf(key, sizeof key, "ExecutionTime_%02d%s", number, ModuleName(step.kind));
    r.values.emplace_back(key, seconds);
  }
  for (const auto& o : r.objects) r.values.emplace_back("Count_" + o.name, o.labels.count);
  return r;
}

std::pair<std::size_t, std::size_t> ShardRange(std::size_t count, int shard, int shards) {
  std::size_t lo = count * static_cast<std::size_t>(shard - 1) / shards;
  std::size_t hi = count * static_cast<std::size_t>(shard) / shards;
  return {lo, hi};
}

namespace {

// One CSV file whose header is fixed by the first row written.
class CsvOut {
 public:
  Status Open(const fs::path& path) {
    path_ = path;
    out_.open(path, std::ios::trunc);
    if (!out_) return Internal("cannot write " + path.filename().string());
    return Status::Ok();
  }
  void Header(std::vector<std::string> columns) {
    if (!columns_.empty()) return;
    columns_ = std::move(columns);
    out_ << CsvRecord(columns_) << '\n';
  }
  const std::vector<std::string>& columns() const { return columns_; }
  void Row(const std::vector<std::string>& fields) { out_ << CsvRecord(fields) << '\n'; }
  Status Close() {
    out_.close();
    if (out_.fail()) return Internal("cannot write " + path_.filename().string());
    return Status::Ok();
  }

 private:
  fs::path path_;
  std::ofstream out_;
  std::vector<std::string> columns_;
};

class Writer {
 public:
  Writer(const Pipeline& p, const AnalyzeOptions& o, std::set<std::string> metadata_keys)
      : pipeline_(p), options_(o), metadata_keys_(std::move(metadata_keys)) {}

  Status Open() {
    fs::path dir(options_.out_dir);
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) return Internal("cannot create " + options_.out_dir);
    if (options_.overlays) fs::create_directories(dir / "overlays", ec);
    SUND_RETURN_IF_ERROR(image_.Open(dir / "Image.csv"));
    for (const auto& name : pipeline_.Objects()) {
      SUND_RETURN_IF_ERROR(objects_[name].Open(dir / (name + ".csv")));
    }
    SUND_RETURN_IF_ERROR(failures_.Open(dir / "failures.csv"));
    failures_.Header({"ImageNumber", "ImageSet", "Error"});
    std::ofstream pj(dir / "pipeline.json", std::ios::trunc);
    pj << PipelineJson(pipeline_) << '\n';
    if (!pj) return Internal("cannot write pipeline.json");
    return Status::Ok();
  }

  void Write(std::size_t image_number, const ImageSet& set, const Result<ImageSetResult>& r,
             AnalyzeSummary& summary) {
    if (!r.ok()) {
      ++summary.failed;
      summary.failures.emplace_back(set.Name(), r.status().message());
      failures_.Row({std::to_string(image_number), set.Name(), r.status().message()});
      return;
    }
    std::vector<std::string> header = {"ImageNumber"};
    std::vector<std::string> row = {std::to_string(image_number)};
    std::vector<std::pair<std::string, std::string>> cells;
    for (const auto& [k, v] : r->text) cells.emplace_back(k, v);
    // The header is fixed by the first row: a metadata key only later image sets have must
    // already be a column of it.
    for (const std::string& key : metadata_keys_) {
      if (!set.metadata.contains(key)) cells.emplace_back("Metadata_" + key, "");
    }
    for (const auto& [k, v] : r->values) cells.emplace_back(k, FormatValue(v));
    std::sort(cells.begin(), cells.end());
    for (auto& [k, v] : cells) {
      header.push_back(k);
      row.push_back(v);
    }
    image_.Header(header);
    WriteAligned(image_, header, row);
    for (const ObjectResult& o : r->objects) {
      summary.objects[o.name] += o.labels.count;
      CsvOut& out = objects_[o.name];
      std::vector<std::size_t> order(o.table.columns.size());
      for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
      std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
        return o.table.columns[a] < o.table.columns[b];
      });
      std::vector<std::string> h = {"ImageNumber", "ObjectNumber"};
      for (auto i : order) h.push_back(o.table.columns[i]);
      out.Header(h);
      for (std::int32_t k = 0; k < o.labels.count; ++k) {
        std::vector<std::string> fields = {std::to_string(image_number), std::to_string(k + 1)};
        for (auto i : order) fields.push_back(FormatValue(o.table.values[i][k]));
        WriteAligned(out, h, fields);
      }
    }
    if (options_.overlays && !r->objects.empty()) WriteOverlay(image_number, *r);
  }

  Status Close() {
    // A run in which every image set failed still leaves readable tables.
    image_.Header({"ImageNumber"});
    for (auto& [n, o] : objects_) o.Header({"ImageNumber", "ObjectNumber"});
    SUND_RETURN_IF_ERROR(image_.Close());
    for (auto& [n, o] : objects_) SUND_RETURN_IF_ERROR(o.Close());
    return failures_.Close();
  }

 private:
  // Rows follow the file's header; a column this row lacks is left empty.
  static void WriteAligned(CsvOut& out, const std::vector<std::string>& header,
                           const std::vector<std::string>& row) {
    if (header == out.columns()) {
      out.Row(row);
      return;
    }
    std::vector<std::string> aligned(out.columns().size());
    for (std::size_t i = 0; i < out.columns().size(); ++i) {
      auto it = std::find(header.begin(), header.end(), out.columns()[i]);
      if (it != header.end()) aligned[i] = row[it - header.begin()];
    }
    out.Row(aligned);
  }

  void WriteOverlay(std::size_t image_number, const ImageSetResult& r) {
    static const std::vector<unsigned> kColours = {0x00FF00, 0xFF0000, 0xFFFF00,
                                                   0x00FFFF, 0xFF00FF, 0xFF8000};
    const Step* first = nullptr;
    for (const Step& s : pipeline_.steps) {
      if (!s.image.empty()) {
        first = &s;
        break;
      }
    }
    if (first == nullptr) return;
    std::vector<const Labels*> outlines;
    for (const auto& o : r.objects) outlines.push_back(&o.labels);
    fs::path path = fs::path(options_.out_dir) / "overlays" /
                    (std::to_string(image_number) + "_" + first->image + ".png");
    WriteOverlayPng(path.string(), r.channels.at(first->image), outlines, kColours).IgnoreError();
  }

  const Pipeline& pipeline_;
  const AnalyzeOptions& options_;
  std::set<std::string> metadata_keys_;  // of every image set of the run, all shards
  CsvOut image_;
  std::map<std::string, CsvOut> objects_;
  CsvOut failures_;
};

}  // namespace

Result<AnalyzeSummary> Analyze(const Pipeline& pipeline, const std::vector<ImageSet>& sets,
                               const AnalyzeOptions& options) {
  if (options.shards < 1 || options.shard < 1 || options.shard > options.shards) {
    return InvalidArgument("shard must be K/N with 1 <= K <= N");
  }
  auto [lo, hi] = ShardRange(sets.size(), options.shard, options.shards);
  AnalyzeSummary summary;
  summary.image_sets = static_cast<int>(hi - lo);
  // The metadata keys of the whole list, not just this shard's: every shard's Image.csv then
  // has the same columns, and the parts merge.
  std::set<std::string> metadata_keys;
  for (const ImageSet& s : sets) {
    for (const auto& [k, v] : s.metadata) metadata_keys.insert(k);
  }
  Writer writer(pipeline, options, std::move(metadata_keys));
  SUND_RETURN_IF_ERROR(writer.Open());
  auto start = std::chrono::steady_clock::now();
  int threads = options.threads > 0
                    ? options.threads
                    : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  threads = std::min<int>(threads, std::max<std::size_t>(1, hi - lo));
  ProgressBar bar("analyze", hi - lo, "image sets",
                  options.progress ? ProgressBar::Options{}
                                   : ProgressBar::Options{[](std::string_view) {}, false, {}});
  // Workers take image sets in order; the writer writes them in order, at most `window` ahead.
  std::mutex mu;
  std::condition_variable cv;
  std::map<std::size_t, Result<ImageSetResult>> done;
  std::size_t next = lo;
  std::size_t written = lo;
  const std::size_t window = static_cast<std::size_t>(threads) * 2;
  auto worker = [&] {
    ModelCache models(options.model_roots);
    while (true) {
      std::size_t i;
      {
        std::unique_lock<std::mutex> l(mu);
        cv.wait(l, [&] { return next >= hi || next < written + window; });
        if (next >= hi) return;
        i = next++;
      }
      Result<ImageSetResult> r = RunPipeline(pipeline, sets[i], models);
      {
        std::lock_guard<std::mutex> l(mu);
        done.emplace(i, std::move(r));
      }
      cv.notify_all();
    }
  };
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back(worker);
  while (written < hi) {
    Result<ImageSetResult> r = Status::Ok();
    {
      std::unique_lock<std::mutex> l(mu);
      cv.wait(l, [&] { return done.contains(written); });
      r = std::move(done.at(written));
      done.erase(written);
    }
    writer.Write(written + 1, sets[written], r, summary);
    bar.Add(1, 1);
    {
      std::lock_guard<std::mutex> l(mu);
      ++written;
    }
    cv.notify_all();
  }
  for (auto& t : pool) t.join();
  bar.Finish();
  SUND_RETURN_IF_ERROR(writer.Close());
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return summary;
}

Status MergeShards(const std::vector<std::string>& parts, const std::string& out_dir) {
  if (parts.empty()) return InvalidArgument("no parts to merge");
  std::string pipeline;
  std::set<std::string> names;
  for (const auto& part : parts) {
    SUND_ASSIGN_OR_RETURN(std::string p,
                          ReadFileDecompressed((fs::path(part) / "pipeline.json").string()));
    if (pipeline.empty()) pipeline = p;
    if (p != pipeline) return InvalidArgument(part + ": ran another pipeline than " + parts[0]);
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(part, ec)) {
      if (e.path().extension() == ".csv") names.insert(e.path().filename().string());
    }
  }
  // Each image set of a part is a row of its Image.csv or of its failures.csv. An ImageNumber in
  // two parts (a part given twice, or parts of different splits) would double its rows in every
  // merged table, so it is refused before anything is written.
  std::map<std::int64_t, std::size_t> owner;  // ImageNumber -> index in `parts`
  for (std::size_t i = 0; i < parts.size(); ++i) {
    for (const char* name : {"Image.csv", "failures.csv"}) {
      const fs::path f = fs::path(parts[i]) / name;
      std::error_code exists_ec;
      if (!fs::exists(f, exists_ec)) continue;
      SUND_ASSIGN_OR_RETURN(std::string text, ReadFileDecompressed(f.string()));
      auto table = ParseCsv(text);
      if (!table.ok()) return InvalidArgument(f.string() + ": " + table.status().message());
      for (const auto& row : table->rows) {
        if (row.empty()) continue;
        std::int64_t n = 0;
        std::from_chars(row[0].data(), row[0].data() + row[0].size(), n);
        auto [it, inserted] = owner.emplace(n, i);
        if (!inserted && it->second != i) {
          return InvalidArgument(parts[i] + ": ImageNumber " + std::to_string(n) + " is also in " +
                                 parts[it->second] +
                                 " (the same part twice, or parts of different splits)");
        }
      }
    }
  }
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) return Internal("cannot create " + out_dir);
  for (const std::string& name : names) {
    std::vector<std::string> header;
    std::vector<std::pair<std::int64_t, std::vector<std::string>>> rows;
    for (const auto& part : parts) {
      fs::path f = fs::path(part) / name;
      if (!fs::exists(f, ec)) continue;
      SUND_ASSIGN_OR_RETURN(std::string text, ReadFileDecompressed(f.string()));
      auto table = ParseCsv(text);
      if (!table.ok()) return InvalidArgument(f.string() + ": " + table.status().message());
      if (header.empty()) header = table->header;
      if (table->header != header) {
        return InvalidArgument(f.string() + ": columns differ from the other parts' " + name);
      }
      for (auto& row : table->rows) {
        std::int64_t n = 0;
        std::from_chars(row[0].data(), row[0].data() + row[0].size(), n);
        rows.emplace_back(n, std::move(row));
      }
    }
    std::stable_sort(rows.begin(), rows.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    std::ofstream out(fs::path(out_dir) / name, std::ios::trunc);
    out << CsvRecord(header) << '\n';
    for (const auto& [n, row] : rows) out << CsvRecord(row) << '\n';
    if (!out) return Internal("cannot write " + name);
  }
  std::ofstream pj(fs::path(out_dir) / "pipeline.json", std::ios::trunc);
  pj << pipeline;
  if (!pj) return Internal("cannot write pipeline.json");
  return Status::Ok();
}

Result<EvalRun> EvaluatePipeline(const Pipeline& pipeline, const std::string& images_dir,
                                 const std::string& labels_dir, const EvalOptions& options) {
  std::vector<std::string> channels = pipeline.Channels();
  std::vector<std::string> objects = pipeline.Objects();
  if (channels.empty() || objects.empty()) {
    return InvalidArgument("the pipeline makes no objects to score");
  }
  SUND_ASSIGN_OR_RETURN(std::vector<ImageSet> all,
                        ScanFolderSingleChannel(images_dir, channels[0]));
  std::set<std::string> wanted(options.ids.begin(), options.ids.end());
  struct Item {
    std::string name, labels;
    ImageSet set;
  };
  std::vector<Item> items;
  for (auto& set : all) {
    std::string name = fs::path(set.channels.begin()->second.path).stem().string();
    if (!wanted.empty() && !wanted.contains(name)) continue;
    std::string labels;
    for (const char* ext : {".png", ".tif", ".tiff"}) {
      fs::path p = fs::path(labels_dir) / (name + ext);
      std::error_code ec;
      if (fs::exists(p, ec)) {
        labels = p.string();
        break;
      }
    }
    if (labels.empty()) return NotFound(name + ": no label image in " + labels_dir);
    items.push_back(Item{name, labels, std::move(set)});
  }
  if (!wanted.empty() && items.size() != wanted.size()) {
    return NotFound(std::to_string(wanted.size() - items.size()) +
                    " of the listed images are not in " + images_dir);
  }
  if (items.empty()) return NotFound(images_dir + ": no images to score");
  EvalRun run;
  std::vector<Result<ImageScore>> scores(items.size(), Status::Ok());
  auto start = std::chrono::steady_clock::now();
  ProgressBar bar("eval", items.size(), "images",
                  options.progress ? ProgressBar::Options{}
                                   : ProgressBar::Options{[](std::string_view) {}, false, {}});
  std::atomic<std::size_t> next{0};
  auto worker = [&] {
    ModelCache models(options.model_roots);
    for (std::size_t i = next++; i < items.size(); i = next++) {
      auto result = RunPipeline(pipeline, items[i].set, models);
      if (!result.ok()) {
        scores[i] = result.status();
      } else {
        auto truth = ReadLabels(items[i].labels);
        scores[i] = truth.ok() ? ScoreInstances(*truth, result->Find(objects[0])->labels)
                               : Result<ImageScore>(truth.status());
      }
      bar.Add(1, 1);
    }
  };
  int threads = options.threads > 0
                    ? options.threads
                    : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back(worker);
  for (auto& t : pool) t.join();
  bar.Finish();
  std::vector<ImageScore> ok;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (scores[i].ok()) {
      ok.push_back(*scores[i]);
      run.images.emplace_back(items[i].name, *scores[i]);
    } else {
      run.failures.emplace_back(items[i].name, scores[i].status().message());
    }
  }
  run.summary = Summarise(ok);
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return run;
}

}  // namespace sund::cells

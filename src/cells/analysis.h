// Running a pipeline (pipeline.h) over image sets (manifest.h): segmentation, relations and
// measurements per image set, and `sund cells analyze`'s output in CellProfiler's
// ExportToSpreadsheet layout: Image.csv (one row per image set: ImageNumber, Count_<objects>,
// FileName_/PathName_<channel>, Metadata_* for every key any image set of the run has (blank
// where a set lacks it), Threshold_*, ExecutionTime_*) and <Objects>.csv (one row per object:
// ImageNumber, ObjectNumber, then the measurements in name order), plus failures.csv, the
// pipeline as run (pipeline.json) and outline overlays.
//
// Thread-safety: RunPipeline is safe to call concurrently with separate ModelCache objects;
// Analyze uses every core itself.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cells/evaluate.h"
#include "cells/image.h"
#include "cells/manifest.h"
#include "cells/measure.h"
#include "cells/pipeline.h"
#include "core/status.h"

namespace sund::cells {

class SegmentationModel;

// Loaded models, one per name, for one thread.
class ModelCache {
 public:
  explicit ModelCache(std::vector<std::string> roots);
  ~ModelCache();
  Result<SegmentationModel*> Get(const std::string& name);

 private:
  std::vector<std::string> roots_;
  std::map<std::string, std::unique_ptr<SegmentationModel>> models_;
};

struct ObjectResult {
  std::string name;
  Labels labels;
  MeasurementTable table;  // Location_*, Number_Object_Number, Parent_*, Children_*, measurements
};

struct ImageSetResult {
  std::vector<std::pair<std::string, std::string>> text;  // FileName_DNA, Metadata_Well ...
  std::vector<std::pair<std::string, double>> values;     // Count_Nuclei, Threshold_* ...
  std::vector<ObjectResult> objects;                      // in the order the steps make them
  std::map<std::string, Image> channels;                  // the images read
  const ObjectResult* Find(const std::string& name) const;
};

// One image set through the pipeline. Errors name the image set's channel and file (a file
// that cannot be read, channels of different sizes, a blank image), never its content.
Result<ImageSetResult> RunPipeline(const Pipeline& pipeline, const ImageSet& set,
                                   ModelCache& models);

struct AnalyzeOptions {
  std::string out_dir;
  int threads = 0;       // 0: one per core
  bool overlays = true;  // overlays/<ImageNumber>_<name>.png
  int shard = 1;         // process part `shard` of `shards` (1-based)
  int shards = 1;
  std::vector<std::string> model_roots;
  bool progress = true;  // a progress bar on a terminal
};

struct AnalyzeSummary {
  int image_sets = 0;  // in this shard
  int failed = 0;
  std::vector<std::pair<std::string, std::string>> failures;  // image set, reason
  std::map<std::string, std::int64_t> objects;                // per object set
  double seconds = 0;
};

// The image sets of shard `shard` of `shards`: a contiguous block, so that ImageNumbers
// (the position in the whole list, from 1) stay unique across shards.
std::pair<std::size_t, std::size_t> ShardRange(std::size_t count, int shard, int shards);

Result<AnalyzeSummary> Analyze(const Pipeline& pipeline, const std::vector<ImageSet>& sets,
                               const AnalyzeOptions& options);

// Joins the outputs of `parts` (folders written by Analyze with --shard) into `out_dir`: each
// CSV's rows in ImageNumber order. The parts must have run the same pipeline, and an
// ImageNumber found in two parts (the same part twice, parts of different splits) is refused
// (InvalidArgument, naming both parts) before anything is written.
Status MergeShards(const std::vector<std::string>& parts, const std::string& out_dir);

struct EvalOptions {
  std::vector<std::string> ids;  // image names (file stems) to score; empty: every image
  int threads = 0;               // 0: one per core
  bool progress = true;
  std::vector<std::string> model_roots;
};

struct EvalRun {
  EvalSummary summary;
  std::vector<std::pair<std::string, ImageScore>> images;     // name, score
  std::vector<std::pair<std::string, std::string>> failures;  // name, reason
  double seconds = 0;
};

// Scores the first objects the pipeline makes against ground-truth label images: each image
// in `images_dir` (a one-channel set under the pipeline's first channel) with the label image
// of the same stem in `labels_dir` (.png or .tif).
Result<EvalRun> EvaluatePipeline(const Pipeline& pipeline, const std::string& images_dir,
                                 const std::string& labels_dir, const EvalOptions& options);

// A double as CSV text: the shortest form that reads back to the same value; "nan" for NaN.
std::string FormatValue(double v);

}  // namespace sund::cells

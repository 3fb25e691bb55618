#include "cells_cli.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "cells/analysis.h"
#include "cells/classify.h"
#include "cells/manifest.h"
#include "cells/model.h"
#include "cells/pipeline.h"
#include "cells/screen.h"
#include "cells/train.h"
#include "core/csv.h"
#include "core/file_reader.h"
#include "core/status.h"

namespace {

namespace fs = std::filesystem;
using sund::Status;

[[noreturn]] void Fail(const Status& s) {
  std::fprintf(stderr, "sund cells: %s\n", s.ToString().c_str());
  throw CLI::RuntimeError(1);
}

// Where installed models are looked for: --models, else SUND_MODELS (colon-separated), else the
// models shipped in the source tree and the shared test models beside it.
std::vector<std::string> ModelRoots(const std::vector<std::string>& flag) {
  if (!flag.empty()) return flag;
  std::vector<std::string> roots;
  if (const char* env = std::getenv("SUND_MODELS"); env != nullptr && *env) {
    std::string s = env;
    std::size_t start = 0;
    while (start <= s.size()) {
      std::size_t end = s.find(':', start);
      if (end == std::string::npos) end = s.size();
      if (end > start) roots.push_back(s.substr(start, end - start));
      start = end + 1;
    }
    return roots;
  }
  roots.push_back(fs::path(SUND_SOURCE_DIR "/models").lexically_normal().string());
  roots.push_back(fs::path(SUND_SOURCE_DIR "/../shared/models").lexically_normal().string());
  return roots;
}

std::vector<std::string> AllModels(const std::vector<std::string>& roots) {
  std::vector<std::string> all;
  for (const auto& r : roots) {
    for (auto& d : sund::cells::FindModels(r)) all.push_back(std::move(d));
  }
  return all;
}

std::string ResolveModel(const std::string& name, const std::vector<std::string>& roots) {
  auto dir = sund::cells::FindModel(name, roots);
  if (!dir.ok()) Fail(dir.status());
  return *dir;
}

struct ModelFlags {
  std::vector<std::string> roots;
  std::string name;
  double tolerance = 1e-4;
  std::string weights = "auto";
};

sund::cells::WeightsFormat Weights(const std::string& name) {
  auto w = sund::cells::ParseWeightsFormat(name);
  if (!w.ok()) Fail(w.status());
  return *w;
}

void ModelsList(const ModelFlags& f) {
  auto dirs = AllModels(ModelRoots(f.roots));
  if (dirs.empty()) {
    std::printf("no models found (looked in %zu folders; set --models or SUND_MODELS)\n",
                ModelRoots(f.roots).size());
    return;
  }
  std::printf("%-28s %-34s %s\n", "NAME", "DESCRIPTION", "WEIGHTS");
  for (const auto& d : dirs) {
    auto m = sund::cells::SegmentationModel::Load(d);
    std::string name = fs::path(d).filename().string();
    if (!m.ok()) {
      std::printf("%-28s (cannot load: %s)\n", name.c_str(), m.status().message().c_str());
      continue;
    }
    std::string weights;
    for (const auto& w : (*m)->info().weights) weights += (weights.empty() ? "" : ",") + w;
    std::printf("%-28s %-34.34s %s\n", name.c_str(), (*m)->info().name.c_str(), weights.c_str());
  }
}

void ModelsTest(const ModelFlags& f) {
  auto roots = ModelRoots(f.roots);
  std::vector<std::string> dirs =
      f.name.empty() ? AllModels(roots) : std::vector<std::string>{ResolveModel(f.name, roots)};
  int failed = 0;
  const sund::cells::WeightsFormat weights = Weights(f.weights);
  for (const auto& d : dirs) {
    std::string name = fs::path(d).filename().string();
    auto m = sund::cells::SegmentationModel::Load(d, weights);
    if (!m.ok()) {
      std::printf("FAIL  %-28s %s\n", name.c_str(), m.status().message().c_str());
      ++failed;
      continue;
    }
    auto t = sund::cells::TestModel(**m, f.tolerance);
    if (!t.ok()) {
      std::printf("FAIL  %-28s %s\n", name.c_str(), t.status().message().c_str());
      ++failed;
    } else {
      std::printf("%s  %-28s max |difference| %.2g (tolerance %.0g) against its test output (%s)\n",
                  t->passed ? "ok  " : "FAIL", name.c_str(), t->max_abs_difference, f.tolerance,
                  (*m)->info().runtime.c_str());
      failed += !t->passed;
    }
  }
  std::printf("%zu model(s), %d failed\n", dirs.size(), failed);
  if (failed) throw CLI::RuntimeError(1);
}

void ModelsShow(const ModelFlags& f) {
  std::string dir = ResolveModel(f.name, ModelRoots(f.roots));
  auto m = sund::cells::SegmentationModel::Load(dir, Weights(f.weights));
  if (!m.ok()) Fail(m.status());
  const auto& i = (*m)->info();
  auto join = [](const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
    return s.empty() ? std::string("none") : s;
  };
  std::printf(
      "name            %s\nfolder          %s\ndescription     %s\nformat          "
      "bioimage.io %s\nlicense         %s\nweights         %s\npreprocessing   "
      "%s\npostprocessing  %s\noutputs         %d channel(s), objects by %s\ntile            "
      "%d (multiple of %d, halo %d)\ntest tensors    %s\nruns           %s\n",
      i.name.c_str(), i.dir.c_str(), i.description.c_str(), i.format_version.c_str(),
      i.license.c_str(), join(i.weights).c_str(), join(i.preprocessing).c_str(),
      join(i.postprocessing).c_str(), i.output_channels,
      sund::cells::InstanceMethodName(i.instances.method), i.tile, i.multiple, i.halo,
      i.test_input.empty() ? "none" : "yes", i.runtime.c_str());
}

// A pipeline file, or the default nuclei pipeline on `channel`; with `model`, its first
// segmentation step runs that model instead of the classical thresholds.
sund::cells::Pipeline LoadPipeline(const std::string& file, const std::string& channel,
                                   const std::string& model) {
  sund::cells::Pipeline p = sund::cells::DefaultPipeline(channel);
  if (!file.empty()) {
    auto text = sund::ReadFileDecompressed(file);
    if (!text.ok()) Fail(text.status());
    auto parsed = sund::cells::ParsePipeline(*text);
    if (!parsed.ok()) Fail(parsed.status());
    p = std::move(parsed).value();
  }
  if (!model.empty()) {
    for (auto& step : p.steps) {
      if (step.kind == sund::cells::StepKind::kPrimary) {
        step.kind = sund::cells::StepKind::kModel;
        step.model = model;
        step.primary_options.unclump = sund::cells::UnclumpMethod::kShape;
        step.primary_options.dividing_lines = sund::cells::DividingLines::kShape;
        break;
      }
    }
  }
  return p;
}

struct ScreenFlags {
  std::string plate_map, readout, dose_readout = "percent_of_negative";
};

// Plate statistics and report.html for a results folder (after analyze, or after merge).
void RunScreenReport(const std::string& results, const ScreenFlags& f,
                     const std::optional<sund::cells::AnalyzeSummary>& analysis) {
  sund::cells::ScreenOptions o;
  o.readout = f.readout;
  auto readout = sund::cells::ParseReadout(f.dose_readout);
  if (!readout.ok()) Fail(readout.status());
  o.dose_readout = *readout;
  auto screen = sund::cells::RunScreen(results, f.plate_map, o, analysis);
  if (!screen.ok()) Fail(screen.status());
  if (!f.plate_map.empty()) std::printf("%s", sund::cells::ScreenSummaryText(*screen).c_str());
  std::printf("report: %s/report.html\n", results.c_str());
}

void AddScreenFlags(CLI::App* c, ScreenFlags& f) {
  c->add_option("--plate-map", f.plate_map,
                "CSV: well, compound, concentration, unit, role (negative, positive, sample) "
                "[, plate]: per-well values, Z', SSMD and dose-response fits");
  c->add_option("--readout", f.readout,
                "the Image.csv column each image contributes (default: Count_ of the first "
                "objects)");
  c->add_option("--dose-readout", f.dose_readout,
                "what the curves are fitted to: mean, percent_of_negative, percent_inhibition, "
                "robust_z")
      ->capture_default_str();
}

struct AnalyzeFlags {
  std::string images, manifest, pattern, channel_map, out, pipeline, model, shard = "1/1";
  ScreenFlags screen;
  std::string channel = "DNA";
  int threads = 0;
  bool no_overlays = false;
  std::vector<std::string> roots;
};

void RunAnalyze(const AnalyzeFlags& f) {
  sund::cells::Pipeline pipeline = LoadPipeline(f.pipeline, f.channel, f.model);
  sund::Result<std::vector<sund::cells::ImageSet>> sets = sund::Status::Ok();
  if (!f.manifest.empty()) {
    sets = sund::cells::ReadManifest(f.manifest);
  } else if (f.images.empty()) {
    Fail(sund::InvalidArgument("give --images DIR or --manifest CSV"));
  } else if (!f.pattern.empty()) {
    std::map<std::string, std::string> map;
    if (!f.channel_map.empty()) {
      auto m = sund::cells::ParseChannelMap(f.channel_map);
      if (!m.ok()) Fail(m.status());
      map = *m;
    }
    sets = sund::cells::ScanFolder(f.images, f.pattern, map);
  } else {
    auto channels = pipeline.Channels();
    if (channels.size() > 1) {
      Fail(sund::InvalidArgument("the pipeline reads " + std::to_string(channels.size()) +
                                 " channels: give --manifest, or --pattern and --channels"));
    }
    sets =
        sund::cells::ScanFolderSingleChannel(f.images, channels.empty() ? f.channel : channels[0]);
  }
  if (!sets.ok()) Fail(sets.status());
  if (sets->empty()) Fail(sund::NotFound("no image sets found"));
  if (auto st = sund::cells::RequireChannels(*sets, pipeline.Channels()); !st.ok()) Fail(st);
  sund::cells::AnalyzeOptions o;
  o.out_dir = f.out;
  o.threads = f.threads;
  o.overlays = !f.no_overlays;
  o.model_roots = ModelRoots(f.roots);
  if (std::sscanf(f.shard.c_str(), "%d/%d", &o.shard, &o.shards) != 2) {
    Fail(sund::InvalidArgument("--shard takes K/N, e.g. 3/8"));
  }
  auto summary = sund::cells::Analyze(pipeline, *sets, o);
  if (!summary.ok()) Fail(summary.status());
  std::printf("analyzed %d image sets in %.2f s (%.1f/s), %d failed\n", summary->image_sets,
              summary->seconds, summary->image_sets / std::max(summary->seconds, 1e-9),
              summary->failed);
  for (const auto& [name, n] : summary->objects) {
    std::printf("  %-12s %lld objects\n", name.c_str(), static_cast<long long>(n));
  }
  for (const auto& [set, why] : summary->failures) {
    std::printf("  failed: %s: %s\n", set.c_str(), why.c_str());
  }
  std::printf("results in %s (Image.csv, one CSV per object set, pipeline.json%s)\n", f.out.c_str(),
              o.overlays ? ", overlays/" : "");
  if (o.shards > 1) {
    if (!f.screen.plate_map.empty()) {
      std::printf("plate statistics: after sund cells merge (--plate-map there)\n");
    }
    return;
  }
  RunScreenReport(f.out, f.screen, *summary);
  if (summary->image_sets > 0 && summary->failed == summary->image_sets) {
    Fail(sund::InvalidArgument("every image set failed (see failures.csv)"));
  }
}

struct EvalFlags {
  std::string images, labels, model, pipeline, split, set = "test";
  bool json = false;
  int threads = 0;
  std::vector<std::string> roots;
};

// The ids of `split_csv` (columns id, split) whose split is `set`.
std::vector<std::string> SplitIds(const std::string& split_csv, const std::string& set) {
  auto text = sund::ReadFileDecompressed(split_csv);
  if (!text.ok()) Fail(text.status());
  auto table = sund::ParseCsv(*text);
  if (!table.ok()) Fail(table.status());
  auto id = table->Column("id");
  auto split = table->Column("split");
  if (!id || !split) Fail(sund::InvalidArgument(split_csv + ": needs the columns id and split"));
  std::vector<std::string> ids;
  for (const auto& row : table->rows) {
    if (row[*split] == set) ids.push_back(row[*id]);
  }
  if (ids.empty()) Fail(sund::InvalidArgument(split_csv + ": no image in split '" + set + "'"));
  return ids;
}

void RunEval(const EvalFlags& f) {
  sund::cells::Pipeline pipeline = LoadPipeline(f.pipeline, "DNA", f.model);
  if (f.pipeline.empty()) {
    // Ground truth keeps the nuclei cut by the image's edge; so does the evaluated pipeline.
    for (auto& s : pipeline.steps) s.primary_options.discard_border_objects = false;
    pipeline.steps.resize(1);
  }
  sund::cells::EvalOptions o;
  o.threads = f.threads;
  o.progress = !f.json;
  o.model_roots = ModelRoots(f.roots);
  if (!f.split.empty()) o.ids = SplitIds(f.split, f.set);
  auto run = sund::cells::EvaluatePipeline(pipeline, f.images, f.labels, o);
  if (!run.ok()) Fail(run.status());
  if (f.json) {
    std::printf("%s\n", sund::cells::SummaryJson(run->summary).c_str());
  } else {
    const auto& s = run->summary;
    std::printf(
        "%d images in %.2f s (%.1f images/s)\n  AP@0.5          %.3f\n  AP@0.5:0.95     "
        "%.3f\n  F1@0.5          %.3f\n  count error     %.1f%% mean, %.1f%% median\n",
        s.images, run->seconds, s.images / std::max(run->seconds, 1e-9), s.ap50, s.ap, s.f1,
        100 * s.count_error, 100 * s.median_count_error);
  }
  for (const auto& [name, why] : run->failures) {
    std::fprintf(stderr, "failed: %s: %s\n", name.c_str(), why.c_str());
  }
  if (!run->failures.empty()) throw CLI::RuntimeError(1);
}

struct ClassifyFlags {
  std::string objects, labels, model, out, features;
  int trees = 100, folds = 5, threads = 0;
  std::uint64_t seed = 1;
};

std::vector<std::string> SplitCommas(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < s.size()) {
    std::size_t end = s.find(',', start);
    if (end == std::string::npos) end = s.size();
    if (end > start) out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

// With --labels: train, cross-validate and save; with --model: apply to every object.
void RunClassify(const ClassifyFlags& f) {
  if (f.labels.empty() == f.model.empty()) {
    Fail(sund::InvalidArgument("give --labels (train a classifier) or --model (apply one)"));
  }
  sund::cells::RandomForest forest;
  if (!f.labels.empty()) {
    if (f.out.empty()) Fail(sund::InvalidArgument("--out FILE.json names the trained model"));
    auto set = sund::cells::LoadTrainingSet(f.objects, f.labels, SplitCommas(f.features));
    if (!set.ok()) Fail(set.status());
    sund::cells::ForestOptions o;
    o.trees = f.trees;
    o.seed = f.seed;
    o.threads = f.threads;
    auto cv = sund::cells::CrossValidate(*set, o, f.folds);
    if (!cv.ok()) Fail(cv.status());
    std::printf(
        "%zu labelled cells, %zu classes, %zu features; %d-fold cross-validated accuracy "
        "%.3f\n",
        set->y.size(), set->classes.size(), set->features.size(), cv->folds, cv->accuracy);
    for (std::size_t c = 0; c < set->classes.size(); ++c) {
      std::printf("  %-20s precision %.3f  recall %.3f\n", set->classes[c].c_str(),
                  cv->precision[c], cv->recall[c]);
    }
    auto trained = sund::cells::RandomForest::Train(*set, o);
    if (!trained.ok()) Fail(trained.status());
    forest = std::move(trained).value();
    std::vector<std::size_t> order(forest.features().size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(),
              [&](auto a, auto b) { return forest.importance()[a] > forest.importance()[b]; });
    std::printf("  most telling measurements:");
    for (std::size_t i = 0; i < std::min<std::size_t>(5, order.size()); ++i) {
      std::printf(" %s (%.2f)", forest.features()[order[i]].c_str(), forest.importance()[order[i]]);
    }
    std::printf("\n");
    std::ofstream out(f.out, std::ios::trunc);
    out << forest.ToJson();
    if (!out) Fail(sund::Internal("cannot write " + f.out));
    std::printf("model: %s\n", f.out.c_str());
  } else {
    auto text = sund::ReadFileDecompressed(f.model);
    if (!text.ok()) Fail(text.status());
    auto loaded = sund::cells::RandomForest::FromJson(*text);
    if (!loaded.ok()) Fail(loaded.status());
    forest = std::move(loaded).value();
  }
  auto summary = sund::cells::ClassifyObjects(forest, f.objects, {}, f.threads);
  if (!summary.ok()) Fail(summary.status());
  std::printf("classified %lld objects:", static_cast<long long>(summary->objects));
  for (std::size_t c = 0; c < forest.classes().size(); ++c) {
    std::printf(" %s %lld", forest.classes()[c].c_str(),
                static_cast<long long>(summary->per_class[c]));
  }
  std::printf("\n  %s\n  %s\n", summary->classes_csv.c_str(), summary->counts_csv.c_str());
  // Per well, when the results' Image.csv places the images on a plate.
  fs::path image_csv = fs::path(f.objects).parent_path() / "Image.csv";
  auto per_well = sund::cells::ClassCountsPerWell(summary->counts_csv, image_csv.string());
  if (per_well.ok()) std::printf("  %s\n", per_well->c_str());
}

struct TrainFlags {
  std::string images, labels, split, set = "train", val_set, from, out;
  sund::cells::TrainOptions o;  // the numeric settings
  std::vector<std::string> roots;
};

// The command line that reproduces a training run (recorded in the package).
std::string TrainCommand(const TrainFlags& f) {
  const sund::cells::TrainOptions d;
  std::string c = "sund cells train --images " + f.images + " --labels " + f.labels;
  if (!f.split.empty()) c += " --split " + f.split + " --set " + f.set;
  if (!f.val_set.empty()) c += " --val-set " + f.val_set;
  if (!f.from.empty()) c += " --from " + f.from;
  c += " --out " + f.out + " --epochs " + std::to_string(f.o.epochs) + " --seed " +
       std::to_string(f.o.seed);
  auto add = [&c](const char* flag, auto value, auto fallback) {
    if (value != fallback) {
      std::ostringstream v;
      v << value;
      c += std::string(" ") + flag + " " + v.str();
    }
  };
  add("--steps", f.o.steps_per_epoch, d.steps_per_epoch);
  add("--batch", f.o.batch, d.batch);
  add("--crop", f.o.crop, d.crop);
  add("--channels", f.o.base_channels, d.base_channels);
  add("--levels", f.o.levels, d.levels);
  add("--lr", f.o.learning_rate, d.learning_rate);
  add("--contact-weight", f.o.contact_weight, d.contact_weight);
  add("--patience", f.o.patience, d.patience);
  add("--threads", f.o.threads, d.threads);
  return c;
}

void RunTrain(const TrainFlags& f) {
  sund::cells::TrainOptions o = f.o;
  o.images_dir = f.images;
  o.labels_dir = f.labels;
  o.out_dir = f.out;
  o.data = "images " + f.images + ", labels " + f.labels;
  if (!f.split.empty()) {
    if (f.set == f.val_set) Fail(sund::InvalidArgument("--set and --val-set must differ"));
    o.train_ids = SplitIds(f.split, f.set);
    o.data += ", split " + f.split + " (training '" + f.set + "'";
    if (!f.val_set.empty()) {
      o.val_ids = SplitIds(f.split, f.val_set);
      o.data += ", validation '" + f.val_set + "'";
    }
    o.data += ")";
  } else if (!f.val_set.empty()) {
    Fail(sund::InvalidArgument("--val-set needs --split"));
  }
  if (!f.from.empty()) o.from = ResolveModel(f.from, ModelRoots(f.roots));
  o.command = TrainCommand(f);
  auto r = sund::cells::Train(o);
  if (!r.ok()) Fail(r.status());
  std::printf(
      "trained %zu epochs (best %d) on %d images in %.0f s\n  validation (%d images): AP@0.5 "
      "%.3f, AP@0.5:0.95 %.3f, F1@0.5 %.3f\n  package %s (%lld parameters, weights %.1f MB); "
      "check it with: sund cells models test %s\n",
      r->epochs.size(), r->best_epoch, r->train_images, r->seconds, r->val_images, r->val_ap50,
      r->val_ap, r->val_f1, r->package.c_str(), static_cast<long long>(r->parameters),
      r->weights_bytes / 1e6, r->package.c_str());
}

}  // namespace

void AddCellsCommands(CLI::App& app) {
  auto* cells = app.add_subcommand("cells", "microscopy cell screening (docs/cells.md)");
  cells->require_subcommand(1);

  auto* models = cells->add_subcommand("models", "segmentation models (bioimage.io packages)");
  models->require_subcommand(1);
  auto flags = std::make_shared<ModelFlags>();
  auto add_roots = [&](CLI::App* c) {
    c->add_option("--models", flags->roots,
                  "folders holding model folders (default: SUND_MODELS, else the shipped ones)");
  };
  auto* list = models->add_subcommand("list", "the installed models");
  add_roots(list);
  list->callback([flags] { ModelsList(*flags); });
  auto* test = models->add_subcommand(
      "test", "run each model (or the named one) on its own test tensors and compare");
  add_roots(test);
  test->add_option("name", flags->name, "a model's name or folder (default: all)");
  test->add_option("--tolerance", flags->tolerance, "largest accepted difference")
      ->capture_default_str();
  test->add_option("--weights", flags->weights, "the weights to run: auto, onnx or torchscript")
      ->capture_default_str();
  test->callback([flags] { ModelsTest(*flags); });
  auto* show = models->add_subcommand("show", "a model's description");
  add_roots(show);
  show->add_option("name", flags->name, "a model's name or folder")->required();
  show->add_option("--weights", flags->weights, "the weights to load: auto, onnx or torchscript")
      ->capture_default_str();
  show->callback([flags] { ModelsShow(*flags); });

  auto af = std::make_shared<AnalyzeFlags>();
  auto* analyze = cells->add_subcommand(
      "analyze", "segment, measure and count every image set of a plate (docs/cells.md)");
  analyze->add_option("--images", af->images, "folder of images");
  analyze->add_option("--manifest", af->manifest,
                      "CSV in CellProfiler's LoadData layout (FileName_<Channel>, Metadata_*)");
  analyze->add_option("--pattern", af->pattern,
                      "file-name regular expression with named groups, e.g. "
                      "'_(?P<Well>[A-P][0-9]{2})f(?P<Site>[0-9]{2})d(?P<Channel>[0-9])'");
  analyze->add_option("--channels", af->channel_map, "names for the Channel group: 0=DNA,1=PH3");
  analyze->add_option("--channel", af->channel, "the channel of a folder of one-channel images")
      ->capture_default_str();
  analyze->add_option("--out", af->out, "results folder")->required();
  analyze->add_option("--pipeline", af->pipeline, "pipeline file (JSON; default: nuclei)");
  analyze->add_option("--model", af->model,
                      "segment the first objects with this model instead (e.g. default)");
  analyze->add_option("--threads", af->threads, "worker threads (0: one per core)");
  analyze->add_option("--shard", af->shard, "process part K of N of the image sets (K/N)")
      ->capture_default_str();
  analyze->add_flag("--no-overlays", af->no_overlays, "write no outline images");
  analyze->add_option("--models", af->roots, "folders holding models");
  AddScreenFlags(analyze, af->screen);
  analyze->callback([af] { RunAnalyze(*af); });

  auto ef = std::make_shared<EvalFlags>();
  auto* eval = cells->add_subcommand(
      "eval", "score a segmentation against ground-truth label images (AP, F1, count error)");
  eval->add_option("--images", ef->images, "folder of images")->required();
  eval->add_option("--labels", ef->labels, "folder of label images, same names")->required();
  eval->add_option("--model", ef->model, "a model (default: the classical pipeline)");
  eval->add_option("--pipeline", ef->pipeline, "pipeline file; its first objects are scored");
  eval->add_option("--split", ef->split, "CSV with columns id and split: score only one split");
  eval->add_option("--set", ef->set, "the split to score")->capture_default_str();
  eval->add_flag("--json", ef->json,
                 "print one JSON object: images, ap50, ap, f1, count_error, median_count_error");
  eval->add_option("--threads", ef->threads, "worker threads (0: one per core)");
  eval->add_option("--models", ef->roots, "folders holding models");
  eval->callback([ef] { RunEval(*ef); });

  auto tf = std::make_shared<TrainFlags>();
  auto* train = cells->add_subcommand(
      "train",
      "train a nuclei U-Net (or fine-tune a model) on the CPU and write a bioimage.io package");
  train->add_option("--images", tf->images, "folder of images")->required();
  train->add_option("--labels", tf->labels, "folder of label images, same names")->required();
  train->add_option("--split", tf->split, "CSV with columns id and split: train on one split");
  train->add_option("--set", tf->set, "the split to train on")->capture_default_str();
  train->add_option("--val-set", tf->val_set,
                    "the split to validate on (default: 10% of the training images)");
  train->add_option("--from", tf->from, "fine-tune this model's TorchScript weights");
  train->add_option("--out", tf->out, "the package folder to write")->required();
  train->add_option("--epochs", tf->o.epochs, "most epochs")->capture_default_str();
  train->add_option("--steps", tf->o.steps_per_epoch, "steps per epoch")->capture_default_str();
  train->add_option("--batch", tf->o.batch, "crops per step")->capture_default_str();
  train->add_option("--crop", tf->o.crop, "crop edge in pixels")->capture_default_str();
  train->add_option("--channels", tf->o.base_channels, "U-Net channels at the first level")
      ->capture_default_str();
  train->add_option("--levels", tf->o.levels, "U-Net levels")->capture_default_str();
  train->add_option("--lr", tf->o.learning_rate, "initial learning rate (Adam, cosine decay)")
      ->capture_default_str();
  train
      ->add_option("--contact-weight", tf->o.contact_weight,
                   "loss weight of pixels where two objects meet (1: none)")
      ->capture_default_str();
  train
      ->add_option("--patience", tf->o.patience,
                   "stop after this many epochs without a better validation AP@0.5")
      ->capture_default_str();
  train->add_option("--seed", tf->o.seed, "random seed")->capture_default_str();
  train->add_option("--threads", tf->o.threads, "libtorch threads")->capture_default_str();
  train->add_option("--models", tf->roots, "folders holding models (for --from)");
  train->callback([tf] { RunTrain(*tf); });

  auto parts = std::make_shared<std::vector<std::string>>();
  auto merge_out = std::make_shared<std::string>();
  auto merge_screen = std::make_shared<ScreenFlags>();
  auto* merge = cells->add_subcommand("merge", "join the results of analyze --shard K/N runs");
  merge->add_option("parts", *parts, "the shards' results folders")->required();
  merge->add_option("--out", *merge_out, "results folder")->required();
  AddScreenFlags(merge, *merge_screen);
  merge->callback([parts, merge_out, merge_screen] {
    if (auto st = sund::cells::MergeShards(*parts, *merge_out); !st.ok()) Fail(st);
    std::printf("merged %zu parts into %s\n", parts->size(), merge_out->c_str());
    RunScreenReport(*merge_out, *merge_screen, std::nullopt);
  });

  auto cf = std::make_shared<ClassifyFlags>();
  auto* classify = cells->add_subcommand(
      "classify",
      "phenotypes per cell: train a random forest on labelled cells (--labels) and apply it, or "
      "apply a trained one (--model)");
  classify->add_option("--objects", cf->objects, "a per-object CSV of analyze (Nuclei.csv ...)")
      ->required();
  classify->add_option("--labels", cf->labels, "CSV: ImageNumber, ObjectNumber, Class");
  classify->add_option("--model", cf->model, "a model trained before (JSON)");
  classify->add_option("--out", cf->out, "where to save the trained model (JSON)");
  classify->add_option("--features", cf->features,
                       "measurements to use, comma-separated (default: every numeric one)");
  classify->add_option("--trees", cf->trees, "trees in the forest")->capture_default_str();
  classify->add_option("--folds", cf->folds, "cross-validation folds")->capture_default_str();
  classify->add_option("--seed", cf->seed, "random seed")->capture_default_str();
  classify->add_option("--threads", cf->threads, "threads (0: one per core)");
  classify->callback([cf] { RunClassify(*cf); });

  auto plate_results = std::make_shared<std::string>();
  auto plate_flags = std::make_shared<ScreenFlags>();
  auto* plate = cells->add_subcommand(
      "plate", "plate statistics, dose-response fits and report.html for a results folder");
  plate->add_option("--results", *plate_results, "a results folder of analyze or merge")
      ->required();
  AddScreenFlags(plate, *plate_flags);
  plate->callback([plate_results, plate_flags] {
    RunScreenReport(*plate_results, *plate_flags, std::nullopt);
  });
}

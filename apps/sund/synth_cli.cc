#include "synth_cli.h"

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "cohort_input.h"
#include "core/file_reader.h"
#include "core/progress.h"
#include "core/status.h"
#include "http/client.h"
#include "storage/store.h"
#include "synth/cohort.h"
#include "synth/dp.h"
#include "synth/evaluate.h"
#include "synth/fhir_out.h"
#include "synth/model.h"
#include "synth/schema.h"

namespace {

using sund::Status;
namespace synth = sund::synth;

[[noreturn]] void Fail(const Status& s) {
  std::fprintf(stderr, "sund synth: %s\n", s.ToString().c_str());
  throw CLI::RuntimeError(1);
}

template <typename T>
T OrFail(sund::Result<T> r) {
  if (!r.ok()) Fail(r.status());
  return std::move(*r);
}

void WriteFile(const std::string& path, std::string_view bytes) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) Fail(sund::InvalidArgument("cannot write " + path));
  bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  ok = std::fclose(f) == 0 && ok;
  if (!ok) Fail(sund::Internal("writing " + path + " failed (disk full?)"));
}

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

struct SchemaFlags {
  std::string csv, schema, out;
  std::size_t max_categories = 1000;
  int bins = 32;
};

// The schema: from --schema, else inferred from the table (with a warning from fit).
synth::Schema LoadSchema(const sund::CsvTable& table, const SchemaFlags& f) {
  if (!f.schema.empty()) {
    auto text = OrFail(sund::ReadFileDecompressed(f.schema));
    auto s = synth::ParseSchema(text);
    if (!s.ok()) Fail(sund::InvalidArgument(f.schema + ": " + s.status().message()));
    return std::move(*s);
  }
  synth::InferOptions io;
  io.max_categories = f.max_categories;
  io.bins = f.bins;
  return OrFail(synth::InferSchema(table, io));
}

void AddSchemaFlags(CLI::App* c, SchemaFlags& f) {
  c->add_option("--schema", f.schema,
                "column types and public domains (JSON; Sund's format or a Private-PGM domain "
                "file); default: inferred from the data");
  c->add_option("--max-categories", f.max_categories,
                "inferring: more distinct values than this in a text column is an error")
      ->capture_default_str();
  c->add_option("--bins", f.bins, "inferring: bins of a numeric column")->capture_default_str();
}

struct FitFlags {
  SchemaFlags schema;
  std::string data, url, token, cohort;
  std::string method = "mst";
  double epsilon = 1.0;
  double delta = 1e-6;
  std::optional<std::uint64_t> seed;
  int iterations = 10000;
  double quantile_share = 0.1;
};

// The table to fit: a CSV file with its schema, or a cohort extracted from the FHIR store.
struct FitInput {
  sund::CsvTable table;
  synth::Schema schema;
  std::string cohort;  // the resolved spec (JSON) for a cohort
};

FitInput LoadFitInput(const FitFlags& f, const StoreOpener& open_store) {
  FitInput in;
  int sources = !f.schema.csv.empty() + !f.data.empty() + !f.url.empty();
  if (sources != 1) Fail(sund::InvalidArgument("give one of --csv, --data or --url"));
  if (!f.schema.csv.empty()) {
    if (!f.cohort.empty()) Fail(sund::InvalidArgument("--cohort goes with --data or --url"));
    in.table = OrFail(synth::ReadCsvFile(f.schema.csv));
    in.schema = LoadSchema(in.table, f.schema);
    return in;
  }
  if (f.cohort.empty()) Fail(sund::InvalidArgument("--data and --url need --cohort SPEC"));
  if (!f.schema.schema.empty()) {
    Fail(sund::InvalidArgument("a cohort's schema comes from its spec: drop --schema"));
  }
  CohortTable t = OrFail(LoadCohortTable({f.data, f.url, f.token, f.cohort}, open_store));
  in.table = std::move(t.table);
  in.schema = std::move(t.schema);
  in.cohort = std::move(t.cohort_json);
  return in;
}

void RunFit(const FitFlags& f, const StoreOpener& open_store) {
  auto start = std::chrono::steady_clock::now();
  auto method = synth::ParseMethod(f.method);
  if (!method) Fail(sund::InvalidArgument("--method must be mst, independent or copula"));
  FitInput in = LoadFitInput(f, open_store);
  sund::CsvTable& table = in.table;
  synth::Schema& schema = in.schema;
  if (schema.from_data && *method == synth::Method::kMst) {
    std::fprintf(stderr,
                 "sund synth: note: no --schema: the columns' categories and ranges are taken "
                 "from the data and are not protected by differential privacy (write one with "
                 "`sund synth schema`, check it, and pass it with --schema)\n");
  }
  synth::FitOptions o;
  o.method = *method;
  o.epsilon = f.epsilon;
  o.delta = f.delta;
  o.seed = f.seed;
  o.iterations = f.iterations;
  o.quantile_share = f.quantile_share;
  sund::ProgressBar bar("fit", 1000, "steps");
  std::uint64_t shown = 0;
  o.progress = [&](std::string_view, double done) {
    auto target = static_cast<std::uint64_t>(done * 1000);
    if (target > shown) {
      bar.Add(target - shown, 0);
      shown = target;
    }
  };
  synth::Model model = OrFail(synth::Fit(table, schema, o));
  model.cohort = std::move(in.cohort);
  WriteFile(f.schema.out, synth::ModelToJson(model));
  std::printf("fit %s: %zu rows x %zu columns in %.1f s -> %s\n",
              std::string(synth::MethodName(model.method)).c_str(), table.rows.size(),
              schema.columns.size(), Seconds(start), f.schema.out.c_str());
  if (model.privacy.is_private) {
    std::printf("  privacy: epsilon %g, delta %g (zCDP rho %.5f of %.5f spent)\n", f.epsilon,
                f.delta, model.privacy.rho_spent, model.privacy.rho_budget);
  } else {
    std::printf("  privacy: none (a baseline for comparison; do not release it)\n");
  }
  for (const auto& [k, v] : model.notes) std::printf("  %s: %s\n", k.c_str(), v.c_str());
}

struct GenerateFlags {
  std::string model, out, fhir;
  std::uint64_t rows = 1000;
  std::uint64_t seed = 1;
};

void RunGenerate(const GenerateFlags& f) {
  auto start = std::chrono::steady_clock::now();
  auto text = OrFail(sund::ReadFileDecompressed(f.model));
  synth::Model model = OrFail(synth::ParseModel(text));
  if (f.fhir.empty() == f.out.empty()) {
    Fail(sund::InvalidArgument("give --out FILE (CSV) or --fhir DIR (FHIR Bundles)"));
  }
  sund::ProgressBar bar("generate", f.rows, f.fhir.empty() ? "rows" : "patients");
  std::uint64_t shown = 0;
  auto progress = [&](std::uint64_t done) {
    bar.Add(done - shown, done - shown);
    shown = done;
  };
  if (!f.fhir.empty()) {
    auto summary = OrFail(synth::WriteSyntheticPatients(model, f.rows, f.seed, f.fhir, progress));
    bar.Finish();
    std::printf(
        "generated %zu synthetic patients (%zu resources, %zu Bundles) in %.2f s -> %s (load them "
        "with sund import)\n",
        summary.patients, summary.resources, summary.files, Seconds(start), f.fhir.c_str());
    return;
  }
  if (auto st = synth::WriteSyntheticCsv(model, f.rows, f.seed, f.out, progress); !st.ok()) {
    Fail(st);
  }
  bar.Finish();
  if (f.out != "-") {
    std::printf("generated %llu rows from a %s model in %.2f s -> %s\n",
                static_cast<unsigned long long>(f.rows),
                std::string(synth::MethodName(model.method)).c_str(), Seconds(start),
                f.out.c_str());
  }
}

struct EvaluateFlags {
  std::string real, holdout, synthetic, report;
  bool json = false;
  synth::EvaluateOptions options;
};

void RunEvaluate(const EvaluateFlags& f) {
  sund::CsvTable real = OrFail(synth::ReadCsvFile(f.real));
  std::optional<sund::CsvTable> holdout;
  if (!f.holdout.empty()) holdout = OrFail(synth::ReadCsvFile(f.holdout));
  sund::CsvTable synthetic = OrFail(synth::ReadCsvFile(f.synthetic));
  synth::Evaluation e =
      OrFail(synth::Evaluate(real, holdout ? &*holdout : nullptr, synthetic, f.options));
  if (!f.report.empty()) {
    WriteFile(f.report, synth::EvaluationReportHtml(e, "Synthetic data: " + f.synthetic));
  }
  if (f.json) {
    std::printf("%s\n", synth::EvaluationJson(e).c_str());
    return;
  }
  auto show = [](const char* name, const std::optional<double>& v, const char* good) {
    if (v) {
      std::printf("  %-16s %8.4f   %s\n", name, *v, good);
    } else {
      std::printf("  %-16s %8s   %s\n", name, "-", good);
    }
  };
  std::printf("%zu real, %zu holdout, %zu synthetic rows; %zu columns (%.1f s)\n", e.rows_real,
              e.rows_holdout, e.rows_synthetic, e.columns.size(), e.seconds);
  show("tvd1", e.tvd1, "1-way total variation distance (0 = same marginals)");
  show("tvd2", e.tvd2, "2-way TVD, mean over column pairs");
  show("corr_diff", e.corr_diff, "mean |association difference| over pairs");
  show("tstr_auc", e.tstr_auc, "AUC of a model trained on synthetic, tested on holdout");
  show("trtr_auc", e.trtr_auc, "... trained on real: what tstr_auc should approach");
  show("exact_copy_rate", e.exact_copy_rate, "synthetic rows equal to a training row");
  show("dcr_share", e.dcr_share, "closer to training than holdout (0.5 = no leak)");
  show("nndr", e.nndr, "median nearest/second-nearest distance ratio (low = copies)");
  show("mia_auc", e.mia_auc, "membership-inference attack AUC (0.5 = nothing leaks)");
  if (!f.report.empty()) std::printf("report: %s\n", f.report.c_str());
}

}  // namespace

void AddSynthCommands(CLI::App& app, StoreOpener open_store) {
  auto* synth_cmd = app.add_subcommand(
      "synth", "synthetic data: differentially private models of a table (docs/synth.md)");
  synth_cmd->require_subcommand(1);

  auto sf = std::make_shared<SchemaFlags>();
  auto* schema = synth_cmd->add_subcommand(
      "schema", "infer a table's schema (column types and domains) for review and --schema");
  schema->add_option("--csv", sf->csv, "the table (CSV with a header)")->required();
  schema->add_option("--out", sf->out, "where to write the schema (JSON)")->required();
  AddSchemaFlags(schema, *sf);
  schema->callback([sf] {
    sund::CsvTable table = OrFail(synth::ReadCsvFile(sf->csv));
    synth::Schema s = LoadSchema(table, *sf);
    WriteFile(sf->out, synth::SchemaToJson(s));
    std::printf("schema of %zu columns -> %s (check the ranges and categories: they are public)\n",
                s.columns.size(), sf->out.c_str());
  });

  auto ff = std::make_shared<FitFlags>();
  auto* fit = synth_cmd->add_subcommand("fit", "fit a model to a table");
  fit->add_option("--csv", ff->schema.csv, "the table (CSV with a header)");
  AddSchemaFlags(fit, ff->schema);
  fit->add_option("--epsilon", ff->epsilon, "privacy budget epsilon")->capture_default_str();
  fit->add_option("--delta", ff->delta, "privacy budget delta (well below 1/rows)")
      ->capture_default_str();
  fit->add_option("--method", ff->method,
                  "mst (differentially private), independent or copula (non-private baselines)")
      ->capture_default_str();
  fit->add_option("--seed", ff->seed,
                  "random seed, for reproducible runs (default: from the operating system, as a "
                  "model for release should be)");
  fit->add_option("--iterations", ff->iterations, "mirror-descent iterations at most")
      ->capture_default_str();
  fit->add_option("--quantile-share", ff->quantile_share,
                  "MST: the share of the budget for the bin edges of numeric columns")
      ->check(CLI::Range(0.01, 0.9))
      ->capture_default_str();
  fit->add_option("--out", ff->schema.out, "the model file to write (JSON)")->required();
  fit->add_option("--data", ff->data, "extract a cohort from this data directory's FHIR store");
  fit->add_option("--url", ff->url, "extract a cohort through a running server (its FHIR base)");
  fit->add_option("--token", ff->token,
                  "with --url: a bearer token allowed to read the cohort's resources");
  fit->add_option("--cohort", ff->cohort,
                  "with --data or --url: the cohort and features (JSON or YAML, docs/synth.md)");
  fit->callback([ff, open_store] { RunFit(*ff, open_store); });

  auto gf = std::make_shared<GenerateFlags>();
  auto* gen = synth_cmd->add_subcommand("generate", "draw synthetic rows from a model");
  gen->add_option("--model", gf->model, "a model file of `sund synth fit`")->required();
  gen->add_option("--rows", gf->rows, "rows to draw")->capture_default_str();
  gen->add_option("--seed", gf->seed, "random seed")->capture_default_str();
  gen->add_option("--out", gf->out, "CSV file to write ('-': standard output)");
  gen->add_option("--fhir", gf->fhir,
                  "write synthetic patients as FHIR transaction Bundles into this folder (a "
                  "model fitted on a cohort)");
  gen->callback([gf] { RunGenerate(*gf); });

  auto ef = std::make_shared<EvaluateFlags>();
  auto* ev = synth_cmd->add_subcommand(
      "evaluate", "fidelity and privacy of synthetic rows against the real ones (docs/synth.md)");
  ev->add_option("--real", ef->real, "the training table the model was fitted on")->required();
  ev->add_option("--holdout", ef->holdout,
                 "real rows not used for fitting (for TSTR, DCR and membership inference)");
  ev->add_option("--synthetic", ef->synthetic, "the synthetic table")->required();
  ev->add_option("--target", ef->options.target, "a binary column to predict (TSTR/TRTR)");
  ev->add_option("--positive", ef->options.positive,
                 "the target's positive class (default: the rarer of two)");
  ev->add_option("--report", ef->report, "write an HTML report here");
  ev->add_flag("--json", ef->json, "print the figures as one JSON object");
  ev->add_option("--privacy-sample", ef->options.privacy_sample,
                 "rows sampled for the nearest-neighbour figures")
      ->capture_default_str();
  ev->add_option("--seed", ef->options.seed, "random seed of the samples")->capture_default_str();
  ev->add_option("--threads", ef->options.threads, "threads (0: one per core)");
  ev->callback([ef] { RunEvaluate(*ef); });
}

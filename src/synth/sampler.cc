// Sampler: ancestral sampling of the forest (MST, independent) or the Gaussian copula, decoding
// codes to values (a bin's values uniformly, MST's merged value as one of its members).
#include <Eigen/Cholesky>
#include <Eigen/Dense>
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <numeric>

#include "synth/dp.h"
#include "synth/internal/fit.h"
#include "synth/model.h"

namespace sund::synth {

struct Sampler::Impl {
  Model model;
  Rng rng;
  std::size_t d = 0;
  // Forest: per column, cumulative rows (one per parent code; one row for a root).
  std::vector<std::vector<double>> cum;
  std::vector<std::size_t> csize;                // compressed sizes
  std::vector<std::vector<std::uint32_t>> rest;  // MST: the codes merged into the last one
  std::vector<std::vector<double>> rest_cum;     // their cumulative weights (empty: uniform)
  std::vector<std::uint32_t> compressed;         // scratch: one row's compressed codes
  std::vector<std::uint32_t> codes;              // scratch: one row's codes
  // Copula.
  Eigen::MatrixXd chol;
  Eigen::VectorXd z, x;
  std::normal_distribution<double> normal{0.0, 1.0};

  double Uniform() { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

  static std::uint32_t Pick(const double* cdf, std::size_t n, double u) {
    auto it = std::upper_bound(cdf, cdf + n, u);
    return static_cast<std::uint32_t>(std::min<std::size_t>(it - cdf, n - 1));
  }

  void Build() {
    d = model.schema.columns.size();
    codes.resize(d);
    compressed.resize(d);
    if (model.method == Method::kCopula) {
      Eigen::MatrixXd r(d, d);
      for (std::size_t i = 0; i < d; ++i) {
        for (std::size_t j = 0; j < d; ++j) r(i, j) = model.correlation[i * d + j];
      }
      // Nearest usable correlation: symmetrise and add jitter until Cholesky succeeds.
      r = (r + r.transpose()) / 2;
      for (double jitter = 0; jitter < 1; jitter = jitter == 0 ? 1e-10 : jitter * 10) {
        Eigen::MatrixXd t = r + jitter * Eigen::MatrixXd::Identity(d, d);
        Eigen::LLT<Eigen::MatrixXd> llt(t);
        if (llt.info() == Eigen::Success) {
          chol = llt.matrixL();
          break;
        }
      }
      if (chol.size() == 0) chol = Eigen::MatrixXd::Identity(d, d);
      z.resize(d);
      x.resize(d);
      return;
    }
    csize.resize(d);
    for (std::size_t c = 0; c < d; ++c) csize[c] = internal::CompressedSize(model, c);
    rest.assign(d, {});
    rest_cum.assign(d, {});
    if (!model.kept.empty()) {
      for (std::size_t c = 0; c < d; ++c) {
        std::vector<bool> kept(model.coding[c].size(), false);
        for (auto k : model.kept[c]) kept[k] = true;
        for (std::uint32_t j = 0; j < kept.size(); ++j) {
          if (!kept[j]) rest[c].push_back(j);
        }
        const auto& w = model.rest_weights[c];
        double total = std::accumulate(w.begin(), w.end(), 0.0);
        if (w.size() == rest[c].size() && total > 0) {
          double acc = 0;
          for (double x : w) {
            acc += x;
            rest_cum[c].push_back(acc / total);
          }
          rest_cum[c].back() = 1.0;
        }
      }
    }
    cum.assign(d, {});
    for (std::size_t c = 0; c < d; ++c) {
      const auto& t = model.tables[c];
      std::size_t n = csize[c];
      std::size_t rows = t.size() / n;
      // The column's own marginal, for parent values the model gives no weight.
      std::vector<double> own(n, 0.0);
      for (std::size_t i = 0; i < rows; ++i) {
        for (std::size_t j = 0; j < n; ++j) own[j] += t[i * n + j];
      }
      auto& out = cum[c];
      out.resize(t.size());
      for (std::size_t i = 0; i < rows; ++i) {
        const double* src = &t[i * n];
        double s = std::accumulate(src, src + n, 0.0);
        bool use_own = !(s > 0);
        if (use_own) s = std::accumulate(own.begin(), own.end(), 0.0);
        double acc = 0;
        for (std::size_t j = 0; j < n; ++j) {
          acc += use_own ? own[j] : src[j];
          out[i * n + j] = s > 0 ? acc / s : static_cast<double>(j + 1) / n;
        }
        out[i * n + n - 1] = 1.0;
      }
    }
  }

  void Draw() {
    if (model.method == Method::kCopula) {
      for (std::size_t i = 0; i < d; ++i) z(i) = normal(rng);
      x.noalias() = chol * z;
      for (std::size_t c = 0; c < d; ++c) {
        double u = 0.5 * std::erfc(-x(c) / std::sqrt(2.0));
        const auto& f = model.cdf[c];
        codes[c] = Pick(f.data(), f.size(), u);
      }
      return;
    }
    for (int c : model.order) {
      std::size_t n = csize[c];
      const double* row = cum[c].data();
      if (model.parent[c] >= 0) row += compressed[model.parent[c]] * n;
      std::uint32_t k = Pick(row, n, Uniform());
      compressed[c] = k;
      if (model.kept.empty()) {
        codes[c] = k;
      } else if (k < model.kept[c].size()) {
        codes[c] = model.kept[c][k];
      } else {
        const auto& r = rest[c];
        const auto& rc = rest_cum[c];
        codes[c] = rc.empty() ? r[std::min<std::size_t>(
                                    r.size() - 1, static_cast<std::size_t>(Uniform() * r.size()))]
                              : r[Pick(rc.data(), rc.size(), Uniform())];
      }
    }
  }

  void Append(std::size_t c, std::uint32_t code, std::string& out, bool csv = true) {
    const Column& col = model.schema.columns[c];
    const ColumnCoding& cc = model.coding[c];
    if (code >= cc.base) return;  // missing
    if (col.kind == ColumnKind::kCategorical) {
      synth::AppendValue(col, code, out, csv);
      return;
    }
    if (col.PerValueBins()) {
      synth::AppendValue(col, col.lower + code, out);
      return;
    }
    double lo = code == 0 ? col.lower : cc.edges[code - 1];
    double hi = code == cc.edges.size() ? col.upper : cc.edges[code];
    double v;
    if (col.kind == ColumnKind::kContinuous) {
      v = lo + (hi - lo) * Uniform();
    } else {
      double a = std::ceil(lo), b = std::floor(hi);
      v = b < a ? std::round(lo) : a + std::floor(Uniform() * (b - a + 1));
      v = std::min(v, b < a ? v : b);
    }
    synth::AppendValue(col, v, out);
  }
};

Sampler::Sampler(const Model& model, std::uint64_t seed) : impl_(std::make_unique<Impl>()) {
  impl_->model = model;
  impl_->rng.seed(seed);
  impl_->Build();
}

Sampler::~Sampler() = default;

std::string Sampler::Header() const {
  std::string out;
  for (std::size_t c = 0; c < impl_->d; ++c) {
    if (c > 0) out += ',';
    AppendCsvField(out, impl_->model.schema.columns[c].name);
  }
  out += '\n';
  return out;
}

void Sampler::AppendRows(std::size_t n, std::string& out) {
  for (std::size_t r = 0; r < n; ++r) {
    impl_->Draw();
    for (std::size_t c = 0; c < impl_->d; ++c) {
      if (c > 0) out += ',';
      impl_->Append(c, impl_->codes[c], out);
    }
    out += '\n';
  }
}

void Sampler::DrawCodes(std::vector<std::uint32_t>& codes) {
  impl_->Draw();
  codes = impl_->codes;
}

void Sampler::AppendValue(std::size_t column, std::uint32_t code, std::string& out, bool csv) {
  impl_->Append(column, code, out, csv);
}

Status WriteSyntheticCsv(const Model& model, std::uint64_t rows, std::uint64_t seed,
                         const std::string& path,
                         const std::function<void(std::uint64_t)>& progress,
                         const std::function<bool()>& cancelled) {
  FILE* out = path == "-" ? stdout : std::fopen(path.c_str(), "wb");
  if (out == nullptr) return InvalidArgument("cannot write " + path);
  Sampler sampler(model, seed);
  std::string buf = sampler.Header();
  constexpr std::uint64_t kChunk = 16384;
  bool ok = true, stopped = false;
  for (std::uint64_t done = 0; done < rows && ok;) {
    std::uint64_t n = std::min(kChunk, rows - done);
    sampler.AppendRows(n, buf);
    ok = std::fwrite(buf.data(), 1, buf.size(), out) == buf.size();
    buf.clear();
    done += n;
    if (progress) progress(done);
    if (cancelled && cancelled()) {
      stopped = true;
      break;
    }
  }
  if (rows == 0) ok = std::fwrite(buf.data(), 1, buf.size(), out) == buf.size();
  ok = (out == stdout ? std::fflush(out) == 0 : std::fclose(out) == 0) && ok;
  if (!ok) return Internal("writing " + path + " failed (disk full?)");
  if (stopped) return Status(StatusCode::kUnavailable, "cancelled");
  return Status::Ok();
}

}  // namespace sund::synth

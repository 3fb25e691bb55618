#include "cells/evaluate.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <tuple>
#include <unordered_map>

namespace sund::cells {

double ImageScore::Ap(std::size_t t) const {
  std::int32_t fp = predicted_objects - tp[t];
  std::int32_t fn = truth_objects - tp[t];
  std::int32_t denom = tp[t] + fp + fn;
  return denom == 0 ? 1.0 : static_cast<double>(tp[t]) / denom;
}

double ImageScore::F1(std::size_t t) const {
  std::int32_t denom = truth_objects + predicted_objects;
  return denom == 0 ? 1.0 : 2.0 * tp[t] / denom;
}

double ImageScore::MeanAp() const {
  double sum = 0;
  for (std::size_t t = 0; t < kIouThresholds.size(); ++t) sum += Ap(t);
  return sum / kIouThresholds.size();
}

double ImageScore::CountError() const {
  if (truth_objects == 0) return predicted_objects == 0 ? 0.0 : 1.0;
  return std::abs(predicted_objects - truth_objects) / static_cast<double>(truth_objects);
}

Result<ImageScore> ScoreInstances(const Labels& truth, const Labels& predicted) {
  if (truth.width != predicted.width || truth.height != predicted.height) {
    return InvalidArgument("label images of different sizes (" + std::to_string(truth.width) + "x" +
                           std::to_string(truth.height) + " and " +
                           std::to_string(predicted.width) + "x" +
                           std::to_string(predicted.height) + ")");
  }
  ImageScore score;
  score.truth_objects = truth.count;
  score.predicted_objects = predicted.count;
  std::vector<std::int64_t> truth_area(truth.count + 1, 0);
  std::vector<std::int64_t> pred_area(predicted.count + 1, 0);
  std::unordered_map<std::uint64_t, std::int64_t> overlap;
  for (std::size_t i = 0; i < truth.pixels.size(); ++i) {
    std::int32_t t = truth.pixels[i];
    std::int32_t p = predicted.pixels[i];
    if (t < 0 || t > truth.count || p < 0 || p > predicted.count) {
      return InvalidArgument("a label outside 0..count");
    }
    ++truth_area[t];
    ++pred_area[p];
    if (t != 0 && p != 0) ++overlap[(static_cast<std::uint64_t>(t) << 32) | p];
  }
  // Above IoU 0.5 an object has at most one partner; at exactly 0.5 (an object cut in two
  // halves) it could have two, so pairs are taken best first and each object once.
  struct Pair {
    double iou;
    std::int32_t t, p;
  };
  std::vector<Pair> pairs;
  for (const auto& [key, inter] : overlap) {
    auto t = static_cast<std::int32_t>(key >> 32);
    auto p = static_cast<std::int32_t>(key & 0xFFFFFFFFu);
    double iou = static_cast<double>(inter) / (truth_area[t] + pred_area[p] - inter);
    if (iou >= kIouThresholds[0]) pairs.push_back({iou, t, p});
  }
  std::sort(pairs.begin(), pairs.end(), [](const Pair& a, const Pair& b) {
    return std::tie(b.iou, a.t, a.p) < std::tie(a.iou, b.t, b.p);
  });
  std::vector<bool> t_used(truth.count + 1, false), p_used(predicted.count + 1, false);
  for (const Pair& m : pairs) {
    if (t_used[m.t] || p_used[m.p]) continue;
    t_used[m.t] = p_used[m.p] = true;
    for (std::size_t k = 0; k < kIouThresholds.size(); ++k) {
      if (m.iou >= kIouThresholds[k]) ++score.tp[k];
    }
  }
  return score;
}

EvalSummary Summarise(const std::vector<ImageScore>& scores) {
  EvalSummary s;
  s.images = static_cast<int>(scores.size());
  if (scores.empty()) return s;
  std::vector<double> errors;
  for (const auto& sc : scores) {
    s.ap50 += sc.Ap(0);
    s.ap += sc.MeanAp();
    s.f1 += sc.F1(0);
    s.count_error += sc.CountError();
    errors.push_back(sc.CountError());
  }
  double n = static_cast<double>(scores.size());
  s.ap50 /= n;
  s.ap /= n;
  s.f1 /= n;
  s.count_error /= n;
  std::sort(errors.begin(), errors.end());
  std::size_t m = errors.size() / 2;
  s.median_count_error = errors.size() % 2 ? errors[m] : (errors[m - 1] + errors[m]) / 2;
  return s;
}

std::string SummaryJson(const EvalSummary& s) {
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "{\"images\":%d,\"ap50\":%.4f,\"ap\":%.4f,\"f1\":%.4f,\"count_error\":%.4f,"
                "\"median_count_error\":%.4f}",
                s.images, s.ap50, s.ap, s.f1, s.count_error, s.median_count_error);
  return buf;
}

}  // namespace sund::cells

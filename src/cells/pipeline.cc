#include "cells/pipeline.h"

#include <algorithm>
#include <array>
#include <set>
#include <utility>

#include "core/json_pretty.h"

namespace sund::cells {

namespace {

template <typename E>
using Names = std::vector<std::pair<E, const char*>>;

const Names<ThresholdScope> kScopes = {{ThresholdScope::kGlobal, "global"},
                                       {ThresholdScope::kAdaptive, "adaptive"}};
const Names<ThresholdMethod> kMethods = {
    {ThresholdMethod::kMinimumCrossEntropy, "minimum_cross_entropy"},
    {ThresholdMethod::kOtsu, "otsu"},
    {ThresholdMethod::kRobustBackground, "robust_background"},
    {ThresholdMethod::kManual, "manual"}};
const Names<MiddleClass> kMiddle = {{MiddleClass::kForeground, "foreground"},
                                    {MiddleClass::kBackground, "background"}};
const Names<AveragingMethod> kAveraging = {{AveragingMethod::kMean, "mean"},
                                           {AveragingMethod::kMedian, "median"}};
const Names<VarianceMethod> kVariance = {
    {VarianceMethod::kStandardDeviation, "standard_deviation"},
    {VarianceMethod::kMedianAbsoluteDeviation, "median_absolute_deviation"}};
const Names<UnclumpMethod> kUnclump = {{UnclumpMethod::kIntensity, "intensity"},
                                       {UnclumpMethod::kShape, "shape"},
                                       {UnclumpMethod::kNone, "none"}};
const Names<DividingLines> kLines = {{DividingLines::kIntensity, "intensity"},
                                     {DividingLines::kShape, "shape"},
                                     {DividingLines::kPropagate, "propagate"},
                                     {DividingLines::kNone, "none"}};
const Names<FillHoles> kFill = {
    {FillHoles::kNever, "never"},
    {FillHoles::kAfterThresholdingAndDeclumping, "after_thresholding_and_declumping"},
    {FillHoles::kAfterDeclumpingOnly, "after_declumping_only"}};
const Names<ObjectLimit> kLimit = {{ObjectLimit::kContinue, "continue"},
                                   {ObjectLimit::kErase, "erase"}};
const Names<SecondaryMethod> kSecondary = {
    {SecondaryMethod::kPropagation, "propagation"},
    {SecondaryMethod::kWatershedGradient, "watershed_gradient"},
    {SecondaryMethod::kWatershedImage, "watershed_image"},
    {SecondaryMethod::kDistanceN, "distance_n"},
    {SecondaryMethod::kDistanceB, "distance_b"}};
const Names<StepKind> kModules = {{StepKind::kPrimary, "IdentifyPrimaryObjects"},
                                  {StepKind::kSecondary, "IdentifySecondaryObjects"},
                                  {StepKind::kTertiary, "IdentifyTertiaryObjects"},
                                  {StepKind::kModel, "SegmentWithModel"},
                                  {StepKind::kRelate, "RelateObjects"},
                                  {StepKind::kMeasureIntensity, "MeasureObjectIntensity"},
                                  {StepKind::kMeasureSizeShape, "MeasureObjectSizeShape"},
                                  {StepKind::kMeasureTexture, "MeasureTexture"}};

template <typename E>
const char* NameOf(const Names<E>& names, E value) {
  for (const auto& [v, n] : names) {
    if (v == value) return n;
  }
  return "?";
}

template <typename E>
std::string Choices(const Names<E>& names) {
  std::string s;
  for (const auto& [v, n] : names) s += (s.empty() ? "" : ", ") + std::string(n);
  return s;
}

// Reads the members of one JSON object, remembering which were used so that the rest can be
// reported as unknown.
class Reader {
 public:
  Reader(const rapidjson::Value& obj, std::string where) : obj_(obj), where_(std::move(where)) {}

  Status Error(const std::string& what) const { return InvalidArgument(where_ + ": " + what); }

  const rapidjson::Value* Get(const char* key) {
    used_.insert(key);
    auto it = obj_.FindMember(key);
    return it == obj_.MemberEnd() ? nullptr : &it->value;
  }
  Status String(const char* key, std::string& out, bool required = false) {
    const rapidjson::Value* v = Get(key);
    if (v == nullptr) return required ? Error(std::string(key) + " is required") : Status::Ok();
    if (!v->IsString() || v->GetStringLength() == 0) {
      return Error(std::string(key) + " must be a non-empty string");
    }
    out = v->GetString();
    return Status::Ok();
  }
  Status Number(const char* key, double& out, double lo, double hi) {
    const rapidjson::Value* v = Get(key);
    if (v == nullptr) return Status::Ok();
    if (!v->IsNumber() || v->GetDouble() < lo || v->GetDouble() > hi) {
      return Error(std::string(key) + " must be a number from " + Fmt(lo) + " to " + Fmt(hi));
    }
    out = v->GetDouble();
    return Status::Ok();
  }
  Status Int(const char* key, int& out, int lo, int hi) {
    double d = out;
    SUND_RETURN_IF_ERROR(Number(key, d, lo, hi));
    if (d != static_cast<int>(d)) return Error(std::string(key) + " must be a whole number");
    out = static_cast<int>(d);
    return Status::Ok();
  }
  Status Bool(const char* key, bool& out) {
    const rapidjson::Value* v = Get(key);
    if (v == nullptr) return Status::Ok();
    if (!v->IsBool()) return Error(std::string(key) + " must be true or false");
    out = v->GetBool();
    return Status::Ok();
  }
  template <typename E>
  Status Enum(const char* key, const Names<E>& names, E& out) {
    std::string s;
    SUND_RETURN_IF_ERROR(String(key, s));
    if (s.empty()) return Status::Ok();
    for (const auto& [v, n] : names) {
      if (s == n) {
        out = v;
        return Status::Ok();
      }
    }
    return Error(std::string(key) + " must be one of " + Choices(names));
  }
  Status Strings(const char* key, std::vector<std::string>& out, bool required) {
    const rapidjson::Value* v = Get(key);
    if (v == nullptr) return required ? Error(std::string(key) + " is required") : Status::Ok();
    if (!v->IsArray() || v->Empty()) return Error(std::string(key) + " must be a list of names");
    out.clear();
    for (const auto& e : v->GetArray()) {
      if (!e.IsString() || e.GetStringLength() == 0) {
        return Error(std::string(key) + " must be a list of names");
      }
      out.emplace_back(e.GetString());
    }
    return Status::Ok();
  }
  Status Unknown() const {
    for (const auto& m : obj_.GetObject()) {
      if (!used_.contains(m.name.GetString())) {
        return Error(std::string("unknown parameter '") + m.name.GetString() + "'");
      }
    }
    return Status::Ok();
  }
  const std::string& where() const { return where_; }

 private:
  static std::string Fmt(double d) {
    std::string s = std::to_string(d);
    s.erase(s.find_last_not_of('0') + 1);
    if (!s.empty() && s.back() == '.') s.pop_back();
    return s;
  }
  const rapidjson::Value& obj_;
  std::string where_;
  std::set<std::string> used_;
};

Status ReadThreshold(const rapidjson::Value* v, const std::string& where, ThresholdOptions& t) {
  if (v == nullptr) return Status::Ok();
  if (!v->IsObject()) return InvalidArgument(where + ": threshold must be an object");
  Reader r(*v, where + ", threshold");
  SUND_RETURN_IF_ERROR(r.Enum("strategy", kScopes, t.scope));
  SUND_RETURN_IF_ERROR(r.Enum("method", kMethods, t.method));
  int classes = t.otsu_classes == OtsuClasses::kTwo ? 2 : 3;
  SUND_RETURN_IF_ERROR(r.Int("otsu_classes", classes, 2, 3));
  t.otsu_classes = classes == 2 ? OtsuClasses::kTwo : OtsuClasses::kThree;
  SUND_RETURN_IF_ERROR(r.Enum("middle_class", kMiddle, t.middle_class));
  SUND_RETURN_IF_ERROR(r.Number("smoothing_scale", t.smoothing_scale, 0, 100));
  SUND_RETURN_IF_ERROR(r.Number("correction_factor", t.correction_factor, 0, 100));
  SUND_RETURN_IF_ERROR(r.Number("lower_bound", t.lower_bound, 0, 1));
  SUND_RETURN_IF_ERROR(r.Number("upper_bound", t.upper_bound, 0, 1));
  SUND_RETURN_IF_ERROR(r.Number("manual_threshold", t.manual_threshold, 0, 1));
  SUND_RETURN_IF_ERROR(r.Int("adaptive_window", t.adaptive_window, 3, 100000));
  SUND_RETURN_IF_ERROR(r.Number("lower_outlier_fraction", t.lower_outlier_fraction, 0, 0.5));
  SUND_RETURN_IF_ERROR(r.Number("upper_outlier_fraction", t.upper_outlier_fraction, 0, 0.5));
  SUND_RETURN_IF_ERROR(r.Enum("averaging", kAveraging, t.averaging));
  SUND_RETURN_IF_ERROR(r.Enum("variance", kVariance, t.variance));
  SUND_RETURN_IF_ERROR(r.Number("deviations", t.deviations, 0, 100));
  if (t.lower_bound > t.upper_bound) return r.Error("lower_bound is above upper_bound");
  return r.Unknown();
}

Status ReadPrimary(Reader& r, PrimaryOptions& p) {
  const rapidjson::Value* d = r.Get("diameter");
  if (d != nullptr && d->IsString() && std::string_view(d->GetString()) == "auto") {
    d = nullptr;  // the step reads auto_diameter
  }
  if (d != nullptr) {
    if (!d->IsArray() || d->Size() != 2 || !(*d)[0].IsInt() || !(*d)[1].IsInt() ||
        (*d)[0].GetInt() < 1 || (*d)[1].GetInt() < (*d)[0].GetInt()) {
      return r.Error("diameter must be [min, max] in whole pixels, 1 <= min <= max");
    }
    p.min_diameter = (*d)[0].GetInt();
    p.max_diameter = (*d)[1].GetInt();
  }
  SUND_RETURN_IF_ERROR(r.Bool("discard_outside_diameter", p.discard_outside_diameter));
  SUND_RETURN_IF_ERROR(r.Bool("discard_border_objects", p.discard_border_objects));
  SUND_RETURN_IF_ERROR(r.Bool("advanced", p.advanced));
  SUND_RETURN_IF_ERROR(ReadThreshold(r.Get("threshold"), r.where(), p.threshold));
  SUND_RETURN_IF_ERROR(r.Enum("declump", kUnclump, p.unclump));
  SUND_RETURN_IF_ERROR(r.Enum("dividing_lines", kLines, p.dividing_lines));
  SUND_RETURN_IF_ERROR(r.Bool("automatic_smoothing", p.automatic_smoothing));
  SUND_RETURN_IF_ERROR(r.Number("smoothing_filter_size", p.smoothing_filter_size, 0, 1000));
  SUND_RETURN_IF_ERROR(r.Bool("automatic_suppression", p.automatic_suppression));
  SUND_RETURN_IF_ERROR(r.Number("maxima_suppression_size", p.maxima_suppression_size, 0, 1000));
  SUND_RETURN_IF_ERROR(r.Bool("low_resolution_maxima", p.low_resolution_maxima));
  SUND_RETURN_IF_ERROR(r.Enum("fill_holes", kFill, p.fill_holes));
  SUND_RETURN_IF_ERROR(r.Enum("object_limit", kLimit, p.limit));
  SUND_RETURN_IF_ERROR(r.Int("max_objects", p.max_objects, 0, 100'000'000));
  return Status::Ok();
}

Result<Step> ReadStep(const rapidjson::Value& v, std::size_t index) {
  std::string where = "pipeline step " + std::to_string(index + 1);
  if (!v.IsObject()) return InvalidArgument(where + ": not an object");
  Reader r(v, where);
  Step s;
  std::string module;
  SUND_RETURN_IF_ERROR(r.String("module", module, true));
  bool found = false;
  for (const auto& [k, n] : kModules) {
    if (module == n) {
      s.kind = k;
      found = true;
    }
  }
  if (!found) return r.Error("unknown module '" + module + "' (" + Choices(kModules) + ")");
  Reader rr(v, where + " (" + module + ")");
  rr.Get("module");
  switch (s.kind) {
    case StepKind::kPrimary: {
      SUND_RETURN_IF_ERROR(rr.String("name", s.name, true));
      SUND_RETURN_IF_ERROR(rr.String("image", s.image, true));
      const rapidjson::Value* d = v.HasMember("diameter") ? &v["diameter"] : nullptr;
      if (d != nullptr && d->IsString()) {
        if (std::string_view(d->GetString()) != "auto") {
          return rr.Error("diameter must be [min, max] or \"auto\"");
        }
        s.auto_diameter = 0.6;
      }
      double factor = s.auto_diameter;
      SUND_RETURN_IF_ERROR(rr.Number("auto_diameter_factor", factor, 0.05, 5));
      if (factor != s.auto_diameter && s.auto_diameter == 0) {
        return rr.Error("auto_diameter_factor goes with \"diameter\": \"auto\"");
      }
      s.auto_diameter = factor;
      SUND_RETURN_IF_ERROR(ReadPrimary(rr, s.primary_options));
      break;
    }
    case StepKind::kModel:
      SUND_RETURN_IF_ERROR(rr.String("name", s.name, true));
      SUND_RETURN_IF_ERROR(rr.String("image", s.image, true));
      SUND_RETURN_IF_ERROR(rr.String("model", s.model, true));
      SUND_RETURN_IF_ERROR(rr.Number("probability_threshold", s.probability_threshold, 0.01, 0.99));
      s.primary_options = DefaultPipeline().steps[0].primary_options;
      s.primary_options.discard_border_objects = false;
      s.primary_options.unclump = UnclumpMethod::kShape;
      s.primary_options.dividing_lines = DividingLines::kShape;
      SUND_RETURN_IF_ERROR(ReadPrimary(rr, s.primary_options));
      break;
    case StepKind::kSecondary: {
      SUND_RETURN_IF_ERROR(rr.String("name", s.name, true));
      SUND_RETURN_IF_ERROR(rr.String("image", s.image, true));
      SUND_RETURN_IF_ERROR(rr.String("primary", s.primary, true));
      SecondaryOptions& o = s.secondary_options;
      SUND_RETURN_IF_ERROR(rr.Enum("method", kSecondary, o.method));
      SUND_RETURN_IF_ERROR(ReadThreshold(rr.Get("threshold"), rr.where(), o.threshold));
      SUND_RETURN_IF_ERROR(rr.Int("distance_to_dilate", o.distance_to_dilate, 1, 10000));
      SUND_RETURN_IF_ERROR(rr.Number("regularization_factor", o.regularization_factor, 0, 1e6));
      SUND_RETURN_IF_ERROR(rr.Bool("fill_holes", o.fill_holes));
      SUND_RETURN_IF_ERROR(rr.Bool("discard_border_objects", o.discard_border_objects));
      break;
    }
    case StepKind::kTertiary:
      SUND_RETURN_IF_ERROR(rr.String("name", s.name, true));
      SUND_RETURN_IF_ERROR(rr.String("larger", s.larger, true));
      SUND_RETURN_IF_ERROR(rr.String("smaller", s.smaller, true));
      SUND_RETURN_IF_ERROR(rr.Bool("shrink_smaller", s.shrink_smaller));
      break;
    case StepKind::kRelate:
      SUND_RETURN_IF_ERROR(rr.String("parent", s.parent, true));
      SUND_RETURN_IF_ERROR(rr.String("child", s.child, true));
      break;
    case StepKind::kMeasureIntensity:
      SUND_RETURN_IF_ERROR(rr.Strings("images", s.images, true));
      SUND_RETURN_IF_ERROR(rr.Strings("objects", s.objects, true));
      break;
    case StepKind::kMeasureSizeShape:
      SUND_RETURN_IF_ERROR(rr.Strings("objects", s.objects, true));
      SUND_RETURN_IF_ERROR(rr.Bool("zernike", s.zernike));
      break;
    case StepKind::kMeasureTexture: {
      SUND_RETURN_IF_ERROR(rr.Strings("images", s.images, true));
      SUND_RETURN_IF_ERROR(rr.Strings("objects", s.objects, true));
      const rapidjson::Value* scales = rr.Get("scales");
      if (scales != nullptr) {
        if (!scales->IsArray() || scales->Empty()) return rr.Error("scales must be a list");
        s.scales.clear();
        for (const auto& v : scales->GetArray()) {
          if (!v.IsInt() || v.GetInt() < 1 || v.GetInt() > 1000) {
            return rr.Error("scales must be whole pixel distances from 1 to 1000");
          }
          s.scales.push_back(v.GetInt());
        }
      }
      SUND_RETURN_IF_ERROR(rr.Int("gray_levels", s.gray_levels, 2, 256));
      break;
    }
  }
  SUND_RETURN_IF_ERROR(rr.Unknown());
  return s;
}

void WriteThreshold(json::PrettyWriter& w, const ThresholdOptions& t) {
  w.Key("threshold");
  w.StartObject();
  w.Key("strategy");
  w.String(NameOf(kScopes, t.scope));
  w.Key("method");
  w.String(NameOf(kMethods, t.method));
  w.Key("otsu_classes");
  w.Int(t.otsu_classes == OtsuClasses::kTwo ? 2 : 3);
  w.Key("middle_class");
  w.String(NameOf(kMiddle, t.middle_class));
  w.Key("smoothing_scale");
  w.Double(t.smoothing_scale);
  w.Key("correction_factor");
  w.Double(t.correction_factor);
  w.Key("lower_bound");
  w.Double(t.lower_bound);
  w.Key("upper_bound");
  w.Double(t.upper_bound);
  w.Key("manual_threshold");
  w.Double(t.manual_threshold);
  w.Key("adaptive_window");
  w.Int(t.adaptive_window);
  w.Key("lower_outlier_fraction");
  w.Double(t.lower_outlier_fraction);
  w.Key("upper_outlier_fraction");
  w.Double(t.upper_outlier_fraction);
  w.Key("averaging");
  w.String(NameOf(kAveraging, t.averaging));
  w.Key("variance");
  w.String(NameOf(kVariance, t.variance));
  w.Key("deviations");
  w.Double(t.deviations);
  w.EndObject();
}

void WritePrimary(json::PrettyWriter& w, const PrimaryOptions& p, double auto_diameter = 0) {
  w.Key("diameter");
  if (auto_diameter > 0) {
    w.String("auto");
    w.Key("auto_diameter_factor");
    w.Double(auto_diameter);
  } else {
    w.StartArray();
    w.Int(p.min_diameter);
    w.Int(p.max_diameter);
    w.EndArray();
  }
  w.Key("discard_outside_diameter");
  w.Bool(p.discard_outside_diameter);
  w.Key("discard_border_objects");
  w.Bool(p.discard_border_objects);
  w.Key("advanced");
  w.Bool(p.advanced);
  WriteThreshold(w, p.threshold);
  w.Key("declump");
  w.String(NameOf(kUnclump, p.unclump));
  w.Key("dividing_lines");
  w.String(NameOf(kLines, p.dividing_lines));
  w.Key("automatic_smoothing");
  w.Bool(p.automatic_smoothing);
  w.Key("smoothing_filter_size");
  w.Double(p.smoothing_filter_size);
  w.Key("automatic_suppression");
  w.Bool(p.automatic_suppression);
  w.Key("maxima_suppression_size");
  w.Double(p.maxima_suppression_size);
  w.Key("low_resolution_maxima");
  w.Bool(p.low_resolution_maxima);
  w.Key("fill_holes");
  w.String(NameOf(kFill, p.fill_holes));
  w.Key("object_limit");
  w.String(NameOf(kLimit, p.limit));
  w.Key("max_objects");
  w.Int(p.max_objects);
}

void WriteNames(json::PrettyWriter& w, const char* key, const std::vector<std::string>& names) {
  w.Key(key);
  w.StartArray();
  for (const auto& n : names) w.String(n.c_str());
  w.EndArray();
}

void WriteString(json::PrettyWriter& w, const char* key, const std::string& value) {
  w.Key(key);
  w.String(value.c_str());
}

}  // namespace

std::vector<std::string> Pipeline::Channels() const {
  std::vector<std::string> out;
  auto add = [&](const std::string& c) {
    if (!c.empty() && std::find(out.begin(), out.end(), c) == out.end()) out.push_back(c);
  };
  for (const Step& s : steps) {
    add(s.image);
    for (const auto& i : s.images) add(i);
  }
  return out;
}

std::vector<std::string> Pipeline::Objects() const {
  std::vector<std::string> out;
  for (const Step& s : steps) {
    if (!s.name.empty()) out.push_back(s.name);
  }
  return out;
}

Result<Pipeline> ParsePipeline(std::string_view text) {
  rapidjson::Document doc;
  doc.Parse(text.data(), text.size());
  if (doc.HasParseError()) {
    return InvalidArgument("pipeline: not valid JSON (at byte " +
                           std::to_string(doc.GetErrorOffset()) + ")");
  }
  if (!doc.IsObject()) return InvalidArgument("pipeline: not a JSON object");
  Reader top(doc, "pipeline");
  const rapidjson::Value* version = top.Get("sund_cells_pipeline");
  if (version == nullptr || !version->IsInt() || version->GetInt() != 1) {
    return InvalidArgument("pipeline: \"sund_cells_pipeline\": 1 is required (format version)");
  }
  top.Get("description");
  const rapidjson::Value* steps = top.Get("steps");
  if (steps == nullptr || !steps->IsArray() || steps->Empty()) {
    return InvalidArgument("pipeline: steps must be a non-empty list");
  }
  SUND_RETURN_IF_ERROR(top.Unknown());
  Pipeline p;
  std::set<std::string> made;
  for (rapidjson::SizeType i = 0; i < steps->Size(); ++i) {
    SUND_ASSIGN_OR_RETURN(Step s, ReadStep((*steps)[i], i));
    std::string where = "pipeline step " + std::to_string(i + 1) + ": ";
    auto need = [&](const std::string& name) -> Status {
      if (!made.contains(name)) {
        return InvalidArgument(where + "objects '" + name + "' are not made by an earlier step");
      }
      return Status::Ok();
    };
    for (const std::string* n : {&s.primary, &s.larger, &s.smaller, &s.parent, &s.child}) {
      if (!n->empty()) SUND_RETURN_IF_ERROR(need(*n));
    }
    for (const auto& o : s.objects) SUND_RETURN_IF_ERROR(need(o));
    if (!s.name.empty() && !made.insert(s.name).second) {
      return InvalidArgument(where + "objects '" + s.name + "' are made twice");
    }
    p.steps.push_back(std::move(s));
  }
  return p;
}

std::string PipelineJson(const Pipeline& p) {
  rapidjson::StringBuffer buf;
  json::PrettyWriter w(buf);
  w.StartObject();
  w.Key("sund_cells_pipeline");
  w.Int(1);
  w.Key("steps");
  w.StartArray();
  for (const Step& s : p.steps) {
    w.StartObject();
    WriteString(w, "module", NameOf(kModules, s.kind));
    switch (s.kind) {
      case StepKind::kPrimary:
        WriteString(w, "name", s.name);
        WriteString(w, "image", s.image);
        WritePrimary(w, s.primary_options, s.auto_diameter);
        break;
      case StepKind::kModel:
        WriteString(w, "name", s.name);
        WriteString(w, "image", s.image);
        WriteString(w, "model", s.model);
        w.Key("probability_threshold");
        w.Double(s.probability_threshold);
        WritePrimary(w, s.primary_options);
        break;
      case StepKind::kSecondary: {
        const SecondaryOptions& o = s.secondary_options;
        WriteString(w, "name", s.name);
        WriteString(w, "image", s.image);
        WriteString(w, "primary", s.primary);
        WriteString(w, "method", NameOf(kSecondary, o.method));
        WriteThreshold(w, o.threshold);
        w.Key("distance_to_dilate");
        w.Int(o.distance_to_dilate);
        w.Key("regularization_factor");
        w.Double(o.regularization_factor);
        w.Key("fill_holes");
        w.Bool(o.fill_holes);
        w.Key("discard_border_objects");
        w.Bool(o.discard_border_objects);
        break;
      }
      case StepKind::kTertiary:
        WriteString(w, "name", s.name);
        WriteString(w, "larger", s.larger);
        WriteString(w, "smaller", s.smaller);
        w.Key("shrink_smaller");
        w.Bool(s.shrink_smaller);
        break;
      case StepKind::kRelate:
        WriteString(w, "parent", s.parent);
        WriteString(w, "child", s.child);
        break;
      case StepKind::kMeasureIntensity:
        WriteNames(w, "images", s.images);
        WriteNames(w, "objects", s.objects);
        break;
      case StepKind::kMeasureSizeShape:
        WriteNames(w, "objects", s.objects);
        w.Key("zernike");
        w.Bool(s.zernike);
        break;
      case StepKind::kMeasureTexture:
        WriteNames(w, "images", s.images);
        WriteNames(w, "objects", s.objects);
        w.Key("scales");
        w.StartArray();
        for (int sc : s.scales) w.Int(sc);
        w.EndArray();
        w.Key("gray_levels");
        w.Int(s.gray_levels);
        break;
    }
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return buf.GetString();
}

Pipeline DefaultPipeline(const std::string& channel) {
  Pipeline p;
  Step nuclei;
  nuclei.kind = StepKind::kPrimary;
  nuclei.name = "Nuclei";
  nuclei.image = channel;
  // Chosen on the training split of DSB2018's fluorescence images (examples/cells/
  // dsb2018-split.csv; docs/cells.md): Otsu, the typical size measured per image, clumps cut
  // by shape. Objects cut by the image's edge are left out of the measurements.
  nuclei.auto_diameter = 0.7;
  PrimaryOptions& o = nuclei.primary_options;
  o.min_diameter = 8;
  o.max_diameter = 100000;
  o.discard_outside_diameter = false;
  o.discard_border_objects = true;
  o.threshold.method = ThresholdMethod::kOtsu;
  o.threshold.smoothing_scale = 1.3488;
  o.unclump = UnclumpMethod::kShape;
  o.dividing_lines = DividingLines::kShape;
  o.fill_holes = FillHoles::kAfterThresholdingAndDeclumping;
  o.max_objects = 100000;
  p.steps.push_back(nuclei);
  Step intensity;
  intensity.kind = StepKind::kMeasureIntensity;
  intensity.images = {channel};
  intensity.objects = {"Nuclei"};
  p.steps.push_back(intensity);
  Step shape;
  shape.kind = StepKind::kMeasureSizeShape;
  shape.objects = {"Nuclei"};
  p.steps.push_back(shape);
  return p;
}

}  // namespace sund::cells

#include "cells/model.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <opencv2/core.hpp>
#include <opencv2/dnn.hpp>

#include "cells/image_io.h"
#include "cells/torch_model.h"

namespace sund::cells {

namespace fs = std::filesystem;

struct SegmentationModel::Impl {
  ModelInfo info;
  cv::dnn::Net net;                       // runtime onnx
  std::unique_ptr<TorchScriptNet> torch;  // runtime torchscript
  struct Step {
    std::string id;
    double a = 0, b = 0;  // scale_linear: gain, offset; scale_range: percentiles
    double eps = 1e-6;
  };
  std::vector<Step> pre;
  bool sigmoid = false;

  void Preprocess(float* v, std::size_t n) const;
  Status Forward(const float* input, int h, int w, std::vector<float>& out);
};

namespace {

std::string Str(const YAML::Node& n, const char* key) {
  if (!n || !n.IsMap() || !n[key] || !n[key].IsScalar()) return {};
  return n[key].as<std::string>();
}

// Percentile (0-100) of the values, by linear interpolation between order statistics.
double Percentile(std::vector<float> v, double p) {
  if (v.empty()) return 0;
  double pos = p / 100.0 * (v.size() - 1);
  auto k = static_cast<std::size_t>(pos);
  std::nth_element(v.begin(), v.begin() + k, v.end());
  double lo = v[k];
  if (k + 1 >= v.size()) return lo;
  double hi = *std::min_element(v.begin() + k + 1, v.end());
  return lo + (pos - k) * (hi - lo);
}

}  // namespace

void SegmentationModel::Impl::Preprocess(float* v, std::size_t n) const {
  for (const Step& s : pre) {
    if (s.id == "zero_mean_unit_variance") {
      double sum = 0, sq = 0;
      for (std::size_t i = 0; i < n; ++i) sum += v[i];
      double mean = sum / n;
      for (std::size_t i = 0; i < n; ++i) sq += (v[i] - mean) * (v[i] - mean);
      double sd = std::sqrt(sq / n);
      for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<float>((v[i] - mean) / (sd + s.eps));
    } else if (s.id == "scale_linear") {
      for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<float>(v[i] * s.a + s.b);
    } else if (s.id == "scale_range") {
      std::vector<float> copy(v, v + n);
      double lo = Percentile(copy, s.a);
      double hi = Percentile(copy, s.b);
      for (std::size_t i = 0; i < n; ++i)
        v[i] = static_cast<float>((v[i] - lo) / (hi - lo + s.eps));
    }
  }
}

Status SegmentationModel::Impl::Forward(const float* input, int h, int w, std::vector<float>& out) {
  const std::size_t expected = static_cast<std::size_t>(info.output_channels) * h * w;
  if (torch) {
    Tensor t;
    t.shape = {1, 1, h, w};
    t.values.assign(input, input + static_cast<std::size_t>(h) * w);
    SUND_ASSIGN_OR_RETURN(Tensor y, torch->Forward(t));
    out = std::move(y.values);
  } else {
    int sz[] = {1, 1, h, w};
    cv::Mat blob(4, sz, CV_32F, const_cast<float*>(input));
    cv::Mat result;
    try {
      net.setInput(blob);
      result = net.forward();
    } catch (const cv::Exception& e) {
      return Internal("the network failed on a " + std::to_string(w) + "x" + std::to_string(h) +
                      " input");
    }
    if (result.total() != expected)
      out.clear();
    else
      out.assign(result.ptr<float>(), result.ptr<float>() + result.total());
  }
  if (out.size() != expected) {
    return Internal("the network's output is not " + std::to_string(info.output_channels) +
                    " channel(s) of the input's size");
  }
  if (sigmoid) {
    for (float& x : out) x = 1.0f / (1.0f + std::exp(-x));
  }
  return Status::Ok();
}

SegmentationModel::SegmentationModel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SegmentationModel::~SegmentationModel() = default;

const ModelInfo& SegmentationModel::info() const { return impl_->info; }

Result<WeightsFormat> ParseWeightsFormat(const std::string& name) {
  if (name == "auto" || name.empty()) return WeightsFormat::kAuto;
  if (name == "onnx") return WeightsFormat::kOnnx;
  if (name == "torchscript") return WeightsFormat::kTorchScript;
  return InvalidArgument("weights '" + name + "' are not known (auto, onnx, torchscript)");
}

Result<std::unique_ptr<SegmentationModel>> SegmentationModel::Load(const std::string& dir,
                                                                   WeightsFormat format) {
  fs::path yaml_path = fs::path(dir) / "bioimageio.yaml";
  std::error_code ec;
  if (!fs::exists(yaml_path, ec)) {
    fs::path alt = fs::path(dir) / "rdf.yaml";
    if (!fs::exists(alt, ec)) return NotFound(dir + ": no bioimageio.yaml");
    yaml_path = alt;
  }
  auto impl = std::make_unique<Impl>();
  ModelInfo& info = impl->info;
  info.dir = dir;
  YAML::Node root;
  try {
    root = YAML::LoadFile(yaml_path.string());
  } catch (const YAML::Exception& e) {
    return InvalidArgument(yaml_path.filename().string() + ": not valid YAML (line " +
                           std::to_string(e.mark.line + 1) + ")");
  }
  if (!root.IsMap()) return InvalidArgument("bioimageio.yaml: not a mapping");
  if (Str(root, "type") != "model") return InvalidArgument("bioimageio.yaml: type is not model");
  info.name = Str(root, "name");
  info.description = Str(root, "description");
  info.format_version = Str(root, "format_version");
  info.license = Str(root, "license");
  try {
    const YAML::Node inputs = root["inputs"];
    const YAML::Node outputs = root["outputs"];
    if (!inputs || !inputs.IsSequence() || inputs.size() != 1 || !outputs ||
        !outputs.IsSequence() || outputs.size() != 1) {
      return InvalidArgument("bioimageio.yaml: one input and one output tensor are supported");
    }
    const YAML::Node in = inputs[0];
    const YAML::Node out = outputs[0];
    // Axes: format 0.5 lists maps ({type: space, id: y, size: ...}); 0.4 a string "bcyx".
    const YAML::Node axes = in["axes"];
    if (axes && axes.IsSequence()) {
      std::string order;
      for (const auto& a : axes) {
        std::string type = Str(a, "type");
        if (type == "batch") order += 'b';
        if (type == "channel") {
          order += 'c';
          if (a["channel_names"] && a["channel_names"].size() != 1) {
            return InvalidArgument("bioimageio.yaml: models with one input channel only");
          }
        }
        if (type == "space") {
          order += 's';
          const YAML::Node size = a["size"];
          if (size && size.IsScalar()) {
            info.tile = size.as<int>();
          } else if (size && size.IsMap() && size["min"]) {
            int min = size["min"].as<int>();
            int step = size["step"] ? size["step"].as<int>() : 1;
            info.multiple = std::max(1, step);
            info.tile = std::max(min, 256);
            info.tile += (info.multiple - info.tile % info.multiple) % info.multiple;
          }
        }
      }
      if (order != "bcss") {
        return InvalidArgument("bioimageio.yaml: input axes must be batch, channel, y, x");
      }
    } else if (axes && axes.IsScalar()) {
      if (axes.as<std::string>() != "bcyx") {
        return InvalidArgument("bioimageio.yaml: input axes must be bcyx");
      }
      const YAML::Node shape = in["shape"];
      if (shape && shape.IsSequence() && shape.size() == 4) info.tile = shape[3].as<int>();
      if (shape && shape.IsMap() && shape["step"] && shape["step"].IsSequence()) {
        info.multiple = std::max(1, shape["step"][3].as<int>());
      }
    }
    for (const auto& a : out["axes"]) {
      if (a.IsMap() && a["halo"]) info.halo = std::max(info.halo, a["halo"].as<int>());
      if (Str(a, "type") == "channel") {
        if (a["channel_names"] && a["channel_names"].IsSequence()) {
          info.output_channels = static_cast<int>(a["channel_names"].size());
        } else if (a["size"] && a["size"].IsScalar()) {
          info.output_channels = a["size"].as<int>();
        }
        if (info.output_channels < 1) {
          return InvalidArgument("bioimageio.yaml: the output has no channels");
        }
      }
    }
    if (out["halo"] && out["halo"].IsSequence()) {
      for (const auto& h : out["halo"]) info.halo = std::max(info.halo, h.as<int>());
    }
    auto steps = [](const YAML::Node& list, std::vector<std::string>& ids,
                    std::vector<Impl::Step>* parsed) -> Status {
      if (!list) return Status::Ok();
      for (const auto& p : list) {
        std::string id = Str(p, "id");
        if (id.empty()) id = Str(p, "name");  // format 0.4
        if (id == "ensure_dtype") continue;
        ids.push_back(id);
        Impl::Step s{id};
        const YAML::Node kw = p["kwargs"];
        if (id == "zero_mean_unit_variance") {
          if (kw && kw["eps"]) s.eps = kw["eps"].as<double>();
        } else if (id == "scale_linear") {
          s.a = kw && kw["gain"] ? kw["gain"].as<double>() : 1.0;
          s.b = kw && kw["offset"] ? kw["offset"].as<double>() : 0.0;
        } else if (id == "scale_range") {
          s.a = kw && kw["min_percentile"] ? kw["min_percentile"].as<double>() : 0.0;
          s.b = kw && kw["max_percentile"] ? kw["max_percentile"].as<double>() : 100.0;
        } else if (id != "sigmoid" || parsed != nullptr) {
          return InvalidArgument("bioimageio.yaml: processing step '" + id + "' is not supported");
        }
        if (parsed) parsed->push_back(s);
      }
      return Status::Ok();
    };
    SUND_RETURN_IF_ERROR(steps(in["preprocessing"], info.preprocessing, &impl->pre));
    SUND_RETURN_IF_ERROR(steps(out["postprocessing"], info.postprocessing, nullptr));
    impl->sigmoid = std::find(info.postprocessing.begin(), info.postprocessing.end(), "sigmoid") !=
                    info.postprocessing.end();
    auto test_tensor = [&](const YAML::Node& t) {
      std::string src = Str(t["test_tensor"], "source");
      if (src.empty() && root["test_inputs"]) return std::string();
      return src.empty() ? std::string() : (fs::path(dir) / src).string();
    };
    info.test_input = test_tensor(in);
    info.test_output = test_tensor(out);
    if (info.test_input.empty() && root["test_inputs"] && root["test_inputs"].size() == 1) {
      info.test_input = (fs::path(dir) / root["test_inputs"][0].as<std::string>()).string();
      info.test_output = (fs::path(dir) / root["test_outputs"][0].as<std::string>()).string();
    }
    const YAML::Node sund =
        root["config"] && root["config"].IsMap() ? root["config"]["sund"] : YAML::Node();
    if (sund && sund.IsMap()) {
      if (sund["tile"]) info.tile = sund["tile"].as<int>();
      const YAML::Node in = sund["instances"];
      if (in && in.IsMap()) {
        InstanceOptions& o = info.instances;
        SUND_ASSIGN_OR_RETURN(o.method, ParseInstanceMethod(Str(in, "method")));
        if (in["foreground_channel"]) o.foreground_channel = in["foreground_channel"].as<int>();
        if (in["interior_channel"]) o.interior_channel = in["interior_channel"].as<int>();
        if (in["foreground_threshold"]) {
          o.foreground_threshold = in["foreground_threshold"].as<double>();
        }
        if (in["seed_threshold"]) o.seed_threshold = in["seed_threshold"].as<double>();
        if (in["min_area"]) o.min_area = in["min_area"].as<int>();
      }
    }
    {
      const InstanceOptions& o = info.instances;
      auto channel_ok = [&](int c) { return c >= 0 && c < info.output_channels; };
      if (!channel_ok(o.foreground_channel) ||
          (o.method == InstanceMethod::kSeededWatershed && !channel_ok(o.interior_channel))) {
        return InvalidArgument(
            "bioimageio.yaml: config.sund.instances names a channel the "
            "output does not have");
      }
    }
    const YAML::Node weights = root["weights"];
    if (!weights || !weights.IsMap()) return InvalidArgument("bioimageio.yaml: no weights");
    std::string onnx, torchscript;
    for (const auto& w : weights) {
      std::string name = w.first.as<std::string>();
      info.weights.push_back(name);
      if (name == "onnx") onnx = Str(w.second, "source");
      if (name == "torchscript") torchscript = Str(w.second, "source");
    }
    bool use_torch = format == WeightsFormat::kTorchScript ||
                     (format == WeightsFormat::kAuto && onnx.empty() && !torchscript.empty());
    if (use_torch) {
      if (torchscript.empty()) return InvalidArgument("bioimageio.yaml: no torchscript weights");
      if (!TorchScriptAvailable()) {
        return NotImplemented(
            "bioimageio.yaml: the model has " +
            std::string(onnx.empty() ? "only torchscript weights" : "torchscript weights") +
            ", and this build runs no TorchScript (built without libtorch)");
      }
      SUND_ASSIGN_OR_RETURN(impl->torch,
                            TorchScriptNet::Load((fs::path(dir) / torchscript).string()));
      info.runtime = "torchscript";
    } else {
      if (onnx.empty()) {
        return InvalidArgument("bioimageio.yaml: no onnx or torchscript weights");
      }
      try {
        impl->net = cv::dnn::readNetFromONNX((fs::path(dir) / onnx).string());
      } catch (const cv::Exception&) {
        return InvalidArgument(onnx + ": OpenCV cannot load these ONNX weights");
      }
      if (impl->net.empty()) {
        return InvalidArgument(onnx + ": OpenCV cannot load these ONNX weights");
      }
      info.runtime = "onnx";
    }
  } catch (const YAML::Exception& e) {
    return InvalidArgument("bioimageio.yaml: unexpected structure (line " +
                           std::to_string(e.mark.line + 1) + ")");
  }
  if (info.tile % info.multiple != 0 || info.tile <= 2 * info.halo) {
    return InvalidArgument("bioimageio.yaml: the tile size does not fit the model");
  }
  return std::unique_ptr<SegmentationModel>(new SegmentationModel(std::move(impl)));
}

Status SegmentationModel::SetTile(int tile) {
  if (tile % impl_->info.multiple != 0 || tile <= 2 * impl_->info.halo) {
    return InvalidArgument("a tile edge must be a multiple of " +
                           std::to_string(impl_->info.multiple) + " above " +
                           std::to_string(2 * impl_->info.halo));
  }
  impl_->info.tile = tile;
  return Status::Ok();
}

Result<Tensor> SegmentationModel::Run(const Tensor& input) {
  if (input.shape.size() != 4 || input.shape[0] != 1 || input.shape[1] != 1) {
    return InvalidArgument("the model takes a 1x1xHxW tensor");
  }
  int h = static_cast<int>(input.shape[2]);
  int w = static_cast<int>(input.shape[3]);
  if (h % impl_->info.multiple || w % impl_->info.multiple) {
    return InvalidArgument("the model needs sizes that are multiples of " +
                           std::to_string(impl_->info.multiple));
  }
  if (input.values.size() != static_cast<std::size_t>(h) * w) {
    return InvalidArgument("the tensor's shape does not match its values");
  }
  std::vector<float> x = input.values;
  impl_->Preprocess(x.data(), x.size());
  Tensor out;
  out.shape = {1, impl_->info.output_channels, h, w};
  SUND_RETURN_IF_ERROR(impl_->Forward(x.data(), h, w, out.values));
  return out;
}

Image SegmentationModel::Preprocess(const Image& image) const {
  Image out = image;
  impl_->Preprocess(out.pixels.data(), out.pixels.size());
  return out;
}

Result<Image> SegmentationModel::Predict(const Image& image) {
  SUND_ASSIGN_OR_RETURN(std::vector<Image> maps, PredictChannels(image));
  return std::move(maps[impl_->info.instances.foreground_channel]);
}

Result<Labels> SegmentationModel::Segment(const Image& image, const PrimaryOptions& primary,
                                          double threshold, PrimaryStats* stats, Labels* unedited) {
  const InstanceOptions& in = impl_->info.instances;
  SUND_ASSIGN_OR_RETURN(std::vector<Image> maps, PredictChannels(image));
  if (in.method == InstanceMethod::kThreshold) {
    PrimaryOptions opts = primary;
    opts.threshold.scope = ThresholdScope::kGlobal;
    opts.threshold.method = ThresholdMethod::kManual;
    opts.threshold.manual_threshold = threshold;
    opts.threshold.smoothing_scale = 0;
    return IdentifyPrimary(maps[in.foreground_channel], opts, stats, unedited);
  }
  SUND_ASSIGN_OR_RETURN(
      Labels labels, SeededWatershed(maps[in.foreground_channel], maps[in.interior_channel], in));
  if (unedited != nullptr) *unedited = labels;
  const std::int32_t declumped = labels.count;
  if (primary.discard_border_objects && labels.count > 0) {
    std::vector<bool> edge(static_cast<std::size_t>(labels.count) + 1, false);
    for (int x = 0; x < labels.width; ++x) {
      edge[labels.at(x, 0)] = edge[labels.at(x, labels.height - 1)] = true;
    }
    for (int y = 0; y < labels.height; ++y) {
      edge[labels.at(0, y)] = edge[labels.at(labels.width - 1, y)] = true;
    }
    for (auto& v : labels.pixels) {
      if (v > 0 && edge[v]) v = 0;
    }
    Relabel(labels);
  }
  if (stats != nullptr) {
    *stats = PrimaryStats();
    stats->final_threshold = stats->original_threshold = in.foreground_threshold;
    stats->objects_thresholded = stats->objects_declumped = declumped;
    stats->objects_after_border = stats->objects_after_size = stats->objects_final = labels.count;
  }
  return labels;
}

Result<std::vector<Image>> SegmentationModel::PredictChannels(const Image& image) {
  if (image.empty()) return InvalidArgument("an empty image");
  const int tile = impl_->info.tile;
  const int halo = impl_->info.halo;
  std::vector<float> pre = image.pixels;
  impl_->Preprocess(pre.data(), pre.size());
  // Every tile keeps its inner part: the halo around it is context (mirrored at the image's
  // edges), so that a pixel sees the same surroundings in whatever tile it falls. A small image
  // runs as one tile of the smallest fitting size.
  const int m = impl_->info.multiple;
  auto round_up = [m](int v) { return (v + m - 1) / m * m; };
  const int th = std::min(tile, round_up(image.height + 2 * halo));
  const int tw = std::min(tile, round_up(image.width + 2 * halo));
  const int step_y = th - 2 * halo;
  const int step_x = tw - 2 * halo;
  const int keep_halo_y = halo;
  const int keep_halo_x = halo;
  const int channels = impl_->info.output_channels;
  const std::size_t plane = static_cast<std::size_t>(th) * tw;
  std::vector<Image> maps(channels, Image(image.width, image.height));
  std::vector<float> window(static_cast<std::size_t>(th) * tw);
  std::vector<float> out;
  auto mirror = [](int i, int n) {
    if (n == 1) return 0;
    while (i < 0 || i >= n) i = i < 0 ? -i : 2 * (n - 1) - i;
    return i;
  };
  for (int oy = 0; oy < image.height; oy += step_y) {
    for (int ox = 0; ox < image.width; ox += step_x) {
      int y0 = oy - keep_halo_y;
      int x0 = ox - keep_halo_x;
      for (int y = 0; y < th; ++y) {
        int sy = mirror(y0 + y, image.height);
        for (int x = 0; x < tw; ++x) {
          window[static_cast<std::size_t>(y) * tw + x] =
              pre[static_cast<std::size_t>(sy) * image.width + mirror(x0 + x, image.width)];
        }
      }
      SUND_RETURN_IF_ERROR(impl_->Forward(window.data(), th, tw, out));
      for (int c = 0; c < channels; ++c) {
        const float* o = out.data() + c * plane;
        for (int y = 0; y < step_y && oy + y < image.height; ++y) {
          for (int x = 0; x < step_x && ox + x < image.width; ++x) {
            maps[c].at(ox + x, oy + y) =
                o[static_cast<std::size_t>(y + keep_halo_y) * tw + x + keep_halo_x];
          }
        }
      }
    }
  }
  return maps;
}

Result<ModelTest> TestModel(SegmentationModel& model, double tolerance) {
  const ModelInfo& info = model.info();
  if (info.test_input.empty() || info.test_output.empty()) {
    return NotFound(info.name + ": the package has no test tensors");
  }
  SUND_ASSIGN_OR_RETURN(Tensor in, ReadNpy(info.test_input));
  SUND_ASSIGN_OR_RETURN(Tensor expected, ReadNpy(info.test_output));
  SUND_ASSIGN_OR_RETURN(Tensor got, model.Run(in));
  if (got.values.size() != expected.values.size()) {
    return InvalidArgument(info.name + ": output size differs from the test output");
  }
  ModelTest t;
  t.tolerance = tolerance;
  for (std::size_t i = 0; i < got.values.size(); ++i) {
    t.max_abs_difference = std::max(
        t.max_abs_difference, static_cast<double>(std::abs(got.values[i] - expected.values[i])));
  }
  t.passed = t.max_abs_difference <= tolerance;
  return t;
}

std::vector<std::string> FindModels(const std::string& root) {
  std::vector<std::string> dirs;
  std::error_code ec;
  if (fs::exists(fs::path(root) / "bioimageio.yaml", ec)) dirs.push_back(root);
  for (const auto& e : fs::directory_iterator(root, ec)) {
    if (e.is_directory() &&
        (fs::exists(e.path() / "bioimageio.yaml", ec) || fs::exists(e.path() / "rdf.yaml", ec))) {
      dirs.push_back(e.path().string());
    }
  }
  std::sort(dirs.begin(), dirs.end());
  return dirs;
}

}  // namespace sund::cells

namespace sund::cells {

Result<std::string> FindModel(const std::string& name, const std::vector<std::string>& roots) {
  std::error_code ec;
  if (fs::exists(fs::path(name) / "bioimageio.yaml", ec)) return name;
  std::string want = name == "default" ? "nuclei-default" : name;
  for (const auto& r : roots) {
    for (const auto& d : FindModels(r)) {
      if (fs::path(d).filename() == want) return d;
    }
  }
  return NotFound("no model '" + name + "' (see sund cells models list)");
}

}  // namespace sund::cells

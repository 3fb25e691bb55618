// Training with libtorch: part of the plugin libsund_cells_torch.so (internal/torch_backend.h). A
// new network is a TorchScript module built here from source text, so that what is saved is plain
// TorchScript that torch.jit.load and the bioimage.io tools read.
#include <torch/script.h>
#include <torch/torch.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "cells/evaluate.h"
#include "cells/image_io.h"
#include "cells/instances.h"
#include "cells/internal/onnx_unet.h"
#include "cells/internal/torch_backend.h"
#include "cells/model.h"
#include "cells/npy.h"
#include "cells/pipeline.h"
#include "cells/train.h"
#include "core/crypto.h"
#include "core/file_reader.h"
#include "core/progress.h"

namespace sund::cells {
namespace {

namespace fs = std::filesystem;

constexpr int kHalo = 32;
constexpr int kTile = 512;
// Pixels with two objects within kContactRadius (Chebyshev) weigh options.contact_weight in the
// loss: where touching nuclei meet, and the gaps between close ones (Ronneberger et al.'s
// separation weights, simplified).
constexpr int kContactRadius = 2;

// ---------------------------------------------------------------------------------------------
// The network: a U-Net (Ronneberger et al. 2015) with `levels` resolution levels, two 3x3
// convolutions with batch normalisation and ReLU per level, max pooling down, transposed 2x2
// convolutions up, and a 1x1 convolution to `outputs` logits. Parameters are named after their
// place: e<level>a/b (encoder), u<level> (up-sampling), d<level>a/b (decoder), out.

std::string UNetSource(int levels) {
  std::ostringstream s;
  s << "def cbr(self, x: Tensor, w: Tensor, g: Tensor, b: Tensor, rm: Tensor, rv: Tensor)"
       " -> Tensor:\n"
       "    x = torch.conv2d(x, w, None, [1, 1], [1, 1])\n"
       "    x = torch.batch_norm(x, g, b, rm, rv, self.training, 0.1, 1e-05, False)\n"
       "    return torch.relu(x)\n\n"
       "def forward(self, x: Tensor) -> Tensor:\n";
  auto cbr = [&](const std::string& p) {
    s << "    x = self.cbr(x, self." << p << "_w, self." << p << "_g, self." << p << "_b, self."
      << p << "_rm, self." << p << "_rv)\n";
  };
  for (int l = 0; l < levels; ++l) {
    if (l > 0) s << "    x = torch.max_pool2d(e" << l - 1 << ", [2, 2], [2, 2])\n";
    cbr("e" + std::to_string(l) + "a");
    cbr("e" + std::to_string(l) + "b");
    s << "    e" << l << " = x\n";
  }
  for (int l = levels - 2; l >= 0; --l) {
    s << "    x = torch.conv_transpose2d(x, self.u" << l << "_w, self.u" << l << "_bias, [2, 2])\n"
      << "    x = torch.cat([e" << l << ", x], 1)\n";
    cbr("d" + std::to_string(l) + "a");
    cbr("d" + std::to_string(l) + "b");
  }
  s << "    return torch.conv2d(x, self.out_w, self.out_bias)\n";
  return s.str();
}

torch::jit::Module NewUNet(int base, int levels, int outputs) {
  torch::jit::Module m("SundUNet");
  m.register_attribute("training", c10::BoolType::get(), true);
  auto param = [&m](const std::string& name, at::Tensor t) {
    m.register_parameter(name, t.set_requires_grad(true), false);
  };
  auto conv = [&](const std::string& p, int in, int out) {
    param(p + "_w", torch::randn({out, in, 3, 3}) * std::sqrt(2.0 / (in * 9)));
    param(p + "_g", torch::ones({out}));
    param(p + "_b", torch::zeros({out}));
    m.register_buffer(p + "_rm", torch::zeros({out}));
    m.register_buffer(p + "_rv", torch::ones({out}));
  };
  int in = 1;
  for (int l = 0; l < levels; ++l) {
    const int c = base << l;
    conv("e" + std::to_string(l) + "a", in, c);
    conv("e" + std::to_string(l) + "b", c, c);
    in = c;
  }
  for (int l = levels - 2; l >= 0; --l) {
    const int c = base << l;
    param("u" + std::to_string(l) + "_w",
          torch::randn({2 * c, c, 2, 2}) * std::sqrt(1.0 / (2 * c)));
    param("u" + std::to_string(l) + "_bias", torch::zeros({c}));
    conv("d" + std::to_string(l) + "a", 2 * c, c);
    conv("d" + std::to_string(l) + "b", c, c);
  }
  param("out_w", torch::randn({outputs, base, 1, 1}) * std::sqrt(1.0 / base));
  param("out_bias", torch::zeros({outputs}));
  m.define(UNetSource(levels));
  return m;
}

// ---------------------------------------------------------------------------------------------
// Data.

struct Sample {
  std::string id;
  Image input;       // training: pre-processed
  Image foreground;  // training: 0 or 1
  Image interior;    // training: InteriorMap
  Image weight;      // training: 1, or the contact weight near where objects meet
  Image raw;         // validation: as read
  Labels truth;      // validation
};

std::string WithStem(const std::string& dir, const std::string& stem) {
  for (const char* ext : {".png", ".tif", ".tiff"}) {
    fs::path p = fs::path(dir) / (stem + ext);
    std::error_code ec;
    if (fs::exists(p, ec)) return p.string();
  }
  return {};
}

// The stems of the images in `images_dir` that have a label image.
Result<std::vector<std::string>> AllIds(const std::string& images_dir,
                                        const std::string& labels_dir) {
  std::error_code ec;
  if (!fs::is_directory(images_dir, ec)) return NotFound(images_dir + ": no such folder");
  std::vector<std::string> ids;
  for (const auto& e : fs::directory_iterator(images_dir, ec)) {
    std::string ext = e.path().extension().string();
    if (ext != ".png" && ext != ".tif" && ext != ".tiff") continue;
    std::string stem = e.path().stem().string();
    if (!WithStem(labels_dir, stem).empty()) ids.push_back(stem);
  }
  std::sort(ids.begin(), ids.end());
  if (ids.empty()) return NotFound(images_dir + ": no image with a label image in " + labels_dir);
  return ids;
}

Image ContactWeights(const Labels& labels, float contact_weight) {
  const int w = labels.width, h = labels.height, r = kContactRadius;
  Image out(w, h, 1.0f);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      std::int32_t first = 0;
      bool contact = false;
      for (int dy = -r; dy <= r && !contact; ++dy) {
        const int yy = y + dy;
        if (yy < 0 || yy >= h) continue;
        for (int dx = -r; dx <= r; ++dx) {
          const int xx = x + dx;
          if (xx < 0 || xx >= w) continue;
          const std::int32_t v = labels.at(xx, yy);
          if (v == 0 || v == first) continue;
          if (first != 0) {
            contact = true;
            break;
          }
          first = v;
        }
      }
      if (contact) out.at(x, y) = contact_weight;
    }
  }
  return out;
}

Result<Sample> LoadSample(const TrainOptions& o, const std::string& id, bool training,
                          const SegmentationModel& pre) {
  std::string image_path = WithStem(o.images_dir, id);
  if (image_path.empty()) return NotFound(id + ": no image in " + o.images_dir);
  std::string label_path = WithStem(o.labels_dir, id);
  if (label_path.empty()) return NotFound(id + ": no label image in " + o.labels_dir);
  Sample s;
  s.id = id;
  SUND_ASSIGN_OR_RETURN(Image raw, ReadGrayscale(image_path));
  SUND_ASSIGN_OR_RETURN(Labels truth, ReadLabels(label_path));
  if (raw.width != truth.width || raw.height != truth.height) {
    return InvalidArgument(id + ": the label image's size differs from the image's");
  }
  if (training) {
    s.input = pre.Preprocess(raw);
    s.foreground = Image(raw.width, raw.height);
    for (std::size_t i = 0; i < truth.pixels.size(); ++i) {
      s.foreground.pixels[i] = truth.pixels[i] > 0 ? 1.0f : 0.0f;
    }
    s.interior = InteriorMap(truth);
    s.weight = ContactWeights(truth, static_cast<float>(o.contact_weight));
  } else {
    s.raw = std::move(raw);
    s.truth = std::move(truth);
  }
  return s;
}

int Mirror(int i, int n) {
  if (n == 1) return 0;
  while (i < 0 || i >= n) i = i < 0 ? -i : 2 * (n - 1) - i;
  return i;
}

// One augmented crop of `s` (c x c): a random window (mirrored past the edges of a smaller
// image), one of the 8 flips and 90-degree rotations, and on the input a random gain, gamma
// (on the magnitude, keeping the sign) and offset.
void DrawCrop(const Sample& s, int c, std::mt19937_64& rng, float* x, float* fg, float* in,
              float* weight) {
  const int w = s.input.width, h = s.input.height;
  auto uniform = [&rng](double a, double b) {
    return std::uniform_real_distribution<double>(a, b)(rng);
  };
  const int ox = w > c ? std::uniform_int_distribution<int>(0, w - c)(rng) : 0;
  const int oy = h > c ? std::uniform_int_distribution<int>(0, h - c)(rng) : 0;
  const bool flip_x = rng() & 1, flip_y = rng() & 1, transpose = rng() & 1;
  const float gain = static_cast<float>(std::exp(uniform(std::log(0.8), std::log(1.25))));
  const float gamma = static_cast<float>(std::exp(uniform(std::log(0.75), std::log(1.33))));
  const float offset = static_cast<float>(uniform(-0.05, 0.05));
  for (int v = 0; v < c; ++v) {
    for (int u = 0; u < c; ++u) {
      int a = transpose ? v : u, b = transpose ? u : v;
      if (flip_x) a = c - 1 - a;
      if (flip_y) b = c - 1 - b;
      const std::size_t src = static_cast<std::size_t>(Mirror(oy + b, h)) * w + Mirror(ox + a, w);
      const std::size_t dst = static_cast<std::size_t>(v) * c + u;
      const float p = s.input.pixels[src];
      x[dst] = std::copysign(std::pow(std::abs(p), gamma), p) * gain + offset;
      fg[dst] = s.foreground.pixels[src];
      in[dst] = s.interior.pixels[src];
      weight[dst] = s.weight.pixels[src];
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The package.

struct PackageText {
  std::string name;
  std::string description;
  std::string license;
  std::vector<std::string> cite;  // YAML list items, already indented
  std::string preprocessing;      // YAML list items, already indented
  std::vector<std::string> channel_names;
  bool sigmoid = true;
  int multiple = 8;
  int halo = kHalo;
  int tile = kTile;
  InstanceOptions instances;
  bool onnx = false;                                          // weights.onnx too
  std::vector<std::pair<std::string, std::string>> training;  // key, YAML value
  std::string readme;
};

std::string Quote(const std::string& s) {
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"' || ch == '\\') out += '\\';
    if (ch == '\n') {
      out += "\\n";
      continue;
    }
    out += ch;
  }
  return out + "\"";
}

std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  std::string s = buf;
  if (s.find_first_of(".en") == std::string::npos) s += ".0";
  return s;
}

std::string Sha256OfFile(const std::string& path) {
  auto bytes = ReadFileDecompressed(path);
  return bytes.ok() ? crypto::Sha256Hex(*bytes) : std::string();
}

std::string Timestamp() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// bioimageio.yaml, format 0.5: the files' sha256 are taken from `dir` where present.
std::string PackageYaml(const PackageText& p, const std::string& dir) {
  auto sha = [&dir](const char* file) {
    std::string h = Sha256OfFile((fs::path(dir) / file).string());
    return h.empty() ? std::string() : std::string(", sha256: ") + h;
  };
  std::ostringstream y;
  y << "# Written by sund cells train (src/cells/train.h).\n"
    << "format_version: 0.5.4\ntype: model\n"
    << "name: " << Quote(p.name) << "\n"
    << "description: " << Quote(p.description) << "\n"
    << "authors:\n  - name: Sund\n"
    << "cite:\n";
  for (const auto& c : p.cite) y << c;
  y << "license: " << p.license << "\n"
    << "documentation: README.md\n"
    << "tags: [unet2d, nucleus, segmentation, fluorescence, instance-segmentation]\n"
    << "timestamp: " << Quote(Timestamp()) << "\n"
    << "inputs:\n"
    << "  - id: raw\n"
    << "    description: one fluorescence channel (nuclei), any intensity range\n"
    << "    axes:\n"
    << "      - type: batch\n"
    << "      - type: channel\n        channel_names: [raw_intensity]\n";
  for (const char* a : {"y", "x"}) {
    y << "      - id: " << a << "\n        type: space\n        size: {min: " << 4 * p.multiple
      << ", step: " << p.multiple << "}\n";
  }
  y << "    test_tensor: {source: test_input.npy" << sha("test_input.npy") << "}\n"
    << "    preprocessing:\n"
    << p.preprocessing << "outputs:\n"
    << "  - id: prediction\n"
    << "    description: "
    << Quote(p.channel_names.size() == 2 ? "foreground and interior probabilities"
                                         : "foreground probability")
    << "\n    axes:\n      - type: batch\n      - type: channel\n        channel_names: [";
  for (std::size_t i = 0; i < p.channel_names.size(); ++i) {
    y << (i ? ", " : "") << p.channel_names[i];
  }
  y << "]\n";
  for (const char* a : {"y", "x"}) {
    y << "      - id: " << a
      << "\n        type: space\n        size: {tensor_id: raw, axis_id: " << a
      << "}\n        halo: " << p.halo << "\n";
  }
  y << "    test_tensor: {source: test_output.npy" << sha("test_output.npy") << "}\n";
  if (p.sigmoid) y << "    postprocessing:\n      - id: sigmoid\n";
  y << "weights:\n";
  if (p.onnx) {
    y << "  onnx:\n    source: weights.onnx\n";
    if (std::string h = Sha256OfFile((fs::path(dir) / "weights.onnx").string()); !h.empty()) {
      y << "    sha256: " << h << "\n";
    }
    y << "    opset_version: 13\n    parent: torchscript\n"
      << "    comment: written by sund cells train (batch normalisation folded into the "
         "convolutions)\n";
  }
  y << "  torchscript:\n    source: weights.pt\n";
  if (std::string h = Sha256OfFile((fs::path(dir) / "weights.pt").string()); !h.empty()) {
    y << "    sha256: " << h << "\n";
  }
  y << "    pytorch_version: \"" << TORCH_VERSION_MAJOR << "." << TORCH_VERSION_MINOR << "\"\n"
    << "config:\n  sund:\n    tile: " << p.tile << "\n"
    << "    instances: {method: " << InstanceMethodName(p.instances.method)
    << ", foreground_channel: " << p.instances.foreground_channel;
  if (p.instances.method == InstanceMethod::kSeededWatershed) {
    y << ", interior_channel: " << p.instances.interior_channel
      << ", foreground_threshold: " << Num(p.instances.foreground_threshold)
      << ", seed_threshold: " << Num(p.instances.seed_threshold)
      << ", min_area: " << p.instances.min_area;
  }
  y << "}\n";
  if (!p.training.empty()) {
    y << "    training:\n";
    for (const auto& [k, v] : p.training) y << "      " << k << ": " << v << "\n";
  }
  return y.str();
}

Status WriteText(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc | std::ios::binary);
  out << text;
  out.close();
  if (!out) return Internal("cannot write " + path.string());
  return Status::Ok();
}

// The parent package's pre-processing as YAML list items (axes rewritten as [y, x]).
Result<std::string> ParentPreprocessing(const std::string& dir) {
  YAML::Node root;
  try {
    root = YAML::LoadFile((fs::path(dir) / "bioimageio.yaml").string());
    std::string out;
    for (const auto& step : root["inputs"][0]["preprocessing"]) {
      std::string id = step["id"] ? step["id"].as<std::string>() : step["name"].as<std::string>();
      if (id == "ensure_dtype") continue;
      out += "      - id: " + id + "\n";
      std::string kwargs;
      if (step["kwargs"] && step["kwargs"].IsMap()) {
        for (const auto& kv : step["kwargs"]) {
          std::string key = kv.first.as<std::string>();
          if (key == "axes" || key == "mode" || !kv.second.IsScalar()) continue;
          kwargs += ", " + key + ": " + kv.second.as<std::string>();
        }
      }
      out += "        kwargs: {axes: [y, x]" + kwargs + "}\n";
    }
    return out;
  } catch (const YAML::Exception& e) {
    return InvalidArgument(dir + ": the pre-processing of bioimageio.yaml cannot be read");
  }
}

// ---------------------------------------------------------------------------------------------
// Validation.

PrimaryOptions EvalPrimaryOptions() {
  // What `sund cells eval --model` runs: SegmentWithModel with the default pipeline's options,
  // shape declumping, and the objects cut by the image's edge kept.
  PrimaryOptions o = DefaultPipeline().steps[0].primary_options;
  o.unclump = UnclumpMethod::kShape;
  o.dividing_lines = DividingLines::kShape;
  o.discard_border_objects = false;
  return o;
}

Result<EvalSummary> Validate(SegmentationModel& model, const std::vector<Sample>& val,
                             ProgressBar* bar) {
  const PrimaryOptions primary = EvalPrimaryOptions();
  std::vector<ImageScore> scores;
  for (const Sample& s : val) {
    SUND_ASSIGN_OR_RETURN(Labels labels, model.Segment(s.raw, primary, 0.5));
    SUND_ASSIGN_OR_RETURN(ImageScore score, ScoreInstances(s.truth, labels));
    scores.push_back(score);
    if (bar) bar->Add(1, 1);
  }
  return Summarise(scores);
}

EvalSummary ScoreWatershed(const std::vector<std::vector<Image>>& maps,
                           const std::vector<Sample>& val, const InstanceOptions& o) {
  std::vector<ImageScore> scores;
  for (std::size_t i = 0; i < val.size(); ++i) {
    auto labels = SeededWatershed(maps[i][o.foreground_channel], maps[i][o.interior_channel], o);
    if (!labels.ok()) continue;
    auto score = ScoreInstances(val[i].truth, *labels);
    if (score.ok()) scores.push_back(*score);
  }
  return Summarise(scores);
}

ProgressBar::Options BarOptions(bool progress) {
  if (progress) return {};
  return ProgressBar::Options{[](std::string_view) {}, false, {}};
}

Status CheckOptions(const TrainOptions& o) {
  if (o.images_dir.empty() || o.labels_dir.empty()) {
    return InvalidArgument("give the folders of images and of label images");
  }
  if (o.out_dir.empty()) return InvalidArgument("give the package folder to write (--out)");
  if (o.epochs < 1 || o.steps_per_epoch < 1 || o.batch < 1 || o.patience < 1 || o.threads < 1) {
    return InvalidArgument("epochs, steps per epoch, batch, patience and threads must be >= 1");
  }
  if (o.levels < 2 || o.levels > 6 || o.base_channels < 2 || o.base_channels > 128) {
    return InvalidArgument("the U-Net takes 2-6 levels and 2-128 base channels");
  }
  if (o.crop < 16 || o.crop > 1024) return InvalidArgument("the crop must be 16-1024 pixels");
  if (!(o.learning_rate > 0 && o.learning_rate < 1)) {
    return InvalidArgument("the learning rate must be in (0, 1)");
  }
  if (!(o.contact_weight >= 1 && o.contact_weight <= 100)) {
    return InvalidArgument("the contact weight must be in [1, 100]");
  }
  return Status::Ok();
}

}  // namespace

Result<TrainReport> internal::TrainWithTorch(const TrainOptions& options) {
  SUND_RETURN_IF_ERROR(CheckOptions(options));
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&start] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  torch::set_num_threads(options.threads);
  torch::manual_seed(options.seed);
  std::mt19937_64 rng(options.seed);

  // The images: the training ids, and the validation ids or a tenth of the training ones.
  std::vector<std::string> train_ids = options.train_ids;
  if (train_ids.empty()) {
    SUND_ASSIGN_OR_RETURN(train_ids, AllIds(options.images_dir, options.labels_dir));
  }
  std::vector<std::string> val_ids = options.val_ids;
  if (val_ids.empty()) {
    std::vector<std::string> shuffled = train_ids;
    std::shuffle(shuffled.begin(), shuffled.end(), rng);
    std::size_t n = std::max<std::size_t>(1, shuffled.size() / 10);
    if (shuffled.size() < 2) {
      return InvalidArgument("at least 2 images are needed (one of them to validate on)");
    }
    val_ids.assign(shuffled.begin(), shuffled.begin() + n);
    std::set<std::string> val(val_ids.begin(), val_ids.end());
    std::erase_if(train_ids, [&val](const std::string& id) { return val.contains(id); });
  } else {
    std::set<std::string> val(val_ids.begin(), val_ids.end());
    for (const auto& id : train_ids) {
      if (val.contains(id))
        return InvalidArgument(id + " is both a training and a validation image");
    }
  }

  // The network and the package's description.
  std::error_code ec;
  fs::create_directories(options.out_dir, ec);
  if (ec) return Internal("cannot create " + options.out_dir);
  const fs::path out(options.out_dir);
  const fs::path staging = out / ".training";
  fs::remove_all(staging, ec);
  fs::create_directories(staging, ec);
  if (ec) return Internal("cannot create " + staging.string());

  PackageText pkg;
  torch::jit::Module module;
  int outputs = 2;
  bool logits = true;
  std::string architecture;
  if (options.from.empty()) {
    module = NewUNet(options.base_channels, options.levels, 2);
    pkg.name = "Sund nuclei U-Net";
    pkg.description =
        "A small 2-D U-Net for nuclei in fluorescence images: foreground and interior maps, "
        "objects by a seeded watershed. Trained with sund cells train.";
    pkg.license = "CC0-1.0";
    pkg.preprocessing =
        "      - id: scale_range\n"
        "        kwargs: {axes: [y, x], min_percentile: 1.0, max_percentile: 99.8, eps: "
        "1.0e-06}\n";
    pkg.channel_names = {"foreground", "interior"};
    pkg.multiple = 1 << (options.levels - 1);
    pkg.instances.method = InstanceMethod::kSeededWatershed;
    architecture = "U-Net, " + std::to_string(options.levels) + " levels, " +
                   std::to_string(options.base_channels) + " base channels, batch norm";
  } else {
    SUND_ASSIGN_OR_RETURN(auto parent,
                          SegmentationModel::Load(options.from, WeightsFormat::kTorchScript));
    const ModelInfo& info = parent->info();
    try {
      YAML::Node root = YAML::LoadFile((fs::path(options.from) / "bioimageio.yaml").string());
      module = torch::jit::load(
          (fs::path(options.from) / root["weights"]["torchscript"]["source"].as<std::string>())
              .string());
    } catch (const std::exception& e) {
      return InvalidArgument(options.from + ": its TorchScript weights cannot be loaded");
    }
    outputs = info.output_channels;
    logits = std::find(info.postprocessing.begin(), info.postprocessing.end(), "sigmoid") !=
             info.postprocessing.end();
    pkg.name = info.name + " (fine-tuned)";
    pkg.description = info.description + " Fine-tuned with sund cells train.";
    pkg.license = info.license.empty() ? "CC0-1.0" : info.license;
    SUND_ASSIGN_OR_RETURN(pkg.preprocessing, ParentPreprocessing(options.from));
    pkg.channel_names = outputs == 2 ? std::vector<std::string>{"foreground", "interior"}
                                     : std::vector<std::string>(outputs, "foreground");
    if (outputs > 2) {
      for (int c = 1; c < outputs; ++c) pkg.channel_names[c] = "channel" + std::to_string(c);
    }
    pkg.sigmoid = logits;
    pkg.multiple = info.multiple;
    pkg.halo = info.halo;
    pkg.tile = info.tile;
    pkg.instances = info.instances;
    architecture = "fine-tuned from " + fs::path(options.from).filename().string();
  }
  pkg.cite = {
      "  - text: \"Ronneberger, Olaf et al. U-Net: Convolutional networks for biomedical image "
      "segmentation. MICCAI 2015.\"\n    doi: 10.1007/978-3-319-24574-4_28\n",
      "  - text: \"Caicedo, Juan C. et al. Nucleus segmentation across imaging experiments: the "
      "2018 Data Science Bowl. Nature Methods 2019.\"\n    doi: 10.1038/s41592-019-0612-7\n"};
  if (options.crop % pkg.multiple != 0) {
    return InvalidArgument("the crop must be a multiple of " + std::to_string(pkg.multiple));
  }
  const bool interior = pkg.instances.method == InstanceMethod::kSeededWatershed;
  std::int64_t parameters = 0;
  std::vector<at::Tensor> params;
  for (const auto& p : module.parameters()) {
    params.push_back(p);
    parameters += p.numel();
  }
  if (params.empty()) return InvalidArgument("the network has no parameters to train");

  // A package of the untrained network, for its pre-processing; then the data.
  auto save_module = [&module](const fs::path& path) -> Status {
    try {
      module.eval();
      module.save(path.string());
      module.train();
    } catch (const std::exception& e) {
      return Internal("cannot save the network to " + path.string());
    }
    return Status::Ok();
  };
  SUND_RETURN_IF_ERROR(save_module(staging / "weights.pt"));
  SUND_RETURN_IF_ERROR(WriteText(staging / "bioimageio.yaml", PackageYaml(pkg, "")));
  std::unique_ptr<SegmentationModel> current;
  SUND_ASSIGN_OR_RETURN(current,
                        SegmentationModel::Load(staging.string(), WeightsFormat::kTorchScript));
  std::vector<Sample> train, val;
  for (const auto& id : train_ids) {
    SUND_ASSIGN_OR_RETURN(Sample s, LoadSample(options, id, true, *current));
    train.push_back(std::move(s));
  }
  for (const auto& id : val_ids) {
    SUND_ASSIGN_OR_RETURN(Sample s, LoadSample(options, id, false, *current));
    val.push_back(std::move(s));
  }
  if (train.empty()) return InvalidArgument("no training images");

  // Training.
  TrainReport report;
  report.train_images = static_cast<int>(train.size());
  report.val_images = static_cast<int>(val.size());
  report.parameters = parameters;
  torch::optim::Adam optimizer(params, torch::optim::AdamOptions(options.learning_rate));
  const int c = options.crop;
  const std::size_t plane = static_cast<std::size_t>(c) * c;
  std::vector<float> x(options.batch * plane), fg(options.batch * plane), in(options.batch * plane),
      weight(options.batch * plane);
  const std::int64_t total_steps =
      static_cast<std::int64_t>(options.epochs) * options.steps_per_epoch;
  std::int64_t global_step = 0;
  double best = -1;
  int stale = 0;
  module.train();
  for (int epoch = 1; epoch <= options.epochs; ++epoch) {
    const double epoch_start = elapsed();
    EpochReport er;
    er.epoch = epoch;
    double loss_sum = 0;
    {
      // The bar names the last epoch's figures: this one's come when it ends.
      std::string label = "epoch " + std::to_string(epoch) + "/" + std::to_string(options.epochs);
      if (!report.epochs.empty()) {
        char last[96];
        std::snprintf(last, sizeof last, " (last: loss %.4f, val AP@0.5 %.3f)",
                      report.epochs.back().loss, report.epochs.back().val_ap50);
        label += last;
      }
      ProgressBar bar(label, options.steps_per_epoch, "steps", BarOptions(options.progress));
      for (int step = 0; step < options.steps_per_epoch; ++step, ++global_step) {
        // Cosine from the learning rate down to a twentieth of it.
        const double t = static_cast<double>(global_step) / std::max<std::int64_t>(1, total_steps);
        er.learning_rate = options.learning_rate * (0.05 + 0.95 * 0.5 * (1 + std::cos(M_PI * t)));
        for (auto& group : optimizer.param_groups()) {
          static_cast<torch::optim::AdamOptions&>(group.options()).lr(er.learning_rate);
        }
        std::uniform_int_distribution<std::size_t> pick(0, train.size() - 1);
        for (int b = 0; b < options.batch; ++b) {
          DrawCrop(train[pick(rng)], c, rng, &x[b * plane], &fg[b * plane], &in[b * plane],
                   &weight[b * plane]);
        }
        at::Tensor loss;
        try {
          auto X = torch::from_blob(x.data(), {options.batch, 1, c, c}, torch::kFloat32);
          auto FG = torch::from_blob(fg.data(), {options.batch, 1, c, c}, torch::kFloat32);
          auto W = torch::from_blob(weight.data(), {options.batch, 1, c, c}, torch::kFloat32);
          optimizer.zero_grad();
          at::Tensor y = module.forward({X}).toTensor();
          at::Tensor y_fg = y.narrow(1, pkg.instances.foreground_channel, 1);
          loss = logits
                     ? torch::binary_cross_entropy_with_logits(y_fg, FG, W, {}, at::Reduction::Mean)
                     : torch::binary_cross_entropy(y_fg.clamp(1e-6, 1 - 1e-6), FG, W);
          if (interior) {
            auto IN = torch::from_blob(in.data(), {options.batch, 1, c, c}, torch::kFloat32);
            loss = loss + torch::binary_cross_entropy_with_logits(
                              y.narrow(1, pkg.instances.interior_channel, 1), IN, W, {},
                              at::Reduction::Mean);
          }
          loss.backward();
          optimizer.step();
        } catch (const std::exception& e) {
          return Internal("a training step failed on " + std::to_string(options.batch) + "x1x" +
                          std::to_string(c) + "x" + std::to_string(c) + " crops");
        }
        const double l = loss.item<double>();
        if (!std::isfinite(l)) {
          return Internal("the loss diverged at epoch " + std::to_string(epoch) +
                          " (try a smaller learning rate)");
        }
        loss_sum += l;
        bar.Add(1, 1);
      }
    }
    er.loss = loss_sum / options.steps_per_epoch;
    SUND_RETURN_IF_ERROR(save_module(staging / "weights.pt"));
    current.reset();
    SUND_ASSIGN_OR_RETURN(current,
                          SegmentationModel::Load(staging.string(), WeightsFormat::kTorchScript));
    EvalSummary summary;
    {
      ProgressBar bar("validate " + std::to_string(epoch) + "/" + std::to_string(options.epochs),
                      val.size(), "images", BarOptions(options.progress));
      SUND_ASSIGN_OR_RETURN(summary, Validate(*current, val, &bar));
    }
    er.val_ap50 = summary.ap50;
    er.val_ap = summary.ap;
    er.best = summary.ap50 > best;
    if (er.best) {
      best = summary.ap50;
      report.best_epoch = epoch;
      stale = 0;
      fs::copy_file(staging / "weights.pt", staging / "best.pt",
                    fs::copy_options::overwrite_existing, ec);
      if (ec) return Internal("cannot write " + (staging / "best.pt").string());
    } else {
      ++stale;
    }
    er.seconds = elapsed() - epoch_start;
    report.epochs.push_back(er);
    if (options.progress) {
      std::fprintf(stderr, "epoch %3d/%d  loss %.4f  val AP@0.5 %.3f  AP %.3f  lr %.1e  %.0f s%s\n",
                   epoch, options.epochs, er.loss, er.val_ap50, er.val_ap, er.learning_rate,
                   er.seconds, er.best ? "  best" : "");
    }
    if (stale >= options.patience) break;
  }

  // The best epoch's weights; seeded_watershed's thresholds chosen on the validation images.
  fs::copy_file(staging / "best.pt", out / "weights.pt", fs::copy_options::overwrite_existing, ec);
  if (ec) return Internal("cannot write " + (out / "weights.pt").string());
  fs::copy_file(staging / "best.pt", staging / "weights.pt", fs::copy_options::overwrite_existing,
                ec);
  current.reset();
  SUND_ASSIGN_OR_RETURN(current,
                        SegmentationModel::Load(staging.string(), WeightsFormat::kTorchScript));
  EvalSummary final_summary;
  if (interior) {
    std::vector<std::vector<Image>> maps;
    for (const Sample& s : val) {
      SUND_ASSIGN_OR_RETURN(std::vector<Image> m, current->PredictChannels(s.raw));
      maps.push_back(std::move(m));
    }
    InstanceOptions chosen = pkg.instances;
    final_summary = ScoreWatershed(maps, val, chosen);
    for (double f : {0.4, 0.5, 0.6}) {
      for (double t : {0.3, 0.4, 0.5, 0.6, 0.7, 0.8}) {
        InstanceOptions o = chosen;
        o.foreground_threshold = f;
        o.seed_threshold = t;
        o.min_area = 0;
        EvalSummary s = ScoreWatershed(maps, val, o);
        if (s.ap50 > final_summary.ap50 + 1e-9) {
          final_summary = s;
          chosen = o;
        }
      }
    }
    for (int area : {4, 8, 16, 32}) {
      InstanceOptions o = chosen;
      o.min_area = area;
      EvalSummary s = ScoreWatershed(maps, val, o);
      if (s.ap50 > final_summary.ap50 + 1e-9) {
        final_summary = s;
        chosen = o;
      }
    }
    pkg.instances = chosen;
  } else {
    SUND_ASSIGN_OR_RETURN(final_summary, Validate(*current, val, nullptr));
  }
  report.val_ap50 = final_summary.ap50;
  report.val_ap = final_summary.ap;
  report.val_f1 = final_summary.f1;
  report.seconds = elapsed();

  // ONNX weights when the network is this file's U-Net (new, or fine-tuned from a package of
  // ours), so that builds without libtorch run the package too.
  {
    std::map<std::string, Tensor> tensors;
    try {
      torch::jit::Module best_module = torch::jit::load((out / "weights.pt").string());
      auto add = [&tensors](const std::string& name, const at::Tensor& t) {
        at::Tensor c = t.detach().to(torch::kFloat32).contiguous();
        Tensor& v = tensors[name];
        v.shape.assign(c.sizes().begin(), c.sizes().end());
        v.values.assign(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
      };
      for (const auto& p : best_module.named_parameters()) add(p.name, p.value);
      for (const auto& b : best_module.named_buffers()) add(b.name, b.value);
    } catch (const std::exception& e) {
      return Internal("cannot read back the trained weights");
    }
    pkg.onnx = false;
    fs::remove(out / "weights.onnx", ec);  // left by an earlier package in this folder
    auto e0 = tensors.find("e0a_w");
    auto last = tensors.find("out_w");
    if (e0 != tensors.end() && last != tensors.end() && e0->second.shape.size() == 4 &&
        last->second.shape.size() == 4) {
      internal::UNetShape shape;
      shape.base_channels = static_cast<int>(e0->second.shape[0]);
      shape.outputs = static_cast<int>(last->second.shape[0]);
      shape.levels = 0;
      while (tensors.contains("e" + std::to_string(shape.levels) + "a_w")) ++shape.levels;
      SUND_ASSIGN_OR_RETURN(std::string onnx, internal::UNetOnnx(shape, tensors));
      SUND_RETURN_IF_ERROR(WriteText(out / "weights.onnx", onnx));
      pkg.onnx = true;
    }
  }

  // The package: test tensors from the first validation image, made by the written package.
  const Image& first = val.front().raw;
  const int m = pkg.multiple;
  const int th = std::min(256, first.height / m * m), tw = std::min(256, first.width / m * m);
  if (th < m || tw < m) return InvalidArgument(val.front().id + ": too small for a test tensor");
  Tensor test_in;
  test_in.shape = {1, 1, th, tw};
  for (int yy = 0; yy < th; ++yy) {
    for (int xx = 0; xx < tw; ++xx) test_in.values.push_back(first.at(xx, yy));
  }
  SUND_RETURN_IF_ERROR(WriteNpy((out / "test_input.npy").string(), test_in));
  auto figure = [](double v) { return Num(std::round(v * 10000) / 10000); };
  pkg.training = {
      {"command", Quote(options.command)},
      {"data", Quote(options.data)},
      {"architecture", Quote(architecture)},
      {"interior_depth", Num(kInteriorDepth)},
      {"contact_weight", Num(options.contact_weight)},
      {"parameters", std::to_string(parameters)},
      {"train_images", std::to_string(report.train_images)},
      {"val_images", std::to_string(report.val_images)},
      {"epochs_run", std::to_string(report.epochs.size())},
      {"best_epoch", std::to_string(report.best_epoch)},
      {"steps_per_epoch", std::to_string(options.steps_per_epoch)},
      {"batch", std::to_string(options.batch)},
      {"crop", std::to_string(options.crop)},
      {"learning_rate", Num(options.learning_rate)},
      {"seed", std::to_string(options.seed)},
      {"threads", std::to_string(options.threads)},
      {"seconds", std::to_string(static_cast<long long>(std::lround(report.seconds)))},
      {"final_loss", figure(report.epochs.back().loss)},
      {"val_ap50", figure(report.val_ap50)},
      {"val_ap", figure(report.val_ap)},
      {"val_f1", figure(report.val_f1)},
      {"libtorch", Quote(TORCH_VERSION)},
  };
  SUND_RETURN_IF_ERROR(WriteText(out / "bioimageio.yaml", PackageYaml(pkg, out.string())));
  {
    SUND_ASSIGN_OR_RETURN(auto written,
                          SegmentationModel::Load(out.string(), WeightsFormat::kTorchScript));
    SUND_ASSIGN_OR_RETURN(Tensor test_out, written->Run(test_in));
    SUND_RETURN_IF_ERROR(WriteNpy((out / "test_output.npy").string(), test_out));
  }
  SUND_RETURN_IF_ERROR(WriteText(out / "bioimageio.yaml", PackageYaml(pkg, out.string())));

  std::ostringstream readme;
  readme << "# " << pkg.name << "\n\n"
         << pkg.description << "\n\n"
         << "- Architecture: " << architecture << "; " << parameters << " parameters; outputs: ";
  for (std::size_t i = 0; i < pkg.channel_names.size(); ++i) {
    readme << (i ? ", " : "") << pkg.channel_names[i];
  }
  readme << (pkg.sigmoid ? " (logits; the package declares a sigmoid)" : "") << ".\n"
         << "- Objects: " << InstanceMethodName(pkg.instances.method);
  if (interior) {
    readme << " (foreground > " << Num(pkg.instances.foreground_threshold) << ", seeds where "
           << "interior > " << Num(pkg.instances.seed_threshold) << ", objects of at least "
           << pkg.instances.min_area << " pixels; chosen on the validation images)";
  }
  readme << ". See src/cells/instances.h.\n"
         << "- Data: " << options.data << " (" << report.train_images << " training, "
         << report.val_images << " validation images).\n"
         << "- Command: `" << options.command << "`\n"
         << "- Training: " << report.epochs.size() << " epochs of " << options.steps_per_epoch
         << " steps (batch " << options.batch << ", " << c << "x" << c << " crops), best epoch "
         << report.best_epoch << ", " << std::lround(report.seconds) << " s with "
         << options.threads << " threads (libtorch " << TORCH_VERSION << ", CPU).\n"
         << "- Validation: AP@0.5 " << figure(report.val_ap50) << ", AP@0.5:0.95 "
         << figure(report.val_ap) << ", F1@0.5 " << figure(report.val_f1) << ".\n\n"
         << "| epoch | loss | val AP@0.5 | val AP |\n|---|---|---|---|\n";
  for (const auto& e : report.epochs) {
    readme << "| " << e.epoch << " | " << figure(e.loss) << " | " << figure(e.val_ap50) << " | "
           << figure(e.val_ap) << " |\n";
  }
  SUND_RETURN_IF_ERROR(WriteText(out / "README.md", readme.str()));

  // The package must pass its own test, with each of its weights.
  for (WeightsFormat f : {WeightsFormat::kTorchScript, WeightsFormat::kOnnx}) {
    if (f == WeightsFormat::kOnnx && !pkg.onnx) continue;
    SUND_ASSIGN_OR_RETURN(auto written, SegmentationModel::Load(out.string(), f));
    SUND_ASSIGN_OR_RETURN(ModelTest t, TestModel(*written, 1e-4));
    if (!t.passed) {
      return Internal("the written package's " + written->info().runtime +
                      " weights do not reproduce its test output");
    }
  }
  fs::remove_all(staging, ec);
  report.weights_bytes = static_cast<std::int64_t>(fs::file_size(out / "weights.pt", ec));
  report.package = out.string();
  report.seconds = elapsed();
  return report;
}

}  // namespace sund::cells

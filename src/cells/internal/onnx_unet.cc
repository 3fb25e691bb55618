#include "cells/internal/onnx_unet.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

namespace sund::cells::internal {
namespace {

// Protocol-buffer wire format (https://protobuf.dev/programming-guides/encoding/): varints and
// length-delimited fields are all an ONNX model needs.
class Message {
 public:
  void Varint(std::uint64_t v) {
    while (v >= 0x80) {
      bytes_ += static_cast<char>((v & 0x7f) | 0x80);
      v >>= 7;
    }
    bytes_ += static_cast<char>(v);
  }
  void Int(int field, std::int64_t v) {
    Varint(static_cast<std::uint64_t>(field) << 3);
    Varint(static_cast<std::uint64_t>(v));
  }
  void Bytes(int field, const std::string& b) {
    Varint((static_cast<std::uint64_t>(field) << 3) | 2);
    Varint(b.size());
    bytes_ += b;
  }
  void Sub(int field, const Message& m) { Bytes(field, m.bytes_); }
  const std::string& bytes() const { return bytes_; }

 private:
  std::string bytes_;
};

// AttributeProto: name 1, i 3, ints 8, type 20 (INT 2, INTS 7).
Message IntAttr(const std::string& name, std::int64_t v) {
  Message a;
  a.Bytes(1, name);
  a.Int(3, v);
  a.Int(20, 2);
  return a;
}
Message IntsAttr(const std::string& name, const std::vector<std::int64_t>& v) {
  Message a;
  a.Bytes(1, name);
  for (auto x : v) a.Int(8, x);
  a.Int(20, 7);
  return a;
}

// NodeProto: input 1, output 2, name 3, op_type 4, attribute 5.
Message Node(const std::string& op, const std::vector<std::string>& in, const std::string& out,
             const std::vector<Message>& attrs = {}) {
  Message n;
  for (const auto& i : in) n.Bytes(1, i);
  n.Bytes(2, out);
  n.Bytes(3, out);
  n.Bytes(4, op);
  for (const auto& a : attrs) n.Sub(5, a);
  return n;
}

// TensorProto: dims 1, data_type 2 (FLOAT 1), name 8, raw_data 9 (little-endian).
Message Initializer(const std::string& name, const std::vector<std::int64_t>& dims,
                    const std::vector<float>& values) {
  Message t;
  for (auto d : dims) t.Int(1, d);
  t.Int(2, 1);
  t.Bytes(8, name);
  std::string raw(values.size() * sizeof(float), '\0');
  std::memcpy(raw.data(), values.data(), raw.size());
  t.Bytes(9, raw);
  return t;
}

// ValueInfoProto (name 1, type 2) of a float tensor N x channels x H x W.
Message Value(const std::string& name, int channels) {
  Message shape;
  for (const char* d : {"N", "C", "H", "W"}) {
    Message dim;
    if (std::string(d) == "C") {
      dim.Int(1, channels);
    } else {
      dim.Bytes(2, d);
    }
    shape.Sub(1, dim);
  }
  Message tensor;  // TypeProto.Tensor: elem_type 1, shape 2
  tensor.Int(1, 1);
  tensor.Sub(2, shape);
  Message type;  // TypeProto: tensor_type 1
  type.Sub(1, tensor);
  Message v;
  v.Bytes(1, name);
  v.Sub(2, type);
  return v;
}

class Builder {
 public:
  explicit Builder(const std::map<std::string, Tensor>& t) : tensors_(t) {}

  Result<const Tensor*> Get(const std::string& name, const std::vector<std::int64_t>& shape) {
    auto it = tensors_.find(name);
    if (it == tensors_.end()) return InvalidArgument("the network has no tensor " + name);
    if (it->second.shape != shape ||
        static_cast<std::size_t>(it->second.Elements()) != it->second.values.size()) {
      return InvalidArgument("the network's tensor " + name + " has another shape");
    }
    return &it->second;
  }

  // 3x3 convolution (no bias) + batch normalisation folded into weights and bias, then ReLU.
  Result<std::string> ConvBnRelu(const std::string& x, const std::string& p, int in, int out) {
    SUND_ASSIGN_OR_RETURN(const Tensor* w, Get(p + "_w", {out, in, 3, 3}));
    SUND_ASSIGN_OR_RETURN(const Tensor* g, Get(p + "_g", {out}));
    SUND_ASSIGN_OR_RETURN(const Tensor* b, Get(p + "_b", {out}));
    SUND_ASSIGN_OR_RETURN(const Tensor* rm, Get(p + "_rm", {out}));
    SUND_ASSIGN_OR_RETURN(const Tensor* rv, Get(p + "_rv", {out}));
    std::vector<float> wf = w->values, bf(out);
    const std::size_t per = static_cast<std::size_t>(in) * 9;
    for (int o = 0; o < out; ++o) {
      const double scale = g->values[o] / std::sqrt(static_cast<double>(rv->values[o]) + 1e-5);
      for (std::size_t k = 0; k < per; ++k) {
        wf[o * per + k] = static_cast<float>(w->values[o * per + k] * scale);
      }
      bf[o] = static_cast<float>(b->values[o] - rm->values[o] * scale);
    }
    graph_.Sub(5, Initializer(p + "_wf", {out, in, 3, 3}, wf));
    graph_.Sub(5, Initializer(p + "_bf", {out}, bf));
    graph_.Sub(1, Node("Conv", {x, p + "_wf", p + "_bf"}, p + "_conv",
                       {IntsAttr("kernel_shape", {3, 3}), IntsAttr("pads", {1, 1, 1, 1}),
                        IntsAttr("strides", {1, 1})}));
    graph_.Sub(1, Node("Relu", {p + "_conv"}, p + "_relu"));
    return p + "_relu";
  }

  Message& graph() { return graph_; }

 private:
  const std::map<std::string, Tensor>& tensors_;
  Message graph_;
};

}  // namespace

Result<std::string> UNetOnnx(const UNetShape& shape, const std::map<std::string, Tensor>& tensors) {
  if (shape.levels < 2 || shape.base_channels < 1 || shape.outputs < 1) {
    return InvalidArgument("not a U-Net shape");
  }
  Builder b(tensors);
  std::string x = "raw";
  std::vector<std::string> skips;
  int in = 1;
  for (int l = 0; l < shape.levels; ++l) {
    const int c = shape.base_channels << l;
    const std::string p = "e" + std::to_string(l);
    if (l > 0) {
      b.graph().Sub(1, Node("MaxPool", {skips.back()}, p + "_pool",
                            {IntsAttr("kernel_shape", {2, 2}), IntsAttr("strides", {2, 2})}));
      x = p + "_pool";
    }
    SUND_ASSIGN_OR_RETURN(x, b.ConvBnRelu(x, p + "a", in, c));
    SUND_ASSIGN_OR_RETURN(x, b.ConvBnRelu(x, p + "b", c, c));
    skips.push_back(x);
    in = c;
  }
  for (int l = shape.levels - 2; l >= 0; --l) {
    const int c = shape.base_channels << l;
    const std::string u = "u" + std::to_string(l);
    SUND_ASSIGN_OR_RETURN(const Tensor* w, b.Get(u + "_w", {2 * c, c, 2, 2}));
    SUND_ASSIGN_OR_RETURN(const Tensor* bias, b.Get(u + "_bias", {c}));
    b.graph().Sub(5, Initializer(u + "_w", w->shape, w->values));
    b.graph().Sub(5, Initializer(u + "_bias", bias->shape, bias->values));
    b.graph().Sub(1, Node("ConvTranspose", {x, u + "_w", u + "_bias"}, u + "_up",
                          {IntsAttr("kernel_shape", {2, 2}), IntsAttr("strides", {2, 2})}));
    b.graph().Sub(1, Node("Concat", {skips[l], u + "_up"}, u + "_cat", {IntAttr("axis", 1)}));
    const std::string d = "d" + std::to_string(l);
    SUND_ASSIGN_OR_RETURN(x, b.ConvBnRelu(u + "_cat", d + "a", 2 * c, c));
    SUND_ASSIGN_OR_RETURN(x, b.ConvBnRelu(x, d + "b", c, c));
  }
  SUND_ASSIGN_OR_RETURN(const Tensor* w,
                        b.Get("out_w", {shape.outputs, shape.base_channels, 1, 1}));
  SUND_ASSIGN_OR_RETURN(const Tensor* bias, b.Get("out_bias", {shape.outputs}));
  b.graph().Sub(5, Initializer("out_w", w->shape, w->values));
  b.graph().Sub(5, Initializer("out_bias", bias->shape, bias->values));
  b.graph().Sub(
      1, Node("Conv", {x, "out_w", "out_bias"}, "logits", {IntsAttr("kernel_shape", {1, 1})}));
  b.graph().Bytes(2, "sund_unet");
  b.graph().Sub(11, Value("raw", 1));
  b.graph().Sub(12, Value("logits", shape.outputs));

  Message opset;  // OperatorSetIdProto: domain 1 (default ""), version 2
  opset.Int(2, 13);
  Message model;  // ModelProto: ir_version 1, producer_name 2, producer_version 3, graph 7,
                  // opset_import 8
  model.Int(1, 8);
  model.Bytes(2, "sund cells train");
  model.Bytes(3, "1");
  model.Sub(7, b.graph());
  model.Sub(8, opset);
  return model.bytes();
}

}  // namespace sund::cells::internal

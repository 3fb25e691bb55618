#include "core/html.h"

#include <cmath>
#include <cstdio>

namespace sund {

std::string HtmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

void HtmlWriter::Element(std::string_view tag, std::string_view text, std::string_view attrs) {
  out_ += '<';
  out_ += tag;
  if (!attrs.empty()) {
    out_ += ' ';
    out_ += attrs;
  }
  out_ += '>';
  out_ += HtmlEscape(text);
  out_ += "</";
  out_ += tag;
  out_ += '>';
}

void HtmlWriter::BeginPage(std::string_view title, std::string_view css) {
  Raw("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
  Element("title", title);
  Raw("<style>");
  Raw(css);
  Raw("</style></head><body>\n<main>");
  Element("h1", title);
}

void HtmlWriter::TableHead(std::string_view caption, const std::vector<std::string>& columns) {
  Raw("<table>");
  if (!caption.empty()) Element("caption", caption);
  Raw("<thead><tr>");
  for (const std::string& c : columns) Element("th", c, "scope=\"col\"");
  Raw("</tr></thead><tbody>\n");
}

void HtmlWriter::SvgText(double x, double y, std::string_view text, std::string_view attrs) {
  out_ += "<text x=\"" + SvgNumber(x) + "\" y=\"" + SvgNumber(y) + "\"";
  if (!attrs.empty()) {
    out_ += ' ';
    out_ += attrs;
  }
  out_ += '>';
  Text(text);
  out_ += "</text>";
}

std::string SvgNumber(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

std::vector<double> NiceTicks(double lo, double hi) {
  const double raw = (hi - lo) / 5;
  if (!(raw > 0)) return {lo};
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    step = m * mag;
    if (step >= raw) break;
  }
  std::vector<double> ticks;
  for (double v = std::ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) {
    ticks.push_back(std::fabs(v) < step * 1e-9 ? 0 : v);
  }
  return ticks;
}

}  // namespace sund

// HTML escaping for Sund's server-rendered pages (the authorization server's screens, the
// citizen's audit log): every text that did not come from the code goes through HtmlEscape.
// Thread-safety: a pure function.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace sund {

// Escapes text for HTML element content and double- or single-quoted attribute values:
// & < > " ' become &amp; &lt; &gt; &quot; &#39;. Everything else, UTF-8 included, is unchanged.
std::string HtmlEscape(std::string_view text);

// An HTML document built in a string: markup as given, text escaped. Used by the self-contained
// reports (cells' report.html, synth's evaluation report).
class HtmlWriter {
 public:
  void Raw(std::string_view markup) { out_ += markup; }
  // A self-contained page's start: the doctype, <head> with the title and an inline stylesheet,
  // then <body><main> and the title as <h1>. EndPage closes them.
  void BeginPage(std::string_view title, std::string_view css);
  void EndPage() { out_ += "</main></body></html>\n"; }
  void Text(std::string_view text) { out_ += HtmlEscape(text); }
  // <tag attrs>escaped text</tag>
  void Element(std::string_view tag, std::string_view text, std::string_view attrs = "");
  // <table>, an optional <caption> and a header row of column headers; the caller writes the
  // rows and closes with </tbody></table>.
  void TableHead(std::string_view caption, const std::vector<std::string>& columns);
  // An SVG <text> at (x, y) (one decimal) with extra attributes.
  void SvgText(double x, double y, std::string_view text, std::string_view attrs = "");
  std::string& str() { return out_; }

 private:
  std::string out_;
};

// A coordinate for SVG: one decimal.
std::string SvgNumber(double v);
// Axis ticks at 1, 2, 5 x 10^k covering [lo, hi] (about five); {lo} for an empty range.
std::vector<double> NiceTicks(double lo, double hi);

}  // namespace sund

#include "core/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <utility>

namespace sund {
namespace {

constexpr int kBarWidth = 20;
constexpr std::int64_t kRedrawIntervalNs = 100'000'000;  // ~10 redraws a second

// 41230 -> "41,230"
std::string WithThousands(std::uint64_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  out.reserve(digits.size() + digits.size() / 3);
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

// 4 -> "4s", 125 -> "2m05s", 3720 -> "1h02m".
std::string Duration(double seconds) {
  auto s = static_cast<std::uint64_t>(std::max(0.0, seconds) + 0.5);
  char buf[32];
  if (s < 60) {
    std::snprintf(buf, sizeof(buf), "%us", static_cast<unsigned>(s));
  } else if (s < 3600) {
    std::snprintf(buf, sizeof(buf), "%um%02us", static_cast<unsigned>(s / 60),
                  static_cast<unsigned>(s % 60));
  } else {
    std::snprintf(buf, sizeof(buf), "%lluh%02um", static_cast<unsigned long long>(s / 3600),
                  static_cast<unsigned>((s % 3600) / 60));
  }
  return buf;
}

// 3.42 -> "3.4s", 125 -> "2m05s".
std::string Elapsed(double seconds) {
  if (seconds >= 60) return Duration(seconds);
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1fs", seconds);
  return buf;
}

void WriteStderr(std::string_view text) {
  std::fwrite(text.data(), 1, text.size(), stderr);
  std::fflush(stderr);
}

}  // namespace

ProgressBar::ProgressBar(std::string label, std::uint64_t total_units, std::string unit_name)
    : ProgressBar(std::move(label), total_units, std::move(unit_name), Options{}) {}

ProgressBar::ProgressBar(std::string label, std::uint64_t total_units, std::string unit_name,
                         Options options)
    : label_(std::move(label)),
      total_(total_units),
      unit_name_(std::move(unit_name)),
      write_(options.write ? std::move(options.write) : WriteStderr),
      now_(options.now ? std::move(options.now) : [] { return Clock::now(); }),
      terminal_(options.terminal.value_or(::isatty(STDERR_FILENO) == 1)),
      start_(now_()) {}

ProgressBar::~ProgressBar() {
  std::lock_guard<std::mutex> lock(draw_mu_);
  if (drawn_ && !finished_) write_("\n");
}

double ProgressBar::ElapsedSeconds() const {
  return std::chrono::duration<double>(now_() - start_).count();
}

void ProgressBar::Add(std::uint64_t done_units, std::uint64_t items) {
  done_.fetch_add(done_units, std::memory_order_relaxed);
  items_.fetch_add(items, std::memory_order_relaxed);
  if (!terminal_) return;
  const std::int64_t now_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(now_() - start_).count();
  if (now_ns < next_draw_ns_.load(std::memory_order_relaxed)) return;
  // One thread draws; the others carry on rather than wait for the terminal.
  std::unique_lock<std::mutex> lock(draw_mu_, std::try_to_lock);
  if (!lock.owns_lock() || finished_) return;
  if (now_ns < next_draw_ns_.load(std::memory_order_relaxed)) return;
  next_draw_ns_.store(now_ns + kRedrawIntervalNs, std::memory_order_relaxed);
  write_("\r" + Line() + "\x1b[K");
  drawn_ = true;
}

std::string ProgressBar::Line() const {
  const std::uint64_t done = done_units();
  const std::uint64_t items = this->items();
  const double elapsed = ElapsedSeconds();
  std::string line = label_;
  if (total_ > 0) {
    const double fraction = std::min(1.0, static_cast<double>(done) / static_cast<double>(total_));
    const int filled = static_cast<int>(fraction * kBarWidth);
    line += "  [" + std::string(filled, '#') + std::string(kBarWidth - filled, '.') + "]";
    char pct[8];
    std::snprintf(pct, sizeof(pct), "%3d%%", static_cast<int>(fraction * 100));
    line += "  ";
    line += pct;
  }
  line += "  " + WithThousands(items) + " " + unit_name_;
  if (elapsed > 0) {
    line += "  " + WithThousands(static_cast<std::uint64_t>(items / elapsed)) + "/s";
  }
  if (total_ > 0) {
    if (done >= total_) {
      line += "  ETA 0s";
    } else if (done > 0 && elapsed > 0) {
      const double rate = static_cast<double>(done) / elapsed;
      line += "  ETA " + Duration(static_cast<double>(total_ - done) / rate);
    } else {
      line += "  ETA --";
    }
  }
  return line;
}

std::string ProgressBar::Summary() const {
  const double elapsed = ElapsedSeconds();
  std::string line =
      label_ + "  " + WithThousands(items()) + " " + unit_name_ + " in " + Elapsed(elapsed);
  if (elapsed > 0) {
    line += " (" + WithThousands(static_cast<std::uint64_t>(items() / elapsed)) + "/s)";
  }
  return line;
}

void ProgressBar::Finish() {
  std::lock_guard<std::mutex> lock(draw_mu_);
  if (finished_) return;
  finished_ = true;
  if (terminal_) {
    write_("\r" + Summary() + "\x1b[K\n");
  } else {
    write_(Summary() + "\n");
  }
}

}  // namespace sund

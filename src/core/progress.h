// A progress bar for long commands (`sund import`, exports, `sund synth`).
//
// On a terminal (stderr is a tty) it redraws one line in place at most ~10 times a second:
//   import  [########............]  45%  41,230 resources  12,345/s  ETA 4s
// (without the bar, percentage and ETA when the total is unknown). When stderr is not a terminal
// it prints nothing until Finish(), which prints one summary line in both cases:
//   import  92,114 resources in 7.5s (12,282/s)
// "Units" measure progress towards the total (bytes or files read); "items" are what the user
// counts (resources), shown with the unit name.
//
// Thread-safety: Add() may be called from any number of threads at once; Finish() once, by the
// owner, after the last Add(). The bar only writes to stderr (or the injected sink).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace sund {

class ProgressBar {
 public:
  using Clock = std::chrono::steady_clock;

  // Injection points for tests; defaults: stderr, isatty(stderr), steady_clock.
  struct Options {
    std::function<void(std::string_view)> write;  // receives the bytes to print
    std::optional<bool> terminal;                 // redraw in place
    std::function<Clock::time_point()> now;
  };

  // `total_units` is 0 when unknown. `unit_name` names the items ("resources").
  ProgressBar(std::string label, std::uint64_t total_units, std::string unit_name);
  ProgressBar(std::string label, std::uint64_t total_units, std::string unit_name, Options options);
  // Ends a drawn line (so the shell prompt starts on a new one) without printing a summary.
  ~ProgressBar();
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  // Records progress: `done_units` more units towards the total and `items` more items.
  void Add(std::uint64_t done_units, std::uint64_t items);
  // Prints the summary line (replacing the bar on a terminal). Later calls do nothing.
  void Finish();

  std::uint64_t done_units() const { return done_.load(std::memory_order_relaxed); }
  std::uint64_t items() const { return items_.load(std::memory_order_relaxed); }
  // The bar line as it would be drawn now (without terminal control characters).
  std::string Line() const;

 private:
  std::string Summary() const;
  double ElapsedSeconds() const;

  const std::string label_;
  const std::uint64_t total_;
  const std::string unit_name_;
  std::function<void(std::string_view)> write_;
  std::function<Clock::time_point()> now_;
  bool terminal_;
  const Clock::time_point start_;

  std::atomic<std::uint64_t> done_{0};
  std::atomic<std::uint64_t> items_{0};
  std::atomic<std::int64_t> next_draw_ns_{0};  // since start_
  std::mutex draw_mu_;                         // guards drawing and the fields below
  bool drawn_ = false;
  bool finished_ = false;
};

}  // namespace sund

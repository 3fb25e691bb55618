#include "iomt/device_log.h"

#include <algorithm>
#include <filesystem>
#include <map>

#include "storage/sqlite/db.h"

namespace sund::iomt {

using storage::sqlite::Connection;
using storage::sqlite::Statement;

namespace {

constexpr std::int64_t kDayMs = 24LL * 3600 * 1000;

const char* const kMigrations[] = {
    R"(CREATE TABLE dead_letter (
         id       INTEGER PRIMARY KEY,
         received INTEGER NOT NULL,
         device   TEXT NOT NULL,
         idx      INTEGER NOT NULL,
         reason   TEXT NOT NULL,
         detail   TEXT NOT NULL,
         payload  BLOB NOT NULL
       );)",
    R"(CREATE TABLE device (
         device     TEXT PRIMARY KEY,
         last_ms    INTEGER NOT NULL,
         battery    REAL,
         battery_ms INTEGER
       ) WITHOUT ROWID;
       CREATE TABLE device_day (
         device       TEXT NOT NULL,
         day          INTEGER NOT NULL,  -- UTC days since the Unix epoch
         payloads     INTEGER NOT NULL,
         measurements INTEGER NOT NULL,
         max_gap_ms   INTEGER NOT NULL,  -- the longest silence ending on this day
         PRIMARY KEY (device, day)
       ) WITHOUT ROWID;)",
};

std::int64_t DayOf(std::int64_t ms) { return ms >= 0 ? ms / kDayMs : (ms - kDayMs + 1) / kDayMs; }

}  // namespace

Result<std::unique_ptr<Connection>> OpenIomtDb(const std::string& path) {
  std::filesystem::path p(path);
  if (p.has_parent_path()) {
    std::error_code ec;
    std::filesystem::create_directories(p.parent_path(), ec);
    if (ec) return Internal("cannot create the directory of " + path);
  }
  SUND_ASSIGN_OR_RETURN(auto conn, Connection::Open(path, false));
  SUND_RETURN_IF_ERROR(
      conn->Exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; "
                 "PRAGMA busy_timeout = 30000;"));
  SUND_RETURN_IF_ERROR(storage::sqlite::ApplyMigrations(*conn, kMigrations, "iomt.db"));
  return conn;
}

DeviceLog::~DeviceLog() = default;

Result<std::unique_ptr<DeviceLog>> DeviceLog::Open(const std::string& path) {
  std::unique_ptr<DeviceLog> d(new DeviceLog());
  SUND_ASSIGN_OR_RETURN(d->conn_, OpenIomtDb(path));
  return d;
}

Status DeviceLog::Record(const std::vector<DeviceActivity>& batch) {
  if (batch.empty()) return Status::Ok();
  // In time order, so gaps are measured between consecutive payloads of a device.
  std::vector<const DeviceActivity*> sorted;
  for (const auto& a : batch) sorted.push_back(&a);
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const auto* a, const auto* b) { return a->time_ms < b->time_ms; });
  std::lock_guard<std::mutex> l(mu_);
  SUND_RETURN_IF_ERROR(conn_->Exec("BEGIN IMMEDIATE"));
  Status s = [&]() -> Status {
    SUND_ASSIGN_OR_RETURN(sqlite3_stmt * last_raw,
                          conn_->PrepareLiteral("SELECT last_ms FROM device WHERE device = ?"));
    SUND_ASSIGN_OR_RETURN(
        sqlite3_stmt * device_raw,
        conn_->PrepareLiteral(
            "INSERT INTO device (device, last_ms, battery, battery_ms) VALUES (?1, ?2, ?3, "
            "CASE WHEN ?3 IS NULL THEN NULL ELSE ?2 END) ON CONFLICT (device) DO UPDATE SET "
            "last_ms = max(last_ms, ?2), "
            "battery = CASE WHEN ?3 IS NOT NULL AND ?2 >= coalesce(battery_ms, 0) THEN ?3 "
            "ELSE battery END, "
            "battery_ms = CASE WHEN ?3 IS NOT NULL AND ?2 >= coalesce(battery_ms, 0) THEN ?2 "
            "ELSE battery_ms END"));
    SUND_ASSIGN_OR_RETURN(
        sqlite3_stmt * day_raw,
        conn_->PrepareLiteral(
            "INSERT INTO device_day (device, day, payloads, measurements, max_gap_ms) VALUES "
            "(?1, ?2, 1, ?3, ?4) ON CONFLICT (device, day) DO UPDATE SET "
            "payloads = payloads + 1, measurements = measurements + ?3, "
            "max_gap_ms = max(max_gap_ms, ?4)"));
    for (const DeviceActivity* a : sorted) {
      std::int64_t gap = 0;
      {
        Statement st(last_raw);
        st.Bind(1, std::string_view(a->device));
        SUND_ASSIGN_OR_RETURN(bool row, st.Step());
        if (row) gap = std::max<std::int64_t>(0, a->time_ms - st.Int(0));
      }
      Statement dev(device_raw);
      dev.Bind(1, std::string_view(a->device));
      dev.Bind(2, a->time_ms);
      if (a->battery) dev.Bind(3, *a->battery);
      SUND_RETURN_IF_ERROR(dev.Run());
      Statement day(day_raw);
      day.Bind(1, std::string_view(a->device));
      day.Bind(2, DayOf(a->time_ms));
      day.Bind(3, std::int64_t{a->measurements});
      day.Bind(4, gap);
      SUND_RETURN_IF_ERROR(day.Run());
    }
    return conn_->Exec("COMMIT");
  }();
  if (!s.ok()) conn_->Exec("ROLLBACK").IgnoreError();
  return s;
}

Result<std::vector<DeviceReport>> DeviceLog::Report(std::int64_t now_ms, int days,
                                                    int plan_per_day) {
  std::int64_t first_day = DayOf(now_ms) - std::max(days, 1) + 1;
  std::lock_guard<std::mutex> l(mu_);
  std::map<std::string, DeviceReport> out;
  {
    SUND_ASSIGN_OR_RETURN(
        sqlite3_stmt * raw,
        conn_->PrepareLiteral("SELECT device, last_ms, battery, battery_ms FROM device"));
    Statement st(raw);
    while (true) {
      SUND_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      DeviceReport r;
      r.device = std::string(st.Text(0));
      r.last_seen_ms = st.Int(1);
      if (!st.IsNull(2)) {
        r.battery = st.Double(2);
        r.battery_ms = st.Int(3);
      }
      // The silence since the last payload counts as a gap too.
      r.longest_gap_ms = std::max<std::int64_t>(0, now_ms - r.last_seen_ms);
      out.emplace(r.device, std::move(r));
    }
  }
  SUND_ASSIGN_OR_RETURN(
      sqlite3_stmt * raw,
      conn_->PrepareLiteral("SELECT device, count(*), sum(payloads), sum(measurements), "
                            "max(max_gap_ms), sum(payloads >= ?2) FROM device_day "
                            "WHERE day >= ?1 GROUP BY device"));
  Statement st(raw);
  st.Bind(1, first_day);
  st.Bind(2, std::int64_t{plan_per_day});
  while (true) {
    SUND_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    auto it = out.find(std::string(st.Text(0)));
    if (it == out.end()) continue;
    it->second.days_reported = static_cast<int>(st.Int(1));
    it->second.payloads = st.Int(2);
    it->second.measurements = st.Int(3);
    it->second.longest_gap_ms = std::max(it->second.longest_gap_ms, st.Int(4));
    it->second.days_meeting_plan = static_cast<int>(st.Int(5));
  }
  std::vector<DeviceReport> list;
  for (auto& [k, v] : out) list.push_back(std::move(v));
  return list;
}

}  // namespace sund::iomt

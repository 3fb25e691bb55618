#include "iomt/dead_letters.h"

#include "iomt/device_log.h"
#include "storage/sqlite/db.h"

namespace sund::iomt {

using storage::sqlite::Connection;
using storage::sqlite::Statement;

namespace {

constexpr std::size_t kMaxPayload = 64 * 1024;

}  // namespace

DeadLetters::~DeadLetters() = default;

Result<std::unique_ptr<DeadLetters>> DeadLetters::Open(const std::string& path) {
  std::unique_ptr<DeadLetters> d(new DeadLetters());
  SUND_ASSIGN_OR_RETURN(d->conn_, OpenIomtDb(path));
  return d;
}

Status DeadLetters::Add(std::vector<DeadLetter>& letters) {
  if (letters.empty()) return Status::Ok();
  std::lock_guard<std::mutex> l(mu_);
  SUND_RETURN_IF_ERROR(conn_->Exec("BEGIN IMMEDIATE"));
  Status s = [&]() -> Status {
    SUND_ASSIGN_OR_RETURN(
        sqlite3_stmt * raw,
        conn_->PrepareLiteral("INSERT INTO dead_letter (received, device, idx, reason, detail, "
                              "payload) VALUES (?, ?, ?, ?, ?, ?)"));
    for (DeadLetter& d : letters) {
      Statement st(raw);
      st.Bind(1, d.received_us);
      st.Bind(2, std::string_view(d.device));
      st.Bind(3, std::int64_t{d.index});
      st.Bind(4, std::string_view(d.reason));
      st.Bind(5, std::string_view(d.detail));
      std::string_view payload(d.payload);
      st.BindBlob(6, payload.substr(0, kMaxPayload));
      SUND_RETURN_IF_ERROR(st.Run());
      d.id = conn_->LastInsertRowid();
    }
    return conn_->Exec("COMMIT");
  }();
  if (!s.ok()) conn_->Exec("ROLLBACK").IgnoreError();
  return s;
}

Result<std::vector<DeadLetter>> DeadLetters::List(int limit, std::int64_t before_id) {
  std::lock_guard<std::mutex> l(mu_);
  SUND_ASSIGN_OR_RETURN(
      sqlite3_stmt * raw,
      conn_->PrepareLiteral("SELECT id, received, device, idx, reason, detail, payload FROM "
                            "dead_letter WHERE id < ? ORDER BY id DESC LIMIT ?"));
  Statement st(raw);
  st.Bind(1, before_id);
  st.Bind(2, std::int64_t{limit});
  std::vector<DeadLetter> out;
  while (true) {
    SUND_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    DeadLetter d;
    d.id = st.Int(0);
    d.received_us = st.Int(1);
    d.device = std::string(st.Text(2));
    d.index = static_cast<int>(st.Int(3));
    d.reason = std::string(st.Text(4));
    d.detail = std::string(st.Text(5));
    d.payload = std::string(st.Text(6));
    out.push_back(std::move(d));
  }
  return out;
}

Result<std::int64_t> DeadLetters::Count() {
  std::lock_guard<std::mutex> l(mu_);
  SUND_ASSIGN_OR_RETURN(sqlite3_stmt * raw,
                        conn_->PrepareLiteral("SELECT COUNT(*) FROM dead_letter"));
  Statement st(raw);
  SUND_ASSIGN_OR_RETURN(bool row, st.Step());
  return row ? st.Int(0) : 0;
}

}  // namespace sund::iomt

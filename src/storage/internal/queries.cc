#include "storage/internal/queries.h"

#include <set>
#include <string>
#include <unordered_map>

#include "core/time.h"
#include "fhir/model.h"

namespace sund::storage::sql {
namespace {

// "alias's type is not one of the Patient compartment's types" (Practitioner, Organization ...).
std::string OutsideCompartmentTypes(Dialect d, std::string_view alias, std::vector<Param>& params) {
  static const std::string* const kTypes = [] {
    std::vector<std::string> types;
    for (const auto& type : fhir::Model::R4().PatientCompartmentTypes()) types.push_back(type);
    return new std::string(JsonArray(types));
  }();
  params.emplace_back(*kTypes);
  return std::string(alias) + ".type NOT IN " + JsonList(d);
}

// The row of a current-version query (version, last_updated, deleted, method, json).
Result<ResourceVersion> CurrentRow(Rows& rows, std::string_view type, std::string_view id) {
  SUND_ASSIGN_OR_RETURN(bool row, rows.Next());
  if (!row) return NotFound(std::string(type) + "/" + std::string(id) + " is not known");
  ResourceVersion v;
  v.type = std::string(type);
  v.id = std::string(id);
  v.version = rows.Int(0);
  v.last_updated_us = rows.Int(1);
  v.deleted = rows.Int(2) != 0;
  v.method = std::string(rows.Text(3));
  v.json = std::string(rows.Text(4));
  return v;
}

// A point query on one current resource (`select_from` joined as `r`) in a patient's
// compartment; its parameters are type, id, patient, patient.
std::string CompartmentPointSql(Dialect d, const char* select_from) {
  std::vector<Param> unused;
  return std::string(select_from) + " WHERE r.type = ? AND r.id = ? AND r.deleted = 0 AND " +
         CompartmentClause(d, "r", "", unused);
}

std::string RidArray(const std::vector<std::int64_t>& rids) {
  std::string s = "[";
  for (std::size_t i = 0; i < rids.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(rids[i]);
  }
  s += ']';
  return s;
}

// The compartment restriction of an included resource `alias`: resources of types outside the
// Patient compartment (Practitioner, Organization, Medication ...) are no one's data and are not
// restricted (the API reads them under patient/ scopes); the others must lie in `patient`'s.
std::string IncludedCompartmentClause(Dialect d, std::string_view alias, const std::string& patient,
                                      std::vector<Param>& params) {
  std::string outside = OutsideCompartmentTypes(d, alias, params);  // binds its parameter first
  return "(" + outside + " OR " + CompartmentClause(d, alias, patient, params) + ")";
}

Status AddIncludes(Connection& conn, const SpLookup& sp_of, const fhir::SearchQuery& q,
                   SearchPage& page, std::vector<std::int64_t>& match_rids) {
  if (q.includes.empty() && q.revincludes.empty()) return Status::Ok();
  const Dialect d = conn.dialect();
  std::set<std::int64_t> seen(match_rids.begin(), match_rids.end());
  std::vector<std::int64_t> frontier = match_rids;
  constexpr int kMaxIncluded = 10'000;
  for (int round = 0; round < 4 && !frontier.empty(); ++round) {
    std::vector<std::int64_t> next;
    auto collect = [&](Rows& rows) -> Status {
      while (true) {
        SUND_ASSIGN_OR_RETURN(bool row, rows.Next());
        if (!row) break;
        std::int64_t rid = rows.Int(0);
        if (!seen.insert(rid).second) continue;
        next.push_back(rid);
        page.includes.push_back(SearchHit{std::string(rows.Text(1)), std::string(rows.Text(2)),
                                          std::string(rows.Text(3))});
        if (static_cast<int>(page.includes.size()) >= kMaxIncluded) break;
      }
      return Status::Ok();
    };
    std::string array = RidArray(frontier);
    for (const auto& inc : q.includes) {
      if (round > 0 && !inc.iterate) continue;
      std::string sql =
          "SELECT DISTINCT t.rid, t.type, t.id, v.json FROM idx_reference x "
          "JOIN resource t ON t.id = x.ref_id AND t.type = x.ref_type AND t.deleted = 0 "
          "JOIN version v ON v.rid = t.rid AND v.version = t.version "
          "JOIN resource s ON s.rid = x.rid "
          "WHERE x.rid IN " +
          std::string(JsonIntList(d));
      std::vector<Param> params{array};
      if (inc.source_type != "*") {
        sql += " AND s.type = ?";
        params.emplace_back(inc.source_type);
      }
      if (inc.param != nullptr) {
        std::int64_t sp = sp_of(inc.source_type, inc.param->code);
        if (sp < 0) continue;
        sql += " AND x.sp = ?";
        params.emplace_back(sp);
      }
      if (!inc.target_type.empty()) {
        sql += " AND x.ref_type = ?";
        params.emplace_back(inc.target_type);
      }
      if (!q.compartment_patient.empty()) {
        sql += " AND " + IncludedCompartmentClause(d, "t", q.compartment_patient, params);
      }
      if (q.consent.active) sql += " AND " + ConsentClause(d, "t", q.consent, params);
      SUND_ASSIGN_OR_RETURN(auto rows, conn.Query(sql, params));
      SUND_RETURN_IF_ERROR(collect(*rows));
    }
    for (const auto& inc : q.revincludes) {
      if (round > 0 && !inc.iterate) continue;
      if (inc.param == nullptr) continue;
      std::int64_t sp = sp_of(inc.source_type, inc.param->code);
      if (sp < 0) continue;
      std::string sql =
          "SELECT DISTINCT s.rid, s.type, s.id, v.json FROM resource t "
          "JOIN idx_reference x ON x.ref_id = t.id AND x.ref_type = t.type AND x.sp = ? "
          "JOIN resource s ON s.rid = x.rid AND s.deleted = 0 "
          "JOIN version v ON v.rid = s.rid AND v.version = s.version "
          "WHERE t.rid IN " +
          std::string(JsonIntList(d));
      std::vector<Param> params{sp, array};
      if (!inc.target_type.empty()) {
        sql += " AND t.type = ?";
        params.emplace_back(inc.target_type);
      }
      if (!q.compartment_patient.empty()) {
        sql += " AND " + IncludedCompartmentClause(d, "s", q.compartment_patient, params);
      }
      if (q.consent.active) sql += " AND " + ConsentClause(d, "s", q.consent, params);
      SUND_ASSIGN_OR_RETURN(auto rows, conn.Query(sql, params));
      SUND_RETURN_IF_ERROR(collect(*rows));
    }
    frontier = std::move(next);
  }
  return Status::Ok();
}

}  // namespace

Result<ResourceVersion> ReadCurrent(Connection& c, std::string_view type, std::string_view id) {
  SUND_ASSIGN_OR_RETURN(
      auto rows,
      c.QueryLiteral(
          "SELECT r.version, r.last_updated, r.deleted, v.method, v.json FROM resource r "
          "JOIN version v ON v.rid = r.rid AND v.version = r.version "
          "WHERE r.type = ? AND r.id = ?",
          {std::string(type), std::string(id)}));
  return CurrentRow(*rows, type, id);
}

Result<ResourceVersion> ReadVersion(Connection& c, std::string_view type, std::string_view id,
                                    std::int64_t version) {
  SUND_ASSIGN_OR_RETURN(
      auto rows, c.QueryLiteral("SELECT v.last_updated, v.method, v.json FROM resource r JOIN "
                                "version v ON v.rid = r.rid WHERE r.type = ? AND r.id = ? AND "
                                "v.version = ?",
                                {std::string(type), std::string(id), version}));
  SUND_ASSIGN_OR_RETURN(bool row, rows->Next());
  if (!row) {
    return NotFound(std::string(type) + "/" + std::string(id) + "/_history/" +
                    std::to_string(version) + " is not known");
  }
  ResourceVersion v;
  v.type = std::string(type);
  v.id = std::string(id);
  v.version = version;
  v.last_updated_us = rows->Int(0);
  v.method = std::string(rows->Text(1));
  v.deleted = v.method == "DELETE";
  v.json = std::string(rows->Text(2));
  return v;
}

Result<HistoryPage> History(Connection& c, const HistoryQuery& q) {
  const Dialect d = c.dialect();
  std::string sql =
      "SELECT v.vid, r.type, r.id, v.version, v.last_updated, v.method, v.json FROM version v "
      "JOIN resource r ON r.rid = v.rid WHERE TRUE";
  std::vector<Param> params;
  if (!q.type.empty()) {
    sql += " AND r.type = ?";
    params.emplace_back(q.type);
  }
  if (!q.id.empty()) {
    sql += " AND r.id = ?";
    params.emplace_back(q.id);
  }
  if (q.since_us) {
    sql += " AND v.last_updated >= ?";
    params.emplace_back(*q.since_us);
  }
  if (q.at_us) {
    sql +=
        " AND v.last_updated <= ? AND NOT EXISTS (SELECT 1 FROM version w WHERE w.rid = v.rid "
        "AND w.version > v.version AND w.last_updated <= ?)";
    params.emplace_back(*q.at_us);
    params.emplace_back(*q.at_us);
  }
  if (q.before_vid) {
    sql += " AND v.vid < ?";
    params.emplace_back(*q.before_vid);
  }
  if (q.after_vid) {
    sql += " AND v.vid > ?";
    params.emplace_back(*q.after_vid);
  }
  if (!q.compartment_patient.empty()) {
    sql += " AND " + CompartmentClause(d, "r", q.compartment_patient, params);
  }
  if (q.consent.active) {
    sql += " AND " + ConsentClause(d, "r", q.consent, params);
    sql += " AND (r.deleted = 0 OR " + OutsideCompartmentTypes(d, "r", params) + ")";
  }
  // vids grow in commit order: the backends serialise writers.
  sql += q.after_vid ? " ORDER BY v.vid ASC LIMIT ?" : " ORDER BY v.vid DESC LIMIT ?";
  params.emplace_back(static_cast<std::int64_t>(q.count + 1));
  SUND_ASSIGN_OR_RETURN(auto rows, c.Query(sql, params));
  HistoryPage page;
  std::int64_t last_vid = 0;
  while (true) {
    SUND_ASSIGN_OR_RETURN(bool row, rows->Next());
    if (!row) break;
    if (static_cast<int>(page.versions.size()) == q.count) {
      page.next_vid = last_vid;
      break;
    }
    ResourceVersion v;
    last_vid = rows->Int(0);
    page.last_vid = last_vid;
    v.type = std::string(rows->Text(1));
    v.id = std::string(rows->Text(2));
    v.version = rows->Int(3);
    v.last_updated_us = rows->Int(4);
    v.method = std::string(rows->Text(5));
    v.deleted = v.method == "DELETE";
    v.json = std::string(rows->Text(6));
    page.versions.push_back(std::move(v));
  }
  return page;
}

Result<bool> InPatientCompartment(Connection& c, std::string_view type, std::string_view id,
                                  std::string_view patient) {
  static const std::string kSqlite =
      CompartmentPointSql(Dialect::kSqlite, "SELECT 1 FROM resource r");
  static const std::string kPostgres =
      CompartmentPointSql(Dialect::kPostgres, "SELECT 1 FROM resource r");
  const std::string& sql = c.dialect() == Dialect::kSqlite ? kSqlite : kPostgres;
  SUND_ASSIGN_OR_RETURN(auto rows,
                        c.QueryLiteral(sql.c_str(), {std::string(type), std::string(id),
                                                     std::string(patient), std::string(patient)}));
  return rows->Next();
}

Result<ResourceVersion> ReadInPatientCompartment(Connection& c, std::string_view type,
                                                 std::string_view id, std::string_view patient) {
  static constexpr const char* kSelect =
      "SELECT r.version, r.last_updated, r.deleted, v.method, v.json FROM resource r JOIN "
      "version v ON v.rid = r.rid AND v.version = r.version";
  static const std::string kSqlite = CompartmentPointSql(Dialect::kSqlite, kSelect);
  static const std::string kPostgres = CompartmentPointSql(Dialect::kPostgres, kSelect);
  const std::string& sql = c.dialect() == Dialect::kSqlite ? kSqlite : kPostgres;
  SUND_ASSIGN_OR_RETURN(auto rows,
                        c.QueryLiteral(sql.c_str(), {std::string(type), std::string(id),
                                                     std::string(patient), std::string(patient)}));
  return CurrentRow(*rows, type, id);
}

Result<SearchPage> Search(Connection& c, const SpLookup& sp, const fhir::SearchQuery& q,
                          bool ids_only, int limit_override) {
  SearchSql compiler(c.dialect(), sp, SystemClock::Get().NowMicros() / 1000);
  SUND_ASSIGN_OR_RETURN(SqlFragment where, compiler.Where(q));
  SearchPage page;
  if (q.total == fhir::TotalMode::kAccurate || q.summary == fhir::SummaryMode::kCount) {
    SUND_ASSIGN_OR_RETURN(
        auto rows, c.Query("SELECT COUNT(*) FROM resource r WHERE " + where.sql, where.params));
    SUND_ASSIGN_OR_RETURN(bool row, rows->Next());
    page.total = row ? rows->Int(0) : 0;
    if (q.summary == fhir::SummaryMode::kCount) return page;
  }
  SUND_ASSIGN_OR_RETURN(SqlFragment order, compiler.OrderBy(q));
  int limit = limit_override > 0 ? limit_override : q.count;
  // Keyset paging in the default order (by surrogate key): O(page) at any depth.
  if (q.sort.empty() && q.cursor > 0) {
    if (!ids_only) {
      // The previous page's cursor: the key `count` rows before this page's start.
      std::vector<Param> prev = where.params;
      prev.emplace_back(q.cursor);
      prev.emplace_back(static_cast<std::int64_t>(q.count));
      SUND_ASSIGN_OR_RETURN(auto rows, c.Query("SELECT r.rid FROM resource r WHERE " + where.sql +
                                                   " AND r.rid <= ? ORDER BY r.rid DESC LIMIT 1 "
                                                   "OFFSET ?",
                                               prev));
      SUND_ASSIGN_OR_RETURN(bool row, rows->Next());
      page.prev_cursor = row ? rows->Int(0) : 0;
    }
    where.sql += " AND r.rid > ?";
    where.params.emplace_back(q.cursor);
  }
  // PostgreSQL joins the versions (their JSON) of every match before it sorts and cuts the
  // page when it misjudges how many rows match (a patient with 10,000 Observations: 190 ms for
  // a page of 20), and for every skipped row of an OFFSET. There the page's keys come first and
  // their JSON in a second query; SQLite walks the key order and stops at the page's end itself.
  const bool json_after = !ids_only && c.dialect() == Dialect::kPostgres;
  std::string sql;
  if (ids_only || json_after) {
    sql = "SELECT r.rid, r.type, r.id FROM resource r WHERE " + where.sql + " " + order.sql +
          " LIMIT ? OFFSET ?";
  } else {
    sql =
        "SELECT r.rid, r.type, r.id, v.json FROM resource r JOIN version v ON v.rid = r.rid "
        "AND v.version = r.version WHERE " +
        where.sql + " " + order.sql + " LIMIT ? OFFSET ?";
  }
  std::vector<Param> params = std::move(where.params);
  params.insert(params.end(), order.params.begin(), order.params.end());
  params.emplace_back(static_cast<std::int64_t>(limit + 1));
  params.emplace_back(q.offset);
  std::vector<std::int64_t> rids;
  {
    SUND_ASSIGN_OR_RETURN(auto rows, c.Query(sql, params));
    while (true) {
      SUND_ASSIGN_OR_RETURN(bool row, rows->Next());
      if (!row) break;
      if (static_cast<int>(page.matches.size()) == limit) {
        page.has_more = true;
        break;
      }
      rids.push_back(rows->Int(0));
      page.matches.push_back(
          SearchHit{std::string(rows->Text(1)), std::string(rows->Text(2)),
                    ids_only || json_after ? std::string() : std::string(rows->Text(3))});
    }
  }
  if (json_after && !rids.empty()) {
    // The current version of each; a resource deleted in between is left out of the page.
    std::unordered_map<std::int64_t, std::string> json;
    SUND_ASSIGN_OR_RETURN(
        auto rows, c.Query("SELECT r.rid, v.json FROM resource r JOIN version v ON v.rid = r.rid "
                           "AND v.version = r.version WHERE r.deleted = 0 AND r.rid IN " +
                               std::string(JsonIntList(c.dialect())),
                           {RidArray(rids)}));
    while (true) {
      SUND_ASSIGN_OR_RETURN(bool row, rows->Next());
      if (!row) break;
      json.emplace(rows->Int(0), std::string(rows->Text(1)));
    }
    std::vector<SearchHit> kept;
    std::vector<std::int64_t> kept_rids;
    for (std::size_t i = 0; i < rids.size(); ++i) {
      auto it = json.find(rids[i]);
      if (it == json.end()) continue;
      page.matches[i].json = std::move(it->second);
      kept.push_back(std::move(page.matches[i]));
      kept_rids.push_back(rids[i]);
    }
    page.matches = std::move(kept);
    rids = std::move(kept_rids);
  }
  if (!rids.empty()) page.next_cursor = rids.back();
  if (!ids_only) SUND_RETURN_IF_ERROR(AddIncludes(c, sp, q, page, rids));
  return page;
}

Result<std::vector<SearchHit>> Everything(Connection& c, std::string_view patient_id, int limit) {
  static constexpr const char* kSql =
      "WITH members(rid) AS ("
      "  SELECT rid FROM resource WHERE type = 'Patient' AND id = ? AND deleted = 0"
      "  UNION SELECT x.rid FROM idx_reference x WHERE x.ref_id = ? AND x.ref_type = 'Patient'),"
      " linked(rid) AS ("
      "  SELECT rid FROM members"
      "  UNION SELECT t.rid FROM idx_reference x JOIN resource t ON t.id = x.ref_id"
      "   AND t.type = x.ref_type WHERE x.rid IN (SELECT rid FROM members)"
      "   AND (t.type <> 'Patient' OR t.id = ?))"
      " SELECT r.type, r.id, v.json FROM linked l JOIN resource r ON r.rid = l.rid"
      " JOIN version v ON v.rid = r.rid AND v.version = r.version WHERE r.deleted = 0"
      " ORDER BY (r.type <> 'Patient'), r.rid LIMIT ?";
  std::string patient(patient_id);
  SUND_ASSIGN_OR_RETURN(auto rows, c.QueryLiteral(kSql, {patient, patient, patient,
                                                         static_cast<std::int64_t>(limit)}));
  std::vector<SearchHit> hits;
  while (true) {
    SUND_ASSIGN_OR_RETURN(bool row, rows->Next());
    if (!row) break;
    hits.push_back(SearchHit{std::string(rows->Text(0)), std::string(rows->Text(1)),
                             std::string(rows->Text(2))});
  }
  return hits;
}

Result<std::int64_t> LastVid(Connection& c) {
  SUND_ASSIGN_OR_RETURN(auto rows, c.QueryLiteral("SELECT COALESCE(MAX(vid), 0) FROM version", {}));
  SUND_ASSIGN_OR_RETURN(bool row, rows->Next());
  return row ? rows->Int(0) : 0;
}

Result<SnapshotPage> Snapshot(Connection& c, const SpLookup& sp, const SnapshotQuery& q) {
  const Dialect d = c.dialect();
  // The version of each resource that was newest at the snapshot (vids grow in commit order),
  // unless that version is a delete: resources created later have none and are left out.
  // PostgreSQL cannot estimate the correlated MAX and would join every version of the type for
  // each page (460 ms a page of 1,000 Observations); a LATERAL lookup of the newest version per
  // resource follows the key order instead (7 ms). SQLite has no LATERAL and plans the MAX well.
  std::string sql;
  std::vector<Param> params;
  if (d == Dialect::kPostgres) {
    sql =
        "SELECT r.rid, r.id, v.version, v.last_updated, v.method, v.json FROM resource r CROSS "
        "JOIN LATERAL (SELECT w.version, w.last_updated, w.method, w.json FROM version w WHERE "
        "w.rid = r.rid AND w.vid <= ? ORDER BY w.version DESC LIMIT 1) v WHERE r.type = ? AND "
        "r.rid > ? AND v.method <> 'DELETE'";
    params = {q.as_of_vid, q.type, q.after_rid};
  } else {
    sql =
        "SELECT r.rid, r.id, v.version, v.last_updated, v.method, v.json FROM resource r "
        "JOIN version v ON v.rid = r.rid WHERE r.type = ? AND r.rid > ? AND v.vid = (SELECT "
        "MAX(w.vid) FROM version w WHERE w.rid = r.rid AND w.vid <= ?) AND v.method <> 'DELETE'";
    params = {q.type, q.after_rid, q.as_of_vid};
  }
  if (q.since_us) {
    sql += " AND v.last_updated >= ?";
    params.emplace_back(*q.since_us);
  }
  if (!q.patients.empty() || q.any_patient) {
    // The type is known, so the clause is one test, not the search's "(Patient and listed) or
    // referencing": PostgreSQL turns such an OR'ed EXISTS into a hash of every reference to
    // every patient, built again for each page (130 ms a page, 17 ms without the OR).
    if (q.type == "Patient") {
      if (!q.patients.empty()) {
        sql += " AND r.id IN " + std::string(JsonList(d));
        params.emplace_back(JsonArray(q.patients));
      }
    } else {
      sql += std::string(" AND EXISTS (SELECT 1 FROM idx_reference cz WHERE cz.rid = r.rid AND ") +
             Hint(d) + "cz.ref_type = 'Patient' AND " + Hint(d) +
             "cz.sp IN (SELECT sp FROM compartment_sp)";
      if (!q.patients.empty()) {
        sql += std::string(" AND ") + Hint(d) + "cz.ref_id IN " + JsonList(d);
        params.emplace_back(JsonArray(q.patients));
      }
      sql += ")";
    }
  }
  if (q.filter.consent.active) sql += " AND " + ConsentClause(d, "r", q.filter.consent, params);
  if (!q.filter.criteria.empty()) {
    SearchSql compiler(d, sp, SystemClock::Get().NowMicros() / 1000);
    SUND_ASSIGN_OR_RETURN(SqlFragment f, compiler.CriteriaOnly(q.type, q.filter.criteria));
    sql += " AND " + f.sql;
    params.insert(params.end(), f.params.begin(), f.params.end());
  }
  sql += " ORDER BY r.rid LIMIT ?";
  params.emplace_back(static_cast<std::int64_t>(q.count + 1));
  SUND_ASSIGN_OR_RETURN(auto rows, c.Query(sql, params));
  SnapshotPage page;
  std::int64_t last_rid = 0;
  while (true) {
    SUND_ASSIGN_OR_RETURN(bool row, rows->Next());
    if (!row) break;
    if (static_cast<int>(page.versions.size()) == q.count) {
      page.next_rid = last_rid;
      break;
    }
    last_rid = rows->Int(0);
    ResourceVersion v;
    v.type = q.type;
    v.id = std::string(rows->Text(1));
    v.version = rows->Int(2);
    v.last_updated_us = rows->Int(3);
    v.method = std::string(rows->Text(4));
    v.json = std::string(rows->Text(5));
    page.versions.push_back(std::move(v));
  }
  return page;
}

Result<std::vector<std::pair<std::string, std::int64_t>>> CountByType(Connection& c) {
  SUND_ASSIGN_OR_RETURN(
      auto rows,
      c.QueryLiteral(
          "SELECT type, COUNT(*) FROM resource WHERE deleted = 0 GROUP BY type ORDER BY type", {}));
  std::vector<std::pair<std::string, std::int64_t>> out;
  while (true) {
    SUND_ASSIGN_OR_RETURN(bool row, rows->Next());
    if (!row) break;
    out.emplace_back(std::string(rows->Text(0)), rows->Int(1));
  }
  return out;
}

}  // namespace sund::storage::sql

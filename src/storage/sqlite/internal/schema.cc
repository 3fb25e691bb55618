#include "storage/sqlite/internal/schema.h"

namespace sund::storage::sqlite {

const std::vector<const char*>& Migrations() {
  static const std::vector<const char*> kMigrations = {
      // 1: resources, versions and typed index tables.
      R"sql(
CREATE TABLE search_param (
  sp    INTEGER PRIMARY KEY,
  type  TEXT NOT NULL,
  code  TEXT NOT NULL,
  url   TEXT NOT NULL,
  UNIQUE (type, code)
);
CREATE TABLE resource (
  rid          INTEGER PRIMARY KEY,
  type         TEXT NOT NULL,
  id           TEXT NOT NULL,
  version      INTEGER NOT NULL,
  last_updated INTEGER NOT NULL,
  deleted      INTEGER NOT NULL DEFAULT 0,
  UNIQUE (type, id)
);
CREATE INDEX resource_type_updated ON resource (type, last_updated);
CREATE TABLE version (
  vid          INTEGER PRIMARY KEY,
  rid          INTEGER NOT NULL,
  version      INTEGER NOT NULL,
  last_updated INTEGER NOT NULL,
  method       TEXT NOT NULL,
  json         BLOB
);
CREATE UNIQUE INDEX version_rid ON version (rid, version);
CREATE INDEX version_updated ON version (last_updated);
CREATE TABLE idx_string (
  sp INTEGER NOT NULL, value TEXT NOT NULL, raw TEXT NOT NULL, rid INTEGER NOT NULL,
  PRIMARY KEY (sp, value, rid, raw)
) WITHOUT ROWID;
CREATE INDEX idx_string_rid ON idx_string (rid);
CREATE TABLE idx_token (
  sp INTEGER NOT NULL, code TEXT NOT NULL, system TEXT NOT NULL, rid INTEGER NOT NULL,
  PRIMARY KEY (sp, code, system, rid)
) WITHOUT ROWID;
CREATE INDEX idx_token_rid ON idx_token (rid);
CREATE TABLE idx_token_text (
  sp INTEGER NOT NULL, value TEXT NOT NULL, rid INTEGER NOT NULL,
  PRIMARY KEY (sp, value, rid)
) WITHOUT ROWID;
CREATE INDEX idx_token_text_rid ON idx_token_text (rid);
CREATE TABLE idx_reference (
  sp INTEGER NOT NULL, ref_type TEXT NOT NULL, ref_id TEXT NOT NULL, url TEXT NOT NULL,
  rid INTEGER NOT NULL,
  PRIMARY KEY (ref_id, ref_type, sp, url, rid)
) WITHOUT ROWID;
CREATE INDEX idx_reference_rid ON idx_reference (rid, sp);
CREATE INDEX idx_reference_url ON idx_reference (sp, url) WHERE url <> '';
CREATE TABLE idx_date (
  sp INTEGER NOT NULL, lo INTEGER NOT NULL, hi INTEGER NOT NULL, rid INTEGER NOT NULL,
  PRIMARY KEY (sp, lo, hi, rid)
) WITHOUT ROWID;
CREATE INDEX idx_date_hi ON idx_date (sp, hi);
CREATE INDEX idx_date_rid ON idx_date (rid);
CREATE TABLE idx_number (
  sp INTEGER NOT NULL, value REAL NOT NULL, rid INTEGER NOT NULL,
  PRIMARY KEY (sp, value, rid)
) WITHOUT ROWID;
CREATE INDEX idx_number_rid ON idx_number (rid);
CREATE TABLE idx_quantity (
  sp INTEGER NOT NULL, value REAL NOT NULL, system TEXT NOT NULL, code TEXT NOT NULL,
  unit TEXT NOT NULL, cunit TEXT, cvalue REAL, rid INTEGER NOT NULL
);
CREATE INDEX idx_quantity_value ON idx_quantity (sp, value);
CREATE INDEX idx_quantity_canonical ON idx_quantity (sp, cunit, cvalue);
CREATE INDEX idx_quantity_rid ON idx_quantity (rid);
CREATE TABLE idx_uri (
  sp INTEGER NOT NULL, value TEXT NOT NULL, rid INTEGER NOT NULL,
  PRIMARY KEY (sp, value, rid)
) WITHOUT ROWID;
CREATE INDEX idx_uri_rid ON idx_uri (rid);
CREATE TABLE idx_composite (
  sp INTEGER NOT NULL, system1 TEXT NOT NULL, code1 TEXT NOT NULL,
  system2 TEXT NOT NULL, code2 TEXT NOT NULL, lo2 REAL, hi2 REAL, cunit2 TEXT, cvalue2 REAL,
  rid INTEGER NOT NULL
);
CREATE INDEX idx_composite_key ON idx_composite (sp, code1, system1);
CREATE INDEX idx_composite_rid ON idx_composite (rid);
)sql",
      // 2: resources of a type in key order (the index carries the rowid): the default search
      // order and keyset paging scan it without sorting.
      R"sql(
CREATE INDEX resource_type ON resource (type);
)sql",
      // 3: the sp ids of the Patient compartment's parameters (filled at every open from the
      // model): membership checks probe it by key instead of a list bound per query.
      R"sql(
CREATE TABLE compartment_sp (sp INTEGER PRIMARY KEY);
)sql",
  };
  return kMigrations;
}

}  // namespace sund::storage::sqlite

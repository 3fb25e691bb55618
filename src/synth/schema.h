// The columns of a table that synth models: their kind, their public domain, and how values are
// read and written. Used by fitting (discretisation), generation (decoding), evaluation (common
// binning) and cohort extraction from the FHIR store (which produces a table and its schema).
//
// The schema is public metadata: differential privacy protects the rows, not the domain. A
// schema read from a file (`--schema`, docs/synth.md gives the format) is covered by the
// guarantee; a schema inferred from the data (`InferSchema`) reveals its categories and ranges,
// which the model records (`Schema::from_data`) and the CLI warns about.
// Thread-safety: values and pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/csv.h"
#include "core/status.h"

namespace sund::synth {

enum class ColumnKind : std::uint8_t { kCategorical, kInteger, kContinuous, kDate };
std::string_view ColumnKindName(ColumnKind k);  // "categorical", "integer", "continuous", "date"
std::optional<ColumnKind> ParseColumnKind(std::string_view name);

struct Column {
  std::string name;
  ColumnKind kind = ColumnKind::kCategorical;
  std::vector<std::string> categories;  // kCategorical: the domain, in this order
  // Numeric kinds: the range values are clamped to; dates in days since 1970-01-01.
  double lower = 0;
  double upper = 0;
  int decimals = 0;  // kContinuous: digits written after the point
  // Numeric kinds: at most this many bins. An integer column whose range has no more values
  // than this gets one bin per value (no quantiles needed).
  int bins = 32;
  bool missing = false;  // the column may be empty in a row (an extra "missing" value)

  // An integer column with one bin per value.
  bool PerValueBins() const {
    return kind == ColumnKind::kInteger && upper - lower + 1 <= static_cast<double>(bins);
  }
};

struct Schema {
  std::vector<Column> columns;
  bool from_data = false;  // inferred from the rows (the domain is not private)

  std::optional<std::size_t> Find(std::string_view name) const;
};

struct InferOptions {
  std::size_t max_categories = 1000;  // more distinct strings than this: an error (an identifier?)
  int bins = 32;
  // Numbers with at most this many distinct values spread over a range more than twice as wide
  // are categorical (their values, in numeric order).
  std::size_t few_values = 12;
};

// Infers each column's kind from its non-empty values: numbers that take few values (see
// few_values) -> kCategorical, all integers -> kInteger, all numbers ->
// kContinuous, all YYYY-MM-DD dates (a dateTime's date part counts) -> kDate, else kCategorical
// (categories sorted). Errors (InvalidArgument, naming the column): no rows; a column without
// any value; more than max_categories distinct strings.
Result<Schema> InferSchema(const CsvTable& table, const InferOptions& options = {});

// Reads a schema file: Sund's format ({"columns":[{"name","type","categories"|"min","max",
// "decimals","bins","missing"}]}) or Private-PGM's domain file ({"age": 85, ...}: integer codes
// 0..n-1, one bin per value). Errors say which column and what is wrong.
Result<Schema> ParseSchema(std::string_view json_text);
// Sund's format; pretty-printed for people, or on one line (inside a model file).
std::string SchemaToJson(const Schema& schema, bool pretty = true);

// The table's columns in the schema's order (columns the schema does not name are dropped);
// NotFound-like InvalidArgument when the table lacks a schema column.
Result<std::vector<std::size_t>> MapColumns(const CsvTable& table, const Schema& schema);

// Reading and writing one value of a column. Parse returns nullopt for an empty cell; an error
// when the text is not of the column's kind (the message names the column and line, never the
// value). Numbers are returned as doubles (dates as days since 1970-01-01); categories as their
// index. Values outside a numeric range are clamped by the caller, not here.
Result<std::optional<double>> ParseValue(const Column& column, std::string_view text);
// Appends the value as CSV (a category quoted where CSV needs it) or, with csv = false, as
// plain text.
void AppendValue(const Column& column, double value, std::string& out, bool csv = true);

// Days since 1970-01-01 from "YYYY-MM-DD" (a longer dateTime's date part is used).
std::optional<std::int64_t> ParseDays(std::string_view text);
std::string FormatDays(std::int64_t days);

// Loads a CSV file for synth: checks that it is UTF-8 and not empty. Errors name the line.
Result<CsvTable> ReadCsvFile(const std::string& path);

}  // namespace sund::synth

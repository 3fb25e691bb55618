// Indented JSON output (files people read and edit: `sund cells` pipelines), kept out of
// json.h so that the many files including it do not compile the pretty writer.
#pragma once

// json.h configures RapidJSON (RAPIDJSON_ASSERT) and must come before any RapidJSON header.
// clang-format off
#include "core/json.h"
#include <rapidjson/prettywriter.h>
// clang-format on

namespace sund::json {

using PrettyWriter = rapidjson::PrettyWriter<rapidjson::StringBuffer>;

}  // namespace sund::json

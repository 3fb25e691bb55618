// Indented JSON output (files people read and edit: `sund cells` pipelines), kept out of
// json.h so that the many files including it do not compile the pretty writer.
#pragma once

#include "core/json.h"

#include <rapidjson/prettywriter.h>

namespace sund::json {

using PrettyWriter = rapidjson::PrettyWriter<rapidjson::StringBuffer>;

}  // namespace sund::json

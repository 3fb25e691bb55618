// Fresh stores for tests, on each backend the test run covers: the storage conformance tests
// (storage/store_test.cc) and the integration stack (tests/integration) run once per backend.
//
// SQLite is always covered. PostgreSQL is covered when SUND_TEST_PG names a database the tests
// may create schemas in (a libpq URL; scripts/run-tests.sh starts a throw-away server and sets
// it), and always under CI=true, where a missing server is a test failure, not a skip.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "storage/store.h"

namespace sund::storage::testing {

// "sqlite", and "postgres" when covered (see above).
std::vector<std::string> TestBackends();

// The backend the integration stack uses: SUND_TEST_BACKEND ("sqlite" when unset).
std::string BackendFromEnvironment();

// A new, empty store of `backend`: SQLite in a new temporary directory, PostgreSQL in a new
// schema of SUND_TEST_PG. Destroying the store removes the directory or drops the schema.
Result<std::unique_ptr<Store>> OpenTestStore(const std::string& backend);

// A second store on the same data as `first` (a store of OpenTestStore), as another sund
// process sharing the database would open it; it removes nothing when destroyed. PostgreSQL
// only: a SQLite database belongs to one process (kNotImplemented).
Result<std::unique_ptr<Store>> OpenSharingStore(Store& first);

// Runs `sql` on the SQLite database file `path` through a connection of its own, behind the back
// of whoever has the file open: how a test makes the owner's next write fail (a trigger that
// raises), or tampers with a file as someone with access to it would.
Status ExecOnSqliteFile(const std::string& path, const std::string& sql);

}  // namespace sund::storage::testing

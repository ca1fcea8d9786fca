// tinycdb's public API (cdb_init, cdb_find, cdb_free), from libcdb-dev.
#include <cdb.h>

#ifndef BRANCHSYNC_CSQLITE_SHIM_H
#define BRANCHSYNC_CSQLITE_SHIM_H
#include <sqlite3.h>
#endif

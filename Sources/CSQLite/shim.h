#ifndef BRANCHSYNC_CSQLITE_SHIM_H
#define BRANCHSYNC_CSQLITE_SHIM_H
#include <sqlite3.h>

/// Turns off SQLite's memory statistics (`SQLITE_CONFIG_MEMSTATUS`), which take a process-wide mutex around every
/// allocation and free SQLite makes. Nothing depends on them (no soft heap limit); only a test reads
/// `sqlite3_memory_used`, to check it stays at zero.
/// `sqlite3_config` is variadic, so Swift cannot call it directly. Effective only before SQLite initializes
/// (before the first connection opens); returns `SQLITE_MISUSE` after, which changes nothing.
static inline int branchsync_sqlite_disable_memory_statistics(void) {
    return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}
#endif

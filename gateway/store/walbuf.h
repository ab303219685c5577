/* walbuf: an SQLite VFS that gathers the writes to WAL files and gives them
 * to the file in one write, before every sync, read and the like (walbuf.c).
 * For connections with synchronous=FULL: the message log's writer. */
#ifndef AILGATE_STORE_WALBUF_H
#define AILGATE_STORE_WALBUF_H

#include <sqlite3.h>

#define WALBUF_VFS "ailgate-walbuf"

/* Registers the VFS (once; not as the default). 0, or -1 when it cannot be:
 * the caller then opens with the default VFS. */
int walbuf_register(void);

#endif

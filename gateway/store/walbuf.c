/* walbuf: an SQLite VFS over the default one that gathers the writes to a
 * WAL file into one buffer and hands them to the file in one write.
 *
 * SQLite writes each WAL frame as two writes (a 24-byte header, then the
 * page), so a commit of the message log's writer was a dozen pwrite calls
 * before its fdatasync. Here consecutive writes collect in a buffer that goes
 * to the file when the next write is not right behind them, when it would
 * outgrow the buffer, and before anything that must see the file as SQLite
 * wrote it: the end of a commit (the page that follows a commit frame's
 * header), a sync, a read, a truncate, the file size, a file control, a
 * close, and the end of every write transaction (the database file's unlock
 * of the WAL write lock: what a rolled-back transaction left must not be
 * written later over frames another connection committed meanwhile).
 *
 * Other connections learn of a commit's frames from the WAL index, which
 * SQLite updates after the commit's last write has returned, so the commit
 * is in the file by then whatever the synchronous setting (with FULL, the
 * log's, it is on disk too), and a failed write fails the commit. A commit
 * header that does not follow buffered frames (walRewriteChecksums rewrites
 * earlier headers, the commit's last, with no page after it) is written at
 * once. A WAL that SQLite pads to the sector boundary at a sync (a device
 * without POWERSAFE_OVERWRITE, or psow=0), or whose database file is not
 * ours to watch, is not buffered at all. An error of a write that had no
 * caller to tell (at the unlock) fails the next call on the file. The
 * database file and everything else pass straight through. */
#include "store/walbuf.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* The unix VFS writes at most 128 KiB - 1 in one call (seekAndWriteFd masks
 * the length: a longer write comes back short, as SQLITE_FULL). */
#define WB_CAP (64 * 1024)

struct wb_file {
	sqlite3_file base;          /* our methods */
	sqlite3_file *real;         /* the default VFS's file, right after this struct */
	int wal;                    /* a WAL file that is buffered */
	int commit;                 /* the last write was a commit frame's header */
	int err;                    /* a flush's error no caller has seen yet */
	struct wb_file *walf;       /* a database file: its WAL, while that is open */
	struct wb_file *db;         /* a WAL file: its database file */
	unsigned char *buf;         /* WB_CAP bytes once the first write comes */
	size_t len;
	sqlite3_int64 off;          /* file offset of buf[0] */
};

/* Keeps the real file 8-byte aligned after ours. */
#define WB_SIZE ((sizeof(struct wb_file) + 7) & ~(size_t)7)

static sqlite3_vfs *parent;

static struct wb_file *wb(sqlite3_file *f)
{
	return (struct wb_file *)f;
}

/* The buffer to the file; an error kept from an earlier flush comes first
 * (once). */
static int flush(struct wb_file *f)
{
	int rc = f->err;

	f->err = SQLITE_OK;
	if (rc != SQLITE_OK || !f->len)
		return rc;
	rc = f->real->pMethods->xWrite(f->real, f->buf, (int)f->len, f->off);
	f->len = 0;
	return rc;
}

/* A write transaction on db ends (or a lock changes): its WAL's buffer goes
 * to the file while the write lock is still held. */
static void flush_wal_of(struct wb_file *db)
{
	int rc;

	if (db->walf && db->walf->len && (rc = flush(db->walf)) != SQLITE_OK)
		db->walf->err = rc;
}

static int wb_close(sqlite3_file *file)
{
	struct wb_file *f = wb(file);
	int rc = flush(f), rc2 = f->real->pMethods->xClose(f->real);

	if (f->db && f->db->walf == f)
		f->db->walf = NULL;
	if (f->walf && f->walf->db == f)
		f->walf->db = NULL;

	free(f->buf);
	f->buf = NULL;
	return rc != SQLITE_OK ? rc : rc2;
}

static int wb_read(sqlite3_file *file, void *out, int amt, sqlite3_int64 off)
{
	struct wb_file *f = wb(file);
	int rc = flush(f);

	return rc != SQLITE_OK ? rc : f->real->pMethods->xRead(f->real, out, amt, off);
}

/* The WAL format (sqlite.org/fileformat.html, "WAL File Format"): a frame
 * is a 24-byte header, written by itself, then the page; bytes 4-7 of the
 * header are the database size after a commit for a commit's last frame, 0
 * for every other frame. The WAL file's own header is 32 bytes. */
#define WAL_FRAME_HDR 24

static int is_commit_header(const void *data, int amt)
{
	const unsigned char *h = data;

	return amt == WAL_FRAME_HDR && (h[4] | h[5] | h[6] | h[7]) != 0;
}

/* A write at off continues what the buffer holds. */
static int behind(const struct wb_file *f, sqlite3_int64 off)
{
	return f->len && off == f->off + (sqlite3_int64)f->len;
}

static int buffer(struct wb_file *f, const void *data, int amt, sqlite3_int64 off)
{
	int rc;

	if (behind(f, off) && f->len + (size_t)amt <= WB_CAP) {
		memcpy(f->buf + f->len, data, (size_t)amt);
		f->len += (size_t)amt;
		return SQLITE_OK;
	}
	if ((rc = flush(f)) != SQLITE_OK)
		return rc;
	if ((size_t)amt > WB_CAP || (!f->buf && !(f->buf = malloc(WB_CAP))))
		return f->real->pMethods->xWrite(f->real, data, amt, off);
	memcpy(f->buf, data, (size_t)amt);
	f->len = (size_t)amt;
	f->off = off;
	return SQLITE_OK;
}

static int wb_write(sqlite3_file *file, const void *data, int amt, sqlite3_int64 off)
{
	struct wb_file *f = wb(file);
	int rc, end;

	if (!f->wal || amt <= 0)
		return f->real->pMethods->xWrite(f->real, data, amt, off);
	end = f->commit;    /* this is the page of a commit frame: the commit's last write */
	f->commit = is_commit_header(data, amt);
	if (f->commit && !behind(f, off)) {
		/* Not behind buffered frames: maybe a rewritten header with no page
		 * to come (walRewriteChecksums), so it goes now. */
		if ((rc = flush(f)) != SQLITE_OK)
			return rc;
		return f->real->pMethods->xWrite(f->real, data, amt, off);
	}
	rc = buffer(f, data, amt, off);
	return rc == SQLITE_OK && end ? flush(f) : rc;
}

static int wb_truncate(sqlite3_file *file, sqlite3_int64 size)
{
	struct wb_file *f = wb(file);
	int rc = flush(f);

	return rc != SQLITE_OK ? rc : f->real->pMethods->xTruncate(f->real, size);
}

static int wb_sync(sqlite3_file *file, int flags)
{
	struct wb_file *f = wb(file);
	int rc = flush(f);

	return rc != SQLITE_OK ? rc : f->real->pMethods->xSync(f->real, flags);
}

static int wb_file_size(sqlite3_file *file, sqlite3_int64 *size)
{
	struct wb_file *f = wb(file);
	int rc = flush(f);

	return rc != SQLITE_OK ? rc : f->real->pMethods->xFileSize(f->real, size);
}

static int wb_lock(sqlite3_file *file, int lock)
{
	return wb(file)->real->pMethods->xLock(wb(file)->real, lock);
}

static int wb_unlock(sqlite3_file *file, int lock)
{
	return wb(file)->real->pMethods->xUnlock(wb(file)->real, lock);
}

static int wb_check_reserved(sqlite3_file *file, int *out)
{
	return wb(file)->real->pMethods->xCheckReservedLock(wb(file)->real, out);
}

static int wb_file_control(sqlite3_file *file, int op, void *arg)
{
	struct wb_file *f = wb(file);
	int rc = flush(f);

	return rc != SQLITE_OK ? rc : f->real->pMethods->xFileControl(f->real, op, arg);
}

static int wb_sector_size(sqlite3_file *file)
{
	return wb(file)->real->pMethods->xSectorSize(wb(file)->real);
}

static int wb_device_characteristics(sqlite3_file *file)
{
	return wb(file)->real->pMethods->xDeviceCharacteristics(wb(file)->real);
}

static int wb_shm_map(sqlite3_file *file, int pg, int pgsz, int extend, void volatile **pp)
{
	sqlite3_file *r = wb(file)->real;

	return r->pMethods->iVersion >= 2 ? r->pMethods->xShmMap(r, pg, pgsz, extend, pp) : SQLITE_IOERR;
}

static int wb_shm_lock(sqlite3_file *file, int offset, int n, int flags)
{
	sqlite3_file *r = wb(file)->real;

	if (flags & SQLITE_SHM_UNLOCK)
		flush_wal_of(wb(file));
	return r->pMethods->iVersion >= 2 ? r->pMethods->xShmLock(r, offset, n, flags) : SQLITE_IOERR;
}

static void wb_shm_barrier(sqlite3_file *file)
{
	sqlite3_file *r = wb(file)->real;

	if (r->pMethods->iVersion >= 2)
		r->pMethods->xShmBarrier(r);
}

static int wb_shm_unmap(sqlite3_file *file, int del)
{
	sqlite3_file *r = wb(file)->real;

	return r->pMethods->iVersion >= 2 ? r->pMethods->xShmUnmap(r, del) : SQLITE_OK;
}

static int wb_fetch(sqlite3_file *file, sqlite3_int64 off, int amt, void **pp)
{
	struct wb_file *f = wb(file);
	int rc = flush(f);

	*pp = NULL;
	if (rc != SQLITE_OK || f->real->pMethods->iVersion < 3)
		return rc;
	return f->real->pMethods->xFetch(f->real, off, amt, pp);
}

static int wb_unfetch(sqlite3_file *file, sqlite3_int64 off, void *p)
{
	sqlite3_file *r = wb(file)->real;

	return r->pMethods->iVersion >= 3 ? r->pMethods->xUnfetch(r, off, p) : SQLITE_OK;
}

static const sqlite3_io_methods wb_io = {
	3, wb_close, wb_read, wb_write, wb_truncate, wb_sync, wb_file_size, wb_lock, wb_unlock,
	wb_check_reserved, wb_file_control, wb_sector_size, wb_device_characteristics, wb_shm_map,
	wb_shm_lock, wb_shm_barrier, wb_shm_unmap, wb_fetch, wb_unfetch,
};

static int wb_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags, int *out_flags)
{
	struct wb_file *f = wb(file);
	int rc;

	(void)vfs;
	memset(f, 0, sizeof(*f));
	f->real = (sqlite3_file *)((char *)f + WB_SIZE);
	rc = parent->xOpen(parent, name, f->real, flags, out_flags);
	if (rc != SQLITE_OK) {
		/* SQLite calls xClose only on a file whose methods are set. */
		if (f->real->pMethods)
			f->real->pMethods->xClose(f->real);
		f->base.pMethods = NULL;
		return rc;
	}
	if (flags & SQLITE_OPEN_WAL) {
		/* The database file SQLite opened before its WAL, through this VFS
		 * too: its unlocks end our write transactions. */
		sqlite3_file *db = sqlite3_database_file_object(name);

		if (db && db->pMethods == &wb_io && !wb(db)->walf &&
		    (wb(db)->real->pMethods->xDeviceCharacteristics(wb(db)->real) &
		     SQLITE_IOCAP_POWERSAFE_OVERWRITE)) {
			f->wal = 1;
			f->db = wb(db);
			f->db->walf = f;
		}
	}
	f->base.pMethods = &wb_io;
	return SQLITE_OK;
}

/* Everything else is the default VFS's. */
static int wb_delete(sqlite3_vfs *v, const char *n, int sync)
{
	return parent->xDelete(parent, n, sync);
}

static int wb_access(sqlite3_vfs *v, const char *n, int flags, int *out)
{
	return parent->xAccess(parent, n, flags, out);
}

static int wb_full_pathname(sqlite3_vfs *v, const char *n, int len, char *out)
{
	return parent->xFullPathname(parent, n, len, out);
}

static void *wb_dlopen(sqlite3_vfs *v, const char *n)
{
	return parent->xDlOpen(parent, n);
}

static void wb_dlerror(sqlite3_vfs *v, int n, char *msg)
{
	parent->xDlError(parent, n, msg);
}

static void (*wb_dlsym(sqlite3_vfs *v, void *h, const char *sym))(void)
{
	return parent->xDlSym(parent, h, sym);
}

static void wb_dlclose(sqlite3_vfs *v, void *h)
{
	parent->xDlClose(parent, h);
}

static int wb_randomness(sqlite3_vfs *v, int n, char *out)
{
	return parent->xRandomness(parent, n, out);
}

static int wb_sleep(sqlite3_vfs *v, int us)
{
	return parent->xSleep(parent, us);
}

static int wb_current_time(sqlite3_vfs *v, double *out)
{
	return parent->xCurrentTime(parent, out);
}

static int wb_last_error(sqlite3_vfs *v, int n, char *out)
{
	return parent->xGetLastError ? parent->xGetLastError(parent, n, out) : 0;
}

static int wb_current_time64(sqlite3_vfs *v, sqlite3_int64 *out)
{
	return parent->xCurrentTimeInt64(parent, out);
}

static sqlite3_vfs wb_vfs;
static pthread_once_t wb_once = PTHREAD_ONCE_INIT;
static int wb_rc = SQLITE_ERROR;

static void wb_register(void)
{
	parent = sqlite3_vfs_find(NULL);
	if (!parent || parent->iVersion < 2)
		return;
	wb_vfs = (sqlite3_vfs){
		.iVersion = 2,
		.szOsFile = (int)(WB_SIZE + (size_t)parent->szOsFile),
		.mxPathname = parent->mxPathname,
		.zName = WALBUF_VFS,
		.xOpen = wb_open,
		.xDelete = wb_delete,
		.xAccess = wb_access,
		.xFullPathname = wb_full_pathname,
		.xDlOpen = wb_dlopen,
		.xDlError = wb_dlerror,
		.xDlSym = wb_dlsym,
		.xDlClose = wb_dlclose,
		.xRandomness = wb_randomness,
		.xSleep = wb_sleep,
		.xCurrentTime = wb_current_time,
		.xGetLastError = wb_last_error,
		.xCurrentTimeInt64 = wb_current_time64,
	};
	wb_rc = sqlite3_vfs_register(&wb_vfs, 0);
}

int walbuf_register(void)
{
	pthread_once(&wb_once, wb_register);
	return wb_rc == SQLITE_OK ? 0 : -1;
}

/* msglog_pack: the SQLite message log's bodies and signature documents
 * stored zstd-compressed against a dictionary made of the log's own first
 * records (store/README.md "Packed records").
 *
 * A record is ~3 KB of SOAP envelope and signature document that says
 * almost the same as the one before it; alone it compresses ~2x, against a
 * few earlier records ~6x. So the writer stores its first
 * PACK_SAMPLE_RECORDS records as they are, keeps their bytes, makes them a
 * raw-content dictionary (a table row, in the transaction of the record
 * that completes the sample) and from then on writes each record's body and document,
 * one after the other, as one zstd frame made with it; a record names its
 * dictionary (records.packed). When
 * the traffic changes and the frames grow (the last PACK_WINDOW records
 * compressed less than PACK_MIN_RATIO), a new sample makes a new
 * dictionary. The chain hashes what was logged, not what was stored: a
 * reader gets the same bytes either way, and a changed frame or dictionary
 * fails the digest of the record that uses it.
 *
 * Writer and reader state per connection (one thread at a time). */
#ifndef AILGATE_STORE_MSGLOG_PACK_H
#define AILGATE_STORE_MSGLOG_PACK_H

#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

#define PACK_SAMPLE_RECORDS 8            /* records a dictionary is made of, */
#define PACK_SAMPLE_BYTES (16 * 1024)    /* or this many bytes, whichever comes first */
#define PACK_WINDOW 4096                 /* records over which the ratio is watched */
#define PACK_MIN_RATIO 3                 /* below it, the next dictionary is sampled */
#define PACK_DICTS_KNOWN 8               /* a reader's decompression dictionaries */
#define PACK_MAX_SIGDOC (64u << 20)      /* the largest document a frame may give, */
#define PACK_MAX_BODY (1u << 30)         /* body */

struct pack_w;
struct pack_r;

/* Writer. NULL when out of memory. */
struct pack_w *pack_w_new(void);
void pack_w_free(struct pack_w *p);
/* The dictionary records are packed with now (0: none yet, sampling). */
int64_t pack_w_dict(const struct pack_w *p);
/* While sampling: takes a record's stored bytes (body may be NULL) into the
 * sample. 1 when the sample is complete: pack_w_sample() is the dictionary
 * to store and pack_w_use() its id. 0 while it is not, -1 out of memory. */
int pack_w_take(struct pack_w *p, const void *body, size_t body_len, const void *doc, size_t doc_len);
const struct buf *pack_w_sample(const struct pack_w *p);
/* Packs with the sample as dictionary id from now on; tx is the caller's
 * transaction that stored it (pack_w_forget_tx). 0 or -1. */
int pack_w_use(struct pack_w *p, int64_t id, uint64_t tx);
/* A transaction rolled back: a dictionary stored in it is gone, so is the
 * sample; packing starts over. */
void pack_w_forget_tx(struct pack_w *p, uint64_t tx);
/* One zstd frame of a then b (either may be NULL) into out (reset first).
 * 0 or -1. */
int pack_w_frame(struct pack_w *p, const void *a, size_t an, const void *b, size_t bn, struct buf *out);
/* Counts a packed record's sizes; past PACK_WINDOW records that packed
 * worse than PACK_MIN_RATIO, starts sampling a new dictionary. */
void pack_w_account(struct pack_w *p, size_t raw, size_t packed);

/* Reader. NULL when out of memory. */
struct pack_r *pack_r_new(void);
void pack_r_free(struct pack_r *r);
/* 1 when dictionary id is loaded. */
int pack_r_has(const struct pack_r *r, int64_t id);
/* The reader's results: 0, PACK_BAD (the stored data is not what the
 * writer makes: damaged, or tampered with), -1 (out of memory). */
#define PACK_BAD 1
/* Loads dictionary id (evicting the oldest): 0, PACK_BAD (not a dictionary
 * the writer makes: no tag, larger than a sample), -1. */
int pack_r_add(struct pack_r *r, int64_t id, const void *data, size_t len);
/* Decompresses a frame made with dictionary id (loaded) into out; the
 * content must be at most max bytes, which is all that is allocated.
 * 0, PACK_BAD (nothing usable in out), -1. */
int pack_r_frame(struct pack_r *r, int64_t id, const void *src, size_t n, size_t max, struct buf *out);

#endif

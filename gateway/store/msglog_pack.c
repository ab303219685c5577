/* msglog_pack: zstd frames against a dictionary of the log's own records
 * (msglog_pack.h). */
#include "store/msglog_pack.h"

#include <stdlib.h>
#include <string.h>
#include <zstd.h>

/* A dictionary starts with this line: it says what the row is, and no
 * sample can make it look like one of zstd's own dictionaries (those start
 * with a magic number), so it is always read as raw content. */
static const char DICT_TAG[] = "ailgate-msglog-dict-1\n";

/* One of zstd's fast levels: against a 16-KB dictionary of the benchmark's
 * records ~5 us a 2.9-KB record (~600 MB/s) for 6.3x, where level 1 took
 * ~12 us for 7.9x and a frame without dictionary ~20 us for 2x. */
#define PACK_LEVEL (-5)

/* The most a sample (and so a dictionary) holds: the tag and PACK_SAMPLE_BYTES. */
#define SAMPLE_MAX (sizeof(DICT_TAG) - 1 + PACK_SAMPLE_BYTES)

struct pack_w {
	ZSTD_CCtx *cctx;
	ZSTD_CDict *cdict;
	int64_t dict_id;                 /* 0: sampling */
	uint64_t dict_tx;                /* the transaction that stored it */
	struct buf sample;
	struct buf both;                 /* a record's two parts, for one frame */
	unsigned sampled;
	uint64_t win_n, win_raw, win_packed;
};

struct pack_r {
	ZSTD_DCtx *dctx;
	struct {
		int64_t id;
		ZSTD_DDict *dd;
	} d[PACK_DICTS_KNOWN];
	unsigned next;
};

static int sample_start(struct pack_w *p)
{
	buf_reset(&p->sample);
	p->sampled = 0;
	return buf_append(&p->sample, DICT_TAG, sizeof(DICT_TAG) - 1);
}

struct pack_w *pack_w_new(void)
{
	struct pack_w *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	buf_init(&p->sample, SAMPLE_MAX);
	buf_init(&p->both, BUF_NOCAP);
	if (!(p->cctx = ZSTD_createCCtx()) || sample_start(p) < 0) {
		pack_w_free(p);
		return NULL;
	}
	return p;
}

void pack_w_free(struct pack_w *p)
{
	if (!p)
		return;
	ZSTD_freeCCtx(p->cctx);   /* before the dictionary it refers to */
	ZSTD_freeCDict(p->cdict);
	buf_free(&p->sample);
	buf_free(&p->both);
	free(p);
}

int64_t pack_w_dict(const struct pack_w *p)
{
	return p->dict_id;
}

static void drop_dict(struct pack_w *p)
{
	/* The context lets go of it (and of any frame in progress) first. */
	(void)ZSTD_CCtx_reset(p->cctx, ZSTD_reset_session_and_parameters);
	ZSTD_freeCDict(p->cdict);
	p->cdict = NULL;
	p->dict_id = 0;
	p->win_n = p->win_raw = p->win_packed = 0;
}

/* No dictionary; the next records are sampled for a new one. */
static void resample(struct pack_w *p)
{
	drop_dict(p);
	(void)sample_start(p);   /* the tag fits the buffer's first allocation or nothing does */
}

/* The bytes of a record that fit what is left of the sample; a record
 * larger than that still counts (its start is what repeats). */
static int take_part(struct pack_w *p, const void *d, size_t n)
{
	size_t room = SAMPLE_MAX - p->sample.len;

	if (!d || n == 0 || room == 0)
		return 0;
	return buf_append(&p->sample, d, n < room ? n : room);
}

int pack_w_take(struct pack_w *p, const void *body, size_t body_len, const void *doc, size_t doc_len)
{
	if (p->dict_id)
		return 0;
	if (take_part(p, body, body_len) < 0 || take_part(p, doc, doc_len) < 0)
		return -1;
	p->sampled++;
	return p->sampled >= PACK_SAMPLE_RECORDS || p->sample.len >= SAMPLE_MAX;
}

const struct buf *pack_w_sample(const struct pack_w *p)
{
	return &p->sample;
}

int pack_w_use(struct pack_w *p, int64_t id, uint64_t tx)
{
	drop_dict(p);   /* which also resets the context's parameters */
	if (id <= 0 || !(p->cdict = ZSTD_createCDict(p->sample.data, p->sample.len, PACK_LEVEL)))
		return -1;
	/* Every frame with its content size and a checksum of the content: a
	 * damaged frame or dictionary is then found as such when read (not only
	 * later, as bytes that fail the record's digests). */
	if (ZSTD_isError(ZSTD_CCtx_refCDict(p->cctx, p->cdict)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(p->cctx, ZSTD_c_checksumFlag, 1)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(p->cctx, ZSTD_c_contentSizeFlag, 1))) {
		drop_dict(p);
		return -1;
	}
	p->dict_id = id;
	p->dict_tx = tx;
	return 0;
}

void pack_w_forget_tx(struct pack_w *p, uint64_t tx)
{
	if (p->dict_id && p->dict_tx != tx)
		return;
	/* Its row is gone, or a sample taken from records rolled back: those
	 * records come again (or never), so the sample starts over. */
	resample(p);
}

int pack_w_frame(struct pack_w *p, const void *a, size_t an, const void *b, size_t bn, struct buf *out)
{
	size_t cap, got;
	char *d;

	buf_reset(out);
	buf_reset(&p->both);
	if (!p->cdict || (a && buf_append(&p->both, a, an) < 0) || (b && buf_append(&p->both, b, bn) < 0) ||
	    !(d = buf_space(out, cap = ZSTD_compressBound(p->both.len))))
		return -1;
	got = ZSTD_compress2(p->cctx, d, cap, p->both.data ? p->both.data : "", p->both.len);
	if (ZSTD_isError(got))
		return -1;
	buf_added(out, got);
	return 0;
}

void pack_w_account(struct pack_w *p, size_t raw, size_t packed)
{
	p->win_raw += raw;
	p->win_packed += packed;
	if (++p->win_n < PACK_WINDOW)
		return;
	if (p->win_packed * PACK_MIN_RATIO > p->win_raw) {
		resample(p);
		return;
	}
	p->win_n = p->win_raw = p->win_packed = 0;
}

struct pack_r *pack_r_new(void)
{
	struct pack_r *r = calloc(1, sizeof(*r));

	if (r && !(r->dctx = ZSTD_createDCtx())) {
		free(r);
		r = NULL;
	}
	return r;
}

void pack_r_free(struct pack_r *r)
{
	unsigned i;

	if (!r)
		return;
	for (i = 0; i < PACK_DICTS_KNOWN; i++)
		ZSTD_freeDDict(r->d[i].dd);
	ZSTD_freeDCtx(r->dctx);
	free(r);
}

static ZSTD_DDict *ddict_of(const struct pack_r *r, int64_t id)
{
	unsigned i;

	for (i = 0; i < PACK_DICTS_KNOWN; i++)
		if (r->d[i].dd && r->d[i].id == id)
			return r->d[i].dd;
	return NULL;
}

int pack_r_has(const struct pack_r *r, int64_t id)
{
	return ddict_of(r, id) != NULL;
}

int pack_r_add(struct pack_r *r, int64_t id, const void *data, size_t len)
{
	unsigned i = r->next++ % PACK_DICTS_KNOWN;

	/* Only what the writer makes: a tagged raw-content dictionary of at
	 * most one sample. */
	if (!data || len < sizeof(DICT_TAG) - 1 || len > SAMPLE_MAX ||
	    memcmp(data, DICT_TAG, sizeof(DICT_TAG) - 1) != 0)
		return PACK_BAD;
	ZSTD_freeDDict(r->d[i].dd);
	r->d[i].id = id;
	r->d[i].dd = ZSTD_createDDict(data, len);
	return r->d[i].dd ? 0 : -1;
}

int pack_r_frame(struct pack_r *r, int64_t id, const void *src, size_t n, size_t max, struct buf *out)
{
	ZSTD_DDict *dd = ddict_of(r, id);
	unsigned long long size;
	size_t got;
	char *d;

	buf_reset(out);
	if (!dd || !src)
		return PACK_BAD;
	/* The writer's frames say their size: nothing else is trusted. */
	size = ZSTD_getFrameContentSize(src, n);
	if (size == ZSTD_CONTENTSIZE_UNKNOWN || size == ZSTD_CONTENTSIZE_ERROR || size > max)
		return PACK_BAD;
	if (!(d = buf_space(out, (size_t)size)))
		return -1;
	got = ZSTD_decompress_usingDDict(r->dctx, d, (size_t)size, src, n, dd);
	if (ZSTD_isError(got) || got != size)
		return PACK_BAD;
	buf_added(out, got);
	return 0;
}

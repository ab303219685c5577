/* Fuzz target for store/msglog_pack: what `ailgate log verify` does with
 * the packed data of a log or archive someone else hands over, and that
 * the writer's frames always come back.
 *
 * Input: one mode byte, then
 *   'R' (reader): 2 bytes big-endian dictionary length, the dictionary,
 *       4 bytes big-endian "body_len" of the row, the frame. The reader
 *       must refuse or give at most body_len + PACK_MAX_SIGDOC bytes, never
 *       crash or read outside what it was given.
 *   'W' (round trip): records separated by 0xFF bytes; each record is split
 *       at its first 0xFE into body and document. The writer samples them
 *       until its dictionary is made, packs the rest; the reader, given the
 *       dictionary as stored, must give every packed record back byte for
 *       byte. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "store/msglog_pack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void reader(const uint8_t *p, size_t n)
{
	struct pack_r *r = pack_r_new();
	struct buf out = BUF_INIT;
	size_t dl, want;

	if (!r || n < 2)
		goto out;
	dl = (size_t)p[0] << 8 | p[1];
	p += 2;
	n -= 2;
	if (dl > n || n - dl < 4)
		goto out;
	if (pack_r_add(r, 1, p, dl) != 0) {
		if (pack_r_has(r, 1))
			abort();   /* refused, yet loaded */
		goto out;
	}
	p += dl;
	n -= dl;
	want = (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
	p += 4;
	n -= 4;
	if (pack_r_frame(r, 1, p, n, want + PACK_MAX_SIGDOC, &out) == 0 && out.len > want + PACK_MAX_SIGDOC)
		abort();
	if (pack_r_frame(r, 2, p, n, 1 << 20, &out) == 0)
		abort();   /* no dictionary 2 */
out:
	buf_free(&out);
	pack_r_free(r);
}

static void round_trip(const uint8_t *p, size_t n)
{
	struct pack_w *w = pack_w_new();
	struct pack_r *r = pack_r_new();
	struct buf frame = BUF_INIT, back = BUF_INIT;
	int have_dict = 0;

	while (w && r && n > 0) {
		const uint8_t *end = memchr(p, 0xFF, n), *cut;
		size_t len = end ? (size_t)(end - p) : n, bl, dl;

		cut = memchr(p, 0xFE, len);
		bl = cut ? (size_t)(cut - p) : len;
		dl = cut ? len - bl - 1 : 0;
		if (!pack_w_dict(w)) {
			int rc = pack_w_take(w, p, bl, cut ? cut + 1 : NULL, dl);
			if (rc < 0)
				break;
			if (rc == 1) {
				const struct buf *s = pack_w_sample(w);
				if (pack_w_use(w, 7, 1) < 0 || pack_r_add(r, 7, s->data, s->len) != 0)
					abort();   /* the writer's own dictionary must load */
				have_dict = 1;
			}
		} else {
			if (pack_w_frame(w, p, bl, cut ? cut + 1 : NULL, dl, &frame) < 0)
				break;
			if (pack_r_frame(r, 7, frame.data, frame.len, bl + dl, &back) != 0 || back.len != bl + dl ||
			    memcmp(back.data, p, bl) != 0 || (dl && memcmp(back.data + bl, cut + 1, dl) != 0))
				abort();
			pack_w_account(w, bl + dl, frame.len);
			if (!pack_w_dict(w) && have_dict)
				have_dict = 0;   /* resampling: a new dictionary comes */
		}
		if (!end)
			break;
		n -= len + 1;
		p = end + 1;
	}
	buf_free(&frame);
	buf_free(&back);
	pack_r_free(r);
	pack_w_free(w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 128 * 1024)
		return 0;
	if (data[0] == 'R')
		reader(data + 1, size - 1);
	else if (data[0] == 'W')
		round_trip(data + 1, size - 1);
	return 0;
}

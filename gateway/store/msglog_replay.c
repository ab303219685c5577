/* msglog_replay: the in-memory replay window in front of the message log.
 *
 * A chained hash table keyed by (side, client id, message id) with a
 * doubly linked list in insertion order for expiry and eviction. Keys come
 * from peers, so the table hashes with SipHash-2-4 under a random key:
 * nobody can aim many ids at one bucket.
 *
 * Entries evicted to stay under max live on as ghosts: their 64-bit hash
 * and time (24 bytes with their slot, against ~150 for an entry), in a ring
 * in eviction order with an open-addressing index. A ghost with the key's
 * hash answers "seen": another key has the same SipHash under our secret
 * key with probability 2^-64 per ghost. So a flood of new ids (more than
 * max in the window) still costs no database query, which the log no
 * longer has a message-id index for; only when the ghosts overflow too
 * (REPLAY_GHOSTS_PER_ENTRY * max) does the horizon move and the database
 * answer for what is lost.
 *
 * At a clean close the set is written to a snapshot file (replay_save) and
 * the next open reads it back (replay_load) instead of reloading the window
 * from the database, which costs ~1 us a request: about a second after ten
 * busy minutes. Format and checks: "snapshot" below. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "lib/crypto.h"
#include "lib/osutil.h"
#include "store/msglog_int.h"

#define REPLAY_MIN_BUCKETS 1024
#define REPLAY_KEY_MAX 4096
#define REPLAY_MIN_GHOSTS 1024           /* the ring's first size and least cap */
#define REPLAY_GHOSTS_PER_ENTRY 4

struct ghost {
	uint64_t h;
	int64_t t;
};

struct rent {
	struct rent *hnext;              /* bucket chain */
	struct rent *fprev, *fnext;      /* insertion order */
	uint64_t h;
	int64_t t;
	uint32_t klen;
	uint32_t logged;                 /* noted by an append, not only claimed: only
					    these go into a snapshot, as only these are
					    records the database reload would find */
	unsigned char key[];
};

struct replay {
	pthread_mutex_t mu;
	struct rent **tab;
	size_t nb;                       /* buckets, a power of two */
	size_t n, max;
	struct rent *fhead, *ftail;
	int64_t window;
	int64_t horizon;                 /* memory is complete for t >= horizon */
	uint64_t k0, k1;
	struct ghost *gring;             /* gcap (a power of two), oldest at ghead */
	uint32_t *gslot;                 /* 2 * gcap: ring index + 1, 0 = empty */
	uint64_t *glogged;               /* gcap bits: the ghost at that ring index was
					    logged (rent.logged); a bit beside the ring
					    rather than a field, which would make every
					    ghost 24 bytes instead of 16 */
	size_t gcap, ghead, gn, gmax;
};

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                              \
	do {                                                                  \
		v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);     \
		v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                        \
		v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                        \
		v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);     \
	} while (0)

static uint64_t siphash24(const unsigned char *in, size_t len, uint64_t k0, uint64_t k1)
{
	uint64_t v0 = 0x736f6d6570736575ULL ^ k0, v1 = 0x646f72616e646f6dULL ^ k1;
	uint64_t v2 = 0x6c7967656e657261ULL ^ k0, v3 = 0x7465646279746573ULL ^ k1;
	uint64_t b = (uint64_t)len << 56, m;
	size_t i, full = len - len % 8;

	for (i = 0; i < full; i += 8) {
		memcpy(&m, in + i, 8);   /* host order: a snapshot records the byte
					    order and another host's is refused */
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	for (i = 0; i < len % 8; i++)
		b |= (uint64_t)in[full + i] << (8 * i);
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

/* key = side byte, client, NUL, message id. Returns its length, 0 if too long. */
static size_t make_key(unsigned char *k, int side, const char *client, const char *msgid)
{
	size_t cl = strlen(client), ml = strlen(msgid);

	if (cl + ml + 2 > REPLAY_KEY_MAX)
		return 0;
	k[0] = (unsigned char)side;
	memcpy(k + 1, client, cl);
	k[1 + cl] = 0;
	memcpy(k + 2 + cl, msgid, ml);
	return cl + ml + 2;
}

struct replay *replay_new(unsigned window_ms, unsigned max)
{
	struct replay *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->nb = REPLAY_MIN_BUCKETS;
	r->tab = calloc(r->nb, sizeof(*r->tab));
	if (!r->tab || RAND_bytes((unsigned char *)&r->k0, sizeof(r->k0)) != 1 ||
	    RAND_bytes((unsigned char *)&r->k1, sizeof(r->k1)) != 1) {
		free(r->tab);
		free(r);
		return NULL;
	}
	r->window = window_ms;
	r->max = max ? max : 1;
	for (r->gmax = REPLAY_MIN_GHOSTS; r->gmax / REPLAY_GHOSTS_PER_ENTRY < r->max &&
	     r->gmax < ((size_t)1 << 31); r->gmax *= 2)
		;
	pthread_mutex_init(&r->mu, NULL);
	return r;
}

void replay_free(struct replay *r)
{
	struct rent *e, *next;

	if (!r)
		return;
	for (e = r->fhead; e; e = next) {
		next = e->fnext;
		free(e);
	}
	free(r->tab);
	free(r->gring);
	free(r->gslot);
	free(r->glogged);
	pthread_mutex_destroy(&r->mu);
	free(r);
}

/* ---------------------------------------------------------------- ghosts */

static int ghost_find(const struct replay *r, uint64_t h, int64_t since)
{
	size_t mask = 2 * r->gcap - 1, i;

	if (!r->gn)
		return 0;
	for (i = h & mask; r->gslot[i]; i = (i + 1) & mask) {
		const struct ghost *g = &r->gring[r->gslot[i] - 1];

		if (g->h == h && g->t >= since)
			return 1;
	}
	return 0;
}

static int glogged_get(const struct replay *r, size_t pos)
{
	return (int)(r->glogged[pos / 64] >> (pos % 64) & 1);
}

static void glogged_set(uint64_t *bits, size_t pos, int on)
{
	uint64_t b = (uint64_t)1 << (pos % 64);

	if (on)
		bits[pos / 64] |= b;
	else
		bits[pos / 64] &= ~b;
}

static void ghost_index(struct replay *r, size_t pos)
{
	size_t mask = 2 * r->gcap - 1, i;

	for (i = r->gring[pos].h & mask; r->gslot[i]; i = (i + 1) & mask)
		;
	r->gslot[i] = (uint32_t)pos + 1;
}

/* Forgets the oldest ghost; its time is no longer known, so memory is
 * complete only after it (unless it merely expired). */
static void ghost_drop(struct replay *r, int expired)
{
	size_t mask = 2 * r->gcap - 1, pos = r->ghead, i, j, k;

	for (i = r->gring[pos].h & mask; r->gslot[i] != pos + 1; i = (i + 1) & mask)
		;
	/* Linear probing's deletion: pull back each later entry of the run
	 * whose home is not between the hole and itself. */
	for (j = i;;) {
		j = (j + 1) & mask;
		if (!r->gslot[j])
			break;
		k = r->gring[r->gslot[j] - 1].h & mask;
		if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		r->gslot[i] = r->gslot[j];
		i = j;
	}
	r->gslot[i] = 0;
	if (!expired && r->gring[pos].t + 1 > r->horizon)
		r->horizon = r->gring[pos].t + 1;
	r->ghead = (r->ghead + 1) & (r->gcap - 1);
	r->gn--;
}

/* Twice the room (the first time: REPLAY_MIN_GHOSTS). -1 out of memory. */
static int ghost_grow(struct replay *r)
{
	size_t cap = r->gcap ? 2 * r->gcap : REPLAY_MIN_GHOSTS, i;
	struct ghost *ring = malloc(cap * sizeof(*ring));
	uint32_t *slot = calloc(2 * cap, sizeof(*slot));
	uint64_t *logged = calloc(cap / 64, sizeof(*logged));   /* cap >= 1024 */

	if (!ring || !slot || !logged) {
		free(ring);
		free(slot);
		free(logged);
		return -1;
	}
	for (i = 0; i < r->gn; i++) {
		size_t from = (r->ghead + i) & (r->gcap - 1);

		ring[i] = r->gring[from];
		glogged_set(logged, i, glogged_get(r, from));
	}
	free(r->gring);
	free(r->gslot);
	free(r->glogged);
	r->gring = ring;
	r->gslot = slot;
	r->glogged = logged;
	r->gcap = cap;
	r->ghead = 0;
	for (i = 0; i < r->gn; i++)
		ghost_index(r, i);
	return 0;
}

static void ghost_add(struct replay *r, uint64_t h, int64_t t, int logged)
{
	size_t pos;

	if (r->gn == r->gcap && (r->gcap >= r->gmax || ghost_grow(r) < 0)) {
		if (!r->gn) {
			/* No room at all: this one is lost. */
			if (t + 1 > r->horizon)
				r->horizon = t + 1;
			return;
		}
		ghost_drop(r, 0);
	}
	pos = (r->ghead + r->gn) & (r->gcap - 1);
	r->gring[pos].h = h;
	r->gring[pos].t = t;
	glogged_set(r->glogged, pos, logged);
	ghost_index(r, pos);
	r->gn++;
}

/* ------------------------------------------------------------ the table */

static void unlink_ent(struct replay *r, struct rent *e)
{
	struct rent **pp = &r->tab[e->h & (r->nb - 1)];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	if (e->fprev)
		e->fprev->fnext = e->fnext;
	else
		r->fhead = e->fnext;
	if (e->fnext)
		e->fnext->fprev = e->fprev;
	else
		r->ftail = e->fprev;
	r->n--;
	free(e);
}

static void expire(struct replay *r, int64_t now)
{
	int64_t cut = now - r->window;

	if (cut > r->horizon)
		r->horizon = cut;
	while (r->fhead && r->fhead->t < r->horizon)
		unlink_ent(r, r->fhead);
	while (r->gn && r->gring[r->ghead].t < r->horizon)
		ghost_drop(r, 1);
}

static void grow(struct replay *r)
{
	size_t nb = r->nb * 2, i;
	struct rent **tab = calloc(nb, sizeof(*tab));
	struct rent *e, *next;

	if (!tab)
		return;   /* longer chains, still correct */
	for (i = 0; i < r->nb; i++) {
		for (e = r->tab[i]; e; e = next) {
			next = e->hnext;
			e->hnext = tab[e->h & (nb - 1)];
			tab[e->h & (nb - 1)] = e;
		}
	}
	free(r->tab);
	r->tab = tab;
	r->nb = nb;
}

static struct rent *find(struct replay *r, const unsigned char *k, size_t klen, uint64_t h)
{
	struct rent *e;

	for (e = r->tab[h & (r->nb - 1)]; e; e = e->hnext) {
		if (e->h == h && e->klen == klen && memcmp(e->key, k, klen) == 0)
			return e;
	}
	return NULL;
}

/* Inserts (or moves to the tail with the later time), logged = noted by an
 * append rather than claimed. Under r->mu. */
static int insert(struct replay *r, const unsigned char *k, size_t klen, uint64_t h, int64_t t,
		  int logged)
{
	struct rent *e = find(r, k, klen, h);

	if (e) {
		/* A claim followed by its record (the pipeline's order): the
		 * record's time is normally the later one, so the entry keeps
		 * the time the database holds. */
		if (e->t > t)
			t = e->t;
		logged |= (int)e->logged;
		unlink_ent(r, e);
	}
	while (r->n >= r->max && r->fhead) {
		ghost_add(r, r->fhead->h, r->fhead->t, (int)r->fhead->logged);
		unlink_ent(r, r->fhead);
	}
	if (!(e = malloc(sizeof(*e) + klen))) {
		if (t + 1 > r->horizon)
			r->horizon = t + 1;
		return -1;
	}
	e->h = h;
	e->t = t;
	e->klen = (uint32_t)klen;   /* <= REPLAY_KEY_MAX */
	e->logged = logged != 0;
	memcpy(e->key, k, klen);
	e->hnext = r->tab[h & (r->nb - 1)];
	r->tab[h & (r->nb - 1)] = e;
	e->fnext = NULL;
	e->fprev = r->ftail;
	if (r->ftail)
		r->ftail->fnext = e;
	else
		r->fhead = e;
	r->ftail = e;
	if (++r->n > r->nb)
		grow(r);
	return 0;
}

int replay_note(struct replay *r, int side, const char *client, const char *msgid, int64_t t)
{
	unsigned char k[REPLAY_KEY_MAX];
	size_t klen = make_key(k, side, client, msgid);
	int rc;

	if (!klen)
		return -1;
	pthread_mutex_lock(&r->mu);
	expire(r, msglog_now_ms());
	rc = t >= r->horizon ? insert(r, k, klen, siphash24(k, klen, r->k0, r->k1), t, 1) : 0;
	pthread_mutex_unlock(&r->mu);
	return rc;
}

int replay_find(struct replay *r, int side, const char *client, const char *msgid, int64_t since,
		int64_t claim_now)
{
	unsigned char k[REPLAY_KEY_MAX];
	size_t klen = make_key(k, side, client, msgid);
	struct rent *e;
	uint64_t h;
	int found;

	if (!klen)
		return 0;   /* longer than any logged id can be */
	h = siphash24(k, klen, r->k0, r->k1);
	pthread_mutex_lock(&r->mu);
	expire(r, msglog_now_ms());
	e = find(r, k, klen, h);
	found = (e && e->t >= since) || ghost_find(r, h, since);
	if (!found && claim_now > 0)
		(void)insert(r, k, klen, h, claim_now, 0);
	pthread_mutex_unlock(&r->mu);
	return found;
}

int64_t replay_horizon(struct replay *r)
{
	int64_t h;

	pthread_mutex_lock(&r->mu);
	expire(r, msglog_now_ms());
	h = r->horizon;
	pthread_mutex_unlock(&r->mu);
	return h;
}

void replay_set_horizon(struct replay *r, int64_t t)
{
	pthread_mutex_lock(&r->mu);
	if (t > r->horizon)
		r->horizon = t;
	pthread_mutex_unlock(&r->mu);
}

size_t replay_count(struct replay *r)
{
	size_t n;

	pthread_mutex_lock(&r->mu);
	n = r->n + r->gn;
	pthread_mutex_unlock(&r->mu);
	return n;
}

/* ------------------------------------------------------------- snapshot
 *
 * The file, every number in the writing host's byte order (the SipHash of
 * an id reads it in host order too, so another host could not use the
 * hashes; the byte-order mark refuses its file):
 *
 *   offset  bytes
 *        0      8  magic "AGREPLAY"
 *        8      4  version (1)
 *       12      4  byte-order mark 0x01020304
 *       16     16  the SipHash key k0, k1
 *       32      8  the log's last record id at close
 *       40     32  that record's chain hash (the writer's tip)
 *       72      8  horizon: memory was complete from this time on (ms)
 *       80      8  replay_window_ms
 *       88      8  count
 *       96 16*count (64-bit hash, time ms) pairs in the set's time order:
 *                  the ghost ring oldest first, then the entries' insertion list
 *      ...     32  SHA-256 of every byte before it
 *
 * Only ids noted by an append (records) whose time is still in the window
 * are written: claims that never became records are forgotten, as the
 * database reload forgets them. The last id and chain hash tie the file to
 * the database it was written beside: if anything was appended since (a
 * later run that crashed, another writer), or the database was restored,
 * they differ and the database is reloaded instead. The checksum finds a
 * torn or damaged file; it is no seal: a forged file naming the log's last
 * record would make the gateway forget the window's ids, so the data
 * directory must be the gateway's alone (README.md). */

#define SNAP_MAGIC "AGREPLAY"
#define SNAP_VERSION 1u
#define SNAP_BOM 0x01020304u
#define SNAP_HEAD 96
_Static_assert(8 + 2 * 4 + 3 * 8 + MSGLOG_HASH_LEN + 3 * 8 == SNAP_HEAD,
	       "the header is what head_put writes");
#define SNAP_PAIR 16

static unsigned char *put(unsigned char *p, const void *v, size_t n)
{
	memcpy(p, v, n);
	return p + n;
}

static unsigned char *put_pair(unsigned char *p, uint64_t h, int64_t t)
{
	return put(put(p, &h, 8), &t, 8);
}

static const unsigned char *get(const unsigned char *p, void *v, size_t n)
{
	memcpy(v, p, n);
	return p + n;
}

/* The header's fields after the magic, in the file's order (above). */
struct snap_head {
	uint32_t ver, bom;
	uint64_t k0, k1;
	int64_t last_id;
	unsigned char tip[MSGLOG_HASH_LEN];
	int64_t horizon, window;
	uint64_t count;
};

static void head_put(unsigned char *buf, const struct snap_head *h)
{
	unsigned char *p = put(buf, SNAP_MAGIC, 8);

	p = put(put(p, &h->ver, 4), &h->bom, 4);
	p = put(put(p, &h->k0, 8), &h->k1, 8);
	p = put(put(p, &h->last_id, 8), h->tip, MSGLOG_HASH_LEN);
	p = put(put(p, &h->horizon, 8), &h->window, 8);
	put(p, &h->count, 8);
}

static void head_get(const unsigned char *buf, struct snap_head *h)
{
	const unsigned char *p = buf + 8;

	p = get(get(p, &h->ver, 4), &h->bom, 4);
	p = get(get(p, &h->k0, 8), &h->k1, 8);
	p = get(get(p, &h->last_id, 8), h->tip, MSGLOG_HASH_LEN);
	p = get(get(p, &h->horizon, 8), &h->window, 8);
	get(p, &h->count, 8);
}

/* Where a snapshot is written before it is renamed into place. -1 when the
 * name does not fit. */
static int tmp_name(const char *path, char *tmp, size_t len)
{
	return (size_t)snprintf(tmp, len, "%s.tmp", path) < len ? 0 : -1;
}

/* The snapshot's bytes without the checksum, room left for it; under r->mu.
 * NULL out of memory. One walk of the entries, with room for all of them:
 * the list is pointer chasing across the heap (between the much larger
 * records of the append path), ~100 ns an entry: 900,000 entries after
 * MSGLOG_REPLAYBENCH's fill took 115 ms, 230 when counted first. */
static unsigned char *snap_build(struct replay *r, int64_t last_id,
				 const unsigned char tip[MSGLOG_HASH_LEN], int64_t now, size_t *len,
				 size_t *count)
{
	struct snap_head h = { SNAP_VERSION, SNAP_BOM, r->k0, r->k1, last_id, { 0 }, 0, r->window, 0 };
	const struct rent *e;
	unsigned char *buf, *p;
	int64_t cut;
	size_t i;

	expire(r, now);
	cut = r->horizon;   /* >= now - window after expire */
	if (!(buf = malloc(SNAP_HEAD + (r->gn + r->n) * SNAP_PAIR + SHA256_LEN)))
		return NULL;
	p = buf + SNAP_HEAD;
	for (i = 0; i < r->gn; i++) {
		size_t pos = (r->ghead + i) & (r->gcap - 1);

		if (glogged_get(r, pos) && r->gring[pos].t >= cut)
			p = put_pair(p, r->gring[pos].h, r->gring[pos].t);
	}
	for (e = r->fhead; e; e = e->fnext) {
		if (e->logged && e->t >= cut)
			p = put_pair(p, e->h, e->t);
	}
	*len = (size_t)(p - buf);
	memcpy(h.tip, tip, MSGLOG_HASH_LEN);
	h.horizon = r->horizon;
	h.count = (*len - SNAP_HEAD) / SNAP_PAIR;
	head_put(buf, &h);
	*count = (size_t)h.count;
	return buf;
}

long replay_save(struct replay *r, const char *path, int64_t last_id,
		 const unsigned char tip[MSGLOG_HASH_LEN], int64_t now, char **err)
{
	size_t len, count;
	unsigned char *buf;
	char tmp[4200];
	int fd, rc = -1;

	if (tmp_name(path, tmp, sizeof(tmp)) < 0) {
		msglog_set_err(err, "replay snapshot: path too long");
		return -1;
	}
	pthread_mutex_lock(&r->mu);
	buf = snap_build(r, last_id, tip, now, &len, &count);
	pthread_mutex_unlock(&r->mu);
	if (!buf || sha256(buf, len, buf + len) < 0) {
		free(buf);
		msglog_set_err(err, "replay snapshot: out of memory");
		return -1;
	}
	/* A new name, renamed over the old: a reader sees a whole file or
	 * none. No fsync: a file a power cut tears fails its checksum, and the
	 * database reload runs as after any crash. 0600: it holds the key. */
	unlink(tmp);   /* a file or link someone left there is not written through */
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd >= 0) {
		rc = fd_write_all(fd, buf, len + SHA256_LEN);
		if (close(fd) != 0)
			rc = -1;
		if (rc == 0 && rename(tmp, path) != 0)
			rc = -1;
	}
	if (rc < 0) {
		msglog_set_err(err, "replay snapshot %s: %s", tmp, strerror(errno));
		unlink(tmp);
	}
	free(buf);
	return rc < 0 ? -1 : (long)count;
}

/* Reads the whole file (at most cap bytes) and removes it: a snapshot is
 * used once. 1 read, 0 no file, -1 with why. */
static int snap_read(const char *path, size_t cap, unsigned char **out, size_t *len, char *why,
		     size_t why_len)
{
	unsigned char *buf = NULL;
	struct stat st;
	size_t got = 0;
	/* O_NONBLOCK: a FIFO put there does not hold the start-up. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW), rc = -1;

	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0 || fstat(fd, &st) != 0) {
		snprintf(why, why_len, "cannot read it: %s", strerror(errno));
	} else if (!S_ISREG(st.st_mode)) {
		snprintf(why, why_len, "not a regular file");
	} else if (st.st_size < SNAP_HEAD + SHA256_LEN || (uint64_t)st.st_size > cap) {
		snprintf(why, why_len, "%lld bytes, not a snapshot of this size of set",
			 (long long)st.st_size);
	} else if ((buf = malloc((size_t)st.st_size))) {
		while (got < (size_t)st.st_size) {
			ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			got += (size_t)n;
		}
		rc = got == (size_t)st.st_size ? 1 : -1;
		if (rc < 0)
			snprintf(why, why_len, "short read");
	} else {
		snprintf(why, why_len, "out of memory");
	}
	if (fd >= 0)
		close(fd);
	if (unlink(path) != 0 && errno != ENOENT && rc > 0) {
		/* Read twice it could answer for a database that moved on. */
		snprintf(why, why_len, "cannot remove it: %s", strerror(errno));
		rc = -1;
	}
	if (rc < 0) {
		free(buf);
		return -1;
	}
	*out = buf;
	*len = got;
	return 1;
}

/* Checks the file's frame (header h read from it) and that it belongs to
 * this log and window. */
static int snap_check(const struct replay *r, const unsigned char *buf, size_t len,
		      const struct snap_head *h, int64_t last_id,
		      const unsigned char last_hash[MSGLOG_HASH_LEN], char *why, size_t why_len)
{
	unsigned char sum[SHA256_LEN];
	uint64_t n = h->count;
	int64_t id = h->last_id, window = h->window;

	if (memcmp(buf, SNAP_MAGIC, 8) != 0 || h->ver != SNAP_VERSION || h->bom != SNAP_BOM)
		snprintf(why, why_len, "not a version %u snapshot of this byte order", SNAP_VERSION);
	else if (n > (len - SNAP_HEAD - SHA256_LEN) / SNAP_PAIR ||
		 len != SNAP_HEAD + n * SNAP_PAIR + SHA256_LEN)
		snprintf(why, why_len, "%llu pairs announced in %zu bytes", (unsigned long long)n, len);
	else if (sha256(buf, len - SHA256_LEN, sum) < 0 ||
		 memcmp(sum, buf + len - SHA256_LEN, SHA256_LEN) != 0)
		snprintf(why, why_len, "checksum mismatch");
	else if (id != last_id || memcmp(h->tip, last_hash, MSGLOG_HASH_LEN) != 0)
		snprintf(why, why_len, "written at record %lld, the log ends at %lld%s",
			 (long long)id, (long long)last_id, id == last_id ? " with another hash" : "");
	else if (window != r->window)
		snprintf(why, why_len, "window %lld ms, now %lld ms", (long long)window,
			 (long long)r->window);
	else
		return 0;
	return -1;
}

int replay_load(struct replay *r, const char *path, int64_t last_id,
		const unsigned char last_hash[MSGLOG_HASH_LEN], int64_t now, char *why, size_t why_len)
{
	/* Never more than the set could have held: a bound on what is read. */
	size_t cap = SNAP_HEAD + SHA256_LEN + (r->max + r->gmax) * (size_t)SNAP_PAIR, len, i, live;
	const unsigned char *p;
	struct snap_head h;
	unsigned char *buf;
	char tmp[4200];
	int rc;

	*why = 0;
	/* Left by a close that did not finish writing. */
	if (tmp_name(path, tmp, sizeof(tmp)) == 0)
		unlink(tmp);
	if ((rc = snap_read(path, cap, &buf, &len, why, why_len)) <= 0)
		return rc;
	head_get(buf, &h);
	if (snap_check(r, buf, len, &h, last_id, last_hash, why, why_len) < 0) {
		free(buf);
		return -1;
	}
	pthread_mutex_lock(&r->mu);
	r->k0 = h.k0;   /* the hashes are under its key */
	r->k1 = h.k1;
	if (h.horizon > r->horizon)
		r->horizon = h.horizon;
	if (now - r->window > r->horizon)
		r->horizon = now - r->window;
	/* Every pair as a ghost: a ghost is exactly (hash, time), all a lookup
	 * needs; the cap keeps the newest, the horizon moving past the rest.
	 * The ring sized at once, not doubled (and re-indexed) on the way
	 * (-12 % instructions for 50,000, callgrind), and only for the pairs
	 * still in the window: after a long stop most of a large file expired. */
	for (p = buf + SNAP_HEAD, i = 0, live = 0; i < h.count; i++, p += SNAP_PAIR) {
		int64_t t;

		get(p + 8, &t, 8);
		live += t >= r->horizon;
	}
	while (r->gcap < live && r->gcap < r->gmax && ghost_grow(r) == 0)
		;
	for (p = buf + SNAP_HEAD, i = 0; i < h.count; i++) {
		uint64_t hash;
		int64_t t;

		p = get(get(p, &hash, 8), &t, 8);
		if (t >= r->horizon)
			ghost_add(r, hash, t, 1);
	}
	pthread_mutex_unlock(&r->mu);
	free(buf);
	return 1;
}

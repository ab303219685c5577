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
 * answer for what is lost. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

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
	size_t klen;
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
		memcpy(&m, in + i, 8);   /* host order: the hash never leaves the process */
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

	if (!ring || !slot) {
		free(ring);
		free(slot);
		return -1;
	}
	for (i = 0; i < r->gn; i++)
		ring[i] = r->gring[(r->ghead + i) & (r->gcap - 1)];
	free(r->gring);
	free(r->gslot);
	r->gring = ring;
	r->gslot = slot;
	r->gcap = cap;
	r->ghead = 0;
	for (i = 0; i < r->gn; i++)
		ghost_index(r, i);
	return 0;
}

static void ghost_add(struct replay *r, uint64_t h, int64_t t)
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

/* Inserts (or moves to the tail with the later time). Under r->mu. */
static int insert(struct replay *r, const unsigned char *k, size_t klen, uint64_t h, int64_t t)
{
	struct rent *e = find(r, k, klen, h);

	if (e) {
		if (e->t > t)
			t = e->t;
		unlink_ent(r, e);
	}
	while (r->n >= r->max && r->fhead) {
		ghost_add(r, r->fhead->h, r->fhead->t);
		unlink_ent(r, r->fhead);
	}
	if (!(e = malloc(sizeof(*e) + klen))) {
		if (t + 1 > r->horizon)
			r->horizon = t + 1;
		return -1;
	}
	e->h = h;
	e->t = t;
	e->klen = klen;
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
	rc = t >= r->horizon ? insert(r, k, klen, siphash24(k, klen, r->k0, r->k1), t) : 0;
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
		(void)insert(r, k, klen, h, claim_now);
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

/* Replay driver for fuzz targets when not built with libFuzzer.
 *
 *   fuzz_X CORPUS_DIR
 *
 * Runs LLVMFuzzerTestOneInput on every regular file in CORPUS_DIR (sorted,
 * so runs are repeatable), then on REPLAY_MUTATIONS mutations of them made
 * with a fixed-seed generator. Stops mutating after REPLAY_SECONDS so the
 * test stays bounded. Exits 0; a bug shows up as a crash or a sanitizer
 * report, which makes the process fail. A corpus file that cannot be read
 * (or is larger than MAX_FILE_SIZE) fails the run: it would not be tested.
 * While the corpus files themselves run, fuzz_replay_input names the one
 * (NULL during mutations), for targets that check what their seeds give. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define REPLAY_MUTATIONS 2000
#define REPLAY_SECONDS 8.0
#define MAX_FILES 256
#define MAX_FILE_SIZE (256 * 1024)
#define MAX_MUTANT_SIZE (MAX_FILE_SIZE + 4096)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *fuzz_replay_input;
/* Optional, as with libFuzzer. */
__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv);

struct input {
	char *name;
	uint8_t *data;
	size_t len;
};

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	/* xorshift64*: deterministic and good enough to pick mutations. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

static size_t below(size_t n)
{
	return n ? (size_t)(rng() % n) : 0;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Runs the target on an exact-size heap copy, so reading past the end is
 * caught by AddressSanitizer. */
static void run(const uint8_t *data, size_t len)
{
	uint8_t *copy = malloc(len ? len : 1);

	if (!copy)
		return;
	if (len)
		memcpy(copy, data, len);
	LLVMFuzzerTestOneInput(copy, len);
	free(copy);
}

static int read_file(const char *path, struct input *in)
{
	FILE *fp = fopen(path, "rb");
	struct stat st;
	size_t n;

	if (!fp)
		return -1;
	if (fstat(fileno(fp), &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > MAX_FILE_SIZE) {
		fprintf(stderr, "replay: %s is not a regular file of at most %d bytes\n", path, MAX_FILE_SIZE);
		fclose(fp);
		return -1;
	}
	in->data = malloc((size_t)st.st_size + 1);
	n = in->data ? fread(in->data, 1, (size_t)st.st_size, fp) : 0;
	fclose(fp);
	if (!in->data || n != (size_t)st.st_size) {
		free(in->data);
		return -1;
	}
	in->len = n;
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct input *)a)->name, ((const struct input *)b)->name);
}

/* The files of dir into ins, sorted; 0 when one of them cannot be taken. */
static size_t load_dir(const char *dir, struct input *ins)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;
	int bad = 0;

	if (!d) {
		fprintf(stderr, "replay: cannot open %s\n", dir);
		return 0;
	}
	while ((e = readdir(d)) && !bad) {
		char path[4096];
		if (e->d_name[0] == '.')
			continue;
		if (n == MAX_FILES) {
			fprintf(stderr, "replay: more than %d files in %s\n", MAX_FILES, dir);
			bad = 1;
			break;
		}
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (read_file(path, &ins[n]) < 0) {
			bad = 1;
			break;
		}
		if (!(ins[n].name = strdup(e->d_name))) {
			free(ins[n].data);
			bad = 1;
			break;
		}
		n++;
	}
	closedir(d);
	if (bad) {
		while (n--) {
			free(ins[n].name);
			free(ins[n].data);
		}
		return 0;
	}
	qsort(ins, n, sizeof(ins[0]), by_name);
	return n;
}

static const char *const tokens[] = {
	"<a>", "</a>", "<!DOCTYPE x [<!ENTITY e \"x\">]>", "&e;", "&amp;", "&#0;", "&#x1F600;",
	"<![CDATA[", "]]>", "<?xml version=\"1.0\" encoding=\"UTF-16\"?>", "xmlns=\"\"",
	"xmlns:xrd=\"http://x-road.eu/xsd/xroad.xsd\"", "id:objectType=\"MEMBER\"",
	"id:objectType=\"SERVICE\"", "<xrd:id>1</xrd:id>", "%", "%2F", "%00", "%zz", "/", "//",
	"?", ":", "\n", "\r\n", "\xc3\xa9", "\xff", "x-road-client: ", "_", ".",
};

/* One random edit of buf (len bytes, cap bytes of room); returns new len. */
static size_t mutate_once(uint8_t *buf, size_t len, size_t cap, const struct input *ins, size_t n)
{
	size_t pos = below(len + 1), k;

	switch (below(6)) {
	case 0: /* flip a bit */
		if (len)
			buf[below(len)] ^= (uint8_t)(1u << below(8));
		return len;
	case 1: /* overwrite with a byte that matters to the parsers */
		if (len)
			buf[below(len)] = (uint8_t)"<>/&;%:=\"' \n\0\xff?#._"[below(18)];
		return len;
	case 2: /* delete a span */
		k = below(16) + 1;
		if (pos + k > len)
			k = len - pos;
		memmove(buf + pos, buf + pos + k, len - pos - k);
		return len - k;
	case 3: { /* insert a token */
		const char *t = tokens[below(sizeof(tokens) / sizeof(tokens[0]))];
		k = strlen(t);
		if (len + k > cap)
			return len;
		memmove(buf + pos + k, buf + pos, len - pos);
		memcpy(buf + pos, t, k);
		return len + k;
	}
	case 4: { /* splice in a piece of another input */
		const struct input *o = &ins[below(n)];
		size_t from = below(o->len);
		k = below(64) + 1;
		if (from + k > o->len)
			k = o->len - from;
		if (len + k > cap)
			return len;
		memmove(buf + pos + k, buf + pos, len - pos);
		memcpy(buf + pos, o->data + from, k);
		return len + k;
	}
	default: /* truncate */
		return pos;
	}
}

static void run_mutations(const struct input *ins, size_t n)
{
	uint8_t *buf = malloc(MAX_MUTANT_SIZE);
	double t0 = now();
	int i;

	if (!buf || n == 0) {
		free(buf);
		return;
	}
	for (i = 0; i < REPLAY_MUTATIONS; i++) {
		const struct input *src = &ins[below(n)];
		size_t len = src->len, edits = below(4) + 1;

		if (now() - t0 > REPLAY_SECONDS) {
			fprintf(stderr, "replay: time limit reached after %d mutations\n", i);
			break;
		}
		memcpy(buf, src->data, len);
		while (edits--)
			len = mutate_once(buf, len, MAX_MUTANT_SIZE, ins, n);
		run(buf, len);
	}
	free(buf);
	fprintf(stderr, "replay: %zu files, %d mutations\n", n, i);
}

int main(int argc, char **argv)
{
	static struct input ins[MAX_FILES];
	size_t n;

	if (argc < 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
		return 2;
	}
	if (LLVMFuzzerInitialize)
		LLVMFuzzerInitialize(&argc, &argv);
	n = load_dir(argv[1], ins);
	if (n == 0) {
		fprintf(stderr, "replay: no inputs taken from %s\n", argv[1]);
		return 2;
	}
	for (size_t i = 0; i < n; i++) {
		fuzz_replay_input = ins[i].name;
		run(ins[i].data, ins[i].len);
	}
	fuzz_replay_input = NULL;
	run(NULL, 0);
	run_mutations(ins, n);
	for (size_t i = 0; i < n; i++) {
		free(ins[i].name);
		free(ins[i].data);
	}
	return 0;
}

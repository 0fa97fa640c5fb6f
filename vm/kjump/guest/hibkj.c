/* hibkj: guest helper for the kexec-jump save kernel (A: hold/verify tagged pages; B: save image, jump back; C: restore). */
/*
 * Mirrors: arch/x86/kernel/relocate_kernel_64.S (control page data at +2048, CP_PA_BACKUP_PAGES_MAP at +0x30,
 * indirection entries IND_DESTINATION 1, IND_INDIRECTION 2, IND_DONE 4, IND_SOURCE 8) and kernel/power/snapshot.c
 * (stream: swsusp_info header page, PFN meta pages of 512 u64 ended by ~0, data pages in ascending PFN order).
 *
 * Disk layout written by "save" (all offsets in 4 KiB pages of the block device):
 *   page 0            container header (struct kj_hdr), written LAST, after the stream is synced: a valid magic
 *                     means a complete image ("committed").
 *   page 1 ..         the swsusp stream: header page, nr_meta PFN pages, data pages. With hibkj.zero=1 (6.6+ zero-page
 *                     elision), an all-zero page is listed with bit 63 set (ENCODED_PFN_ZERO_FLAG) and has no data page.
 *   page arec_page .. A's record of its tagged pages (struct kj_arec + u64 PFNs), written by A before the jump.
 *
 * Every result line on stdout (the agent channel ttyS1, or the console; init.sh) is "HIBFUZZ {json}".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include <linux/kexec.h>
#include <linux/reboot.h>
#include <termios.h>

/*
 * stdout is the agent channel ttyS1 when init.sh found it (no kernel message shares that port). Each event leaves the
 * UART before the program goes on: a line still queued in the tty when devices suspend for a jump or the machine
 * powers off would come late or never.
 */
static void flush_events(void)
{
	fflush(stdout);
	tcdrain(1);
}
void flush_target_events(void) { flush_events(); }
int cmd_target(int argc, char **argv); /* target.c */

#define PG 4096UL
#define TAG_MAGIC 0x4741544a4b464248ULL  /* "HBFKJTAG" */
#define LIST_MAGIC 0x54534c4a4b464248ULL /* "HBFKJLST" */
#define IMG_MAGIC 0x474d494a4b464248ULL  /* "HBFKJIMG" */
#define STALE_MAGIC 0x444c4f4a4b464248ULL /* "HBFKJOLD": A ran on after the image was written */
#define AREC_MAGIC 0x4352414a4b464248ULL /* "HBFKJARC" */
#define CP_DATA 2048UL
#define CP_PA_BACKUP_PAGES_MAP (CP_DATA + 0x30)
#define IND_DESTINATION 0x1
#define IND_INDIRECTION 0x2
#define IND_DONE 0x4
#define IND_SOURCE 0x8
#define LIST_PER_PAGE 254 /* (512 - 4 header words) / 2 words per range */
#define MAX_RANGES 32
#define AREC_PAGES 1024UL /* 4 MiB at the end of the disk: up to 524k tagged PFNs */
#define PFN_ZERO (1ULL << 63)

struct kj_hdr {
	uint64_t magic;
	uint32_t version, flags;     /* flags bit0: full (all of A's RAM listed) */
	uint64_t stream_off;         /* first stream page on the disk (1) */
	uint64_t stream_pages;       /* = 1 + meta_pages + data_pages */
	uint64_t data_pages, meta_pages;
	uint64_t jump_back_entry;    /* A's re-entry address (in A's control page) */
	uint64_t list_pa;
	uint64_t sum64;              /* sum of every u64 of the stream pages, mod 2^64 */
	uint64_t lost_pages;         /* listed pages of A that B could not find (neither outside B nor in the map) */
	uint64_t region_pages;       /* pages of A held by the kimage map (A's pages inside B's region) */
	uint64_t nr_ranges;
	uint64_t ranges[MAX_RANGES][2]; /* B's RAM (memmap=exactmap), [start,end) bytes */
	char cmdline[2048];          /* B's /proc/cmdline, for a restore kernel confined to the same region */
	uint64_t zero_pages;         /* entries flagged as all-zero (no data page) */
};

struct kj_arec {
	uint64_t magic, count, seed, gen;
	/* u64 pfn[count] follows */
};

static double now_s(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what) {
	printf("HIBFUZZ {\"ev\":\"error\",\"what\":\"%s\",\"errno\":%d,\"msg\":\"%s\"}\n", what, errno, strerror(errno));
	flush_events();
	exit(1);
}

static uint64_t splitmix(uint64_t *s) {
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Tagged page: w[0]=magic, w[1]=seed, w[2]=index, w[3]=gen, w[4..511]=splitmix(seed ^ index<<20 ^ gen<<48). */
static void tag_fill(uint64_t *w, uint64_t seed, uint64_t idx, uint64_t gen) {
	uint64_t s = seed ^ (idx << 20) ^ (gen << 48);
	w[0] = TAG_MAGIC, w[1] = seed, w[2] = idx, w[3] = gen;
	for (int i = 4; i < 512; i++) w[i] = splitmix(&s);
}

/* 1 = intact tag for (seed, idx, gen); 0 = anything else. */
static int tag_ok(const uint64_t *w, uint64_t seed, uint64_t idx, uint64_t gen) {
	if (w[0] != TAG_MAGIC || w[1] != seed || w[2] != idx || w[3] != gen) return 0;
	uint64_t s = seed ^ (idx << 20) ^ (gen << 48);
	for (int i = 4; i < 512; i++)
		if (w[i] != splitmix(&s)) return 0;
	return 1;
}

static const char *cmdline_arg(const char *cmd, const char *key, char *out, size_t n) {
	size_t kl = strlen(key);
	const char *p = cmd;
	const char *found = NULL;
	while ((p = strstr(p, key)) != NULL) {
		if ((p == cmd || p[-1] == ' ') && p[kl] == '=') found = p + kl + 1; /* last occurrence wins */
		p += kl;
	}
	if (!found) return NULL;
	size_t i = 0;
	while (found[i] && found[i] != ' ' && found[i] != '\n' && i + 1 < n) { out[i] = found[i]; i++; }
	out[i] = 0;
	return out;
}

static void read_cmdline(char *buf, size_t n) {
	int fd = open("/proc/cmdline", O_RDONLY);
	if (fd < 0) die("open /proc/cmdline");
	ssize_t r = read(fd, buf, n - 1);
	if (r < 0) die("read /proc/cmdline");
	buf[r] = 0;
	if (r > 0 && buf[r - 1] == '\n') buf[r - 1] = 0;
	close(fd);
}

static uint64_t memsize(const char *s, char **end) {
	uint64_t v = strtoull(s, end, 0);
	switch (**end) {
	case 'K': case 'k': v <<= 10; (*end)++; break;
	case 'M': case 'm': v <<= 20; (*end)++; break;
	case 'G': case 'g': v <<= 30; (*end)++; break;
	}
	return v;
}

/* B's / C's own RAM from "memmap=exactmap memmap=SIZE@START ...": [start, end) in bytes. */
static int own_ranges(const char *cmd, uint64_t r[][2]) {
	int n = 0;
	const char *p = cmd;
	while ((p = strstr(p, "memmap=")) != NULL) {
		p += 7;
		if (strncmp(p, "exactmap", 8) == 0) continue;
		char *e;
		uint64_t size = memsize(p, &e);
		if (*e != '@') continue;
		uint64_t start = memsize(e + 1, &e);
		if (n < MAX_RANGES) { r[n][0] = start; r[n][1] = start + size; n++; }
	}
	return n;
}

static int in_ranges(uint64_t pa, uint64_t r[][2], int n) {
	for (int i = 0; i < n; i++)
		if (pa >= r[i][0] && pa < r[i][1]) return 1;
	return 0;
}

/* ---- physical memory through /dev/mem mmap (read() fails above high_memory) ---- */
#define WIN (4UL << 20)
static int memfd = -1;
static uint8_t *win;
static uint64_t win_base = ~0ULL;
static int win_prot;

static void *phys(uint64_t pa, int writable) {
	int prot = writable ? PROT_READ | PROT_WRITE : PROT_READ;
	uint64_t base = pa & ~(WIN - 1);
	if (base != win_base || (prot & ~win_prot)) {
		if (win) munmap(win, WIN);
		if (memfd < 0) memfd = open("/dev/mem", O_RDWR | O_SYNC);
		if (memfd < 0) die("open /dev/mem");
		win = mmap(NULL, WIN, prot, MAP_SHARED, memfd, (off_t)base);
		if (win == MAP_FAILED) { win = NULL; win_base = ~0ULL; die("mmap /dev/mem"); }
		win_base = base, win_prot = prot;
	}
	return win + (pa - base);
}

/* ---- A: hold tagged pages and hand over the list ---- */
static volatile sig_atomic_t got_usr1;
static void on_usr1(int s) { (void)s; got_usr1 = 1; }

static uint64_t pfn_of(int pm, void *va) {
	uint64_t e;
	if (pread(pm, &e, 8, (off_t)((uintptr_t)va / PG) * 8) != 8) die("pread pagemap");
	if (!(e & (1ULL << 63))) return 0;
	return e & ((1ULL << 55) - 1);
}

struct range { uint64_t start, count; };

/* System RAM ranges of A (for the full image), from /proc/iomem top-level lines. */
static int iomem_ram(struct range *r, int max) {
	FILE *f = fopen("/proc/iomem", "r");
	if (!f) die("open /proc/iomem");
	char line[256];
	int n = 0;
	while (fgets(line, sizeof line, f)) {
		if (line[0] == ' ' || !strstr(line, ": System RAM")) continue;
		uint64_t s, e;
		if (sscanf(line, "%" SCNx64 "-%" SCNx64, &s, &e) != 2) continue;
		uint64_t ps = (s + PG - 1) / PG, pe = (e + 1) / PG;
		if (pe > ps && n < max) { r[n].start = ps; r[n].count = pe - ps; n++; }
	}
	fclose(f);
	return n;
}

static int cmd_hold(int argc, char **argv) {
	if (argc < 7) { fprintf(stderr, "hold NPAGES SEED GEN FULL MEMMAX READYFILE [DEV [NZERO]]\n"); return 2; }
	uint64_t n = strtoull(argv[1], 0, 0), seed = strtoull(argv[2], 0, 0), gen = strtoull(argv[3], 0, 0);
	int full = atoi(argv[4]);
	uint64_t memmax = strtoull(argv[5], 0, 0);
	const char *ready = argv[6], *dev = argc > 7 ? argv[7] : "/dev/vda";
	uint64_t nz = argc > 8 ? strtoull(argv[8], 0, 0) : 0;
	signal(SIGUSR1, on_usr1);
	double t0 = now_s();
	uint64_t *pages = mmap(NULL, n * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (pages == MAP_FAILED) die("mmap tagged");
	if (mlock(pages, n * PG)) die("mlock tagged");
	for (uint64_t i = 0; i < n; i++) tag_fill(pages + i * 512, seed, i, gen);
	/* In-use pages whose content is all zero (workload.zero): written once so each has its own frame. */
	uint64_t *zpages = NULL;
	if (nz) {
		zpages = mmap(NULL, nz * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
		if (zpages == MAP_FAILED || mlock(zpages, nz * PG)) die("zero pages");
		for (uint64_t i = 0; i < nz; i++) { zpages[i * 512] = 1; zpages[i * 512] = 0; }
	}
	int pm = open("/proc/self/pagemap", O_RDONLY);
	if (pm < 0) die("open pagemap");
	uint64_t *pfn = calloc(n, 8);
	uint64_t in_region = 0;
	for (uint64_t i = 0; i < n; i++) {
		pfn[i] = pfn_of(pm, pages + i * 512);
		if (pfn[i] == 0) { errno = EFAULT; die("tagged page has no pfn"); }
		if (pfn[i] * PG <= memmax) in_region++;
	}
	/* The list: ranges (pfn, count) in a chain of locked pages; tagged pages one range each, plus RAM when full. */
	struct range ram[64];
	int nram = full ? iomem_ram(ram, 64) : 0;
	uint64_t *zpfn = calloc(nz ? nz : 1, 8);
	for (uint64_t i = 0; i < nz; i++) zpfn[i] = pfn_of(pm, zpages + i * 512);
	uint64_t nent = n + nz + nram, lpages = (nent + LIST_PER_PAGE - 1) / LIST_PER_PAGE;
	if (lpages == 0) lpages = 1;
	uint64_t *list = mmap(NULL, lpages * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (list == MAP_FAILED || mlock(list, lpages * PG)) die("list buffer");
	uint64_t *lpfn = calloc(lpages, 8);
	for (uint64_t p = 0; p < lpages; p++) lpfn[p] = pfn_of(pm, list + p * 512);
	uint64_t e = 0;
	for (uint64_t p = 0; p < lpages; p++) {
		uint64_t *w = list + p * 512;
		w[0] = LIST_MAGIC, w[1] = p + 1 < lpages ? lpfn[p + 1] * PG : 0, w[2] = 0, w[3] = 0;
		for (uint64_t k = 0; k < LIST_PER_PAGE && e < nent; k++, e++) {
			if (e < n) w[4 + 2 * k] = pfn[e], w[5 + 2 * k] = 1;
			else if (e < n + nz) w[4 + 2 * k] = zpfn[e - n], w[5 + 2 * k] = 1;
			else w[4 + 2 * k] = ram[e - n - nz].start, w[5 + 2 * k] = ram[e - n - nz].count;
			w[2]++;
		}
	}
	/* A's record of tagged PFNs at the end of the disk: the agent's oracle for EveryPageSavedOnce. */
	int dfd = open(dev, O_RDWR);
	if (dfd < 0) die("open disk");
	off_t dsize = lseek(dfd, 0, SEEK_END);
	uint64_t arec_page = (uint64_t)dsize / PG - AREC_PAGES;
	size_t arec_len = sizeof(struct kj_arec) + n * 8;
	if (arec_len > AREC_PAGES * PG) { errno = E2BIG; die("arec too large"); }
	uint8_t *arec = calloc(1, (arec_len + PG - 1) / PG * PG);
	struct kj_arec *ah = (struct kj_arec *)arec;
	ah->magic = AREC_MAGIC, ah->count = n, ah->seed = seed, ah->gen = gen;
	memcpy(arec + sizeof *ah, pfn, n * 8);
	if (pwrite(dfd, arec, (arec_len + PG - 1) / PG * PG, (off_t)(arec_page * PG)) < 0) die("write arec");
	if (fsync(dfd)) die("fsync arec");
	close(dfd);
	uint64_t sorted_min = ~0ULL, sorted_max = 0;
	for (uint64_t i = 0; i < n; i++) {
		if (pfn[i] < sorted_min) sorted_min = pfn[i];
		if (pfn[i] > sorted_max) sorted_max = pfn[i];
	}
	FILE *f = fopen(ready, "w");
	if (!f) die("open readyfile");
	fprintf(f, "0x%" PRIx64 "\n", lpfn[0] * PG);
	fclose(f);
	printf("HIBFUZZ {\"ev\":\"a-filled\",\"pages\":%" PRIu64 ",\"listPa\":%" PRIu64 ",\"listPages\":%" PRIu64
	       ",\"ranges\":%" PRIu64 ",\"inRegion\":%" PRIu64 ",\"minPfn\":%" PRIu64 ",\"maxPfn\":%" PRIu64
	       ",\"arecPage\":%" PRIu64 ",\"s\":%.3f}\n",
	       n, lpfn[0] * PG, lpages, nent, in_region, sorted_min, sorted_max, arec_page, now_s() - t0);
	flush_events();
	while (!got_usr1) pause();
	/* After the jump back (or a cold-boot resume): every tagged page intact, at the same PFN. */
	uint64_t corrupt = 0, moved = 0, first_bad = ~0ULL, corrupt_outside = 0;
	for (uint64_t i = 0; i < n; i++) {
		if (!tag_ok(pages + i * 512, seed, i, gen)) {
			corrupt++;
			if (pfn[i] * PG > memmax) corrupt_outside++; /* outside B's region: B must never have touched it */
			if (first_bad == ~0ULL) first_bad = i;
		}
		if (pfn_of(pm, pages + i * 512) != pfn[i]) moved++;
	}
	uint64_t zcorrupt = 0;
	for (uint64_t i = 0; i < nz; i++)
		for (int k = 0; k < 512; k++)
			if (zpages[i * 512 + k]) { zcorrupt++; break; }
	uint64_t lcorrupt = 0;
	for (uint64_t p = 0; p < lpages; p++)
		if (list[p * 512] != LIST_MAGIC) lcorrupt++;
	printf("HIBFUZZ {\"ev\":\"a-verify\",\"checked\":%" PRIu64 ",\"corrupt\":%" PRIu64 ",\"moved\":%" PRIu64
	       ",\"inRegion\":%" PRIu64 ",\"corruptOutside\":%" PRIu64 ",\"listCorrupt\":%" PRIu64 ",\"zeroChecked\":%" PRIu64 ",\"zeroCorrupt\":%" PRIu64
	       ",\"firstBad\":%" PRId64 "}\n",
	       n, corrupt, moved, in_region, corrupt_outside, lcorrupt, nz, zcorrupt, first_bad == ~0ULL ? (int64_t)-1 : (int64_t)first_bad);
	flush_events();
	return corrupt || zcorrupt ? 1 : 0;
}

/* ---- B: the kimage map (A's pages inside B's region live in A's source pages) ---- */
static uint32_t *src_of; /* dest pfn -> source pfn, 0 = not in the map */
static uint64_t map_pfns;

static uint64_t build_map(uint64_t entry, uint64_t max_pfn, uint64_t *first_dest, uint64_t *last_dest) {
	uint64_t cp = entry & ~(PG - 1);
	uint64_t e = *(volatile uint64_t *)phys(cp + CP_PA_BACKUP_PAGES_MAP, 0);
	map_pfns = max_pfn;
	src_of = calloc(max_pfn, 4);
	uint64_t dest = 0, ind = 0, n = 0, steps = 0;
	*first_dest = ~0ULL, *last_dest = 0;
	for (;;) {
		if (++steps > (1ULL << 26)) { errno = ELOOP; die("kimage map does not end"); }
		if (e & IND_DESTINATION) dest = e & ~(PG - 1);
		else if (e & IND_INDIRECTION) ind = e & ~(PG - 1);
		else if (e & IND_DONE) break;
		else if (e & IND_SOURCE) {
			uint64_t d = dest / PG;
			if (d < max_pfn) src_of[d] = (uint32_t)((e & ~(PG - 1)) / PG);
			if (dest < *first_dest) *first_dest = dest;
			if (dest > *last_dest) *last_dest = dest;
			dest += PG, n++;
		}
		if (!ind) { errno = EINVAL; die("kimage map does not start with an indirection page"); }
		e = *(volatile uint64_t *)phys(ind, 0); /* the next word, as swap_pages reads it */
		ind += 8;
	}
	return n;
}

/* A's page at pfn as A saw it: through the map when B's region covers it. NULL = lost. */
static const void *a_page(uint64_t pfn, uint64_t own[][2], int nown) {
	if (pfn < map_pfns && src_of[pfn]) return phys((uint64_t)src_of[pfn] * PG, 0);
	if (in_ranges(pfn * PG, own, nown)) return NULL;
	return phys(pfn * PG, 0);
}

static uint64_t sum_page(const uint64_t *w, uint64_t s) {
	for (int i = 0; i < 512; i++) s += w[i];
	return s;
}

struct wbuf { int fd; uint8_t *buf; size_t len, cap; uint64_t page; uint64_t sum; };

static void wflush(struct wbuf *w) {
	size_t off = 0;
	while (off < w->len) {
		ssize_t r = pwrite(w->fd, w->buf + off, w->len - off, (off_t)(w->page * PG - w->len + off));
		if (r < 0) die("write image");
		off += (size_t)r;
	}
	w->len = 0;
}

static void wpage(struct wbuf *w, const void *p) {
	memcpy(w->buf + w->len, p, PG);
	w->sum = sum_page((const uint64_t *)(w->buf + w->len), w->sum);
	w->len += PG, w->page++;
	if (w->len == w->cap) wflush(w);
}

static int cmd_save(int argc, char **argv) {
	const char *dev = argc > 1 ? argv[1] : "/dev/vda";
	static char cmd[4096];
	char v[64];
	read_cmdline(cmd, sizeof cmd);
	if (!cmdline_arg(cmd, "kexec_jump_back_entry", v, sizeof v)) { errno = ENOENT; die("no kexec_jump_back_entry"); }
	uint64_t entry = strtoull(v, 0, 0);
	if (!cmdline_arg(cmd, "hibkj.list", v, sizeof v)) { errno = ENOENT; die("no hibkj.list"); }
	uint64_t list_pa = strtoull(v, 0, 0);
	int full = cmdline_arg(cmd, "hibkj.full", v, sizeof v) && atoi(v);
	int64_t fail_after = cmdline_arg(cmd, "hibkj.eioat", v, sizeof v) ? atoll(v) : -1;
	int zero_elide = cmdline_arg(cmd, "hibkj.zero", v, sizeof v) && atoi(v);
	int64_t power_after = cmdline_arg(cmd, "hibkj.plat", v, sizeof v) ? atoll(v) : -1;
	uint64_t own[MAX_RANGES][2];
	int nown = own_ranges(cmd, own);
	double t0 = now_s();

	/* The list is in A's memory, maybe inside B's region: read it through the map. First pass: max PFN. */
	uint64_t max_pfn = 0; /* the map's destinations are B's region: bound it by B's RAM */
	for (int i = 0; i < nown; i++)
		if (own[i][1] / PG + 256 > max_pfn) max_pfn = own[i][1] / PG + 256;
	uint64_t first_dest, last_dest;
	uint64_t mapped = build_map(entry, max_pfn, &first_dest, &last_dest);
	double t_map = now_s();
	uint64_t lpa = list_pa, lpages = 0, nranges = 0, top = 0;
	static struct range rs[1 << 18];
	while (lpa) {
		const uint64_t *w = a_page(lpa / PG, own, nown);
		if (!w || w[0] != LIST_MAGIC) { errno = EBADMSG; die("bad list page"); }
		uint64_t cnt = w[2] > LIST_PER_PAGE ? LIST_PER_PAGE : w[2], next = w[1];
		for (uint64_t k = 0; k < cnt && nranges < (1 << 18); k++) {
			rs[nranges].start = w[4 + 2 * k], rs[nranges].count = w[5 + 2 * k];
			if (rs[nranges].start + rs[nranges].count > top) top = rs[nranges].start + rs[nranges].count;
			nranges++;
		}
		lpa = next, lpages++;
		if (lpages > (1 << 16)) { errno = ELOOP; die("list does not end"); }
	}
	/* The set to save: union of the listed ranges, as a bitmap, so every PFN appears once, ascending. */
	uint8_t *bm = calloc(top / 8 + 1, 1);
	for (uint64_t i = 0; i < nranges; i++)
		for (uint64_t p = rs[i].start; p < rs[i].start + rs[i].count; p++) bm[p / 8] |= (uint8_t)(1 << (p % 8));
	uint64_t npfn = 0, lost = 0, via_map = 0, tag_ok_n = 0, tag_bad = 0, nzero = 0;
	/* zero-page bitmap: listed with PFN_ZERO, no data page */
	uint8_t *zbm = calloc(top / 8 + 1, 1);
	for (uint64_t p = 0; p < top; p++)
		if (bm[p / 8] >> (p % 8) & 1) {
			const uint64_t *w = a_page(p, own, nown);
			if (!w) { lost++; bm[p / 8] &= (uint8_t)~(1 << (p % 8)); continue; }
			npfn++;
			if (p < map_pfns && src_of[p]) via_map++;
			if (zero_elide) {
				int z = 1;
				for (int k = 0; k < 512 && z; k++) z = w[k] == 0;
				if (z) { zbm[p / 8] |= (uint8_t)(1 << (p % 8)); nzero++; }
			}
			if (w[0] == TAG_MAGIC) { if (tag_ok(w, w[1], w[2], w[3])) tag_ok_n++; else tag_bad++; }
		}
	uint64_t meta = (npfn * 8 + PG - 1) / PG;
	uint64_t ndata = npfn - nzero;
	uint64_t stream = 1 + meta + ndata;
	int fd = open(dev, O_RDWR);
	if (fd < 0) die("open disk");
	off_t dsize = lseek(fd, 0, SEEK_END);
	uint64_t limit = (uint64_t)dsize / PG - AREC_PAGES;
	if (1 + stream > limit) {
		printf("HIBFUZZ {\"ev\":\"b-nospace\",\"need\":%" PRIu64 ",\"have\":%" PRIu64 "}\n", 1 + stream, limit);
		flush_events();
		return 3;
	}
	/* Invalidate any old header first: the image is committed only by the final header write. */
	static uint8_t zero[PG];
	if (pwrite(fd, zero, PG, 0) != (ssize_t)PG || fsync(fd)) die("clear header");
	struct wbuf wb = {.fd = fd, .buf = aligned_alloc(PG, 1 << 20), .cap = 1 << 20, .page = 1};
	/* swsusp_info (kernel/power/power.h offsets for x86-64): uts at 0, num_physpages 400, image_pages 416,
	 * pages 424, size 432. */
	static uint8_t hp[PG];
	struct utsname u;
	uname(&u);
	memcpy(hp, &u, sizeof u < 390 ? sizeof u : 390);
	*(uint64_t *)(hp + 400) = npfn;
	*(uint64_t *)(hp + 416) = ndata;
	*(uint64_t *)(hp + 424) = stream;
	*(uint64_t *)(hp + 432) = stream * PG;
	wpage(&wb, hp);
	static uint64_t mp[512];
	uint64_t k = 0, written_meta = 0;
	for (uint64_t p = 0; p < top; p++)
		if (bm[p / 8] >> (p % 8) & 1) {
			mp[k++] = (zbm[p / 8] >> (p % 8) & 1) ? p | PFN_ZERO : p;
			if (k == 512) { wpage(&wb, mp); written_meta++; memset(mp, 0, PG); k = 0; }
		}
	if (k) { mp[k] = ~0ULL; wpage(&wb, mp); written_meta++; }
	int64_t data_written = 0;
	for (uint64_t p = 0; p < top; p++)
		if ((bm[p / 8] >> (p % 8) & 1) && !(zbm[p / 8] >> (p % 8) & 1)) {
			if (power_after >= 0 && 1 + (int64_t)written_meta + data_written >= power_after) {
				/* Injected power loss: what reached the disk stays, nothing is committed, no sync. */
				wflush(&wb);
				printf("HIBFUZZ {\"ev\":\"b-powerloss\",\"writes\":%" PRId64 "}\n", 1 + (int64_t)written_meta + data_written);
				flush_events();
				reboot(LINUX_REBOOT_CMD_POWER_OFF);
			}
			/* Stream writes are counted as for the power loss (info page, meta pages, data pages, from 0): an EIO
			 * scheduled at a write before the first data page fails the first data page (nothing is committed either way). */
			if (fail_after >= 0 && 1 + (int64_t)written_meta + data_written >= fail_after) {
				/* Injected EIO: B gives up before committing; the header stays invalid. */
				wflush(&wb);
				printf("HIBFUZZ {\"ev\":\"b-eio\",\"at\":%" PRId64 "}\n", 1 + (int64_t)written_meta + data_written);
				flush_events();
				close(fd);
				return 5;
			}
			wpage(&wb, a_page(p, own, nown));
			data_written++;
		}
	wflush(&wb);
	if (fsync(fd)) die("fsync stream");
	double t_data = now_s();
	static struct kj_hdr h;
	memset(&h, 0, sizeof h);
	h.magic = IMG_MAGIC, h.version = 1, h.flags = full ? 1 : 0, h.stream_off = 1, h.stream_pages = stream;
	h.data_pages = ndata, h.zero_pages = nzero, h.meta_pages = written_meta, h.jump_back_entry = entry, h.list_pa = list_pa;
	h.sum64 = wb.sum, h.lost_pages = lost, h.region_pages = mapped, h.nr_ranges = (uint64_t)nown;
	for (int i = 0; i < nown; i++) h.ranges[i][0] = own[i][0], h.ranges[i][1] = own[i][1];
	snprintf(h.cmdline, sizeof h.cmdline, "%.2047s", cmd);
	static uint8_t hpage[PG];
	memcpy(hpage, &h, sizeof h);
	if (pwrite(fd, hpage, PG, 0) != (ssize_t)PG || fsync(fd)) die("write header");
	close(fd);
	double t1 = now_s();
	printf("HIBFUZZ {\"ev\":\"b-saved\",\"zeroPages\":%" PRIu64 ",\"dataPages\":%" PRIu64 ",\"metaPages\":%" PRIu64 ",\"streamPages\":%" PRIu64
	       ",\"writes\":%" PRIu64 ",\"lost\":%" PRIu64 ",\"viaMap\":%" PRIu64 ",\"mapPages\":%" PRIu64
	       ",\"mapFirst\":%" PRIu64 ",\"mapLast\":%" PRIu64 ",\"tagOk\":%" PRIu64 ",\"tagBad\":%" PRIu64
	       ",\"listPages\":%" PRIu64 ",\"ranges\":%" PRIu64 ",\"mapS\":%.3f,\"dataS\":%.3f,\"s\":%.3f,\"mib\":%.1f}\n",
	       nzero, ndata, written_meta, stream, stream + 1, lost, via_map, mapped, first_dest, last_dest, tag_ok_n, tag_bad,
	       lpages, nranges, t_map - t0, t_data - t_map, t1 - t0, stream * PG / 1048576.0);
	flush_events();
	return lost ? 4 : 0;
}

/* ---- jump back: kexec_load a one-page exact copy of A's control page, entry = A's re-entry address ---- */
/* seg_at != 0 is a fault injection: the segment goes elsewhere, so A's control page stays unmapped in our kexec
 * page table and the jump to the entry faults (#PF -> #DF -> triple fault on 6.12 without the jump-back patch). */
static int jumpback(uint64_t entry, int go, uint64_t seg_at) {
	uint64_t cp = entry & ~(PG - 1);
	static uint8_t copy[PG] __attribute__((aligned(4096)));
	memcpy(copy, phys(seg_at ? seg_at : cp, 0), PG);
	struct kexec_segment seg = {.buf = copy, .bufsz = PG, .mem = (void *)(seg_at ? seg_at : cp), .memsz = PG};
	double t0 = now_s();
	long r = syscall(SYS_kexec_load, entry, 1UL, &seg, (unsigned long)KEXEC_PRESERVE_CONTEXT);
	if (r) die("kexec_load jumpback");
	printf("HIBFUZZ {\"ev\":\"jumpback-loaded\",\"entry\":%" PRIu64 ",\"s\":%.3f}\n", entry, now_s() - t0);
	flush_events();
	if (!go) return 0;
	sync();
	printf("HIBFUZZ {\"ev\":\"jump\"}\n");
	flush_events();
	r = reboot(LINUX_REBOOT_CMD_KEXEC);
	/* Only reached if A jumps to us again, or the jump failed. */
	printf("HIBFUZZ {\"ev\":\"jump-returned\",\"r\":%ld,\"errno\":%d}\n", r, errno);
	flush_events();
	return 1;
}

static int cmd_jumpback(int argc, char **argv) {
	uint64_t entry;
	if (argc > 1) entry = strtoull(argv[1], 0, 0);
	else {
		static char cmd[4096];
		char v[64];
		read_cmdline(cmd, sizeof cmd);
		if (!cmdline_arg(cmd, "kexec_jump_back_entry", v, sizeof v)) { errno = ENOENT; die("no kexec_jump_back_entry"); }
		entry = strtoull(v, 0, 0);
	}
	int go = !(argc > 2 && strcmp(argv[2], "load") == 0);
	uint64_t seg_at = argc > 3 ? strtoull(argv[3], 0, 0) & ~(PG - 1) : 0;
	return jumpback(entry, go, seg_at);
}

/* ---- C: cold-boot restore. Pages outside C's RAM go back through /dev/mem; A's swap-back (its relocate_kernel
 * re-entry path runs swap_pages with A's indirection list) brings back the region from A's source pages. ---- */
static int cmd_restore(int argc, char **argv) {
	const char *dev = argc > 1 ? argv[1] : "/dev/vda";
	int go = !(argc > 2 && strcmp(argv[2], "nojump") == 0);
	double t0 = now_s();
	int fd = open(dev, O_RDWR);
	if (fd < 0) die("open disk");
	static uint8_t hpage[PG];
	if (pread(fd, hpage, PG, 0) != (ssize_t)PG) die("read header");
	struct kj_hdr h;
	memcpy(&h, hpage, sizeof h);
	if (h.magic != IMG_MAGIC) {
		printf("HIBFUZZ {\"ev\":\"c-noimage\",\"stale\":%d}\n", h.magic == STALE_MAGIC);
		flush_events();
		return 3;
	}
	static char cmd[4096];
	read_cmdline(cmd, sizeof cmd);
	uint64_t own[MAX_RANGES][2];
	int nown = own_ranges(cmd, own);
	/* Pass 1: read the stream, check the sum, before writing anything (a corrupt image is refused whole). */
	uint64_t n = h.data_pages, meta = h.meta_pages;
	uint64_t *pfns = malloc((meta ? meta : 1) * PG);
	if (pread(fd, pfns, meta * PG, (off_t)((h.stream_off + 1) * PG)) != (ssize_t)(meta * PG)) die("read meta");
	uint8_t *buf = aligned_alloc(PG, 1 << 20);
	uint64_t sum = 0;
	static uint8_t hp[PG];
	if (pread(fd, hp, PG, (off_t)(h.stream_off * PG)) != (ssize_t)PG) die("read stream header");
	sum = sum_page((uint64_t *)hp, sum);
	for (uint64_t i = 0; i < meta; i++) sum = sum_page(pfns + i * 512, sum);
	uint64_t base = h.stream_off + 1 + meta;
	for (uint64_t i = 0; i < n; i += 256) {
		uint64_t c = n - i < 256 ? n - i : 256;
		if (pread(fd, buf, c * PG, (off_t)((base + i) * PG)) != (ssize_t)(c * PG)) die("read data");
		for (uint64_t j = 0; j < c; j++) sum = sum_page((uint64_t *)(buf + j * PG), sum);
	}
	/* Entries: data pages plus zero-flagged pages, PFNs strictly ascending, exactly n without the flag. */
	uint64_t nent = n + h.zero_pages, prev = 0, nonzero = 0;
	int ascending = nent <= meta * 512;
	for (uint64_t i = 0; ascending && i < nent; i++) {
		uint64_t p = pfns[i] & ~PFN_ZERO;
		if (i && p <= prev) ascending = 0;
		if (!(pfns[i] & PFN_ZERO)) nonzero++;
		prev = p;
	}
	if (nonzero != n) ascending = 0;
	double t_check = now_s();
	if (sum != h.sum64 || !ascending) {
		printf("HIBFUZZ {\"ev\":\"c-refused\",\"reason\":\"%s\"}\n", sum != h.sum64 ? "crcMismatch" : "badHeader");
		flush_events();
		return 4;
	}
	/* Pass 2: write A's pages outside C's RAM in place (zero-flagged entries are cleared). */
	uint64_t restored = 0, skipped = 0, zeroed = 0, d = 0, cached = 0, cstart = 0;
	for (uint64_t i = 0; i < nent; i++) {
		uint64_t p = pfns[i] & ~PFN_ZERO;
		int z = (pfns[i] & PFN_ZERO) != 0;
		const uint8_t *src = NULL;
		if (!z) {
			if (d >= cstart + cached) {
				cstart = d, cached = n - d < 256 ? n - d : 256;
				if (pread(fd, buf, cached * PG, (off_t)((base + d) * PG)) != (ssize_t)(cached * PG)) die("read data");
			}
			src = buf + (d - cstart) * PG;
			d++;
		}
		if (in_ranges(p * PG, own, nown)) { skipped++; continue; }
		if (z) { memset(phys(p * PG, 1), 0, PG); zeroed++; }
		else memcpy(phys(p * PG, 1), src, PG);
		restored++;
	}
	if (win) msync(win, WIN, MS_SYNC);
	/* The image is consumed: clear the header so it is never resumed twice (A also marks it stale when back). */
	static uint8_t zero[PG];
	if (pwrite(fd, zero, PG, 0) != (ssize_t)PG || fsync(fd)) die("clear header");
	close(fd);
	printf("HIBFUZZ {\"ev\":\"c-restored\",\"restored\":%" PRIu64 ",\"zeroed\":%" PRIu64 ",\"inRegion\":%" PRIu64 ",\"checkS\":%.3f,\"s\":%.3f,"
	       "\"entry\":%" PRIu64 "}\n",
	       restored, zeroed, skipped, t_check - t0, now_s() - t0, h.jump_back_entry);
	flush_events();
	return jumpback(h.jump_back_entry, go, 0);
}

/* Print the container header of the disk (A after the jump back: the disk works and the image is committed). */
static int cmd_diskinfo(int argc, char **argv) {
	const char *dev = argc > 1 ? argv[1] : "/dev/vda";
	int stale = argc > 2 && strcmp(argv[2], "stale") == 0;
	int fd = open(dev, stale ? O_RDWR : O_RDONLY);
	if (fd < 0) die("open disk");
	static uint8_t hpage[PG];
	double t0 = now_s();
	/* read 16 MiB to exercise the device, then the header */
	uint8_t *buf = malloc(1 << 20);
	uint64_t got = 0;
	for (int i = 0; i < 16; i++) {
		ssize_t r = pread(fd, buf, 1 << 20, (off_t)i << 20);
		if (r <= 0) break;
		got += (uint64_t)r;
	}
	if (pread(fd, hpage, PG, 0) != (ssize_t)PG) die("read header");
	struct kj_hdr h;
	memcpy(&h, hpage, sizeof h);
	int committed = h.magic == IMG_MAGIC;
	if (stale && committed) {
		/* A runs on: its image no longer matches it and must never be resumed (StaleImageNeverResumed). */
		*(uint64_t *)hpage = STALE_MAGIC;
		if (pwrite(fd, hpage, PG, 0) != (ssize_t)PG || fsync(fd)) die("mark stale");
	}
	printf("HIBFUZZ {\"ev\":\"disk\",\"readBytes\":%" PRIu64 ",\"committed\":%d,\"dataPages\":%" PRIu64
	       ",\"markedStale\":%d,\"s\":%.3f}\n",
	       got, committed, committed ? h.data_pages : 0, stale && committed, now_s() - t0);
	flush_events();
	return 0;
}

int main(int argc, char **argv) {
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2) { fprintf(stderr, "usage: hibkj hold|save|jumpback ENTRY [go|load] [SEGADDR]|restore|diskinfo DEV [stale]|target ...\n"); return 2; }
	const char *c = argv[1];
	if (!strcmp(c, "hold")) return cmd_hold(argc - 1, argv + 1);
	if (!strcmp(c, "save")) return cmd_save(argc - 1, argv + 1);
	if (!strcmp(c, "jumpback")) return cmd_jumpback(argc - 1, argv + 1);
	if (!strcmp(c, "restore")) return cmd_restore(argc - 1, argv + 1);
	if (!strcmp(c, "diskinfo")) return cmd_diskinfo(argc - 1, argv + 1);
	if (!strcmp(c, "target")) return cmd_target(argc - 1, argv + 1);
	fprintf(stderr, "unknown command %s\n", c);
	return 2;
}

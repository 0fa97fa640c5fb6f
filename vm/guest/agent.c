// Guest agent: fills tagged memory, drives hibernation (sysfs or /dev/snapshot), verifies every page after resume.
//
// Built static with musl-gcc (vm/initramfs.ts). Configuration comes from the kernel command line (hibfuzz.*), so one
// initramfs serves every scenario:
//   (the same words may come as argv, which wins: the host sends them after restoring a snapshot)
//   hibfuzz.id=<u32 hex>     scenario id hash (tags)        hibfuzz.seed=<u32>   scenario seed (tags)
//   hibfuzz.anon=<pages>     tagged anonymous pages         hibfuzz.zero=<pages> in-use all-zero pages
//   hibfuzz.pc=<pages>       tagged page-cache pages (a file in tmpfs)
//   hibfuzz.prog=<ops>       comma-separated program, run in order:
//       w<N>        rewrite pages 0..N-1 (mod anon) with generation+1
//       h           echo disk > /sys/power/state (disk=shutdown): returns after resume or on error
//       hp<level>   the same with /sys/power/pm_test=<level> (abort path, no image)
//       ht          the same with /sys/power/disk=test_resume (in-boot restore)
//       hu          uswsusp: /dev/snapshot FREEZE, CREATE_IMAGE, agent writes the image to swap, power off
//                   (with hibfuzz.imagefile=PATH: into that file, e.g. on the FUSE target, and returns)
//       v           verify every tagged page
// Every result is one line `HIBFUZZ {json}` on the console. After the program the agent powers off.
//
// Page tag (512 little-endian u64 words per 4 KiB page):
//   w[0] = TAG_MAGIC, w[1] = id << 32 | generation, w[2] = kind << 32 | page index,
//   w[3..511] = xorshift64 stream seeded with mix(id, seed, kind, index, generation).
// A page is corrupt iff any word differs; zero pages are corrupt iff any word is non-zero.
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096u
#define WORDS (PAGE / 8u)
#define TAG_MAGIC 0x5a5a5a5a5a5a5a5aull /* "ZZZZZZZZ" */
#define KIND_ANON 1u
#define KIND_PC 2u

static uint32_t g_id, g_seed;
static uint64_t g_anon, g_zero, g_pc;
static uint64_t *g_anon_mem, *g_zero_mem;
static uint32_t *g_gen; /* generation of each anon page */
static char g_prog[4096];
static const char *PC_PATH = "/tmp/hibfuzz-pagecache";

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void emit(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void emit(const char *fmt, ...) {
  /*
   * "HIBFUZZ {json} #xxxxxxxx": FNV-1a 32 of the JSON text; the host rejects a line whose sum does not match (a
   * digit lost from "pagesCorrupt":10 still parses). stdout is the agent channel ttyS1 (init.sh), which no kernel
   * message shares; on a kernel without it, the console, where a slow host drops characters.
   * Each event leaves the UART before the agent goes on (tcdrain): the host arms a fault on `hibernating`, and an
   * event still queued in the tty when devices suspend or the machine powers off would come late or never.
   */
  static char buf[16384];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n >= sizeof buf) n = sizeof buf - 1;
  uint32_t h = 0x811c9dc5u;
  for (int i = 0; i < n; i++) h = (h ^ (unsigned char)buf[i]) * 0x01000193u;
  static char line[16384 + 32];
  int m = snprintf(line, sizeof line, "HIBFUZZ %.*s #%08x\n", n, buf, h);
  if (m > 0) (void)!write(1, line, (size_t)m);
  tcdrain(1);
}

static const char *errname(int e) {
  switch (e) {
  case EBUSY: return "EBUSY";
  case EFAULT: return "EFAULT";
  case EINVAL: return "EINVAL";
  case EIO: return "EIO";
  case ENODATA: return "ENODATA";
  case ENODEV: return "ENODEV";
  case ENOKEY: return "ENOKEY";
  case ENOMEM: return "ENOMEM";
  case ENOSPC: return "ENOSPC";
  case EPERM: return "EPERM";
  default: return "EOTHER";
  }
}

static uint64_t mix(uint64_t x) { /* splitmix64 finaliser */
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

static uint64_t page_seed(uint32_t kind, uint64_t idx, uint32_t gen) {
  uint64_t s = mix(((uint64_t)g_id << 32 | g_seed) ^ mix((uint64_t)kind << 56 ^ idx << 20 ^ gen));
  return s ? s : 1;
}

static void fill_page(uint64_t *w, uint32_t kind, uint64_t idx, uint32_t gen) {
  uint64_t x = page_seed(kind, idx, gen);
  w[0] = TAG_MAGIC;
  w[1] = (uint64_t)g_id << 32 | gen;
  w[2] = (uint64_t)kind << 32 | idx;
  for (unsigned i = 3; i < WORDS; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    w[i] = x;
  }
}

/* 1 if the page differs from its tag */
static int check_page(const uint64_t *w, uint32_t kind, uint64_t idx, uint32_t gen) {
  uint64_t x = page_seed(kind, idx, gen);
  uint64_t diff = (w[0] ^ TAG_MAGIC) | (w[1] ^ ((uint64_t)g_id << 32 | gen)) | (w[2] ^ ((uint64_t)kind << 32 | idx));
  for (unsigned i = 3; i < WORDS; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    diff |= w[i] ^ x;
  }
  return diff != 0;
}

static uint64_t param_u64(const char *cmdline, const char *key, uint64_t def) {
  const char *p = strstr(cmdline, key);
  if (!p) return def;
  return strtoull(p + strlen(key), NULL, 0);
}

static void param_str(const char *cmdline, const char *key, char *out, size_t n) {
  const char *p = strstr(cmdline, key);
  out[0] = 0;
  if (!p) return;
  p += strlen(key);
  size_t i = 0;
  while (p[i] && p[i] != ' ' && p[i] != '\n' && i + 1 < n) {
    out[i] = p[i];
    i++;
  }
  out[i] = 0;
}

static int write_file(const char *path, const char *s) {
  int fd = open(path, O_WRONLY);
  if (fd < 0) return -errno;
  ssize_t r = write(fd, s, strlen(s));
  int e = r < 0 ? -errno : 0;
  close(fd);
  return e;
}

static void *map_locked(uint64_t pages) {
  if (pages == 0) return NULL;
  void *p = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (p == MAP_FAILED) {
    emit("{\"ev\":\"error\",\"what\":\"mmap\",\"errno\":\"%s\"}", errname(errno));
    return NULL;
  }
  /* mlock keeps hibernation's shrink_all_memory from swapping tagged pages out to the image's swap area */
  if (mlock(p, pages * PAGE) != 0) emit("{\"ev\":\"warn\",\"what\":\"mlock\",\"errno\":\"%s\"}", errname(errno));
  return p;
}

static int fill(void) {
  double t = now_ms();
  g_anon_mem = map_locked(g_anon);
  g_zero_mem = map_locked(g_zero);
  g_gen = calloc(g_anon ? g_anon : 1, sizeof *g_gen);
  if ((g_anon && !g_anon_mem) || (g_zero && !g_zero_mem) || !g_gen) return -1;
  for (uint64_t i = 0; i < g_anon; i++) fill_page(g_anon_mem + i * WORDS, KIND_ANON, i, 0);
  /* zero pages: MAP_POPULATE on a private writable mapping already gave each its own zeroed frame */
  if (g_pc) {
    int fd = open(PC_PATH, O_CREAT | O_TRUNC | O_WRONLY, 0600);
    if (fd < 0) return -1;
    static uint64_t buf[WORDS];
    for (uint64_t i = 0; i < g_pc; i++) {
      fill_page(buf, KIND_PC, i, 0);
      if (write(fd, buf, PAGE) != (ssize_t)PAGE) {
        close(fd);
        return -1;
      }
    }
    close(fd);
  }
  emit("{\"ev\":\"filled\",\"anon\":%llu,\"zero\":%llu,\"pageCache\":%llu,\"ms\":%.0f}", (unsigned long long)g_anon,
       (unsigned long long)g_zero, (unsigned long long)g_pc, now_ms() - t);
  return 0;
}

static void rewrite(uint64_t n) {
  double t = now_ms();
  for (uint64_t k = 0; k < n && g_anon; k++) {
    uint64_t i = k % g_anon;
    g_gen[i]++;
    fill_page(g_anon_mem + i * WORDS, KIND_ANON, i, g_gen[i]);
  }
  emit("{\"ev\":\"write\",\"pages\":%llu,\"ms\":%.0f}", (unsigned long long)n, now_ms() - t);
}

static void verify(void) {
  double t = now_ms();
  uint64_t checked = 0, corrupt = 0, zeroCorrupt = 0, pcCorrupt = 0;
  long long firstBad = -1;
  for (uint64_t i = 0; i < g_anon; i++, checked++) {
    if (check_page(g_anon_mem + i * WORDS, KIND_ANON, i, g_gen[i])) {
      if (firstBad < 0) firstBad = (long long)i;
      corrupt++;
    }
  }
  for (uint64_t i = 0; i < g_zero; i++, checked++) {
    const uint64_t *w = g_zero_mem + i * WORDS;
    uint64_t acc = 0;
    for (unsigned j = 0; j < WORDS; j++) acc |= w[j];
    if (acc) zeroCorrupt++;
  }
  if (g_pc) {
    int fd = open(PC_PATH, O_RDONLY);
    static uint64_t buf[WORDS];
    for (uint64_t i = 0; i < g_pc; i++, checked++) {
      if (fd < 0 || read(fd, buf, PAGE) != (ssize_t)PAGE || check_page(buf, KIND_PC, i, 0)) pcCorrupt++;
    }
    if (fd >= 0) close(fd);
  }
  corrupt += zeroCorrupt + pcCorrupt;
  emit("{\"ev\":\"verify\",\"pagesChecked\":%llu,\"pagesCorrupt\":%llu,\"zeroCorrupt\":%llu,\"pageCacheCorrupt\":%llu,"
       "\"firstBad\":%lld,\"ms\":%.0f}",
       (unsigned long long)checked, (unsigned long long)corrupt, (unsigned long long)zeroCorrupt,
       (unsigned long long)pcCorrupt, firstBad, now_ms() - t);
}

/*
 * ,"swapUsedKiB":N with the Used column of /proc/swaps summed over every swap area (KiB), or "" when it cannot be
 * read: the host compares it before a hibernation and after a failed one (SwapSlotsFreedOnError).
 */
static const char *swap_used(void) {
  static char out[48];
  char line[512];
  unsigned long long used = 0, size, u;
  int areas = 0;
  out[0] = 0;
  FILE *f = fopen("/proc/swaps", "r");
  if (!f) return out;
  if (!fgets(line, sizeof line, f)) goto done; /* Filename Type Size Used Priority */
  while (fgets(line, sizeof line, f)) {
    if (sscanf(line, "%*s %*s %llu %llu", &size, &u) == 2) {
      used += u;
      areas++;
    }
  }
  if (areas > 0) snprintf(out, sizeof out, ",\"swapUsedKiB\":%llu", used);
done:
  fclose(f);
  return out;
}

/* sysfs hibernation; mode is the /sys/power/disk value, level the pm_test level or NULL */
static void hibernate_sysfs(const char *mode, const char *level) {
  int e = write_file("/sys/power/disk", mode);
  if (e) emit("{\"ev\":\"warn\",\"what\":\"disk=%s\",\"errno\":\"%s\"}", mode, errname(-e));
  if (level) {
    e = write_file("/sys/power/pm_test", level);
    if (e) emit("{\"ev\":\"warn\",\"what\":\"pm_test=%s\",\"errno\":\"%s\"}", level, errname(-e));
  }
  emit("{\"ev\":\"hibernating\",\"mode\":\"%s\",\"pmTest\":\"%s\"%s}", mode, level ? level : "none", swap_used());
  sync();
  double t = now_ms();
  e = write_file("/sys/power/state", "disk");
  /* we get here after a resume (possibly in a later boot), after an abort, or on error */
  if (e)
    emit("{\"ev\":\"hibernateReturned\",\"ok\":false,\"errno\":\"%s\",\"ms\":%.0f%s}", errname(-e), now_ms() - t,
         swap_used());
  else
    emit("{\"ev\":\"hibernateReturned\",\"ok\":true,\"ms\":%.0f}", now_ms() - t);
  if (level) write_file("/sys/power/pm_test", "none");
  write_file("/sys/power/disk", "shutdown");
}

////////    uswsusp (/dev/snapshot), kernel/power/user.c protocol    ////////

#define SNAPSHOT_FREEZE 0x3301
#define SNAPSHOT_UNFREEZE 0x3302
#define SNAPSHOT_FREE 0x3305
#define SNAPSHOT_SET_SWAP_AREA 0x400c330d
#define SNAPSHOT_GET_IMAGE_SIZE 0x8008330e
#define SNAPSHOT_CREATE_IMAGE 0x40043311
#define SNAPSHOT_ALLOC_SWAP_PAGE 0x80083314
#define SNAPSHOT_FREE_SWAP_PAGES 0x3309

struct __attribute__((packed)) resume_swap_area {
  int64_t offset;
  uint32_t dev;
};

/* kernel/power/swap.c layout: swap_map_page = 511 entries + next_swap; swsusp_header at the end of page 0 */
#define MAP_PAGE_ENTRIES (PAGE / 8 - 1)
#define SF_NOCOMPRESS_MODE 2u

static int pwrite_page(int fd, uint64_t page, const void *buf) {
  return pwrite(fd, buf, PAGE, (off_t)(page * PAGE)) == (ssize_t)PAGE ? 0 : -errno;
}

/*
 * s2disk in the agent: the kernel's stream (header, PFN pages, data pages) is written uncompressed into slots the
 * kernel allocates, chained with swap_map_page exactly as swap.c does, then the swsusp_header is signed with
 * SF_NOCOMPRESS_MODE, so the kernel's own resume path can load it.
 */
static void hibernate_uswsusp(const char *swapdev, uint64_t resume_page) {
  struct stat st;
  emit("{\"ev\":\"hibernating\",\"mode\":\"uswsusp\",\"pmTest\":\"none\"%s}", swap_used());
  if (stat(swapdev, &st) != 0) {
    emit("{\"ev\":\"hibernateReturned\",\"ok\":false,\"errno\":\"%s\",\"phase\":\"stat\"}", errname(errno));
    return;
  }
  int sfd = open("/dev/snapshot", O_RDONLY);
  if (sfd < 0) {
    emit("{\"ev\":\"hibernateReturned\",\"ok\":false,\"errno\":\"%s\",\"phase\":\"open\"}", errname(errno));
    return;
  }
  /* user-space dev_t encoding (new_encode_dev): minor low byte, major, then the minor's high bits */
  unsigned ma = major(st.st_rdev), mi = minor(st.st_rdev);
  struct resume_swap_area area = {.offset = (int64_t)resume_page, .dev = (mi & 0xffu) | (ma << 8) | ((mi & ~0xffu) << 12)};
  const char *phase = "setSwapArea";
  int in_suspend = 0, e;
  if (ioctl(sfd, SNAPSHOT_SET_SWAP_AREA, &area) != 0) goto fail;
  phase = "freeze";
  sync();
  if (ioctl(sfd, SNAPSHOT_FREEZE) != 0) goto fail;
  phase = "createImage";
  if (ioctl(sfd, SNAPSHOT_CREATE_IMAGE, &in_suspend) != 0) goto fail_unfreeze;
  if (!in_suspend) {
    /* restored: the resume path jumped back here */
    ioctl(sfd, SNAPSHOT_UNFREEZE);
    close(sfd);
    emit("{\"ev\":\"hibernateReturned\",\"ok\":true,\"ms\":0}");
    return;
  }
  {
    int dfd = open(swapdev, O_RDWR | O_SYNC);
    static uint64_t map[WORDS];
    static unsigned char page[PAGE];
    phase = "write";
    if (dfd < 0) goto fail_free;
    int64_t first_map = 0, cur_map = 0, slot = 0;
    unsigned k = 0;
    uint64_t n = 0;
    memset(map, 0, sizeof map);
    if (ioctl(sfd, SNAPSHOT_ALLOC_SWAP_PAGE, &slot) != 0) goto fail_free;
    first_map = cur_map = slot / PAGE;
    for (;;) {
      ssize_t r = read(sfd, page, PAGE);
      if (r == 0) break;
      if (r != (ssize_t)PAGE) goto fail_free;
      if (ioctl(sfd, SNAPSHOT_ALLOC_SWAP_PAGE, &slot) != 0) goto fail_free;
      if (pwrite_page(dfd, (uint64_t)slot / PAGE, page) != 0) goto fail_free;
      map[k++] = (uint64_t)slot / PAGE;
      n++;
      if (k == MAP_PAGE_ENTRIES) {
        if (ioctl(sfd, SNAPSHOT_ALLOC_SWAP_PAGE, &slot) != 0) goto fail_free;
        map[MAP_PAGE_ENTRIES] = (uint64_t)slot / PAGE;
        if (pwrite_page(dfd, (uint64_t)cur_map, map) != 0) goto fail_free;
        cur_map = slot / PAGE;
        memset(map, 0, sizeof map);
        k = 0;
      }
    }
    if (pwrite_page(dfd, (uint64_t)cur_map, map) != 0) goto fail_free;
    /* sign: swsusp_header at the end of the header page (reserved[4056], hw_sig, crc32, image, flags, orig_sig, sig) */
    if (pread(dfd, page, PAGE, (off_t)(resume_page * PAGE)) != (ssize_t)PAGE) goto fail_free;
    if (memcmp(page + 4086, "SWAPSPACE2", 10) != 0) {
      phase = "swapHeader";
      errno = ENODEV;
      goto fail_free;
    }
    memcpy(page + 4076, page + 4086, 10);
    memcpy(page + 4086, "S1SUSPEND\0", 10);
    memset(page + 4056, 0, 8);
    memcpy(page + 4064, &first_map, 8);
    uint32_t flags = SF_NOCOMPRESS_MODE;
    memcpy(page + 4072, &flags, 4);
    if (pwrite_page(dfd, resume_page, page) != 0) goto fail_free;
    fsync(dfd);
    emit("{\"ev\":\"uswsuspWritten\",\"streamPages\":%llu}", (unsigned long long)n);
    sync();
    reboot(RB_POWER_OFF);
  }
fail_free:
  ioctl(sfd, SNAPSHOT_FREE_SWAP_PAGES);
  ioctl(sfd, SNAPSHOT_FREE);
fail_unfreeze:
  ioctl(sfd, SNAPSHOT_UNFREEZE);
fail:
  e = errno;
  emit("{\"ev\":\"hibernateReturned\",\"ok\":false,\"errno\":\"%s\",\"phase\":\"%s\"%s}", errname(e), phase,
       swap_used());
  close(sfd);
}

/*
 * uswsusp with the image going to a file (hibfuzz.imagefile=PATH, the FUSE target): the file is opened before
 * SNAPSHOT_FREEZE, then the stream is written into it page by page. On a FUSE file every write is a request to the
 * server, which SNAPSHOT_FREEZE froze with the rest of user space: `imageFileWrite` says the first write starts, and
 * what happens next is the kernel's (vm/README.md: the freezer side). There is no swap area: nothing resumes it.
 */
static void hibernate_uswsusp_file(const char *path) {
  static unsigned char page[PAGE];
  emit("{\"ev\":\"hibernating\",\"mode\":\"uswsuspFile\",\"pmTest\":\"none\"%s}", swap_used());
  const char *phase = "openImageFile";
  int ffd = open(path, O_WRONLY), sfd = -1, in_suspend = 0;
  uint64_t n = 0;
  if (ffd < 0) goto fail;
  phase = "open";
  sfd = open("/dev/snapshot", O_RDONLY);
  if (sfd < 0) goto fail;
  phase = "freeze";
  sync();
  if (ioctl(sfd, SNAPSHOT_FREEZE) != 0) goto fail;
  phase = "createImage";
  if (ioctl(sfd, SNAPSHOT_CREATE_IMAGE, &in_suspend) != 0) goto fail_unfreeze;
  phase = "write";
  for (;;) {
    ssize_t r = read(sfd, page, PAGE);
    if (r == 0) break;
    if (r != (ssize_t)PAGE) goto fail_free;
    if (n == 0) emit("{\"ev\":\"imageFileWrite\",\"path\":\"%s\"}", path);
    if (pwrite(ffd, page, PAGE, (off_t)(n * PAGE)) != (ssize_t)PAGE) goto fail_free;
    n++;
  }
  if (fsync(ffd) != 0) goto fail_free;
  /* written (a kernel whose freezer let it through): reported, then back to running; nothing can resume it */
  emit("{\"ev\":\"imageFileWritten\",\"streamPages\":%llu}", (unsigned long long)n);
  errno = 0;
fail_free:
  ioctl(sfd, SNAPSHOT_FREE);
fail_unfreeze:
  ioctl(sfd, SNAPSHOT_UNFREEZE);
fail:;
  int e = errno;
  if (e == 0) emit("{\"ev\":\"hibernateReturned\",\"ok\":true,\"ms\":0}");
  else
    emit("{\"ev\":\"hibernateReturned\",\"ok\":false,\"errno\":\"%s\",\"phase\":\"%s\"%s}", errname(e), phase,
         swap_used());
  if (sfd >= 0) close(sfd);
  if (ffd >= 0) close(ffd);
}

////////    swap file: a file on the guest's filesystem, its header at a given page of the disk    ////////

/* linux/fiemap.h (musl has no kernel headers) */
struct fiemap_extent {
  uint64_t fe_logical, fe_physical, fe_length, fe_reserved64[2];
  uint32_t fe_flags, fe_reserved[3];
};
struct fiemap {
  uint64_t fm_start, fm_length;
  uint32_t fm_flags, fm_mapped_extents, fm_extent_count, fm_reserved;
  struct fiemap_extent fm_extents[];
};
#define FS_IOC_FIEMAP 0xc020660bu
#define FIEMAP_FLAG_SYNC 1u
#define FIEMAP_EXTENT_LAST 1u
#define MAX_EXTENTS 1024
struct extent {
  uint64_t logical, physical, pages;
};
static struct extent g_ext[MAX_EXTENTS];

/* FIEMAP of an open file in pages, adjacent extents merged: the number of extents or -errno */
static int file_extents(int fd, struct extent *out, int max) {
  static char buf[sizeof(struct fiemap) + 256 * sizeof(struct fiemap_extent)];
  struct fiemap *fm = (struct fiemap *)(void *)buf;
  int n = 0;
  uint64_t start = 0;
  for (;;) {
    memset(fm, 0, sizeof(struct fiemap));
    fm->fm_start = start;
    fm->fm_length = ~0ull - start;
    fm->fm_flags = FIEMAP_FLAG_SYNC;
    fm->fm_extent_count = 256;
    if (ioctl(fd, FS_IOC_FIEMAP, fm) != 0) return -errno;
    if (fm->fm_mapped_extents == 0) return n;
    for (unsigned i = 0; i < fm->fm_mapped_extents; i++) {
      const struct fiemap_extent *e = &fm->fm_extents[i];
      uint64_t l = e->fe_logical / PAGE, p = e->fe_physical / PAGE, len = e->fe_length / PAGE;
      struct extent *prev = n > 0 ? &out[n - 1] : NULL;
      if (prev && prev->logical + prev->pages == l && prev->physical + prev->pages == p) prev->pages += len;
      else if (n == max) return -E2BIG;
      else out[n++] = (struct extent){l, p, len};
      start = e->fe_logical + e->fe_length;
      if (e->fe_flags & FIEMAP_EXTENT_LAST) return n;
    }
  }
}

/* a file of `pages` written pages (no holes: swapon refuses them), synced; 0 or -errno */
static int write_file_pages(const char *path, uint64_t pages) {
  static const char zero[64 * PAGE];
  int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
  if (fd < 0) return -errno;
  for (uint64_t done = 0; done < pages;) {
    uint64_t n = pages - done < 64 ? pages - done : 64;
    if (write(fd, zero, n * PAGE) != (ssize_t)(n * PAGE)) {
      int e = -errno;
      close(fd);
      return e ? e : -EIO;
    }
    done += n;
  }
  int e = fsync(fd) == 0 ? 0 : -errno;
  close(fd);
  return e;
}

/*
 * agent --swapfile PATH PAGES OFFSET (init.sh, first boot, hibfuzz.swapfile): write the swap file, report its extents
 * as "l:p:n,..." (file page, disk page, pages) in one swapFile event. Exit 0 when its header (file page 0) is at disk
 * page OFFSET, 1 otherwise (the host refuses the run: vm/swapfile.ts).
 */
static int swapfile_main(int argc, char **argv) {
  static char list[12288];
  if (argc < 5) return 2;
  const char *path = argv[2];
  uint64_t pages = strtoull(argv[3], NULL, 0), offset = strtoull(argv[4], NULL, 0);
  /* written in this process: init.sh mounts nodelalloc, so the blocks are allocated here, in order, in write() */
  int e = write_file_pages(path, pages);
  if (e) {
    emit("{\"ev\":\"error\",\"what\":\"swapfile write\",\"errno\":\"%s\"}", errname(-e));
    return 1;
  }
  int fd = open(path, O_RDONLY);
  int n = fd < 0 ? -errno : file_extents(fd, g_ext, MAX_EXTENTS);
  if (fd >= 0) close(fd);
  if (n <= 0) {
    emit("{\"ev\":\"error\",\"what\":\"swapfile fiemap\",\"errno\":\"%s\"}", errname(n < 0 ? -n : ENODATA));
    return 1;
  }
  size_t len = 0;
  uint64_t header = UINT64_MAX;
  for (int i = 0; i < n; i++) {
    if (g_ext[i].logical == 0) header = g_ext[i].physical;
    if (len + 64 < sizeof list)
      len += (size_t)snprintf(list + len, sizeof list - len, "%s%llu:%llu:%llu", i ? "," : "",
                              (unsigned long long)g_ext[i].logical, (unsigned long long)g_ext[i].physical,
                              (unsigned long long)g_ext[i].pages);
  }
  emit("{\"ev\":\"swapFile\",\"path\":\"%s\",\"pages\":%llu,\"header\":%llu,\"extents\":\"%s\"}", path,
       (unsigned long long)pages, (unsigned long long)(header == UINT64_MAX ? 0 : header), list);
  return header == offset ? 0 : 1;
}

////////    dm-crypt: a plain aes-xts-plain64 mapping over the swap disk (no header: the host knows the key)    ////////

/* linux/dm-ioctl.h (musl has no kernel headers): struct dm_ioctl is 312 bytes, dm_target_spec 40 */
struct dm_ioctl {
  uint32_t version[3], data_size, data_start, target_count;
  int32_t open_count;
  uint32_t flags, event_nr, padding;
  uint64_t dev;
  char name[128], uuid[129], data[7];
};
struct dm_target_spec {
  uint64_t sector_start, length;
  int32_t status;
  uint32_t next;
  char target_type[16];
};
#define DM_IOWR(nr) (0xc0000000u | (uint32_t)sizeof(struct dm_ioctl) << 16 | 0xfdu << 8 | (nr))
#define DM_DEV_CREATE DM_IOWR(3)
#define DM_DEV_SUSPEND DM_IOWR(6)
#define DM_TABLE_LOAD DM_IOWR(9)
#define DM_SECURE_DATA_FLAG (1u << 15)
#define BLKGETSIZE64 0x80081272u

/* a zeroed request for device "hibfuzz" (version 4, no data after the header) */
static void dm_header(struct dm_ioctl *io, size_t size) {
  memset(io, 0, size);
  io->version[0] = 4;
  io->data_size = sizeof *io;
  io->data_start = sizeof *io;
  strcpy(io->name, "hibfuzz");
}

/*
 * agent --dmcrypt DEVICE KEYHEX (init.sh, every boot of a dmCrypt scenario that has a key): map DEVICE through
 * dm-crypt `aes-xts-plain64 KEY 0 DEVICE 0 1 sector_size:4096` (vm/image/dmcrypt.ts reads it back on the host) as
 * device-mapper device "hibfuzz"; exit 0 when it is /dev/dm-0 (the name init.sh uses), 1 otherwise. One event
 * `dmCrypt` with the mapping's maj:min, or `error`.
 */
static int dmcrypt_main(int argc, char **argv) {
  if (argc < 4) return 2;
  const char *devpath = argv[2], *key = argv[3];
  const char *what = "open";
  static char buf[4096];
  struct dm_ioctl *io = (struct dm_ioctl *)(void *)buf;
  uint64_t bytes = 0;
  struct stat st;
  int ctl = -1, dfd = open(devpath, O_RDONLY);
  if (dfd < 0 || fstat(dfd, &st) != 0 || ioctl(dfd, BLKGETSIZE64, &bytes) != 0) goto fail;
  close(dfd);
  dfd = -1;
  what = "/dev/mapper/control";
  ctl = open("/dev/mapper/control", O_RDWR);
  if (ctl < 0) goto fail;
  dm_header(io, sizeof buf);
  what = "DM_DEV_CREATE";
  if (ioctl(ctl, DM_DEV_CREATE, io) != 0) goto fail;
  uint64_t dev = io->dev;
  /* the table: one crypt target over the whole device */
  dm_header(io, sizeof buf);
  io->target_count = 1;
  io->flags = DM_SECURE_DATA_FLAG;
  struct dm_target_spec *t = (struct dm_target_spec *)(void *)(buf + sizeof *io);
  t->sector_start = 0;
  t->length = bytes / 512;
  strcpy(t->target_type, "crypt");
  char *params = buf + sizeof *io + sizeof *t;
  int n = snprintf(params, sizeof buf - sizeof *io - sizeof *t, "aes-xts-plain64 %s 0 %u:%u 0 1 sector_size:4096", key,
                   major(st.st_rdev), minor(st.st_rdev));
  if (n < 0 || (size_t)n >= sizeof buf - sizeof *io - sizeof *t) {
    errno = EINVAL;
    goto fail;
  }
  io->data_size = (uint32_t)(sizeof *io + sizeof *t + (((size_t)n + 8) & ~(size_t)7));
  what = "DM_TABLE_LOAD";
  if (ioctl(ctl, DM_TABLE_LOAD, io) != 0) goto fail;
  /* resume (no DM_SUSPEND_FLAG): the loaded table goes live */
  dm_header(io, sizeof buf);
  what = "DM_DEV_SUSPEND";
  if (ioctl(ctl, DM_DEV_SUSPEND, io) != 0) goto fail;
  close(ctl);
  /* huge_encode_dev: minor low byte, major, the minor's high bits */
  unsigned ma = (unsigned)((dev >> 8) & 0xfffu), mi = (unsigned)((dev & 0xffu) | ((dev >> 12) & 0xfff00u));
  emit("{\"ev\":\"dmCrypt\",\"dev\":\"%u:%u\",\"sectors\":%llu}", ma, mi, (unsigned long long)(bytes / 512));
  return mi == 0 ? 0 : 1;
fail:
  emit("{\"ev\":\"error\",\"what\":\"dmcrypt %s\",\"errno\":\"%s\"}", what, errname(errno));
  if (dfd >= 0) close(dfd);
  if (ctl >= 0) close(ctl);
  return 1;
}

int main(int argc, char **argv) {
  if (argc > 1 && !strcmp(argv[1], "--swapfile")) return swapfile_main(argc, argv);
  if (argc > 1 && !strcmp(argv[1], "--dmcrypt")) return dmcrypt_main(argc, argv);
  /* hibfuzz.* words from argv (sent by the host after a snapshot restore) come first and win over /proc/cmdline */
  static char cmdline[16384];
  size_t len = 0;
  for (int i = 1; i < argc && len + strlen(argv[i]) + 2 < sizeof cmdline / 2; i++) {
    len += (size_t)snprintf(cmdline + len, sizeof cmdline - len, "%s ", argv[i]);
  }
  int fd = open("/proc/cmdline", O_RDONLY);
  ssize_t n = fd >= 0 ? read(fd, cmdline + len, sizeof cmdline - len - 1) : -1;
  if (fd >= 0) close(fd);
  cmdline[len + (n > 0 ? (size_t)n : 0)] = 0;
  g_id = (uint32_t)param_u64(cmdline, "hibfuzz.id=", 0);
  g_seed = (uint32_t)param_u64(cmdline, "hibfuzz.seed=", 1);
  g_anon = param_u64(cmdline, "hibfuzz.anon=", 0);
  g_zero = param_u64(cmdline, "hibfuzz.zero=", 0);
  g_pc = param_u64(cmdline, "hibfuzz.pc=", 0);
  param_str(cmdline, "hibfuzz.prog=", g_prog, sizeof g_prog);
  static char swapdev[256];
  param_str(cmdline, "hibfuzz.swapdev=", swapdev, sizeof swapdev);
  if (!swapdev[0]) strcpy(swapdev, "/dev/vda");
  /* hibfuzz.resumeoffset=PAGE: the swap header's page on swapdev (a swap file's resume_offset; 0 for a partition) */
  uint64_t resume_page = param_u64(cmdline, "hibfuzz.resumeoffset=", 0);
  /* hibfuzz.imagefile=PATH: uswsusp writes the image into this file (the FUSE target) instead of swap slots */
  static char imagefile[256];
  param_str(cmdline, "hibfuzz.imagefile=", imagefile, sizeof imagefile);

  emit("{\"ev\":\"agentStart\",\"id\":%u,\"prog\":\"%s\"}", g_id, g_prog);
  /* hibfuzz.imagesize=BYTES: /sys/power/image_size, the preallocation target (scenario protocol.imageSizePages) */
  uint64_t image_size = param_u64(cmdline, "hibfuzz.imagesize=", UINT64_MAX);
  if (image_size != UINT64_MAX) {
    char v[32];
    snprintf(v, sizeof v, "%llu\n", (unsigned long long)image_size);
    int e = write_file("/sys/power/image_size", v);
    if (e) emit("{\"ev\":\"error\",\"what\":\"image_size\",\"errno\":\"%s\"}", errname(-e));
  }
  if (fill() != 0) {
    emit("{\"ev\":\"error\",\"what\":\"fill\",\"errno\":\"%s\"}", errname(errno));
  } else {
    char *save = NULL;
    for (char *op = strtok_r(g_prog, ",", &save); op; op = strtok_r(NULL, ",", &save)) {
      if (op[0] == 'w') rewrite(strtoull(op + 1, NULL, 10));
      else if (op[0] == 'v') verify();
      else if (!strcmp(op, "h")) hibernate_sysfs("shutdown", NULL);
      else if (!strcmp(op, "ht")) hibernate_sysfs("test_resume", NULL);
      else if (op[0] == 'h' && op[1] == 'p') hibernate_sysfs("shutdown", op + 2);
      else if (!strcmp(op, "hu") && imagefile[0]) hibernate_uswsusp_file(imagefile);
      else if (!strcmp(op, "hu")) hibernate_uswsusp(swapdev, resume_page);
      else emit("{\"ev\":\"error\",\"what\":\"unknown op %s\"}", op);
    }
  }
  emit("{\"ev\":\"done\"}");
  sync();
  reboot(RB_POWER_OFF);
  return 0;
}

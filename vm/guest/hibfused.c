// hibfused: the project's own FUSE server. One regular file, backed by a byte range of a block device (or any file),
// served over the raw /dev/fuse protocol (no libfuse). Static with musl-gcc like the agent (vm/initramfs.ts
// buildHibfused); used by the swsusp guest (FUSE storage target, the freezer's failure) and by the kexec save kernel,
// which runs its own instance over the same backing store.
//
//   hibfused [-f] BACKING OFFSET SIZE MOUNTPOINT [NAME]
//     BACKING     the backing store (e.g. /dev/vda); OFFSET and SIZE in bytes (decimal or 0x hex)
//     MOUNTPOINT  an existing directory; the file is MOUNTPOINT/NAME (default "image"), SIZE bytes, mode 0600
//     -f          stay in the foreground (default: mount, then fork; the parent exits 0 once the mount exists, the
//                 server's stdio is /dev/null and its errors go to /dev/kmsg)
// Exit 0 (parent: mounted; server: unmounted), 1 with one line on stderr `hibfused: what: strerror` otherwise.
//
// Semantics: the file's size is fixed (SIZE); every open is FOPEN_DIRECT_IO, so each read and write reaches this
// server (no page cache between the writer and the backing store); reads and writes past SIZE are short / ENOSPC;
// fsync and flush fdatasync the backing store. There is no other file, no readdir, no create or unlink (EPERM).
// FUSE_BMAP is not answered (ENOSYS): a plain `fuse` mount has no block device, and the kernel's swapon on this file
// finds no extents (it is how a FUSE file behaves, measured in vm/README.md).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

/* linux/fuse.h, protocol 7.31 (musl has no kernel headers; the layouts are ABI and never change) */
enum {
  OP_LOOKUP = 1, OP_FORGET = 2, OP_GETATTR = 3, OP_SETATTR = 4, OP_OPEN = 14, OP_READ = 15, OP_WRITE = 16,
  OP_STATFS = 17, OP_RELEASE = 18, OP_FSYNC = 20, OP_FLUSH = 25, OP_INIT = 26, OP_OPENDIR = 27, OP_RELEASEDIR = 29,
  OP_ACCESS = 34, OP_INTERRUPT = 36, OP_DESTROY = 38, OP_BATCH_FORGET = 42,
};
struct in_header {
  uint32_t len, opcode;
  uint64_t unique, nodeid;
  uint32_t uid, gid, pid;
  uint16_t total_extlen, padding;
};
struct out_header {
  uint32_t len;
  int32_t error;
  uint64_t unique;
};
struct attr {
  uint64_t ino, size, blocks, atime, mtime, ctime;
  uint32_t atimensec, mtimensec, ctimensec, mode, nlink, uid, gid, rdev, blksize, flags;
};
struct entry_out {
  uint64_t nodeid, generation, entry_valid, attr_valid;
  uint32_t entry_valid_nsec, attr_valid_nsec;
  struct attr attr;
};
struct attr_out {
  uint64_t attr_valid;
  uint32_t attr_valid_nsec, dummy;
  struct attr attr;
};
struct open_out {
  uint64_t fh;
  uint32_t open_flags, padding;
};
struct rw_in { /* fuse_read_in and fuse_write_in share this layout */
  uint64_t fh, offset;
  uint32_t size, rw_flags;
  uint64_t lock_owner;
  uint32_t flags, padding;
};
struct write_out {
  uint32_t size, padding;
};
struct init_in {
  uint32_t major, minor, max_readahead, flags;
};
struct init_out {
  uint32_t major, minor, max_readahead, flags;
  uint16_t max_background, congestion_threshold;
  uint32_t max_write, time_gran;
  uint16_t max_pages, map_alignment;
  uint32_t flags2, unused[7];
};
struct kstatfs {
  uint64_t blocks, bfree, bavail, files, ffree;
  uint32_t bsize, namelen, frsize, padding, spare[6];
};
#define FOPEN_DIRECT_IO 1u
#define ROOT_ID 1u
#define FILE_ID 2u
#define MAX_WRITE (128u * 1024u)
#define VALID_S 3600u

static int g_fuse = -1, g_back = -1;
static uint64_t g_off, g_size;
static const char *g_name = "image";

static void die(const char *what) {
  fprintf(stderr, "hibfused: %s: %s\n", what, strerror(errno));
  exit(1);
}

static void reply(uint64_t unique, int err, const void *arg, size_t n) {
  struct out_header h = {.len = (uint32_t)(sizeof h + (err ? 0 : n)), .error = -err, .unique = unique};
  struct iovec v[2] = {{&h, sizeof h}, {(void *)arg, err ? 0 : n}};
  /* ENOENT: the request was interrupted and is gone; anything else is logged, the server goes on */
  if (writev(g_fuse, v, 2) < 0 && errno != ENOENT) fprintf(stderr, "hibfused: reply: %s\n", strerror(errno));
}

static struct attr attr_of(uint64_t id) {
  struct attr a = {.ino = id, .blksize = 4096};
  if (id == ROOT_ID) {
    a.mode = S_IFDIR | 0755;
    a.nlink = 2;
  } else {
    a.mode = S_IFREG | 0600;
    a.nlink = 1;
    a.size = g_size;
    a.blocks = (g_size + 511) / 512;
  }
  return a;
}

static void attr_reply(uint64_t unique, uint64_t id) {
  struct attr_out o = {.attr_valid = VALID_S, .attr = attr_of(id)};
  reply(unique, 0, &o, sizeof o);
}

/* one request; returns 0, or 1 after DESTROY */
static int handle(const struct in_header *h, const char *arg, size_t n) {
  switch (h->opcode) {
  case OP_INIT: {
    const struct init_in *in = (const void *)arg;
    if (n < sizeof *in || in->major != 7) {
      reply(h->unique, EPROTO, NULL, 0);
      return 0;
    }
    struct init_out o = {.major = 7, .minor = 31, .max_readahead = in->max_readahead, .max_background = 16,
                         .congestion_threshold = 12, .max_write = MAX_WRITE, .time_gran = 1};
    reply(h->unique, 0, &o, sizeof o);
    return 0;
  }
  case OP_LOOKUP: {
    if (h->nodeid != ROOT_ID || n == 0 || arg[n - 1] != 0 || strcmp(arg, g_name) != 0) {
      reply(h->unique, ENOENT, NULL, 0);
      return 0;
    }
    struct entry_out o = {.nodeid = FILE_ID, .generation = 1, .entry_valid = VALID_S, .attr_valid = VALID_S,
                          .attr = attr_of(FILE_ID)};
    reply(h->unique, 0, &o, sizeof o);
    return 0;
  }
  case OP_GETATTR:
  case OP_SETATTR: /* truncate, chmod, times: the file is fixed; report it as it is */
    if (h->nodeid != ROOT_ID && h->nodeid != FILE_ID) reply(h->unique, ENOENT, NULL, 0);
    else attr_reply(h->unique, h->nodeid);
    return 0;
  case OP_OPEN:
  case OP_OPENDIR: {
    struct open_out o = {.fh = h->nodeid, .open_flags = h->opcode == OP_OPEN ? FOPEN_DIRECT_IO : 0};
    if (h->nodeid != (h->opcode == OP_OPEN ? FILE_ID : ROOT_ID)) reply(h->unique, EISDIR, NULL, 0);
    else reply(h->unique, 0, &o, sizeof o);
    return 0;
  }
  case OP_READ: {
    static char buf[MAX_WRITE];
    const struct rw_in *in = (const void *)arg;
    if (n < sizeof *in || h->nodeid != FILE_ID) {
      reply(h->unique, EINVAL, NULL, 0);
      return 0;
    }
    uint64_t want = in->size > sizeof buf ? sizeof buf : in->size;
    if (in->offset >= g_size) want = 0;
    else if (want > g_size - in->offset) want = g_size - in->offset;
    ssize_t r = want == 0 ? 0 : pread(g_back, buf, want, (off_t)(g_off + in->offset));
    if (r < 0) reply(h->unique, errno, NULL, 0);
    else reply(h->unique, 0, buf, (size_t)r);
    return 0;
  }
  case OP_WRITE: {
    const struct rw_in *in = (const void *)arg;
    if (n < sizeof *in || n - sizeof *in < in->size || h->nodeid != FILE_ID) {
      reply(h->unique, EINVAL, NULL, 0);
      return 0;
    }
    if (in->offset >= g_size || in->size > g_size - in->offset) {
      reply(h->unique, ENOSPC, NULL, 0);
      return 0;
    }
    ssize_t r = pwrite(g_back, arg + sizeof *in, in->size, (off_t)(g_off + in->offset));
    struct write_out o = {.size = r < 0 ? 0 : (uint32_t)r};
    if (r < 0) reply(h->unique, errno, NULL, 0);
    else reply(h->unique, 0, &o, sizeof o);
    return 0;
  }
  case OP_FSYNC:
  case OP_FLUSH:
    reply(h->unique, fdatasync(g_back) == 0 ? 0 : errno, NULL, 0);
    return 0;
  case OP_RELEASE:
  case OP_RELEASEDIR:
  case OP_ACCESS:
    reply(h->unique, 0, NULL, 0);
    return 0;
  case OP_STATFS: {
    struct kstatfs o = {.blocks = g_size / 4096, .files = 1, .bsize = 4096, .namelen = 255, .frsize = 4096};
    reply(h->unique, 0, &o, sizeof o);
    return 0;
  }
  case OP_FORGET:
  case OP_BATCH_FORGET:
  case OP_INTERRUPT: /* no reply: every request is answered when it is done */
    return 0;
  case OP_DESTROY:
    reply(h->unique, 0, NULL, 0);
    return 1;
  default:
    reply(h->unique, ENOSYS, NULL, 0);
    return 0;
  }
}

static void serve(void) {
  static char buf[MAX_WRITE + 4096];
  for (;;) {
    ssize_t r = read(g_fuse, buf, sizeof buf);
    if (r < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == ENOENT) continue;
      if (errno == ENODEV) return; /* unmounted */
      die("read /dev/fuse");
    }
    const struct in_header *h = (const void *)buf;
    if ((size_t)r < sizeof *h || h->len != (uint32_t)r) {
      errno = EPROTO;
      die("short request");
    }
    if (handle(h, buf + sizeof *h, (size_t)r - sizeof *h)) return;
  }
}

static uint64_t number(const char *s, const char *what) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 0);
  if (errno != 0 || *end != 0 || *s == 0 || *s == '-') {
    errno = EINVAL;
    die(what);
  }
  return v;
}

int main(int argc, char **argv) {
  int fg = argc > 1 && !strcmp(argv[1], "-f");
  char **a = argv + 1 + fg;
  int n = argc - 1 - fg;
  if (n < 4 || n > 5 || (n == 5 && (a[4][0] == 0 || strchr(a[4], '/') != NULL))) {
    fprintf(stderr, "usage: hibfused [-f] BACKING OFFSET SIZE MOUNTPOINT [NAME]\n");
    return 1;
  }
  g_off = number(a[1], "OFFSET");
  g_size = number(a[2], "SIZE");
  if (n == 5) g_name = a[4];
  g_back = open(a[0], O_RDWR | O_CLOEXEC);
  if (g_back < 0) die(a[0]);
  off_t end = lseek(g_back, 0, SEEK_END);
  if (end < 0) die("size of BACKING");
  if (g_off > (uint64_t)end || g_size > (uint64_t)end - g_off) {
    errno = ENOSPC;
    die("OFFSET+SIZE beyond BACKING");
  }
  g_fuse = open("/dev/fuse", O_RDWR | O_CLOEXEC);
  if (g_fuse < 0) die("/dev/fuse");
  char opts[128];
  snprintf(opts, sizeof opts, "fd=%d,rootmode=40000,user_id=0,group_id=0,allow_other,max_read=%u", g_fuse, MAX_WRITE);
  if (mount("hibfused", a[3], "fuse.hibfused", MS_NOSUID | MS_NODEV, opts) != 0) die("mount");
  if (!fg) {
    pid_t p = fork();
    if (p < 0) die("fork");
    if (p > 0) return 0;
    setsid();
    /* the caller's pipes close when the parent exits; later errors go to the kernel log (the guest's console) */
    int null = open("/dev/null", O_RDWR), log = open("/dev/kmsg", O_WRONLY);
    if (null >= 0) {
      dup2(null, 0);
      dup2(null, 1);
      dup2(log >= 0 ? log : null, 2);
    }
  }
  serve();
  return 0;
}

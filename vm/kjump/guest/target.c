/* hibkj target: the storage a kjump image goes to, as one block device node (/dev/hibkj-target) that the rest of
 * hibkj reads and writes at page offsets exactly as it does the raw disk (issue 11).
 *
 *   hibkj target file DISK MNT FILE PAGES  a swap file on DISK's ext4 filesystem, mounted read-only at MNT:
 *                                       its extents (FS_IOC_FIEMAP) become a device-mapper linear table over DISK, so
 *                                       the save kernel B and the restore kernel C write and read the file's own
 *                                       blocks without writing the filesystem (A has it mounted read-write: B must
 *                                       not touch its metadata). This is how swsusp writes a swap file too (bmap, then
 *                                       raw I/O to the blocks). MNT is unmounted before the table is loaded (the
 *                                       mount holds DISK exclusively).
 *   hibkj target crypt DISK HEXKEY      a plain dm-crypt volume over all of DISK, the swsusp runner's format
 *                                       (vm/image/dmcrypt.ts): aes-xts-plain64, 4 KiB sectors, the 512-bit key (128
 *                                       hex digits); no LUKS header: a wrong key opens and reads noise, which is what
 *                                       the model predicts, noImage. Keep in step with target.ts cryptTableFormat.
 *
 * Device-mapper is driven through its ioctls (linux/dm-ioctl.h: DM_DEV_CREATE, DM_TABLE_LOAD, DM_DEV_SUSPEND to
 * activate), as dmsetup does, so the initramfs needs no dmsetup/cryptsetup with their shared libraries.
 * Events: {"ev":"target","kind":...,"pages":N[,"extents":"l:p:n,..."]} or {"ev":"target-failed","why":...} (exit 3).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <linux/dm-ioctl.h>
#include <linux/fiemap.h>
#include <linux/fs.h>

#define TPG ((uint64_t)4096)
#define SECT_PER_PG (TPG / 512)
#define MAX_EXTENTS 512
#define TARGET_NODE "/dev/hibkj-target"
#define DM_NAME "hibkj"

void flush_target_events(void);

__attribute__((format(printf, 1, 2))) static int fail(const char *fmt, ...) {
	int err = errno;
	va_list ap;
	va_start(ap, fmt);
	printf("HIBFUZZ {\"ev\":\"target-failed\",\"why\":\"");
	vprintf(fmt, ap);
	va_end(ap);
	printf("\",\"errno\":%d}\n", err);
	flush_target_events();
	return 3;
}

struct ext { uint64_t logical, physical, pages; };

static void dm_init(struct dm_ioctl *io, size_t size) {
	memset(io, 0, size);
	io->version[0] = DM_VERSION_MAJOR;
	io->data_size = (uint32_t)size;
	io->data_start = sizeof *io;
	snprintf(io->name, sizeof io->name, "%s", DM_NAME);
}

/* Create the mapping from n targets (type, start, length in sectors, params) and make TARGET_NODE its node. */
static int dm_map(int n, const char *const *types, const uint64_t *start, const uint64_t *len, char *const *params) {
	int ctl = open("/dev/mapper/control", O_RDWR);
	if (ctl < 0) return fail("open /dev/mapper/control: %s", strerror(errno));
	struct dm_ioctl io;
	dm_init(&io, sizeof io);
	if (ioctl(ctl, DM_DEV_CREATE, &io) < 0) return fail("DM_DEV_CREATE: %s", strerror(errno));
	uint64_t dev = io.dev;
	size_t size = sizeof(struct dm_ioctl);
	for (int i = 0; i < n; i++) size += sizeof(struct dm_target_spec) + (strlen(params[i]) + 8) / 8 * 8;
	struct dm_ioctl *t = calloc(1, size);
	dm_init(t, size);
	t->target_count = (uint32_t)n;
	char *p = (char *)t + sizeof *t;
	for (int i = 0; i < n; i++) {
		struct dm_target_spec *s = (struct dm_target_spec *)p;
		size_t plen = (strlen(params[i]) + 8) / 8 * 8;
		s->sector_start = start[i], s->length = len[i];
		snprintf(s->target_type, sizeof s->target_type, "%s", types[i]);
		strcpy(p + sizeof *s, params[i]);
		s->next = (uint32_t)(sizeof *s + plen);
		p += s->next;
	}
	if (ioctl(ctl, DM_TABLE_LOAD, t) < 0) return fail("DM_TABLE_LOAD: %s", strerror(errno));
	dm_init(&io, sizeof io);
	if (ioctl(ctl, DM_DEV_SUSPEND, &io) < 0) return fail("DM_DEV_SUSPEND (activate): %s", strerror(errno));
	close(ctl);
	unlink(TARGET_NODE);
	if (mknod(TARGET_NODE, S_IFBLK | 0600, (dev_t)dev) < 0) return fail("mknod " TARGET_NODE ": %s", strerror(errno));
	return 0;
}

/* The file's extents in pages, merged; 0 when they cover pages [0, need) without a hole, else a target-failed event. */
static int file_extents(const char *file, uint64_t need, struct ext *out, int *nout) {
	int fd = open(file, O_RDONLY);
	if (fd < 0) return fail("open %s: %s (is the filesystem mounted?)", file, strerror(errno));
	struct fiemap *fm = calloc(1, sizeof *fm + MAX_EXTENTS * sizeof(struct fiemap_extent));
	fm->fm_start = 0, fm->fm_length = ~0ULL, fm->fm_flags = FIEMAP_FLAG_SYNC, fm->fm_extent_count = MAX_EXTENTS;
	if (ioctl(fd, FS_IOC_FIEMAP, fm) < 0) return fail("FIEMAP %s: %s", file, strerror(errno));
	close(fd);
	int n = 0;
	for (uint32_t i = 0; i < fm->fm_mapped_extents; i++) {
		struct fiemap_extent *e = &fm->fm_extents[i];
		if (e->fe_flags & (FIEMAP_EXTENT_UNKNOWN | FIEMAP_EXTENT_DELALLOC | FIEMAP_EXTENT_ENCODED |
		                   FIEMAP_EXTENT_DATA_INLINE | FIEMAP_EXTENT_NOT_ALIGNED))
			return fail("%s: an extent has no fixed disk location (delalloc, inline or encoded)", file);
		if (e->fe_logical % TPG || e->fe_physical % TPG || e->fe_length % TPG)
			return fail("%s: an extent is not page-aligned", file);
		struct ext x = {e->fe_logical / TPG, e->fe_physical / TPG, e->fe_length / TPG};
		if (n > 0 && out[n - 1].logical + out[n - 1].pages == x.logical &&
		    out[n - 1].physical + out[n - 1].pages == x.physical)
			out[n - 1].pages += x.pages;
		else if (n == MAX_EXTENTS) return fail("%s: more than 512 extents", file);
		else out[n++] = x;
	}
	uint64_t covered = 0;
	for (int i = 0; i < n && covered < need; i++) {
		if (out[i].logical != covered) break;
		covered += out[i].pages;
	}
	if (covered < need) return fail("%s: its extents cover %" PRIu64 " of %" PRIu64 " pages", file, covered, need);
	*nout = n;
	return 0;
}

static int target_file(const char *disk, const char *mnt, const char *file, uint64_t pages) {
	static struct ext ex[MAX_EXTENTS];
	int n = 0;
	int bad = file_extents(file, pages, ex, &n);
	/* the mount holds DISK exclusively: the table over it loads only once it is gone */
	if (umount2(mnt, 0) < 0 && !bad) return fail("umount %s: %s", mnt, strerror(errno));
	if (bad) return 3;
	static const char *types[MAX_EXTENTS];
	static char *params[MAX_EXTENTS];
	static uint64_t start[MAX_EXTENTS], len[MAX_EXTENTS];
	static char list[MAX_EXTENTS * 40];
	size_t off = 0;
	uint64_t left = pages;
	int m = 0;
	for (; m < n && left > 0; m++) {
		uint64_t take = ex[m].pages < left ? ex[m].pages : left;
		types[m] = "linear";
		start[m] = ex[m].logical * SECT_PER_PG, len[m] = take * SECT_PER_PG;
		if (asprintf(&params[m], "%s %" PRIu64, disk, ex[m].physical * SECT_PER_PG) < 0) return fail("%s", "asprintf");
		off += (size_t)snprintf(list + off, sizeof list - off, "%s%" PRIu64 ":%" PRIu64 ":%" PRIu64, m ? "," : "",
		                        ex[m].logical, ex[m].physical, take);
		left -= take;
	}
	if (dm_map(m, types, start, len, params)) return 3;
	printf("HIBFUZZ {\"ev\":\"target\",\"kind\":\"file\",\"pages\":%" PRIu64 ",\"extents\":\"%s\"}\n", pages, list);
	flush_target_events();
	return 0;
}

static int target_crypt(const char *disk, const char *key) {
	if (strlen(key) != 128 || strspn(key, "0123456789abcdef") != 128)
		return fail("%s", "the dm-crypt key must be 128 lower-case hex digits (aes-xts-plain64, 512 bits)");
	int fd = open(disk, O_RDONLY);
	if (fd < 0) return fail("open %s: %s", disk, strerror(errno));
	uint64_t bytes = 0;
	if (ioctl(fd, BLKGETSIZE64, &bytes) < 0) return fail("BLKGETSIZE64 %s: %s", disk, strerror(errno));
	close(fd);
	char *params;
	if (asprintf(&params, "aes-xts-plain64 %s 0 %s 0 1 sector_size:4096", key, disk) < 0) return fail("%s", "asprintf");
	const char *types[1] = {"crypt"};
	uint64_t start[1] = {0}, len[1] = {bytes / 512};
	if (dm_map(1, types, start, len, &params)) return 3;
	printf("HIBFUZZ {\"ev\":\"target\",\"kind\":\"crypt\",\"pages\":%" PRIu64 "}\n", bytes / TPG);
	flush_target_events();
	return 0;
}

int cmd_target(int argc, char **argv) {
	if (argc == 6 && strcmp(argv[1], "file") == 0)
		return target_file(argv[2], argv[3], argv[4], strtoull(argv[5], NULL, 0));
	if (argc == 4 && strcmp(argv[1], "crypt") == 0) return target_crypt(argv[2], argv[3]);
	fprintf(stderr, "usage: hibkj target file DISK MNT FILE PAGES | crypt DISK HEXKEY\n");
	return 2;
}

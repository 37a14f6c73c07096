/*
 * plfs: an LD_PRELOAD library that lets a test take away, after a SIGKILL, what a process wrote
 * but never made durable, as a power cut would. It does not change what the process sees: every
 * call goes to the C library. For files and directories under PLFS_ROOT it appends to the side log
 * PLFS_LOG, before each change, what the change overwrites (the old bytes and the old length), and
 * after each sync the file or directory it made durable. The test reads the log after the kill and
 * undoes, newest first, every change no later sync covered (PowerLoss/Process/UndoLog.cs).
 *
 * Durable means: a file's writes and length changes once fsync, fdatasync, sync_file_range with
 * SYNC_FILE_RANGE_WAIT_AFTER, syncfs or sync on it has returned (only what was logged before the
 * sync began); a write through a descriptor opened with O_SYNC or O_DSYNC once it returns (its bytes
 * only); a directory's entries (create, link, rename, unlink, mkdir, rmdir) once an fsync of that
 * directory has returned. A removed or replaced file is first hard-linked into PLFS_TRASH, so that
 * undoing its removal can bring it back. Writes through a shared writable mapping are not seen
 * (the MVCC store's LMDB never maps its data file writable: no MDB_WRITEMAP).
 *
 * PLFS_SYNC_DELAY_US, when set, makes each sync of a file under PLFS_ROOT wait that long before it
 * starts, as a slow disk would: on a fast disk a kill seldom falls between a write and the sync
 * that covers it, and the cuts then have little to take away.
 *
 * .NET's P/Invokes find libc's functions with dlsym on libc's handle, which an LD_PRELOAD library
 * does not interpose, so dlsym is interposed too and hands out this library's versions.
 *
 * Record: u32 magic 'PLFS', u32 type, u32 payload length, u64 sequence, payload, u32 magic. A record
 * is one write(2) to an O_APPEND descriptor; a SIGKILL can cut only the last one short, and the
 * change it announces had not started.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

enum {
    R_WRITE = 1,   /* dev ino off len oldsize, old bytes of [off, min(off+len, oldsize)) */
    R_TRUNC = 2,   /* dev ino newsize oldsize, old bytes of [newsize, oldsize) when shrinking */
    R_SYNC = 3,    /* dev ino upto: changes of the file logged before sequence upto are durable */
    R_DURABLE = 4, /* dev ino off len: these bytes reached the disk (O_DSYNC write) */
    R_CREATE = 5,  /* pdev pino, path: a new file (or hard link) in a directory */
    R_MKDIR = 6,   /* pdev pino, path */
    R_UNLINK = 7,  /* pdev pino, path \0 trash path */
    R_RMDIR = 8,   /* pdev pino mode, path */
    R_RENAME = 9,  /* dpdev dpino, src \0 dst \0 trash path of the replaced dst (or empty) */
    R_DIRSYNC = 10,/* dev ino upto: entries of the directory logged before upto are durable */
    R_SYNCALL = 11,/* upto: everything logged before upto is durable (sync, syncfs) */
};

#define MAGIC 0x53464c50u
#define MAXFD 65536

struct fdinfo {
    int tracked;
    int dsync;
    int append;
    int isdir;
    int rfd; /* a plain read descriptor on the same file, for the old bytes (the fd may be O_DIRECT or write-only) */
    dev_t dev;
    ino_t ino;
};

static struct fdinfo fds[MAXFD];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static char root[PATH_MAX];
static size_t rootlen;
static char trash[PATH_MAX - 32]; /* room for "/<number>" */
static int logfd = -1;
static useconds_t sync_delay_us;
static uint64_t seq;
static unsigned long trashn;

static void *(*real_dlsym)(void *, const char *);
static int (*r_open)(const char *, int, ...);
static int (*r_openat)(int, const char *, int, ...);
static int (*r_close)(int);
static ssize_t (*r_write)(int, const void *, size_t);
static ssize_t (*r_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*r_writev)(int, const struct iovec *, int);
static ssize_t (*r_pwritev)(int, const struct iovec *, int, off_t);
static ssize_t (*r_pwritev2)(int, const struct iovec *, int, off_t, int);
static ssize_t (*r_pread)(int, void *, size_t, off_t);
static int (*r_ftruncate)(int, off_t);
static int (*r_truncate)(const char *, off_t);
static int (*r_fallocate)(int, int, off_t, off_t);
static int (*r_posix_fallocate)(int, off_t, off_t);
static int (*r_fsync)(int);
static int (*r_fdatasync)(int);
static int (*r_sync_file_range)(int, off_t, off_t, unsigned int);
static int (*r_syncfs)(int);
static void (*r_sync)(void);
static int (*r_rename)(const char *, const char *);
static int (*r_renameat)(int, const char *, int, const char *);
static int (*r_renameat2)(int, const char *, int, const char *, unsigned int);
static int (*r_unlink)(const char *);
static int (*r_unlinkat)(int, const char *, int);
static int (*r_mkdir)(const char *, mode_t);
static int (*r_mkdirat)(int, const char *, mode_t);
static int (*r_rmdir)(const char *);
static int (*r_link)(const char *, const char *);
static int (*r_linkat)(int, const char *, int, const char *, int);

#define REAL(name) r_##name = (__typeof__(r_##name))real_dlsym(RTLD_NEXT, #name)

static void init(void)
{
    real_dlsym = (void *(*)(void *, const char *))dlvsym(RTLD_NEXT, "dlsym", "GLIBC_2.34");
    if (!real_dlsym) real_dlsym = (void *(*)(void *, const char *))dlvsym(RTLD_NEXT, "dlsym", "GLIBC_2.2.5");
    REAL(open); REAL(openat); REAL(close); REAL(write); REAL(pwrite); REAL(writev); REAL(pwritev);
    REAL(pwritev2); REAL(pread); REAL(ftruncate); REAL(truncate); REAL(fallocate); REAL(posix_fallocate);
    REAL(fsync); REAL(fdatasync); REAL(sync_file_range); REAL(syncfs); REAL(sync); REAL(rename);
    REAL(renameat); REAL(renameat2); REAL(unlink); REAL(unlinkat); REAL(mkdir); REAL(mkdirat);
    REAL(rmdir); REAL(link); REAL(linkat);
    const char *r = getenv("PLFS_ROOT"), *l = getenv("PLFS_LOG"), *t = getenv("PLFS_TRASH");
    if (!r || !l || !t || !*r || !*l || !*t) return;
    const char *d = getenv("PLFS_SYNC_DELAY_US");
    if (d && *d) sync_delay_us = (useconds_t)strtoul(d, NULL, 10);
    snprintf(root, sizeof root, "%s", r);
    rootlen = strlen(root);
    while (rootlen > 1 && root[rootlen - 1] == '/') root[--rootlen] = 0;
    snprintf(trash, sizeof trash, "%s", t);
    logfd = r_open(l, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (logfd < 0) {
        fprintf(stderr, "plfs: cannot open the log %s: %s\n", l, strerror(errno));
        abort();
    }
}

static inline void ensure(void) { pthread_once(&once, init); }

static inline struct fdinfo *tracked(int fd)
{
    ensure();
    return fd >= 0 && fd < MAXFD && fds[fd].tracked ? &fds[fd] : NULL;
}

/* Writes one record; the caller holds mu. A failure to log must not let an unlogged change through. */
static void emit(uint32_t type, const void *a, size_t alen, const void *b, size_t blen)
{
    uint32_t head[3] = {MAGIC, type, (uint32_t)(alen + blen)};
    uint32_t tail = MAGIC;
    uint64_t s = seq++;
    struct iovec iov[5] = {{head, sizeof head}, {&s, sizeof s}, {(void *)a, alen}, {(void *)b, blen}, {&tail, sizeof tail}};
    size_t want = sizeof head + sizeof s + alen + blen + sizeof tail;
    ssize_t n = r_writev(logfd, iov, 5);
    if (n != (ssize_t)want) {
        fprintf(stderr, "plfs: log write failed (%zd of %zu): %s\n", n, want, strerror(errno));
        abort();
    }
}

/* The absolute form of path (relative to dirfd), without resolving links; 0 when it cannot be formed. */
static int absolute(int dirfd, const char *path, char *out)
{
    if (!path) return 0;
    if (path[0] == '/') return snprintf(out, PATH_MAX, "%s", path) < PATH_MAX;
    char base[PATH_MAX];
    if (dirfd == AT_FDCWD) {
        if (!getcwd(base, sizeof base)) return 0;
    } else {
        char proc[64];
        snprintf(proc, sizeof proc, "/proc/self/fd/%d", dirfd);
        ssize_t n = readlink(proc, base, sizeof base - 1);
        if (n <= 0) return 0;
        base[n] = 0;
    }
    return snprintf(out, PATH_MAX, "%s/%s", base, path) < PATH_MAX;
}

static int under_root(const char *abs)
{
    return logfd >= 0 && strncmp(abs, root, rootlen) == 0 && (abs[rootlen] == 0 || abs[rootlen] == '/');
}

/* The directory holding abs, if it is the root or under it: its device and inode. */
static int parent_of(const char *abs, uint64_t *pdi)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", abs);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir) return 0;
    *slash = 0;
    if (!under_root(dir)) return 0;
    struct stat st;
    if (stat(dir, &st) != 0) return 0;
    pdi[0] = st.st_dev;
    pdi[1] = st.st_ino;
    return 1;
}

static void remember(int fd, const char *abs, int flags)
{
    if (fd < 0 || fd >= MAXFD) return;
    struct stat st;
    if (fstat(fd, &st) != 0) return;
    struct fdinfo *f = &fds[fd];
    memset(f, 0, sizeof *f);
    f->rfd = -1;
    f->dev = st.st_dev;
    f->ino = st.st_ino;
    f->isdir = S_ISDIR(st.st_mode);
    f->dsync = (flags & O_DSYNC) != 0;
    f->append = (flags & O_APPEND) != 0;
    if (!f->isdir && (flags & O_ACCMODE) != O_RDONLY) {
        f->rfd = r_open(abs, O_RDONLY | O_CLOEXEC);
        if (f->rfd < 0) {
            fprintf(stderr, "plfs: cannot reopen %s for reading: %s\n", abs, strerror(errno));
            abort();
        }
    }
    f->tracked = 1;
}

static void forget(int fd)
{
    if (fd < 0 || fd >= MAXFD || !fds[fd].tracked) return;
    if (fds[fd].rfd >= 0) r_close(fds[fd].rfd);
    memset(&fds[fd], 0, sizeof fds[fd]);
}

/* The n bytes at off, about to be overwritten or cut off (NULL when n is 0); free it. */
static char *read_old(int rfd, uint64_t off, uint64_t n)
{
    if (n == 0) return NULL;
    char *old = malloc(n);
    if (!old) abort();
    for (uint64_t done = 0; done < n;) {
        ssize_t got = r_pread(rfd, old + done, n - done, off + done);
        if (got <= 0) {
            fprintf(stderr, "plfs: cannot read old bytes: %s\n", strerror(errno));
            abort();
        }
        done += got;
    }
    return old;
}

/* Logs the old bytes and length of [off, off+len) of a tracked file before a write; mu held. */
static void log_write(struct fdinfo *f, int fd, uint64_t off, uint64_t len)
{
    struct stat st;
    if (fstat(fd, &st) != 0) abort();
    uint64_t size = st.st_size;
    uint64_t have = off >= size ? 0 : (off + len > size ? size - off : len);
    uint64_t hdr[5] = {f->dev, f->ino, off, len, size};
    char *old = read_old(f->rfd, off, have);
    emit(R_WRITE, hdr, sizeof hdr, old, have);
    free(old);
}

static void log_durable(struct fdinfo *f, uint64_t off, uint64_t len)
{
    uint64_t hdr[4] = {f->dev, f->ino, off, len};
    emit(R_DURABLE, hdr, sizeof hdr, NULL, 0);
}

static void log_trunc(struct fdinfo *f, int rfd, uint64_t newsize, uint64_t oldsize)
{
    uint64_t hdr[4] = {f->dev, f->ino, newsize, oldsize};
    uint64_t have = newsize < oldsize ? oldsize - newsize : 0;
    char *old = read_old(rfd, newsize, have);
    emit(R_TRUNC, hdr, sizeof hdr, old, have);
    free(old);
}

static uint64_t iov_len(const struct iovec *iov, int n)
{
    uint64_t s = 0;
    for (int i = 0; i < n; i++) s += iov[i].iov_len;
    return s;
}

/* The offset a write at the current position lands at. */
static uint64_t current(struct fdinfo *f, int fd)
{
    if (f->append) {
        struct stat st;
        return fstat(fd, &st) == 0 ? (uint64_t)st.st_size : 0;
    }
    off_t o = lseek(fd, 0, SEEK_CUR);
    return o < 0 ? 0 : (uint64_t)o;
}

/* ---- opening and closing ---- */

static int do_open(int dirfd, const char *path, int flags, mode_t mode, int at)
{
    ensure();
    char abs[PATH_MAX];
    int inside = absolute(dirfd, path, abs) && under_root(abs);
    if (!inside) return at ? r_openat(dirfd, path, flags, mode) : r_open(path, flags, mode);
    pthread_mutex_lock(&mu);
    struct stat before;
    int existed = stat(abs, &before) == 0;
    if (existed && (flags & O_TRUNC) && S_ISREG(before.st_mode) && before.st_size > 0 && (flags & O_ACCMODE) != O_RDONLY) {
        int rfd = r_open(abs, O_RDONLY | O_CLOEXEC);
        if (rfd >= 0) {
            struct fdinfo tmp = {.dev = before.st_dev, .ino = before.st_ino};
            log_trunc(&tmp, rfd, 0, before.st_size);
            r_close(rfd);
        }
    }
    int fd = at ? r_openat(dirfd, path, flags, mode) : r_open(path, flags, mode);
    int saved = errno;
    if (fd >= 0) {
        if (!existed) {
            uint64_t pd[2];
            if (parent_of(abs, pd)) emit(R_CREATE, pd, sizeof pd, abs, strlen(abs) + 1);
        }
        remember(fd, abs, flags);
    }
    pthread_mutex_unlock(&mu);
    errno = saved;
    return fd;
}

#define MODE_ARG                                          \
    mode_t mode = 0;                                      \
    if (flags & (O_CREAT | O_TMPFILE)) {                  \
        va_list ap;                                       \
        va_start(ap, flags);                              \
        mode = va_arg(ap, mode_t);                        \
        va_end(ap);                                       \
    }

int open(const char *path, int flags, ...) { MODE_ARG return do_open(AT_FDCWD, path, flags, mode, 0); }
int open64(const char *path, int flags, ...) { MODE_ARG return do_open(AT_FDCWD, path, flags, mode, 0); }
int openat(int dirfd, const char *path, int flags, ...) { MODE_ARG return do_open(dirfd, path, flags, mode, 1); }
int openat64(int dirfd, const char *path, int flags, ...) { MODE_ARG return do_open(dirfd, path, flags, mode, 1); }
int creat(const char *path, mode_t mode) { return do_open(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode, 0); }
int creat64(const char *path, mode_t mode) { return do_open(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode, 0); }

int close(int fd)
{
    if (tracked(fd)) {
        pthread_mutex_lock(&mu);
        forget(fd);
        int rc = r_close(fd);
        int saved = errno;
        pthread_mutex_unlock(&mu);
        errno = saved;
        return rc;
    }
    return r_close(fd);
}

/* ---- writes ---- */

#define WRITE_AT(offexpr, lenexpr, call)                 \
    struct fdinfo *f = tracked(fd);                      \
    if (!f || f->isdir) return call;                     \
    pthread_mutex_lock(&mu);                             \
    uint64_t off_ = (offexpr), len_ = (lenexpr);         \
    log_write(f, fd, off_, len_);                        \
    ssize_t n = call;                                    \
    int saved = errno;                                   \
    if (n > 0 && f->dsync) log_durable(f, off_, n);      \
    pthread_mutex_unlock(&mu);                           \
    errno = saved;                                       \
    return n;

ssize_t write(int fd, const void *buf, size_t count) { WRITE_AT(current(f, fd), count, r_write(fd, buf, count)) }
ssize_t pwrite(int fd, const void *buf, size_t count, off_t off) { WRITE_AT(off, count, r_pwrite(fd, buf, count, off)) }
ssize_t pwrite64(int fd, const void *buf, size_t count, off_t off) { WRITE_AT(off, count, r_pwrite(fd, buf, count, off)) }
ssize_t writev(int fd, const struct iovec *iov, int cnt) { WRITE_AT(current(f, fd), iov_len(iov, cnt), r_writev(fd, iov, cnt)) }
ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off) { WRITE_AT(off, iov_len(iov, cnt), r_pwritev(fd, iov, cnt, off)) }
ssize_t pwritev64(int fd, const struct iovec *iov, int cnt, off_t off) { WRITE_AT(off, iov_len(iov, cnt), r_pwritev(fd, iov, cnt, off)) }
ssize_t pwritev2(int fd, const struct iovec *iov, int cnt, off_t off, int fl) { WRITE_AT(off == -1 ? current(f, fd) : (uint64_t)off, iov_len(iov, cnt), r_pwritev2(fd, iov, cnt, off, fl)) }
ssize_t pwritev64v2(int fd, const struct iovec *iov, int cnt, off_t off, int fl) { WRITE_AT(off == -1 ? current(f, fd) : (uint64_t)off, iov_len(iov, cnt), r_pwritev2(fd, iov, cnt, off, fl)) }

static int do_ftruncate(int fd, off_t length)
{
    struct fdinfo *f = tracked(fd);
    if (!f || f->isdir) return r_ftruncate(fd, length);
    pthread_mutex_lock(&mu);
    struct stat st;
    fstat(fd, &st);
    if ((uint64_t)st.st_size != (uint64_t)length) log_trunc(f, f->rfd, length, st.st_size);
    int rc = r_ftruncate(fd, length);
    int saved = errno;
    pthread_mutex_unlock(&mu);
    errno = saved;
    return rc;
}

int ftruncate(int fd, off_t length) { return do_ftruncate(fd, length); }
int ftruncate64(int fd, off_t length) { return do_ftruncate(fd, length); }

static int do_truncate(const char *path, off_t length)
{
    ensure();
    char abs[PATH_MAX];
    if (!(absolute(AT_FDCWD, path, abs) && under_root(abs))) return r_truncate(path, length);
    int fd = do_open(AT_FDCWD, abs, O_WRONLY | O_CLOEXEC, 0, 0);
    if (fd < 0) return -1;
    int rc = do_ftruncate(fd, length);
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

int truncate(const char *path, off_t length) { return do_truncate(path, length); }
int truncate64(const char *path, off_t length) { return do_truncate(path, length); }

/* fallocate: mode 0 may extend the file (logged as a length change); other modes may change bytes
   (punching a hole), so the range's old bytes are logged as for a write. */
static int do_fallocate(int fd, int mode, off_t off, off_t len, int posix)
{
    struct fdinfo *f = tracked(fd);
    if (!f || f->isdir) return posix ? r_posix_fallocate(fd, off, len) : r_fallocate(fd, mode, off, len);
    pthread_mutex_lock(&mu);
    struct stat st;
    fstat(fd, &st);
    if (mode == 0) {
        if ((uint64_t)(off + len) > (uint64_t)st.st_size) log_trunc(f, f->rfd, off + len, st.st_size);
    } else {
        log_write(f, fd, off, len);
    }
    int rc = posix ? r_posix_fallocate(fd, off, len) : r_fallocate(fd, mode, off, len);
    int saved = errno;
    pthread_mutex_unlock(&mu);
    errno = saved;
    return rc;
}

int fallocate(int fd, int mode, off_t off, off_t len) { return do_fallocate(fd, mode, off, len, 0); }
int fallocate64(int fd, int mode, off_t off, off_t len) { return do_fallocate(fd, mode, off, len, 0); }
int posix_fallocate(int fd, off_t off, off_t len) { return do_fallocate(fd, 0, off, len, 1); }
int posix_fallocate64(int fd, off_t off, off_t len) { return do_fallocate(fd, 0, off, len, 1); }

/* ---- syncs ---- */

static uint64_t mark(void)
{
    pthread_mutex_lock(&mu);
    uint64_t s = seq;
    pthread_mutex_unlock(&mu);
    return s;
}

static void synced(struct fdinfo *f, uint64_t upto)
{
    uint64_t rec[3] = {f->dev, f->ino, upto};
    pthread_mutex_lock(&mu);
    emit(f->isdir ? R_DIRSYNC : R_SYNC, rec, sizeof rec, NULL, 0);
    pthread_mutex_unlock(&mu);
}

/* Only what was logged before the sync began counts as covered: a write racing it may miss it. */
#define SYNC_CALL(call)                  \
    struct fdinfo *f = tracked(fd);      \
    if (!f) return call;                 \
    struct fdinfo copy = *f;             \
    uint64_t upto = mark();              \
    if (sync_delay_us) usleep(sync_delay_us); \
    int rc = call;                       \
    int saved = errno;                   \
    if (rc == 0) synced(&copy, upto);    \
    errno = saved;                       \
    return rc;

int fsync(int fd) { SYNC_CALL(r_fsync(fd)) }
int fdatasync(int fd) { SYNC_CALL(r_fdatasync(fd)) }

int sync_file_range(int fd, off_t off, off_t n, unsigned int flags)
{
    if (!(flags & SYNC_FILE_RANGE_WAIT_AFTER)) return r_sync_file_range(fd, off, n, flags);
    SYNC_CALL(r_sync_file_range(fd, off, n, flags))
}

static void synced_all(uint64_t upto)
{
    pthread_mutex_lock(&mu);
    if (logfd >= 0) emit(R_SYNCALL, &upto, sizeof upto, NULL, 0);
    pthread_mutex_unlock(&mu);
}

int syncfs(int fd)
{
    ensure();
    uint64_t upto = mark();
    int rc = r_syncfs(fd);
    int saved = errno;
    if (rc == 0) synced_all(upto);
    errno = saved;
    return rc;
}

void sync(void)
{
    ensure();
    uint64_t upto = mark();
    r_sync();
    synced_all(upto);
}

/* ---- directory entries ---- */

/* Hard-links abs into the trash (so that undoing its removal can bring it back); fills out. */
static int to_trash(const char *abs, char *out)
{
    out[0] = 0;
    struct stat st;
    if (lstat(abs, &st) != 0 || S_ISDIR(st.st_mode)) return 0;
    snprintf(out, PATH_MAX, "%s/%lu", trash, ++trashn);
    if (r_link(abs, out) != 0) {
        out[0] = 0;
        return 0;
    }
    return 1;
}

static int do_unlink(int dirfd, const char *path, int flags, int at)
{
    ensure();
    char abs[PATH_MAX];
    if (!(absolute(dirfd, path, abs) && under_root(abs)))
        return at ? r_unlinkat(dirfd, path, flags) : r_unlink(path);
    pthread_mutex_lock(&mu);
    uint64_t pd[3];
    int logged = parent_of(abs, pd);
    char t[PATH_MAX] = "";
    struct stat st;
    int isdir = lstat(abs, &st) == 0 && S_ISDIR(st.st_mode);
    if (!isdir && logged) to_trash(abs, t);
    int rc = at ? r_unlinkat(dirfd, path, flags) : r_unlink(path);
    int saved = errno;
    if (rc == 0 && logged) {
        if (isdir) {
            pd[2] = st.st_mode & 07777;
            emit(R_RMDIR, pd, sizeof pd, abs, strlen(abs) + 1);
        } else {
            char buf[2 * PATH_MAX];
            size_t a = strlen(abs) + 1, b = strlen(t) + 1;
            memcpy(buf, abs, a);
            memcpy(buf + a, t, b);
            emit(R_UNLINK, pd, 2 * sizeof(uint64_t), buf, a + b);
        }
    } else if (t[0]) {
        r_unlink(t);
    }
    pthread_mutex_unlock(&mu);
    errno = saved;
    return rc;
}

int unlink(const char *path) { return do_unlink(AT_FDCWD, path, 0, 0); }
int unlinkat(int dirfd, const char *path, int flags) { return do_unlink(dirfd, path, flags, 1); }

int rmdir(const char *path)
{
    ensure();
    char abs[PATH_MAX];
    if (!(absolute(AT_FDCWD, path, abs) && under_root(abs))) return r_rmdir(path);
    pthread_mutex_lock(&mu);
    uint64_t pd[3];
    struct stat st;
    int logged = parent_of(abs, pd) && lstat(abs, &st) == 0;
    int rc = r_rmdir(path);
    int saved = errno;
    if (rc == 0 && logged) {
        pd[2] = st.st_mode & 07777;
        emit(R_RMDIR, pd, sizeof pd, abs, strlen(abs) + 1);
    }
    pthread_mutex_unlock(&mu);
    errno = saved;
    return rc;
}

static int do_mkdir(int dirfd, const char *path, mode_t mode, int at)
{
    ensure();
    char abs[PATH_MAX];
    if (!(absolute(dirfd, path, abs) && under_root(abs))) return at ? r_mkdirat(dirfd, path, mode) : r_mkdir(path, mode);
    pthread_mutex_lock(&mu);
    int rc = at ? r_mkdirat(dirfd, path, mode) : r_mkdir(path, mode);
    int saved = errno;
    uint64_t pd[2];
    if (rc == 0 && parent_of(abs, pd)) emit(R_MKDIR, pd, sizeof pd, abs, strlen(abs) + 1);
    pthread_mutex_unlock(&mu);
    errno = saved;
    return rc;
}

int mkdir(const char *path, mode_t mode) { return do_mkdir(AT_FDCWD, path, mode, 0); }
int mkdirat(int dirfd, const char *path, mode_t mode) { return do_mkdir(dirfd, path, mode, 1); }

static int do_rename(int sfd, const char *src, int dfd, const char *dst, unsigned int flags, int kind)
{
    ensure();
    char as[PATH_MAX], ad[PATH_MAX];
    int inside = absolute(sfd, src, as) && absolute(dfd, dst, ad) && (under_root(as) || under_root(ad));
#define CALL (kind == 0 ? r_rename(src, dst) : kind == 1 ? r_renameat(sfd, src, dfd, dst) : r_renameat2(sfd, src, dfd, dst, flags))
    if (!inside) return CALL;
    pthread_mutex_lock(&mu);
    uint64_t pd[2];
    int logged = parent_of(ad, pd) && under_root(as);
    char t[PATH_MAX] = "";
    if (logged) to_trash(ad, t);
    int rc = CALL;
    int saved = errno;
    if (rc == 0 && logged) {
        char buf[3 * PATH_MAX];
        size_t a = strlen(as) + 1, b = strlen(ad) + 1, c = strlen(t) + 1;
        memcpy(buf, as, a);
        memcpy(buf + a, ad, b);
        memcpy(buf + a + b, t, c);
        emit(R_RENAME, pd, sizeof pd, buf, a + b + c);
    } else if (t[0]) {
        r_unlink(t);
    }
    pthread_mutex_unlock(&mu);
    errno = saved;
    return rc;
#undef CALL
}

int rename(const char *src, const char *dst) { return do_rename(AT_FDCWD, src, AT_FDCWD, dst, 0, 0); }
int renameat(int sfd, const char *src, int dfd, const char *dst) { return do_rename(sfd, src, dfd, dst, 0, 1); }
int renameat2(int sfd, const char *src, int dfd, const char *dst, unsigned int flags) { return do_rename(sfd, src, dfd, dst, flags, 2); }

static int do_link(int sfd, const char *src, int dfd, const char *dst, int flags, int at)
{
    ensure();
    char ad[PATH_MAX];
    if (!(absolute(dfd, dst, ad) && under_root(ad))) return at ? r_linkat(sfd, src, dfd, dst, flags) : r_link(src, dst);
    pthread_mutex_lock(&mu);
    int rc = at ? r_linkat(sfd, src, dfd, dst, flags) : r_link(src, dst);
    int saved = errno;
    uint64_t pd[2];
    if (rc == 0 && parent_of(ad, pd)) emit(R_CREATE, pd, sizeof pd, ad, strlen(ad) + 1);
    pthread_mutex_unlock(&mu);
    errno = saved;
    return rc;
}

int link(const char *src, const char *dst) { return do_link(AT_FDCWD, src, AT_FDCWD, dst, 0, 0); }
int linkat(int sfd, const char *src, int dfd, const char *dst, int flags) { return do_link(sfd, src, dfd, dst, flags, 1); }

/* ---- dlsym, for .NET's P/Invokes into libc ---- */

struct hook { const char *name; void *fn; };

static const struct hook hooks[] = {
    {"open", (void *)open}, {"open64", (void *)open64}, {"openat", (void *)openat}, {"openat64", (void *)openat64},
    {"creat", (void *)creat}, {"creat64", (void *)creat64}, {"close", (void *)close}, {"write", (void *)write},
    {"pwrite", (void *)pwrite}, {"pwrite64", (void *)pwrite64}, {"writev", (void *)writev}, {"pwritev", (void *)pwritev},
    {"pwritev64", (void *)pwritev64}, {"pwritev2", (void *)pwritev2}, {"pwritev64v2", (void *)pwritev64v2},
    {"ftruncate", (void *)ftruncate}, {"ftruncate64", (void *)ftruncate64}, {"truncate", (void *)truncate},
    {"truncate64", (void *)truncate64}, {"fallocate", (void *)fallocate}, {"fallocate64", (void *)fallocate64},
    {"posix_fallocate", (void *)posix_fallocate}, {"posix_fallocate64", (void *)posix_fallocate64},
    {"fsync", (void *)fsync}, {"fdatasync", (void *)fdatasync}, {"sync_file_range", (void *)sync_file_range},
    {"syncfs", (void *)syncfs}, {"sync", (void *)sync}, {"rename", (void *)rename}, {"renameat", (void *)renameat},
    {"renameat2", (void *)renameat2}, {"unlink", (void *)unlink}, {"unlinkat", (void *)unlinkat},
    {"mkdir", (void *)mkdir}, {"mkdirat", (void *)mkdirat}, {"rmdir", (void *)rmdir}, {"link", (void *)link},
    {"linkat", (void *)linkat},
};

void *dlsym(void *handle, const char *name)
{
    ensure();
    void *found = real_dlsym(handle, name);
    if (found && handle != RTLD_NEXT) {
        for (size_t i = 0; i < sizeof hooks / sizeof hooks[0]; i++) {
            if (strcmp(hooks[i].name, name) == 0) {
                /* Only in place of the C library's own function. */
                void *libc = real_dlsym(RTLD_NEXT, name);
                return found == libc ? hooks[i].fn : found;
            }
        }
    }
    return found;
}

//! Path resolution beneath a directory file descriptor that never follows a symlink:
//! `openat2` with `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS` where the kernel has it (Linux
//! 5.6+), else a checked walk, one component at a time, with `openat(O_NOFOLLOW)`.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
#[cfg(target_os = "linux")]
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

/// Whether `openat2` was found missing (`ENOSYS`, or refused by a seccomp filter), so that
/// every later call goes straight to the walk.
#[cfg(target_os = "linux")]
static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

/// Opens `path` (relative, `/`-separated) beneath `dir` with `flags`: a symlink anywhere on
/// the way, the last component included, fails with `ELOOP`; a `..` or an absolute path
/// fails with `EXDEV`. `O_CLOEXEC` is always added.
pub fn open(dir: impl AsFd, path: &str, flags: OFlags, mode: Mode) -> io::Result<OwnedFd> {
    let flags = flags | OFlags::CLOEXEC | OFlags::NOFOLLOW;
    #[cfg(target_os = "linux")]
    if !NO_OPENAT2.load(Ordering::Relaxed) {
        use rustix::fs::ResolveFlags;
        let how = ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
        match rustix::fs::openat2(dir.as_fd(), path, flags, mode, how) {
            Err(Errno::NOSYS) | Err(Errno::PERM) if !openat2_works() => {
                NO_OPENAT2.store(true, Ordering::Relaxed);
            }
            other => return other.map_err(io::Error::from),
        }
    }
    walk(dir, path, flags, mode)
}

/// Whether `openat2` itself is usable: it is asked to open `/` beneath `/`, which succeeds
/// wherever the call exists (an `EPERM` from a real permission problem is then passed on).
#[cfg(target_os = "linux")]
fn openat2_works() -> bool {
    use rustix::fs::{ResolveFlags, CWD};
    rustix::fs::openat2(
        CWD,
        "/",
        OFlags::PATH | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::empty(),
    )
    .is_ok()
}

/// The fallback: each directory on the way is opened with `O_NOFOLLOW | O_DIRECTORY`
/// relative to the one before, so that no symlink is followed and nothing escapes `dir`.
pub fn walk(dir: impl AsFd, path: &str, flags: OFlags, mode: Mode) -> io::Result<OwnedFd> {
    let flags = flags | OFlags::CLOEXEC | OFlags::NOFOLLOW;
    if path.starts_with('/') {
        return Err(Errno::XDEV.into());
    }
    let parts: Vec<&str> = path
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    if parts.contains(&"..") {
        return Err(Errno::XDEV.into());
    }
    let Some((last, dirs)) = parts.split_last() else {
        return rustix::fs::openat(dir, ".", flags, mode).map_err(io::Error::from);
    };
    let mut held: Option<OwnedFd> = None;
    for part in dirs {
        let step = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let next = match &held {
            Some(fd) => rustix::fs::openat(fd, *part, step, Mode::empty()),
            None => rustix::fs::openat(dir.as_fd(), *part, step, Mode::empty()),
        };
        // A symlink in the way makes `O_DIRECTORY | O_NOFOLLOW` fail with ENOTDIR or ELOOP;
        // either way it is refused, as `openat2` would refuse it, with ELOOP.
        held = Some(next.map_err(|e| match e {
            Errno::NOTDIR => Errno::LOOP,
            e => e,
        })?);
    }
    match &held {
        Some(fd) => rustix::fs::openat(fd, *last, flags, mode),
        None => rustix::fs::openat(dir.as_fd(), *last, flags, mode),
    }
    .map_err(io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refuses_links(open: fn(&OwnedFd, &str) -> io::Result<OwnedFd>) {
        let d = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), b"x").unwrap();
        std::fs::create_dir(d.path().join("real")).unwrap();
        std::fs::write(d.path().join("real/file"), b"y").unwrap();
        std::os::unix::fs::symlink(outside.path(), d.path().join("link")).unwrap();
        std::os::unix::fs::symlink(d.path().join("real/file"), d.path().join("real/flink"))
            .unwrap();
        let root: OwnedFd = std::fs::File::open(d.path()).unwrap().into();
        assert!(open(&root, "real/file").is_ok());
        let code = |r: io::Result<OwnedFd>| r.err().and_then(|e| e.raw_os_error());
        assert_eq!(code(open(&root, "link/secret")), Some(libc::ELOOP));
        assert_eq!(code(open(&root, "real/flink")), Some(libc::ELOOP));
        assert_eq!(code(open(&root, "../x")), Some(libc::EXDEV));
        assert_eq!(code(open(&root, "real/absent")), Some(libc::ENOENT));
    }

    #[test]
    fn open_never_follows_a_symlink() {
        refuses_links(|d, p| open(d, p, OFlags::RDONLY, Mode::empty()));
    }

    /// The fallback (what runs where `openat2` is missing) refuses the same paths.
    #[test]
    fn the_walk_never_follows_a_symlink() {
        refuses_links(|d, p| walk(d, p, OFlags::RDONLY, Mode::empty()));
    }
}

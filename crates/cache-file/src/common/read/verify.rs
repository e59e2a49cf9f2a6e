//! Reading an entry file and checking it: the header and key alone (`read_head`), the
//! quick first read and the rest of a large file (a run of value bytes into a buffer of
//! its own), the careful whole read, and the checksums. Knows files and the format, not
//! the cache: no `Inner` here.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;

use super::super::entry::format::{EntryHeader, HEADER_LEN};
use super::super::entry::verified::Reading;
use super::buffer::{recycle, spare_buffer, take_buffer, QUICK};

/// The fixed header and key of an entry file, read without its payload.
pub(crate) struct Head {
    pub(crate) header: EntryHeader,
    pub(crate) key: Vec<u8>,
}

/// What reading a file as an entry gave.
pub(crate) enum Verdict<T> {
    Ok(T),
    Corrupt,
}

/// Reads the header and key of `file` (of length `len`), not the payload.
pub(crate) fn read_head(file: &File, len: u64) -> io::Result<Verdict<Head>> {
    // One read covers the header and any key up to 4 KiB.
    let first = len.min((HEADER_LEN + 4096) as u64) as usize;
    let mut buf = vec![0u8; first];
    if let Err(e) = file.read_exact_at(&mut buf, 0) {
        return short_read(e);
    }
    let header = match EntryHeader::parse(&buf, len) {
        Ok(h) => h,
        Err(_) => return Ok(Verdict::Corrupt),
    };
    let key_end = header.payload_offset();
    if key_end > buf.len() {
        let have = buf.len();
        buf.resize(key_end, 0);
        if let Err(e) = file.read_exact_at(&mut buf[have..], have as u64) {
            return short_read(e);
        }
    }
    if header.check_key(&buf, &buf[HEADER_LEN..key_end]).is_err() {
        return Ok(Verdict::Corrupt);
    }
    buf.truncate(key_end);
    buf.drain(..HEADER_LEN);
    Ok(Verdict::Ok(Head { header, key: buf }))
}

/// A file that ends before its header says it does is corrupt; other errors are errors.
pub(crate) fn short_read<T>(e: io::Error) -> io::Result<Verdict<T>> {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        Ok(Verdict::Corrupt)
    } else {
        Err(e)
    }
}

/// Bytes read at once before asking a file its size: an entry this small (the common case,
/// 4 KiB values included) costs one `open`, one `read` and one `close`.
pub(crate) const QUICK_READ: usize = 16 << 10;

/// What the first `read` of an entry file gave.
pub(crate) enum First {
    /// A short read: the whole file, if it is a regular file.
    Whole(Vec<u8>),
    /// `QUICK_READ` bytes, then stale bytes of an earlier read: there may be more.
    Part(Vec<u8>),
    /// The read failed (a directory, a FIFO opened non-blocking, ...).
    Failed,
}

/// Up to `QUICK_READ` bytes from the start of `file`, read into a per-thread buffer zeroed
/// once and copied out (copying what was read costs less than zeroing a fresh buffer).
/// A short read of a regular file is its end; where that does not hold, the entry fails
/// verification and is read again the careful way.
pub(crate) fn read_first(file: &mut File) -> First {
    let mut out = spare_buffer();
    let first = QUICK
        .try_with(|q| {
            let mut q = q.borrow_mut();
            if q.len() < QUICK_READ {
                q.resize(QUICK_READ, 0);
            }
            match file.read(&mut q[..]) {
                Ok(n) if n < QUICK_READ => {
                    out.clear();
                    out.extend_from_slice(&q[..n]);
                    Some(true)
                }
                Ok(_) => {
                    // Grown (zeroed) only past what earlier reads initialized; the rest of
                    // its stale bytes are overwritten by `read_rest` before anyone reads.
                    if out.len() < QUICK_READ {
                        out.resize(QUICK_READ, 0);
                    }
                    out[..QUICK_READ].copy_from_slice(&q[..]);
                    Some(false)
                }
                Err(_) => None,
            }
        })
        .ok()
        .flatten();
    match first {
        Some(true) => First::Whole(out),
        Some(false) => First::Part(out),
        None => {
            recycle(out);
            First::Failed
        }
    }
}

/// Where a payload that ends in a run of value bytes has that run: given the start of the
/// payload and its length, the bytes before the run
/// ([`Encoding::byte_run_start`](cache_core::codec::Encoding::byte_run_start)).
pub(crate) type Split<'a> = &'a dyn Fn(&[u8], u64) -> Option<usize>;

/// The rest of a file whose first `QUICK_READ` bytes start `bytes`, up to the size `fstat`
/// gave, read from where the first read stopped: when `split` finds a run of value bytes,
/// into a buffer of the run's size of its own ([`read_run`]), else into the buffer an
/// earlier read of an entry this size left initialized (so that reading large entries
/// neither zeroes a buffer nor reads a byte twice).
///
/// The payload of a file this instance verified before, unchanged since, is not checksummed
/// again (`reading`, see `verified.rs`).
pub(crate) fn read_rest(
    file: &File,
    reading: Reading<'_>,
    mut bytes: Vec<u8>,
    split: Split<'_>,
) -> io::Result<Verdict<Live>> {
    let meta = reading.meta;
    let size = usize::try_from(meta.len()).unwrap_or(usize::MAX);
    if !meta.is_file() || size < QUICK_READ || size == usize::MAX {
        recycle(bytes);
        return Ok(Verdict::Corrupt);
    }
    if let Some(at) = run_start(&bytes[..QUICK_READ], size, split) {
        return read_run(file, reading, size, bytes, at);
    }
    if bytes.len() < size {
        bytes.resize(size, 0);
    } else {
        bytes.truncate(size);
    }
    let mut file = file;
    if let Err(e) = file.read_exact(&mut bytes[QUICK_READ..]) {
        recycle(bytes);
        return short_read(e);
    }
    Ok(verify_entry_read(bytes, Some(reading)))
}

/// Where the run of value bytes of a `size`-byte file whose first bytes are `first` starts
/// in the file, if `split` finds one that starts within `first`.
pub(crate) fn run_start(first: &[u8], size: usize, split: Split<'_>) -> Option<usize> {
    let header = EntryHeader::parse(first, size as u64).ok()?;
    let at = header.payload_offset();
    let start = at + split(first.get(at..)?, header.payload_len)?;
    (start <= first.len()).then_some(start)
}

/// Reads the rest of a `size`-byte file whose first `QUICK_READ` bytes are `first` (the
/// file's position right after them), the run of value bytes that starts at `at` going into
/// a buffer of its own, of the run's exact size and never zeroed: a byte value takes it as
/// it is ([`codec::bytes_into`](cache_core::codec::bytes_into)), as `std::fs::read` hands
/// over its buffer.
pub(crate) fn read_run(
    file: &File,
    reading: Reading<'_>,
    size: usize,
    mut first: Vec<u8>,
    at: usize,
) -> io::Result<Verdict<Live>> {
    let want = size - at;
    let mut run = Vec::with_capacity(want);
    run.extend_from_slice(&first[at..QUICK_READ]);
    first.truncate(at);
    while run.len() < want {
        match rustix::io::read(file, rustix::buffer::spare_capacity(&mut run)) {
            Ok(0) => break,
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => {
                recycle(first);
                return Err(e.into());
            }
        }
    }
    let Ok(header) = EntryHeader::parse(&first, size as u64) else {
        recycle(first);
        return Ok(Verdict::Corrupt);
    };
    let p = header.payload_offset();
    if run.len() != want
        || header.check_key(&first, &first[HEADER_LEN..p]).is_err()
        || !reading.payload_ok(&header, &[&first[p..], &run])
    {
        recycle(first);
        return Ok(Verdict::Corrupt);
    }
    Ok(Verdict::Ok(Live {
        bytes: first,
        header,
        run: Some(run),
    }))
}

/// The careful read: the file's type and size from `fstat`, then all of it.
pub(crate) fn read_whole(file: &File, meta: &std::fs::Metadata) -> io::Result<Verdict<Live>> {
    if !meta.is_file() {
        return Ok(Verdict::Corrupt);
    }
    let Ok(size) = usize::try_from(meta.len()) else {
        return Ok(Verdict::Corrupt);
    };
    let mut bytes = take_buffer(size);
    if let Err(e) = file.read_exact_at(&mut bytes, 0) {
        recycle(bytes);
        return short_read(e);
    }
    Ok(verify_entry(bytes))
}

/// Checks a whole entry file image: header, key checksum, payload checksum.
pub(crate) fn verify_entry(bytes: Vec<u8>) -> Verdict<Live> {
    verify_entry_read(bytes, None)
}

/// [`verify_entry`], the payload of a file `reading` knows verified before not checksummed
/// again.
pub(crate) fn verify_entry_read(bytes: Vec<u8>, reading: Option<Reading<'_>>) -> Verdict<Live> {
    let Ok(header) = EntryHeader::parse(&bytes, bytes.len() as u64) else {
        return Verdict::Corrupt;
    };
    let at = header.payload_offset();
    let payload_ok = |payload: &[u8]| match reading {
        Some(r) => r.payload_ok(&header, &[payload]),
        None => header.check_payload(payload).is_ok(),
    };
    if header.check_key(&bytes, &bytes[HEADER_LEN..at]).is_err() || !payload_ok(&bytes[at..]) {
        return Verdict::Corrupt;
    }
    Verdict::Ok(Live {
        bytes,
        header,
        run: None,
    })
}

/// A live entry read in full: the file's bytes and where the payload starts; or, when the
/// payload ends in a run of value bytes read into a buffer of its own, the bytes before the
/// run and the run.
pub(crate) struct Live {
    pub(crate) bytes: Vec<u8>,
    pub(crate) header: EntryHeader,
    pub(crate) run: Option<Vec<u8>>,
}

impl Live {
    /// The entry file's size.
    pub(crate) fn file_len(&self) -> u64 {
        (self.bytes.len() + self.run.as_ref().map_or(0, Vec::len)) as u64
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        recycle(std::mem::take(&mut self.bytes));
    }
}

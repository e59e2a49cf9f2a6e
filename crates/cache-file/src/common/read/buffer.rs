//! The read buffers of each thread: the spare buffer a read takes and gives back (so that
//! reading large entries does not fault in fresh pages every time) and the buffer of first
//! reads.

/// Read buffers up to this size are kept, one per thread, for the next read.
pub(crate) const KEEP_BUFFER: usize = 8 << 20;

thread_local! {
    /// The calling thread's spare read buffer. Reusing it spares a large entry's read the
    /// allocator's fresh pages (a page fault per 4 KiB: reading 1 MiB entries ran 4x slower
    /// when the allocator handed out new pages for every read).
    static SPARE: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };

    /// The calling thread's buffer for first reads, `QUICK_READ` bytes once used.
    pub(crate) static QUICK: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The thread's spare buffer as it was left: stale bytes of an earlier read, to be
/// overwritten before anything reads them.
pub(crate) fn spare_buffer() -> Vec<u8> {
    SPARE
        .try_with(|s| std::mem::take(&mut *s.borrow_mut()))
        .unwrap_or_default()
}

/// A zeroed buffer of `len` bytes, the thread's spare one if it has one.
pub(crate) fn take_buffer(len: usize) -> Vec<u8> {
    let mut buf = spare_buffer();
    buf.clear();
    buf.resize(len, 0);
    buf
}

/// Keeps `buf` as the thread's spare read buffer, unless it is too large to keep around.
pub(crate) fn recycle(buf: Vec<u8>) {
    if buf.capacity() <= KEEP_BUFFER {
        let _ = SPARE.try_with(|s| {
            let mut spare = s.borrow_mut();
            if buf.capacity() > spare.capacity() {
                *spare = buf;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A recycled buffer comes back zeroed at the asked length, never with an earlier
    /// entry's bytes; buffers too large to keep are not kept.
    #[test]
    fn spare_buffers_come_back_zeroed_and_bounded() {
        let mut buf = take_buffer(100);
        buf.fill(0xaa);
        let ptr = buf.as_ptr();
        recycle(buf);
        let again = take_buffer(50);
        assert_eq!(again.as_ptr(), ptr, "the spare buffer was reused");
        assert_eq!(again, vec![0u8; 50]);
        recycle(again);
        let big = take_buffer(KEEP_BUFFER + 1);
        recycle(big);
        assert!(take_buffer(1).capacity() <= KEEP_BUFFER);
    }
}

//! The parse hot path allocates nothing per header: parsing a typical
//! INVITE (buffer moved in, fewer headers than the inline index) and
//! reading the typed views a proxy needs performs no heap allocation.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use sipshard_core::sip::Message;

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: delegates to the system allocator; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const INVITE: &[u8] = include_bytes!("data/rfc4475/escruri.dat");

#[test]
fn parse_and_views_do_not_allocate() {
    let buf = INVITE.to_vec();
    let before = ALLOCS.load(Ordering::Relaxed);
    let m = Message::parse(buf).unwrap();
    let via = m.top_via().unwrap();
    let seen = (
        via.branch(),
        m.from_tag(),
        m.to_tag(),
        m.cseq().map(|c| c.number),
        m.call_id(),
        m.max_forwards(),
        m.header_named(b"content-type").map(|h| h.value),
        m.contacts().count(),
        m.ruri().map(|u| u.host).ok(),
    );
    let after = ALLOCS.load(Ordering::Relaxed);
    assert_eq!(after - before, 0, "allocations on the parse path: {seen:?}");
    assert_eq!(seen.3, Some(149209342));
}

//! What a 1-ms tick costs on this machine before any SIP work: the CPU a
//! thread pays to sleep and wake once per millisecond, and the CPU a sender
//! pays when its datagram has to wake a receiver blocked on another CPU,
//! against one that finds the receiver not waiting on the socket.
//!
//! Run: `cargo run --release -p sipshard-bench --example wake_cost [TICKS]`
//! on a machine with at least two CPUs (the sender on CPU 0, the receiver on
//! CPU 1). Figures are CPU-µs per tick of the measuring thread
//! (RUSAGE_THREAD: the kernel's exact runtime of that thread).

use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const DATAGRAM: [u8; 600] = [b'x'; 600];

fn main() {
    let ticks: u32 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(2000);
    pin(0);
    let sleep_only = per_tick(ticks, |_| {});
    println!("sleep to the next 1-ms tick and wake:            {sleep_only:6.2} CPU-us per tick");
    for per_tick_datagrams in [1usize, 8] {
        let blocked = with_receiver(Receiver::BlockedInRecv, ticks, per_tick_datagrams);
        let ticking = with_receiver(Receiver::Ticking, ticks, per_tick_datagrams);
        println!("same + send {per_tick_datagrams} datagram(s), receiver blocked in recv: {blocked:6.2} CPU-us per tick");
        println!("same + send {per_tick_datagrams} datagram(s), receiver on its own tick: {ticking:6.2} CPU-us per tick");
        println!(
            "  waking the blocked receiver costs the sender     {:6.2} CPU-us per tick",
            blocked - ticking
        );
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Receiver {
    /// Sleeps in `recv` until a datagram comes: each tick's first datagram
    /// must wake it.
    BlockedInRecv,
    /// Sleeps on its own 1-ms tick and drains without waiting: datagrams
    /// never wake it.
    Ticking,
}

fn with_receiver(kind: Receiver, ticks: u32, per_tick_datagrams: usize) -> f64 {
    let rx = UdpSocket::bind("127.0.0.1:0").expect("bind receiver");
    let to = rx.local_addr().expect("receiver address");
    let stop = Arc::new(AtomicBool::new(false));
    let stop_rx = stop.clone();
    if kind == Receiver::BlockedInRecv {
        rx.set_read_timeout(Some(Duration::from_millis(50))).expect("timeout");
    } else {
        rx.set_nonblocking(true).expect("nonblocking");
    }
    let reader = std::thread::spawn(move || {
        pin(1);
        let mut buf = [0u8; 2048];
        let mut next = now_ns();
        while !stop_rx.load(Ordering::Relaxed) {
            if kind == Receiver::Ticking {
                next += 1_000_000;
                sleep_until(next);
            }
            while rx.recv(&mut buf).is_ok() {}
        }
    });
    let tx = UdpSocket::bind("127.0.0.1:0").expect("bind sender");
    tx.connect(to).expect("connect");
    std::thread::sleep(Duration::from_millis(20));
    let cost = per_tick(ticks, |_| {
        for _ in 0..per_tick_datagrams {
            // SAFETY: a plain send of a static buffer on a connected socket.
            unsafe { libc::send(tx.as_raw_fd(), DATAGRAM.as_ptr().cast(), DATAGRAM.len(), libc::MSG_DONTWAIT) };
        }
    });
    stop.store(true, Ordering::Relaxed);
    reader.join().expect("reader");
    cost
}

/// Runs `work` once per 1-ms tick for `ticks` ticks, sleeping in between;
/// returns this thread's CPU-µs per tick.
fn per_tick(ticks: u32, mut work: impl FnMut(u32)) -> f64 {
    let before = thread_cpu_us();
    let mut next = now_ns();
    for i in 0..ticks {
        next += 1_000_000;
        sleep_until(next);
        work(i);
    }
    (thread_cpu_us() - before) / f64::from(ticks)
}

fn now_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes the timespec it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn sleep_until(ns: u64) {
    let ts = libc::timespec {
        tv_sec: (ns / 1_000_000_000) as libc::time_t,
        tv_nsec: (ns % 1_000_000_000) as libc::c_long,
    };
    // SAFETY: an absolute sleep on CLOCK_MONOTONIC; no remainder is asked for.
    unsafe { libc::clock_nanosleep(libc::CLOCK_MONOTONIC, libc::TIMER_ABSTIME, &ts, std::ptr::null_mut()) };
}

fn thread_cpu_us() -> f64 {
    // SAFETY: getrusage writes the struct it is given.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_THREAD, &mut ru);
        ru
    };
    let us = |t: libc::timeval| t.tv_sec as f64 * 1e6 + t.tv_usec as f64;
    us(ru.ru_utime) + us(ru.ru_stime)
}

fn pin(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is empty; CPU_SET stays inside it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

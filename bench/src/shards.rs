//! Starts N glommio executors, each pinned to one CPU, runs the same async
//! job on each and collects their results (used by `uas` and `floor`).

use std::future::Future;

use glommio::{LocalExecutorBuilder, Placement};

/// A list of CPU numbers from the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuList(pub Vec<usize>);

/// Parses a CPU list like `0,1` or `1`.
pub fn parse_cpus(s: &str) -> Result<CpuList, String> {
    s.split(',')
        .map(|c| c.trim().parse::<usize>().map_err(|_| format!("bad CPU number {c:?} in {s:?}")))
        .collect::<Result<Vec<_>, _>>()
        .map(CpuList)
}

/// CPUs for `n` shards: the given list (cycled), or 0..online CPUs cycled.
pub fn pick_cpus(n: usize, cpus: &Option<CpuList>) -> Vec<usize> {
    let online = std::thread::available_parallelism().map_or(1, |p| p.get());
    let list: Vec<usize> = match cpus {
        Some(CpuList(c)) if !c.is_empty() => c.clone(),
        _ => (0..online).collect(),
    };
    (0..n).map(|i| list[i % list.len()]).collect()
}

/// Runs `job(shard_index)` on `n` pinned executors and returns each result.
pub fn run<T, F, Fut>(name: &str, n: usize, cpus: &Option<CpuList>, job: F) -> Result<Vec<T>, String>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut + Send + Clone + 'static,
    Fut: Future<Output = T> + 'static,
{
    let mut handles = Vec::with_capacity(n);
    for (i, cpu) in pick_cpus(n, cpus).into_iter().enumerate() {
        let job = job.clone();
        let h = sipshard_shards::server::tune_executor(LocalExecutorBuilder::new(Placement::Fixed(cpu)))
            .name(&format!("{name}-{i}"))
            .spawn(move || job(i))
            .map_err(|e| format!("cannot start {name} shard {i} on CPU {cpu}: {e}"))?;
        handles.push(h);
    }
    handles
        .into_iter()
        .enumerate()
        .map(|(i, h)| h.join().map_err(|e| format!("{name} shard {i} failed: {e}")))
        .collect()
}

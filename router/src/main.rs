use clap::Parser;

/// Per-thread free lists and no arena lock: each request allocates and frees many small
/// buffers, which cost glibc's malloc several percent of the CPU here.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let config = router::Config::parse();
    proto::service::init_logging()?;
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.threads.max(1))
        .enable_all()
        .build()?
        .block_on(router::run(config))
}

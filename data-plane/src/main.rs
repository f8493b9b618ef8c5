use clap::Parser;

/// Per-thread free lists and no arena lock: each request allocates and frees many small
/// buffers, which cost glibc's malloc several percent of the CPU here.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let config = data_plane::Config::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.threads.max(1))
        .enable_all()
        .build()?;
    let telemetry = proto::service::init_logging("data-plane", runtime.handle())?;
    let result = runtime.block_on(data_plane::run(config));
    // The runtime's threads still run: they send the last spans.
    telemetry.shutdown();
    result
}

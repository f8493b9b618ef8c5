use clap::Parser;

fn main() -> anyhow::Result<()> {
    let config = control_plane::Config::parse();
    let runtime = tokio::runtime::Runtime::new()?;
    let telemetry = proto::service::init_logging("control-plane", runtime.handle())?;
    let result = runtime.block_on(control_plane::run(config));
    // The runtime's threads still run: they send the last spans.
    telemetry.shutdown();
    result
}

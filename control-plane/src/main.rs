use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = control_plane::Config::parse();
    proto::service::init_logging()?;
    control_plane::run(config).await
}

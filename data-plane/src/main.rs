use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = data_plane::Config::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LOG").unwrap_or_else(|_| "info".into()),
        )
        .init();
    data_plane::run(config).await
}

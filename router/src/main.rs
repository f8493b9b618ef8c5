use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = router::Config::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LOG").unwrap_or_else(|_| "info".into()),
        )
        .init();
    router::run(config).await
}

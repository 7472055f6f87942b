use clap::Parser;

#[tokio::main]
async fn main() {
    let cli = amipub::cli::Cli::parse();
    if let Err(e) = amipub::cli::run(cli).await {
        eprintln!("{e}");
        std::process::exit(e.exit_code());
    }
}

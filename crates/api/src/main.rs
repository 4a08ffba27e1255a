//! The `chat-history` binary: parses the command line and runs the chosen command.

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser as _;

use api::{Application, Cli, Command, telemetry};

#[tokio::main]
async fn main() -> ExitCode {
    let args =
        match api::config::with_secret_files(std::env::args_os(), |name| std::env::var_os(name)) {
            Ok(args) => args,
            Err(e) => {
                eprintln!("chat-history: {e}");
                return ExitCode::FAILURE;
            }
        };
    let cli = Cli::parse_from(args);
    telemetry::init(cli.settings.log_format);
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(cli.settings).await,
        Command::Migrate => api::startup::migrate(&cli.settings).await,
        Command::Purge(args) => api::retention::purge(&cli.settings, &args)
            .await
            .map(|line| {
                // A closed stdout is the only failure and leaves nothing to report.
                let _ = writeln!(std::io::stdout(), "{line}");
            }),
        Command::Import(args) => match api::import::command::import(&cli.settings, &args).await {
            Ok((summary, complete)) => {
                // A closed stdout is the only failure and leaves nothing to report.
                let _ = writeln!(std::io::stdout(), "{summary}");
                if complete {
                    Ok(())
                } else {
                    Err(api::StartupError::Command(
                        "some conversations could not be imported (listed above); \
                         the others were"
                            .into(),
                    ))
                }
            }
            Err(e) => Err(e),
        },
        Command::Openapi => {
            // A closed stdout is the only failure and leaves nothing to report.
            let _ = writeln!(std::io::stdout(), "{}", api::openapi::pretty_json());
            Ok(())
        }
        Command::Healthcheck { timeout_secs } => {
            api::startup::healthcheck(&cli.settings, timeout_secs).await
        }
        Command::DevToken { user_id, ttl_secs } => {
            api::startup::dev_token(&cli.settings, &user_id, ttl_secs).map(|token| {
                // A closed stdout is the only failure and leaves nothing to report.
                let _ = writeln!(std::io::stdout(), "{token}");
            })
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let mut line = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                line.push_str(": ");
                line.push_str(&cause.to_string());
                source = cause.source();
            }
            eprintln!("chat-history: {line}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(settings: api::Settings) -> Result<(), api::StartupError> {
    let app = Application::build(settings).await?;
    app.run_until_stopped().await
}

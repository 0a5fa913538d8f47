//! `keyrite-import`: installs signed trust and revocation bundles on air-gapped hosts.

use clap::Parser;

/// Installs keyrite trust and revocation bundles into notation's trust store, trust policy
/// and CRL cache on a host with no network.
#[derive(Parser)]
#[command(name = "keyrite-import", version, arg_required_else_help = true)]
struct Cli {}

fn main() {
    Cli::parse();
}

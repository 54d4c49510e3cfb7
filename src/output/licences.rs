//! What the `licences` commands print.

use std::fmt::Write as _;

use crate::service::{Licence, LicenceImport};

/// `licences import`.
pub fn licences_imported(connection: &str, import: &LicenceImport) -> String {
    let mut out = format!(
        "Imported {} licence{} for connection {connection}",
        import.skus,
        if import.skus == 1 { "" } else { "s" }
    );
    if import.unsubscribed > 0 {
        let _ = write!(
            out,
            "; {} no longer subscribed (marked, kept with their links)",
            import.unsubscribed
        );
    }
    out.push_str(".\n");
    out
}

/// `licences list`: one line per licence, product name first.
pub fn licences(licences: &[Licence]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<40} {:<24} {:>8} {:>8} {:>9} {:>8}  status",
        "product", "part number", "enabled", "consumed", "suspended", "warning"
    );
    for l in licences {
        let status = match l.unsubscribed_at {
            Some(at) => format!("unsubscribed since {}", at.format("%Y-%m-%d")),
            None => l.capability_status.clone(),
        };
        let _ = writeln!(
            out,
            "{:<40} {:<24} {:>8} {:>8} {:>9} {:>8}  {status}",
            l.display_name,
            l.part_number,
            l.enabled_units,
            l.consumed_units,
            l.suspended_units,
            l.warning_units
        );
    }
    out
}

//! The background worker that runs `telemetry.run_maintenance()` every
//! `telemetry.maintenance_interval` in `telemetry.maintenance_database`, when the library is in
//! `shared_preload_libraries`. A database without the extension is skipped. A run that fails
//! with an error ends the worker, and the postmaster starts it again 10 s later.

use pgrx::bgworkers::{BackgroundWorker, BackgroundWorkerBuilder, SignalWakeFlags};
use pgrx::prelude::*;
use std::time::Duration;

use crate::gucs;

/// Register the worker; only while the postmaster loads preloaded libraries.
pub fn register() {
    if !unsafe { pg_sys::process_shared_preload_libraries_in_progress } {
        return;
    }
    BackgroundWorkerBuilder::new("telemetry maintenance")
        .set_type("telemetry maintenance")
        .set_function("telemetry_maintenance_main")
        .set_library("telemetry")
        .enable_spi_access()
        .set_restart_time(Some(Duration::from_secs(10)))
        .load();
}

#[pg_guard]
#[no_mangle]
pub extern "C-unwind" fn telemetry_maintenance_main(_arg: pg_sys::Datum) {
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGHUP | SignalWakeFlags::SIGTERM);
    BackgroundWorker::connect_worker_to_spi(Some(&gucs::maintenance_database()), None);
    loop {
        // Off is a minute's nap, so that turning it on with a reload takes effect.
        let wait = gucs::maintenance_interval().unwrap_or(Duration::from_secs(60));
        if !BackgroundWorker::wait_latch(Some(wait)) {
            break;
        }
        if BackgroundWorker::sighup_received() {
            unsafe { pg_sys::ProcessConfigFile(pg_sys::GucContext::PGC_SIGHUP) };
        }
        if gucs::maintenance_interval().is_none() {
            continue;
        }
        BackgroundWorker::transaction(|| {
            let installed = Spi::get_one::<bool>(
                "SELECT EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'telemetry')",
            );
            if let Ok(Some(true)) = installed {
                if let Err(e) = Spi::run("SELECT * FROM telemetry.run_maintenance()") {
                    log!("telemetry maintenance: {e}");
                }
            }
        });
    }
}

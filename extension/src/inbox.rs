//! `telemetry.inbox`: for clients that can only INSERT or COPY into a table. Each statement's
//! rows are collected by a row trigger and run through the pipeline as one batch when the
//! statement ends; the table itself never holds a row.
//!
//! Statements are told apart by a stack of frames, one per INSERT or COPY into the inbox that is
//! under way: a BEFORE STATEMENT trigger pushes one, each row goes to the top frame, and the
//! AFTER STATEMENT trigger pops it. A nested INSERT into the inbox (from a function the outer
//! statement calls) gets a frame of its own, and a function that writes elsewhere does not
//! disturb the count. Frames of a statement that failed are dropped when its transaction or
//! subtransaction aborts.

use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::{PgTriggerLevel, PgTriggerWhen};
use std::cell::RefCell;

use crate::errors::{internal, require_trigger};
use crate::ingest::{run, Broker, Message};
use crate::time::received_at;

/// The messages of one statement into the inbox, and the (sub)transaction depth it began at.
struct Frame {
    nest_level: i32,
    messages: Vec<Message>,
}

thread_local! {
    static FRAMES: RefCell<Vec<Frame>> = const { RefCell::new(Vec::new()) };
}

pub fn init() {
    unsafe {
        pg_sys::RegisterXactCallback(Some(on_xact), std::ptr::null_mut());
        pg_sys::RegisterSubXactCallback(Some(on_subxact), std::ptr::null_mut());
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn on_xact(_event: pg_sys::XactEvent::Type, _arg: *mut std::ffi::c_void) {
    // Every statement has ended by the end of a transaction, one way or the other.
    FRAMES.with(|f| f.borrow_mut().clear());
}

#[pg_guard]
unsafe extern "C-unwind" fn on_subxact(
    event: pg_sys::SubXactEvent::Type,
    _mysubid: pg_sys::SubTransactionId,
    _parent: pg_sys::SubTransactionId,
    _arg: *mut std::ffi::c_void,
) {
    if event == pg_sys::SubXactEvent::SUBXACT_EVENT_ABORT_SUB {
        let level = pg_sys::GetCurrentTransactionNestLevel();
        FRAMES.with(|f| f.borrow_mut().retain(|frame| frame.nest_level < level));
    }
}

fn require_inbox(trigger: &pgrx::PgTrigger<'_>, function: &str) {
    let is_inbox = trigger.table_schema().is_ok_and(|s| s == "telemetry")
        && trigger.table_name().is_ok_and(|t| t == "inbox");
    if !is_inbox {
        crate::errors::trigger_misuse(format!(
            "telemetry.{function}() is the trigger of telemetry.inbox only, not of {}",
            trigger.table_name().unwrap_or_default()
        ));
    }
}

/// BEFORE INSERT statement trigger on `telemetry.inbox`: a new frame for this statement's rows.
#[pg_trigger]
pub fn inbox_begin<'a>(
    trigger: &'a pgrx::PgTrigger<'a>,
) -> Result<Option<PgHeapTuple<'a, pgrx::AllocatedByRust>>, pgrx::PgTriggerError> {
    require_trigger(
        trigger,
        PgTriggerWhen::Before,
        PgTriggerLevel::Statement,
        "inbox_begin",
    );
    require_inbox(trigger, "inbox_begin");
    let nest_level = unsafe { pg_sys::GetCurrentTransactionNestLevel() };
    FRAMES.with(|f| {
        f.borrow_mut().push(Frame {
            nest_level,
            messages: Vec::new(),
        })
    });
    Ok(None)
}

/// BEFORE INSERT row trigger on `telemetry.inbox`: keep the message in the statement's frame
/// and store nothing.
#[pg_trigger]
pub fn inbox_collect<'a>(
    trigger: &'a pgrx::PgTrigger<'a>,
) -> Result<Option<PgHeapTuple<'a, pgrx::AllocatedByRust>>, pgrx::PgTriggerError> {
    require_trigger(
        trigger,
        PgTriggerWhen::Before,
        PgTriggerLevel::Row,
        "inbox_collect",
    );
    let Some(row) = trigger.new() else {
        return Ok(None);
    };
    // The inbox's own columns and types, so a failure here is the extension's own fault.
    fn column(e: pgrx::datum::TryFromDatumError) -> ! {
        internal(format!("telemetry.inbox: {e}"))
    }
    let message = Message {
        received_at: received_at(
            row.get_by_name::<TimestampWithTimeZone>("received_at")
                .unwrap_or_else(|e| column(e)),
        ),
        topic: row
            .get_by_name::<String>("topic")
            .unwrap_or_else(|e| column(e))
            .unwrap_or_default(),
        payload: row
            .get_by_name::<&[u8]>("payload")
            .unwrap_or_else(|e| column(e))
            .map(<[u8]>::to_vec)
            .unwrap_or_default(),
        payload_bytes: row
            .get_by_name::<i32>("payload_bytes")
            .unwrap_or_else(|e| column(e)),
        broker: Broker {
            packet_id: row
                .get_by_name::<i32>("packet_id")
                .unwrap_or_else(|e| column(e)),
            retained: row
                .get_by_name::<bool>("retained")
                .unwrap_or_else(|e| column(e)),
            redelivered: row
                .get_by_name::<bool>("redelivered")
                .unwrap_or_else(|e| column(e)),
        },
    };
    let kept = FRAMES.with(|f| match f.borrow_mut().last_mut() {
        Some(frame) => {
            frame.messages.push(message);
            true
        }
        None => false,
    });
    if !kept {
        crate::errors::trigger_misuse(
            "telemetry.inbox has a row but no statement under way: its trigger \"begin\" (telemetry.inbox_begin) is missing or disabled".into(),
        );
    }
    Ok(None)
}

/// AFTER INSERT statement trigger on `telemetry.inbox`: run the statement's messages through
/// the pipeline as one batch.
#[pg_trigger]
pub fn inbox_flush<'a>(
    trigger: &'a pgrx::PgTrigger<'a>,
) -> Result<Option<PgHeapTuple<'a, pgrx::AllocatedByRust>>, pgrx::PgTriggerError> {
    require_trigger(
        trigger,
        PgTriggerWhen::After,
        PgTriggerLevel::Statement,
        "inbox_flush",
    );
    require_inbox(trigger, "inbox_flush");
    if let Some(frame) = FRAMES.with(|f| f.borrow_mut().pop()) {
        if !frame.messages.is_empty() {
            run(&frame.messages);
        }
    }
    Ok(None)
}

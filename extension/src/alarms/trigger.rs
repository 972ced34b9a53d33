//! `telemetry.alarm_trigger()`: evaluate the alarm rules on the rows of a table of the DBA's
//! own, as the pipeline does on the readings it stores, series registered on first sight.
//! Values are taken to be in the canonical unit of their metric (as `telemetry.clean_row()`
//! leaves them); a metric no rule in `telemetry.metric_rules` knows is passed over.

use pgrx::prelude::*;
use pgrx::{AllocatedByPostgres, PgTriggerError};

use telemetry_core::alarms::trigger_args::{self, Field};
use telemetry_core::batch::{Clean, Counts};
use telemetry_core::names::Name;

use crate::errors::{echo, invalid_parameter, require_trigger};
use crate::ingest::{evaluate_alarms, series_of};
use crate::registry;
use crate::time::unix_micros;

type Row<'a> = PgHeapTuple<'a, AllocatedByPostgres>;

fn bad(column: &str, e: impl std::fmt::Display) -> ! {
    invalid_parameter(
        format!("telemetry.alarm_trigger: column {}: {e}", echo(column)),
        None,
    )
}

fn text(row: &Row, column: &str) -> Option<String> {
    row.get_by_name::<String>(column)
        .unwrap_or_else(|e| bad(column, e))
}

fn number(row: &Row, column: &str) -> Option<f64> {
    crate::row_trigger::number(row, column).unwrap_or_else(|e| bad(column, e))
}

fn field(row: &Row, f: &Field) -> String {
    match f {
        Field::Fixed(v) => v.clone(),
        Field::Column(c) => text(row, c).unwrap_or_default(),
    }
}

/// AFTER INSERT OR UPDATE, FOR EACH ROW.
#[pg_trigger]
fn alarm_trigger<'a>(trigger: &'a pgrx::PgTrigger<'a>) -> Result<Option<Row<'a>>, PgTriggerError> {
    require_trigger(
        trigger,
        pgrx::PgTriggerWhen::After,
        pgrx::PgTriggerLevel::Row,
        "alarm_trigger",
    );
    let args = trigger_args::parse(&trigger.extra_args()?).unwrap_or_else(|e| {
        invalid_parameter(
            format!(
                "telemetry.alarm_trigger on {}: {e}",
                trigger.table_name().unwrap_or_default()
            ),
            Some("See COMMENT ON FUNCTION telemetry.alarm_trigger for the arguments.".into()),
        )
    });
    let Some(row) = trigger.new() else {
        return Ok(None);
    };
    let Some(time) = row
        .get_by_name::<TimestampWithTimeZone>(&args.time)
        .unwrap_or_else(|e| bad(&args.time, e))
    else {
        return Ok(None);
    };
    let time = unix_micros(time, &args.time);
    let source_quality = args
        .source_quality
        .as_deref()
        .and_then(|c| row.get_by_name::<i16>(c).unwrap_or_else(|e| bad(c, e)))
        .unwrap_or(0);
    let mut values: Vec<(String, Option<f64>)> = args
        .wide
        .iter()
        .map(|(c, m)| (m.clone(), number(&row, c)))
        .collect();
    if let Some((metric_col, value_col)) = &args.narrow {
        if let Some(metric) = text(&row, metric_col) {
            values.push((metric, number(&row, value_col)));
        }
    }
    let reg = registry::get();
    let (site, asset, sensor) = (
        field(&row, &args.site),
        field(&row, &args.asset),
        field(&row, &args.sensor),
    );
    let cleaned: Vec<Clean> = values
        .into_iter()
        .filter_map(|(metric, value)| Some((reg.rule(&metric)?.metric.clone(), value?)))
        .map(|(metric, value)| Clean {
            message: 0,
            key: (
                Name::from(site.as_str()),
                Name::from(asset.as_str()),
                Name::from(sensor.as_str()),
                Name::from(metric.as_str()),
            ),
            time,
            value,
            quality: 1.0,
            flags: 0,
            source_quality,
            event_id: None,
        })
        .collect();
    if cleaned.is_empty() || reg.alarms.is_empty() {
        return Ok(None);
    }
    Spi::connect_mut(|client| {
        let series = series_of(client, &reg, &cleaned, &mut Counts::default())?;
        let rows: Vec<usize> = (0..cleaned.len()).collect();
        evaluate_alarms(client, &reg, &cleaned, &series, &rows)
    })
    .unwrap_or_else(|e| crate::errors::internal(format!("telemetry.alarm_trigger: {e}")));
    Ok(None)
}

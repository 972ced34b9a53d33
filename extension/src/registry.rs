//! The registries (units, unit aliases, metric rules, metric aliases, enabled routes), the
//! series ids already resolved, and the OIDs of `telemetry.validation_status`, as one
//! per-backend cache.
//!
//! Loaded with SPI on first use and dropped when PostgreSQL invalidates the relcache entry
//! of one of their tables (`telemetry.series` among them, so a rolled-back registration does
//! not stay cached). DML does not do that by itself, so a statement trigger on each
//! table (`telemetry.registry_changed`) calls `CacheInvalidateRelcacheByRelid`: the message
//! reaches this backend at the next command and every other backend at commit, and is
//! discarded on rollback, exactly like a catalog change.

use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use std::cell::{Cell, RefCell};
use std::rc::Rc;

use crate::errors::internal;
use rustc_hash::FxHashMap;
use telemetry_core::metrics::{Alias, MetricCatalog, MetricRule, NameError};
use telemetry_core::names::Name;
use telemetry_core::routes::{Format, Pattern, Route};
use telemetry_core::units::{Catalog, Unit};
use telemetry_core::validate::Status;

pub struct Registry {
    pub units: Catalog,
    pub metrics: MetricCatalog,
    /// Enabled routes in priority order.
    pub routes: Vec<Route>,
    /// The alarm rules, and which series each watches.
    pub alarms: crate::alarms::rules::AlarmRules,
    /// Series ids already resolved by this backend: (site, asset, sensor, metric) -> id.
    /// Series are only added between invalidations, so a cached id stays right until then.
    pub series: RefCell<FxHashMap<SeriesKey, i32>>,
    relids: Vec<pg_sys::Oid>,
    status_oids: [pg_sys::Oid; Status::ALL.len()],
}

pub use telemetry_core::batch::SeriesKey;

impl Registry {
    /// The catalogues the cleaning stage reads.
    pub fn catalogs(&self) -> telemetry_core::clean::Catalogs<'_> {
        telemetry_core::clean::Catalogs {
            units: &self.units,
            metrics: &self.metrics,
            routes: &self.routes,
        }
    }

    /// The rule for a metric under any name: canonical, alias, or either with a unit suffix.
    pub fn rule(&self, name: &str) -> Option<&MetricRule> {
        self.metrics
            .rule_with_unit(name, &self.units)
            .map(|(rule, _)| rule)
    }

    /// The rule for a metric and the unit its values are in: `unit` when given, else a unit
    /// the name ends in (`temperature_f`), else none (the canonical unit).
    pub fn rule_and_unit(
        &self,
        metric: Option<&str>,
        unit: Option<&str>,
    ) -> (Option<&MetricRule>, Option<String>) {
        match metric.and_then(|m| self.metrics.rule_with_unit(m, &self.units)) {
            Some((rule, suffix)) => (Some(rule), unit.map(str::to_string).or(suffix)),
            None => (None, unit.map(str::to_string)),
        }
    }

    /// The canonical metric for a vendor name, as the pipeline resolves it; a name no rule
    /// knows is the metric it would be registered as.
    pub fn canonical_metric(&self, name: &str) -> Result<String, NameError> {
        self.metrics.metric_name(name, &self.units)
    }

    /// The OID of a `telemetry.validation_status` label.
    pub fn status_oid(&self, status: Status) -> pg_sys::Oid {
        self.status_oids[status as usize]
    }
}

thread_local! {
    static CACHE: RefCell<Option<Rc<Registry>>> = const { RefCell::new(None) };
    static GENERATION: Cell<u64> = const { Cell::new(0) };
}

pub fn init() {
    unsafe {
        pg_sys::CacheRegisterRelcacheCallback(
            Some(on_relcache_invalidation),
            pg_sys::Datum::from(0),
        );
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn on_relcache_invalidation(_arg: pg_sys::Datum, relid: pg_sys::Oid) {
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        let ours = cache.as_ref().is_some_and(|r| r.relids.contains(&relid));
        if relid == pg_sys::InvalidOid || ours {
            *cache = None;
        }
    });
    GENERATION.with(|g| g.set(g.get() + 1));
    crate::alarms::states::invalidate(relid);
}

/// The current registry, loading it if needed.
pub fn get() -> Rc<Registry> {
    if let Some(r) = CACHE.with(|c| c.borrow().clone()) {
        return r;
    }
    let generation = GENERATION.with(Cell::get);
    let registry = Rc::new(
        load().unwrap_or_else(|e| internal(format!("cannot read the telemetry registries: {e}"))),
    );
    // An invalidation that arrived while loading may mean we read stale rows: use them for
    // this call, but do not keep them.
    if GENERATION.with(Cell::get) == generation {
        CACHE.with(|c| *c.borrow_mut() = Some(registry.clone()));
    }
    registry
}

fn load() -> Result<Registry, pgrx::spi::Error> {
    Spi::connect(|client| {
        let relids = client
            .select(
                "SELECT c.oid FROM pg_catalog.pg_class c
                   JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                  WHERE n.nspname = 'telemetry'
                    AND c.relname IN ('units', 'unit_aliases', 'metric_rules', 'metric_aliases', 'routes', 'series',
                                      'alarm_rules')",
                None,
                &[],
            )?
            .map(|row| row.get::<pg_sys::Oid>(1).map(Option::unwrap_or_default))
            .collect::<Result<Vec<_>, _>>()?;
        let units = load_units(client)?;
        let unit_aliases =
            pairs(client.select("SELECT alias, unit FROM telemetry.unit_aliases", None, &[])?)?;
        let rules = load_rules(client)?;
        let metric_aliases = load_metric_aliases(client)?;
        let routes = load_routes(client)?;
        let status_oids = load_status_oids(client)?;
        let alarms = crate::alarms::rules::load(client)?;
        Ok(Registry {
            alarms,
            units: Catalog::new(units, unit_aliases),
            metrics: MetricCatalog::new(rules, metric_aliases),
            routes,
            series: RefCell::new(FxHashMap::default()),
            relids,
            status_oids,
        })
    })
}

fn load_units(client: &SpiClient<'_>) -> Result<Vec<Unit>, pgrx::spi::Error> {
    client
        .select(
            r#"SELECT unit, dimension, factor, "offset" FROM telemetry.units"#,
            None,
            &[],
        )?
        .map(|row| {
            Ok(Unit {
                code: row.get::<String>(1)?.unwrap_or_default(),
                dimension: row.get::<String>(2)?.unwrap_or_default(),
                factor: row.get::<f64>(3)?.unwrap_or(1.0),
                offset: row.get::<f64>(4)?.unwrap_or(0.0),
            })
        })
        .collect::<Result<Vec<_>, pgrx::spi::Error>>()
}

fn load_rules(client: &SpiClient<'_>) -> Result<Vec<MetricRule>, pgrx::spi::Error> {
    client
        .select(
            "SELECT metric, unit, valid_min, valid_max, max_rate_of_change, reviewed FROM telemetry.metric_rules",
            None,
            &[],
        )?
        .map(|row| {
            Ok(MetricRule {
                metric: row.get::<String>(1)?.unwrap_or_default(),
                unit: row.get::<String>(2)?.unwrap_or_default(),
                valid_min: row.get::<f64>(3)?,
                valid_max: row.get::<f64>(4)?,
                max_rate_of_change: row.get::<f64>(5)?,
                reviewed: row.get::<bool>(6)?.unwrap_or(true),
            })
        })
        .collect::<Result<Vec<_>, pgrx::spi::Error>>()
}

fn load_metric_aliases(client: &SpiClient<'_>) -> Result<Vec<Alias>, pgrx::spi::Error> {
    client
        .select(
            "SELECT alias, metric, sensor FROM telemetry.metric_aliases",
            None,
            &[],
        )?
        .map(|row| {
            Ok(Alias {
                alias: row.get::<String>(1)?.unwrap_or_default(),
                metric: row.get::<String>(2)?.unwrap_or_default(),
                sensor: row.get::<String>(3)?,
            })
        })
        .collect::<Result<Vec<_>, pgrx::spi::Error>>()
}

fn load_routes(client: &SpiClient<'_>) -> Result<Vec<Route>, pgrx::spi::Error> {
    client
        .select(
            "SELECT pattern, site_id, asset_id, sensor_id, metric, unit, format
               FROM telemetry.routes WHERE enabled ORDER BY priority, route_id",
            None,
            &[],
        )?
        .map(|row| {
            let pattern = row.get::<String>(1)?.unwrap_or_default();
            Ok(Route {
                // The CHECK on telemetry.routes.pattern admits only patterns that parse.
                pattern: Pattern::parse(&pattern)
                    .unwrap_or_else(|e| internal(format!("route {pattern}: {e}"))),
                site: row.get::<String>(2)?,
                asset: row.get::<String>(3)?,
                sensor: row.get::<String>(4)?,
                metric: row.get::<String>(5)?,
                unit: row.get::<String>(6)?.as_deref().map(Name::from),
                format: match row.get::<String>(7)?.as_deref() {
                    Some("sparkplug_b") => Format::SparkplugB,
                    _ => Format::Json,
                },
            })
        })
        .collect::<Result<Vec<_>, pgrx::spi::Error>>()
}

fn load_status_oids(
    client: &SpiClient<'_>,
) -> Result<[pg_sys::Oid; Status::ALL.len()], pgrx::spi::Error> {
    let mut status_oids = [pg_sys::InvalidOid; Status::ALL.len()];
    for row in client.select(
        "SELECT enumlabel::pg_catalog.text, oid FROM pg_catalog.pg_enum
          WHERE enumtypid = 'telemetry.validation_status'::regtype",
        None,
        &[],
    )? {
        let label = row.get::<String>(1)?.unwrap_or_default();
        if let Some(s) = Status::ALL.iter().find(|s| s.label() == label) {
            status_oids[*s as usize] = row.get::<pg_sys::Oid>(2)?.unwrap_or_default();
        }
    }
    if let Some(s) = Status::ALL
        .iter()
        .find(|s| status_oids[**s as usize] == pg_sys::InvalidOid)
    {
        internal(format!(
            "telemetry.validation_status has no label {}",
            s.label()
        ));
    }
    Ok(status_oids)
}

fn pairs(table: pgrx::spi::SpiTupleTable) -> Result<Vec<(String, String)>, pgrx::spi::Error> {
    table
        .map(|row| {
            Ok((
                row.get::<String>(1)?.unwrap_or_default(),
                row.get::<String>(2)?.unwrap_or_default(),
            ))
        })
        .collect()
}

/// Statement trigger on the registry tables: tell every backend to drop its cached copy.
#[pg_trigger]
pub fn registry_changed<'a>(
    trigger: &'a pgrx::PgTrigger<'a>,
) -> Result<Option<PgHeapTuple<'a, pgrx::AllocatedByPostgres>>, pgrx::PgTriggerError> {
    let relid = trigger.relation()?.oid();
    unsafe { pg_sys::CacheInvalidateRelcacheByRelid(relid) };
    Ok(None)
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use pgrx::prelude::*;

    fn convert(sql_units: &str) -> Result<Option<f64>, pgrx::spi::Error> {
        Spi::get_one(&format!("SELECT telemetry.convert(1, {sql_units})"))
    }

    #[pg_test]
    fn new_alias_is_seen_by_the_next_statement() {
        assert_eq!(convert("'kW', 'W'").unwrap(), Some(1000.0));
        Spi::run("INSERT INTO telemetry.unit_aliases (alias, unit) VALUES ('kilowatz', 'kW')")
            .unwrap();
        assert_eq!(convert("'kilowatz', 'W'").unwrap(), Some(1000.0));
    }

    #[pg_test]
    fn rule_change_is_seen_by_the_next_statement() {
        let status = || {
            Spi::get_one::<String>("SELECT telemetry.validate('humidity', 150)::pg_catalog.text")
                .unwrap()
        };
        assert_eq!(status().as_deref(), Some("above_max"));
        Spi::run("UPDATE telemetry.metric_rules SET valid_max = 200 WHERE metric = 'humidity'")
            .unwrap();
        assert_eq!(status().as_deref(), Some("ok"));
    }

    #[pg_test(error = "unknown unit \"celsius\"")]
    fn deleted_alias_is_forgotten() {
        assert!(convert("'celsius', 'K'").unwrap().is_some());
        Spi::run("DELETE FROM telemetry.unit_aliases WHERE alias = 'celsius'").unwrap();
        let _ = convert("'celsius', 'K'");
    }

    #[pg_test]
    fn truncate_empties_the_cache_too() {
        assert_eq!(
            Spi::get_one::<String>("SELECT telemetry.normalize_metric('soc')")
                .unwrap()
                .as_deref(),
            Some("state_of_charge")
        );
        Spi::run("TRUNCATE telemetry.metric_aliases").unwrap();
        assert_eq!(
            Spi::get_one::<String>("SELECT telemetry.normalize_metric('soc')")
                .unwrap()
                .as_deref(),
            Some("soc")
        );
    }
}

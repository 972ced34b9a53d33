"""A weather station for tests/shim/weather.sh: publishes pvlib's TMY3 typical year
(pvlib/data/723170TYA.CSV, 8,760 hourly rows) over MQTT with Eclipse Paho, QoS 1, one seed 000
multi-metric JSON object per hour-row on site/SITE/telemetry, with vendor metric names that
carry their units. Writes OUT/names.tsv (vendor name, its unit, the CSV column) and
OUT/expected.tsv (vendor name, time, value as the CSV has it), and prints one summary line.

Usage: weather.py --port PORT --site SITE --asset ASSET --year YEAR --out DIR [--csv FILE]
"""
import argparse
import csv
import datetime
import json
import sys
import time
from importlib.metadata import distribution, version

import paho.mqtt.client as mqtt

# Vendor name, its unit (UCUM, as the test's own conversion table names it), TMY3 column.
NAMES = [
    ("ghi_w_m2", "W/m2", "GHI (W/m^2)"),
    ("dni_w_m2", "W/m2", "DNI (W/m^2)"),
    ("dhi_w_m2", "W/m2", "DHI (W/m^2)"),
    ("temp_air_c", "Cel", "Dry-bulb (C)"),
    ("dew_point_c", "Cel", "Dew-point (C)"),
    ("rel_humidity_pct", "%", "RHum (%)"),
    ("wind_speed_m_s", "m/s", "Wspd (m/s)"),
    ("wind_direction_deg", "deg", "Wdir (degrees)"),
    ("pressure_mbar", "mbar", "Pressure (mbar)"),
]
TMY3 = "pvlib/data/723170TYA.CSV"


def fail(message):
    print(f"weather.py: {message}", file=sys.stderr)
    sys.exit(1)


def read_tmy3(path, year):
    """The station header and the rows, each with its time rebased to YEAR.

    TMY3 times are local standard time (the header's UTC offset, no daylight saving), hour
    ending 01:00..24:00, and each month comes from another year (1976..2005 here): too old for
    the extension's plausible window (telemetry.max_reading_age, ten years back). Every row
    keeps its month, day and hour and moves to YEAR, so the typical year reads as one year.
    TMY3 has no 29 February, so no two rows meet, whatever YEAR is.
    """
    with open(path, newline="") as f:
        header = next(csv.reader(f))
        tz = datetime.timezone(datetime.timedelta(hours=float(header[3])))
        rows = []
        years = set()
        for row in csv.DictReader(f):
            month, day, source_year = (int(x) for x in row["Date (MM/DD/YYYY)"].split("/"))
            hour, minute = (int(x) for x in row["Time (HH:MM)"].split(":"))
            years.add(source_year)
            at = datetime.datetime(year, month, day, tzinfo=tz) + datetime.timedelta(
                hours=hour, minutes=minute
            )
            rows.append((at, row))
    return header, tz, years, rows


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--site", required=True)
    p.add_argument("--asset", required=True)
    p.add_argument("--year", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--csv", help=f"default: {TMY3} of the installed pvlib")
    args = p.parse_args()

    # Located through the distribution's metadata: importing pvlib would need numpy and pandas,
    # which are not installed (only its data file is used).
    path = args.csv or str(distribution("pvlib").locate_file(TMY3))
    header, tz, years, rows = read_tmy3(path, args.year)
    if len(rows) != 8760:
        fail(f"{path} has {len(rows)} rows, not the 8,760 hours of a TMY3 year")

    messages = []
    with open(f"{args.out}/expected.tsv", "w") as expected:
        for at, row in rows:
            stamp = at.isoformat()
            metrics = {}
            for name, _, column in NAMES:
                metrics[name] = float(row[column])
                expected.write(f"{name}\t{stamp}\t{row[column]}\n")
            body = {"siteId": args.site, "assetId": args.asset, "timestamp": stamp, "metrics": metrics}
            messages.append(json.dumps(body, separators=(",", ":")))
    with open(f"{args.out}/names.tsv", "w") as names:
        for name, unit, column in NAMES:
            names.write(f"{name}\t{unit}\t{column}\n")

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"weather-{args.asset}")
    client.max_inflight_messages_set(100)
    try:
        client.connect(args.host, args.port)
    except OSError as e:
        fail(f"cannot connect to {args.host}:{args.port}: {e}")
    client.loop_start()
    started = time.monotonic()
    topic = f"site/{args.site}/telemetry"
    infos = [client.publish(topic, m, qos=1) for m in messages]
    for info in infos:
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            fail(f"publish failed: {mqtt.error_string(info.rc)}")
        info.wait_for_publish(timeout=120)
        if not info.is_published():
            fail("a message was not acknowledged (PUBACK) within 120 s")
    seconds = time.monotonic() - started
    client.disconnect()
    client.loop_stop()
    offset = tz.utcoffset(None).total_seconds() / 3600
    print(
        f"paho-mqtt {version('paho-mqtt')} published {len(messages)} messages, "
        f"{len(messages) * len(NAMES)} readings, QoS 1, in {seconds:.1f} s: pvlib "
        f"{version('pvlib')} {TMY3}, station {header[0]} {header[1]}, {header[2]}, "
        f"UTC{offset:+g}; months of {min(years)}..{max(years)} rebased to {args.year}"
    )


if __name__ == "__main__":
    main()

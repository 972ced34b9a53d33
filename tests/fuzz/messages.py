#!/usr/bin/env python3
"""Random and mutated MQTT messages for tests/fuzz/ingest.sh, as COPY text rows:
n, topic, payload (bytea hex). Standard library only; reproducible from --seed."""
import argparse
import json
import random
import struct

TOPICS = [
    "telemetry/site-{s}/asset-{a}/temperature", "telemetry/site-{s}/asset-{a}/humidity",
    "site/site-{s}/telemetry", "site/site-{s}/inverter/inv-{a}/active_power",
    "smart-dairy/farm-{s}/sensors/barn-{a}", "spBv1.0/group-{s}/NBIRTH/edge-{a}",
    "spBv1.0/group-{s}/DDATA/edge-{a}/dev-1", "spBv1.0/group-{s}/DBIRTH/edge-{a}/dev-1",
    "spBv1.0/group-{s}/NDEATH/edge-{a}", "no/route/{s}",
]
TOKENS = [b"\\u0000", b'"', b"{", b"}", b"[", b"]", b",", b"1e309", b"NaN", b"null",
          b"9223372036854775808", b"\xff", b"\xc3\x28", b"\x00", b"\\u001b"]


def varint(n):
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(number, kind, value):
    key = varint(number << 3 | kind)
    if kind == 0:
        return key + varint(value)
    if kind == 1:
        return key + struct.pack("<d", value)
    return key + varint(len(value)) + value


def sparkplug(rng):
    metrics = b""
    for _ in range(rng.randint(0, 5)):
        m = b""
        if rng.random() < 0.6:
            m += field(1, 2, rng.choice([b"temperature", b"Motor/Temp", b"pressure", b"x\x00y", b"bdSeq"]))
        m += field(2, 0, rng.choice([0, 1, 7, 2**63, 2**64 - 1]))
        m += field(3, 0, rng.choice([1748779200000, 0, 2**63 - 1, 9223372036854775, 2**64 - 1]))
        m += field(4, 0, rng.choice([10, 9, 3, 4, 11, 12]))
        m += field(13, 1, rng.uniform(-1e6, 1e6))
        metrics += field(2, 2, m)
    return field(1, 0, 1748779200000) + metrics + field(3, 0, rng.randint(0, 255))


def json_payload(rng):
    ts = rng.choice([1748779200 + rng.randint(0, 86400), "2025-06-01T12:00:00Z", 0, -5, 1e30,
                     "9999-12-31T00:00:00Z", 253402300800000, None])
    value = rng.choice([rng.uniform(-100, 100), "41.5", None, True, [1], {"v": 1}, 1e308])
    shape = rng.randint(0, 3)
    if shape == 0:
        doc = {"value": value, "ts": ts, "unit": rng.choice(["celsius", "degF", "kW", "\u0000", None])}
    elif shape == 1:
        doc = {"assetId": "a1", "ts": ts, "metrics": {rng.choice(["temperature_c", "humidity", "x" * 300, "p\u0000"]): value
                                                      for _ in range(rng.randint(0, 20))}}
    elif shape == 2:
        doc = [{"metric": "humidity", "value": value, "ts": ts} for _ in range(rng.randint(0, 10))]
    else:
        doc = {"value": value, "sensor_id": rng.choice(["s" * 200, "\u0000", "ok"]), "event_id": rng.choice(["e1", "e\u0000"])}
    return json.dumps(doc).encode()


def mutate(rng, data):
    data = bytearray(data)
    for _ in range(rng.randint(0, 4)):
        at = rng.randint(0, len(data))
        op = rng.randint(0, 3)
        if op == 0 and data:
            data[rng.randrange(len(data))] ^= 1 << rng.randint(0, 7)
        elif op == 1:
            data[at:at] = rng.choice(TOKENS)
        elif op == 2 and data:
            del data[at:at + rng.randint(1, 8)]
        else:
            data[at:at] = bytes([rng.randint(0, 255)])
    return bytes(data)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    for n in range(1, args.count + 1):
        topic = rng.choice(TOPICS).format(s=rng.randint(1, 5), a=rng.randint(1, 20))
        if rng.random() < 0.05:
            topic = rng.choice(["telemetry/" + "s" * 200 + "/a/temperature", "t/" * 5000, "telemetry//a/humidity"])
        payload = sparkplug(rng) if topic.startswith("spBv1.0") else json_payload(rng)
        if rng.random() < 0.5:
            payload = mutate(rng, payload)
        if rng.random() < 0.02:
            payload = bytes(rng.randint(0, 255) for _ in range(rng.randint(0, 64)))
        print(f"{n}\t{topic}\t\\\\x{payload.hex()}")


if __name__ == "__main__":
    main()
